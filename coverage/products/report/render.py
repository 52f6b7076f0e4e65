"""The monthly report's files: HTML from the Jinja2 template (images inlined), PDF with reportlab and the
DejaVu Sans font inside matplotlib, XLSX through :mod:`lomsong.products.workbook`; a comparison's CSV/GeoJSON.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from lomsong._text import safe_cells
from lomsong.analysis.compare import Comparison
from lomsong.products import words as i18n
from lomsong.products.report import commitments
from lomsong.products.report.figures import province_map, trend_chart
from lomsong.products.report.model import SYNTHETIC_MARK, Report, Table, select_view
from lomsong.products.words import REPORT_LABELS
from lomsong.products.workbook import Sheet, frame_kinds, readable_values, write_workbook


def render_html(report: Report, images: dict[str, bytes]) -> str:
    """Return the report as one self-contained HTML page (images inlined as data URIs).

    Parameters
    ----------
    report : Report
    images : dict
        ``map`` and ``trend`` PNG bytes.
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(
        loader=PackageLoader("lomsong.products.report", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    template = environment.get_template("report.html.j2")
    uris = {k: "data:image/png;base64," + base64.b64encode(v).decode("ascii") for k, v in images.items()}
    tables = [
        (name, table, table.formatted(report.lang), table.numeric())
        for name, table in (("operators", report.operators), ("areas", report.areas), ("top_gaps", report.top_gaps))
    ]
    if report.claims is not None:
        tables.append(("claims", report.claims, report.claims.formatted(report.lang), report.claims.numeric()))
    return template.render(
        report=report,
        labels=REPORT_LABELS[report.lang],
        texts=report.texts,
        tables={name: (table, rows, numeric) for name, table, rows, numeric in tables},
        images=uris,
        synthetic_mark=SYNTHETIC_MARK,
        change_lists=_change_lists(report),
        claims_intro=i18n.text(report.lang, "claims_intro"),
    )


def _change_lists(report: Report) -> list[tuple[str, list[str]]]:
    """The closed and new gaps of the all view as short lines (commune, people)."""
    if report.changes.empty:
        return []
    changes = select_view(report.changes)
    out = []
    for status, key, column in (
        ("closed", "closed_list", "population_before"),
        ("not_remeasured", "not_remeasured_list", "population_before"),
        ("new", "new_list", "population_after"),
    ):
        rows = changes[changes["status"] == status].sort_values(column, ascending=False)

        def where(row: Any) -> str:
            unit = getattr(row, "unit_2025", None)
            if report.units == "2025" and isinstance(unit, str) and unit:
                return f"{unit} ({row.commune})"
            return f"{row.commune}, {row.district}"

        lines = [
            f"{where(row)}: {i18n.format_number(getattr(row, column), report.lang)} "
            + ("người" if report.lang == "vi" else "people")
            for row in rows.head(10).itertuples()
        ]
        if len(rows) > 10:
            lines.append("…")
        if lines:
            out.append((report.label(key), lines))
    return out


def _font_paths() -> tuple[Path, Path]:
    """DejaVu Sans regular and bold, as shipped inside matplotlib (covers Vietnamese)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"


def render_pdf(report: Report, images: dict[str, bytes], path: str | Path) -> Path:
    """Write the report as an A4 PDF with reportlab (DejaVu Sans embedded).

    Parameters
    ----------
    report : Report
    images : dict
        ``map`` and ``trend`` PNG bytes.
    path : str or Path
        PDF file to write.
    """
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT, TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, TableStyle
    from reportlab.platypus import Table as PdfTable

    regular, bold = _font_paths()
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
        pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold")
    body = ParagraphStyle("body", fontName="DejaVuSans", fontSize=9.5, leading=13, alignment=TA_LEFT)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10)
    cell = ParagraphStyle("cell", parent=body, fontSize=7.6, leading=9.4)
    cell_bold = ParagraphStyle("cellb", parent=cell, fontName="DejaVuSans-Bold")
    cell_right = ParagraphStyle("cellr", parent=cell, alignment=TA_RIGHT)
    cell_bold_right = ParagraphStyle("cellbr", parent=cell_bold, alignment=TA_RIGHT)
    h1 = ParagraphStyle("h1", parent=body, fontName="DejaVuSans-Bold", fontSize=16, leading=20, spaceAfter=2)
    h2 = ParagraphStyle(
        "h2",
        parent=body,
        fontName="DejaVuSans-Bold",
        fontSize=12,
        leading=15,
        spaceBefore=8,
        spaceAfter=4,
        textColor=colors.HexColor("#1F3B63"),
    )
    banner = ParagraphStyle(
        "banner",
        parent=body,
        fontName="DejaVuSans-Bold",
        textColor=colors.HexColor("#8B0000"),
        backColor=colors.HexColor("#FDE7E7"),
        borderColor=colors.HexColor("#C00000"),
        borderWidth=1,
        borderPadding=5,
        spaceBefore=4,
        spaceAfter=8,
    )
    width = A4[0] - 30 * mm

    def table(spec: Table, column_widths: list[float] | None = None) -> PdfTable:
        rows = spec.formatted(report.lang)
        numeric = spec.numeric()
        header = [Paragraph(escape(str(c)), cell_bold) for c in spec.frame.columns]
        data = [header]
        for values, strong in zip(rows, spec.emphasis or [False] * len(rows), strict=False):
            styles = [
                (cell_bold_right if is_number else cell_bold) if strong else (cell_right if is_number else cell)
                for is_number in numeric
            ]
            data.append([Paragraph(escape(v), style) for v, style in zip(values, styles, strict=True)])
        result = PdfTable(data, colWidths=column_widths, repeatRows=1, hAlign="LEFT")
        commands = [
            ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9A9A9A")),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DCE6F2")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
        for index, is_number in enumerate(numeric):
            if is_number:
                commands.append(("ALIGN", (index, 1), (index, -1), "RIGHT"))
        for index, strong in enumerate(spec.emphasis or []):
            if strong:
                commands.append(("BACKGROUND", (0, index + 1), (-1, index + 1), colors.HexColor("#F2F2F2")))
        result.setStyle(TableStyle(commands))
        return result

    def picture(png: bytes, max_width: float, max_height: float) -> Image:
        reader = ImageReader(io.BytesIO(png))
        pixel_width, pixel_height = reader.getSize()
        scale = min(max_width / pixel_width, max_height / pixel_height)
        return Image(io.BytesIO(png), width=pixel_width * scale, height=pixel_height * scale)

    story: list[Any] = [Paragraph(escape(report.texts["title"]), h1), Paragraph(escape(report.texts["subtitle"]), body)]
    story.append(Paragraph(escape(report.texts["generated"]), small))
    if report.synthetic:
        story.append(Paragraph(escape(report.texts["synthetic_banner"]), banner))
    else:
        story.append(Spacer(1, 6))
    story.append(Paragraph(escape(report.label("headline")), h2))
    story.append(Paragraph(escape(report.texts["denominator"]), body))
    headline_rows = [
        [
            Paragraph(escape(h.label), cell),
            Paragraph(f"<b>{escape(h.text)}</b>", cell),
            Paragraph(escape(h.detail), cell),
        ]
        for h in report.headlines
    ]
    headline_table = PdfTable(headline_rows, colWidths=[width * 0.38, width * 0.14, width * 0.48], hAlign="LEFT")
    headline_table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9A9A9A")),
                ("BACKGROUND", (1, 0), (1, -1), colors.HexColor("#FFF4D6")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story.append(headline_table)
    if report.texts["villages_change"]:
        story.append(Spacer(1, 4))
        story.append(Paragraph(escape(report.texts["villages_change"]), body))
    story.append(Paragraph(escape(report.operators.title), h2))
    story.append(table(report.operators))
    for title, lines in _change_lists(report):
        story.append(Spacer(1, 4))
        story.append(Paragraph(f"<b>{escape(title)}:</b> " + escape("; ".join(lines)), small))
    story.append(
        KeepTogether([Paragraph(escape(report.label("map_title")), h2), picture(images["map"], width, 150 * mm)])
    )
    story.append(
        KeepTogether([Paragraph(escape(report.label("trend_title")), h2), picture(images["trend"], width, 75 * mm)])
    )
    story.append(Paragraph(escape(report.top_gaps.title), h2))
    story.append(table(report.top_gaps))
    story.append(Paragraph(escape(report.areas.title), h2))
    if report.texts["units_note"]:
        story.append(Paragraph(escape(report.texts["units_note"]), small))
        story.append(Spacer(1, 3))
    if report.units == "2025":
        n_columns = len(report.areas.frame.columns)
        first, second = width * 0.16, width * 0.26
        rest = (width - first - second) / (n_columns - 2)
        story.append(table(report.areas, [first, second, *[rest] * (n_columns - 2)]))
    else:
        n_columns = len(report.areas.frame.columns)
        first = width * 0.28
        story.append(table(report.areas, [first, *[(width - first) / (n_columns - 1)] * (n_columns - 1)]))
    if report.claims is not None:
        story.append(Paragraph(escape(report.claims.title), h2))
        story.append(Paragraph(escape(i18n.text(report.lang, "claims_intro")), small))
        story.append(Spacer(1, 3))
        story.append(table(report.claims))
    story.extend(commitments.pdf_story(report.commitments, table, h2, small))
    story.append(Paragraph(escape(report.label("method_title")), h2))
    story.append(Paragraph(escape(report.texts["method"]), body))

    footer_left = report.texts["title"] + " — " + report.period
    synthetic = report.synthetic
    page_label = REPORT_LABELS[report.lang]["page"]

    def decorate(canvas, document) -> None:
        canvas.saveState()
        canvas.setFont("DejaVuSans", 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(15 * mm, 10 * mm, footer_left)
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, page_label.format(page=document.page))
        if synthetic:
            canvas.setFont("DejaVuSans-Bold", 9)
            canvas.setFillColor(colors.HexColor("#C00000"))
            canvas.drawCentredString(A4[0] / 2, A4[1] - 9 * mm, SYNTHETIC_MARK)
        canvas.restoreState()

    path = Path(path)
    document = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title=f"{report.texts['title']} — {report.period}",
        author="lomsong",
        subject=SYNTHETIC_MARK if synthetic else report.texts["subtitle"],
    )
    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return path


def render_xlsx(report: Report, path: str | Path) -> Path:
    """Write the report's tables to an XLSX workbook fit for a meeting (numbers stay numbers).

    Written by :func:`lomsong.products.workbook.write_workbook`. Sheets: summary (headline
    figures, the per-operator table, the method), areas (communes or 2025 units), largest gaps,
    changes (every view), village changes, trend, legend. When the data is simulated, the first
    row of every sheet says so.
    """
    labels = REPORT_LABELS[report.lang]
    figure, value = labels["figure"], labels["value"]
    headline_frame = pd.DataFrame(
        {figure: [h.label for h in report.headlines], value: [h.value for h in report.headlines]}
    )

    def sheet(title: str, table: Table, intro: list[str] | None = None) -> Sheet:
        return Sheet(
            title,
            _stripped(table.frame),
            kinds=frame_kinds(table.frame, table.kinds),
            headers={c: str(c).strip() for c in table.frame.columns},
            intro=intro or [],
        )

    notes = [report.texts["method"]] + ([report.texts["units_note"]] if report.texts["units_note"] else [])
    sheets = [
        Sheet(labels["sheet_summary"], headline_frame, kinds={value: "people"}, headers={figure: figure, value: value}),
        sheet(report.operators.title or labels["operators_title"], report.operators, notes),
        sheet(labels["sheet_areas_2025" if report.units == "2025" else "sheet_areas"], report.areas),
        sheet(labels["sheet_top"], report.top_gaps),
    ]
    if not report.changes.empty:
        changes = readable_values(pd.DataFrame(report.changes.drop(columns=["geometry"], errors="ignore")), report.lang)
        sheets.append(Sheet(labels["sheet_changes"], changes))
    if not report.village_changes.empty:
        village = report.village_changes.drop(columns=["geometry"], errors="ignore").copy()
        village["change"] = village["change"].map({"joined": labels["joined"], "left": labels["left"]})
        sheets.append(Sheet(labels["sheet_villages"], readable_values(pd.DataFrame(village), report.lang)))
    if not report.trend.empty:
        sheets.append(Sheet(labels["sheet_trend"], readable_values(report.trend, report.lang)))
    if report.claims is not None:
        intro = [i18n.text(report.lang, "claims_intro")]
        sheets.append(sheet(i18n.text(report.lang, "sheet_claims"), report.claims, intro))
    sheets.extend(commitments.xlsx_sheets(report.commitments))
    return write_workbook(
        sheets,
        path,
        synthetic_note=report.texts["synthetic_banner"] if report.synthetic else "",
        lang=report.lang,
    )


def _stripped(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with headers and text cells stripped of the padding used for indentation in the PDF."""
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype).startswith("string"):
            frame[column] = frame[column].astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
    return frame


@dataclass
class ReportFiles:
    """Where a report was written."""

    html: Path
    pdf: Path
    xlsx: Path
    images: dict[str, Path]
    report: Report


def report_basename(period: str, lang: str, units: str, synthetic: bool) -> str:
    """Return the file stem of a report (``bao-cao-2026-10-vi``, ``…-units2025``, ``…-synthetic``)."""
    stem = f"{'bao-cao' if lang == 'vi' else 'report'}-{period}-{lang}"
    if units == "2025":
        stem += "-units2025"
    if synthetic:
        stem += "-synthetic"
    return stem


def write_report(report: Report, folder: str | Path, communes: gpd.GeoDataFrame) -> ReportFiles:
    """Render a prepared report to HTML, PDF, XLSX and two PNG images in ``folder``.

    Parameters
    ----------
    report : Report
        :func:`prepare_report`.
    folder : str or Path
        Output folder (created).
    communes : geopandas.GeoDataFrame
        Commune table, for the map.

    Returns
    -------
    ReportFiles
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images = {"map": province_map(report, communes), "trend": trend_chart(report)}
    stem = report_basename(report.period, report.lang, report.units, report.synthetic)
    image_paths = {}
    for name, png in images.items():
        image_paths[name] = folder / f"{stem}-{name}.png"
        image_paths[name].write_bytes(png)
    html = folder / f"{stem}.html"
    html.write_text(render_html(report, images), encoding="utf-8")
    pdf = render_pdf(report, images, folder / f"{stem}.pdf")
    xlsx = render_xlsx(report, folder / f"{stem}.xlsx")
    return ReportFiles(html=html, pdf=pdf, xlsx=xlsx, images=image_paths, report=report)


def write_comparison(comparison: Comparison, folder: str | Path) -> dict[str, Path]:
    """Write a comparison as CSV and GeoJSON.

    Files: ``changes.csv`` and ``changes.geojson`` (one row/feature per change,
    :data:`lomsong.analysis.compare.CHANGE_SCHEMA`), ``summary.csv`` (per view) and, when villages
    changed, ``villages.csv``. Every CSV ends with a ``synthetic`` column; the GeoJSON says so in
    each feature's properties.

    Parameters
    ----------
    comparison : lomsong.analysis.compare.Comparison
    folder : str or Path
        Output folder (created).

    Returns
    -------
    dict
        Name → path of each file written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    label = {"before": comparison.before, "after": comparison.after, "synthetic": comparison.synthetic}
    written = {}
    changes = comparison.changes.assign(**label)
    written["changes.csv"] = folder / "changes.csv"
    changes_table = safe_cells(pd.DataFrame(changes.drop(columns="geometry")))
    changes_table.to_csv(written["changes.csv"], index=False, encoding="utf-8")
    written["changes.geojson"] = folder / "changes.geojson"
    geojson = changes.to_crs("EPSG:4326") if changes.crs is not None else changes.set_crs("EPSG:4326")
    written["changes.geojson"].unlink(missing_ok=True)
    geojson.to_file(written["changes.geojson"], driver="GeoJSON", engine="pyogrio", layer_options={"RFC7946": "YES"})
    written["summary.csv"] = folder / "summary.csv"
    safe_cells(comparison.summary.assign(**label)).to_csv(written["summary.csv"], index=False, encoding="utf-8")
    if len(comparison.villages):
        written["villages.csv"] = folder / "villages.csv"
        villages = pd.DataFrame(comparison.villages.drop(columns=["geometry"], errors="ignore")).assign(**label)
        safe_cells(villages).to_csv(written["villages.csv"], index=False, encoding="utf-8")
    return written
