"""The monthly report: HTML, PDF and XLSX for the province's socio-economic report.

One period's run (``<out>/periods/<YYYY-MM>/``), compared with the previous stored period, becomes
a report a civil servant can paste into the monthly report on digital transformation:

- headline figures: people without any operator's coverage, gaps and villages per operator, the
  change since the previous period;
- a table per district and commune (or per new Lâm Đồng unit with ``units="2025"``);
- the ten largest gaps; the trend over all stored periods (matplotlib); a static map of the
  province (communes, districts, gaps, gaps closed since the previous period);
- the data sources and the method in one paragraph; a "DỮ LIỆU MÔ PHỎNG" mark on every page
  when the measurements were simulated.

Vietnamese by default (``lang="en"`` for English). :func:`.model.prepare_report` is pure (tables
in, tables and texts out); :func:`.render.write_report` renders the files: HTML from the Jinja2
template ``templates/report.html.j2`` with the images of :mod:`.figures` inlined (one
self-contained file), PDF with reportlab and the DejaVu Sans font that ships inside matplotlib
(full Vietnamese diacritics, no system fonts or browser needed), XLSX with openpyxl.
"""
