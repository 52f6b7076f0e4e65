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

Vietnamese by default (``lang="en"`` for English). :func:`prepare_report` is pure (tables in,
tables and texts out); :func:`write_report` renders the files: HTML from the Jinja2 template
``templates/report.html.j2`` with the images inlined (one self-contained file), PDF with
reportlab and the DejaVu Sans font that ships inside matplotlib (full Vietnamese diacritics, no
system fonts or browser needed), XLSX with openpyxl.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong._text import fold_series, safe_cells
from lomsong.analysis.compare import Comparison
from lomsong.errors import ReportError
from lomsong.operators import OPERATOR_COLOURS, OPERATOR_IDS, display_name
from lomsong.products import words as i18n
from lomsong.products.workbook import Sheet, frame_kinds, readable_values, write_workbook
from lomsong.reference.boundaries import METRIC_CRS
from lomsong.reference.units import (
    MAPPED_WHOLE_NOTE,
    dissolve_units,
    gap_people_by_unit,
    summarise_units,
    unit_mapping,
)
from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY, GAPS_PARQUET, VILLAGES_PARQUET, RunResults

UNITS = ("2019", "2025")
SYNTHETIC_MARK = "DỮ LIỆU MÔ PHỎNG"

LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Báo cáo vùng lõm sóng di động — tỉnh Đắk Nông",
        "title_2025": "Báo cáo vùng lõm sóng di động — tỉnh Lâm Đồng (địa bàn tỉnh Đắk Nông cũ)",
        "denominator": (
            "Trong số {population} người sống trên địa bàn: {in_gaps} người ({share_in_gaps}) ở vùng lõm sóng "
            "(đo thấy sóng yếu, không nhà mạng nào phủ), {covered} người ({share_covered}) ở nơi đo thấy có sóng, "
            "và {unknown} người ({share_unknown}) ở nơi chưa đủ số đo để kết luận."
        ),
        "people_covered": "Người dân ở nơi đo thấy có sóng",
        "people_without_evidence": "Người dân ở nơi chưa đủ số đo để kết luận",
        "map_units": "Ranh giới đơn vị hành chính mới (2025)",
        "subtitle": "Kỳ báo cáo: tháng {month}/{year}",
        "subtitle_2025": "Kỳ báo cáo: tháng {month}/{year} — theo đơn vị hành chính mới (tỉnh Lâm Đồng)",
        "generated": "Lập ngày {date} bằng công cụ lomsong",
        "synthetic_banner": (
            "DỮ LIỆU MÔ PHỎNG — các số đo trong báo cáo này do chương trình mô phỏng tạo ra để minh hoạ, "
            "không phải số đo thật; không dùng các con số này cho báo cáo chính thức."
        ),
        "headline": "Số liệu chính",
        "people_without_coverage": "Người dân chưa có sóng của bất kỳ nhà mạng nào",
        "share_of_population": "{share} dân số toàn tỉnh",
        "gaps_all": "Vùng lõm sóng (không nhà mạng nào phủ sóng)",
        "villages_all": "Thôn, bon, buôn lõm sóng (không nhà mạng nào)",
        "change_headline": "Thay đổi số người trong vùng lõm so với kỳ trước ({previous})",
        "change_text": (
            "{closed} vùng lõm đã được xoá (đo lại thấy có sóng), {not_remeasured} vùng lõm chưa được đo lại "
            "({not_remeasured_people} người ở các ô chưa đo lại, chưa biết đã có sóng hay chưa), {new} vùng lõm "
            "mới, {shrunk} vùng thu hẹp, {grew} vùng mở rộng; {covered} người được phủ sóng mới (chỉ tính nơi "
            "đo lại thấy có sóng); số người trong vùng lõm {direction} {delta}."
        ),
        "direction_down": "giảm",
        "direction_up": "tăng",
        "direction_same": "không đổi",
        "villages_change": "Thôn ra khỏi danh sách lõm sóng: {left}; thôn mới vào danh sách: {joined}.",
        "no_previous": "Chưa có kỳ trước được lưu để so sánh.",
        "operators_title": "Theo nhà mạng",
        "operator": "Nhà mạng",
        "n_gaps": "Số vùng lõm",
        "people_in_gaps": "Số dân trong vùng lõm",
        "villages_weak": "Thôn sóng yếu",
        "villages_trang_song": "Thôn trắng sóng (CV 1603)",
        "villages_lom_song": "Thôn lõm sóng (CV 1603)",
        "closed": "Vùng lõm đã xoá",
        "not_remeasured": "Vùng lõm chưa đo lại",
        "new": "Vùng lõm mới",
        "newly_covered": "Dân được phủ sóng mới",
        "areas_title": "Theo huyện và xã",
        "areas_title_2025": "Theo đơn vị hành chính mới (2025)",
        "district_commune": "Huyện / Xã",
        "unit": "Đơn vị mới",
        "old_communes": "Gồm các xã cũ",
        "population": "Dân số",
        "share_in_gaps": "Tỷ lệ dân trong vùng lõm",
        "share_covered": "Tỷ lệ dân có sóng",
        "share_no_data": "Tỷ lệ dân chưa đủ số đo",
        "change_people": "± so với kỳ trước",
        "province_total": "Toàn tỉnh",
        "top_title": "Mười vùng lõm sóng lớn nhất (không nhà mạng nào)",
        "rank": "Hạng",
        "where": "Vị trí",
        "area_km2": "Diện tích (km²)",
        "evidence": i18n.TERMS["evidence"][0],
        "evidence_confirmed": i18n.TERMS["evidence_confirmed"][0],
        "evidence_likely": i18n.TERMS["evidence_likely"][0],
        "coordinates": "Toạ độ (vĩ độ, kinh độ)",
        "status": "So với kỳ trước",
        "status_new": "Mới",
        "status_persisting": "Không đổi",
        "status_shrunk": "Thu hẹp",
        "status_grew": "Mở rộng",
        "status_closed": "Đã xoá (đo lại có sóng)",
        "status_not_remeasured": "Chưa đo lại",
        "status_none": "–",
        "trend_title": "Diễn biến qua các kỳ",
        "trend_people": "Số dân trong vùng lõm",
        "trend_gaps": "Số vùng lõm",
        "trend_period": "Kỳ",
        "map_title": "Bản đồ vùng lõm sóng toàn tỉnh",
        "map_gaps": "Vùng lõm sóng (không nhà mạng nào)",
        "map_closed": "Vùng lõm đã xoá so với kỳ trước",
        "map_districts": "Ranh giới huyện",
        "map_communes": "Ranh giới xã",
        "closed_list": "Vùng lõm đã xoá",
        "not_remeasured_list": "Vùng lõm chưa được đo lại (cần đo)",
        "new_list": "Vùng lõm mới",
        "method_title": "Nguồn dữ liệu và phương pháp",
        "method": (
            "Số liệu từ {n_measurements} mẫu đo sóng di động ({sources}) trong {period}. Lãnh thổ tỉnh được "
            "chia thành ô lục giác H3 cấp {resolution} (khoảng {cell_km2} km² mỗi ô). Một mẫu đo là sóng yếu khi "
            "tín hiệu dưới ngưỡng (4G RSRP {t4g} dBm, 5G {t5g} dBm, 3G RSCP {t3g} dBm, 2G RSSI {t2g} dBm) hoặc "
            "điện thoại báo mất sóng. Một ô chỉ được kết luận khi có ít nhất {min_samples} mẫu từ {min_devices} "
            "thiết bị; ô là lõm sóng khi không nhà mạng nào có sóng tốt ở đó. Các ô lõm sóng liền kề được gộp "
            "thành vùng lõm. {people} Ranh giới xã: dữ liệu censusVN2009, mã và "
            "tên theo danh mục đơn vị hành chính của TCTK."
        ),
        "people_even": (
            "Số dân lấy theo Tổng điều tra dân số 2019 (TCTK), chia đều trên diện tích mỗi xã (lưới 100 m); vì "
            "vậy số dân trong vùng lõm là ước tính."
        ),
        "people_source": "Số dân: {source}; tổng mỗi xã theo quy tắc ghi trong run.json (population).",
        "units_note_title": "Ghi chú về đơn vị hành chính",
        "page": "Trang {page}",
        "yes": "Có",
        "sheet_summary": "Tổng hợp",
        "sheet_areas": "Theo xã",
        "sheet_areas_2025": "Theo đơn vị 2025",
        "sheet_top": "Vùng lõm lớn nhất",
        "sheet_changes": "Thay đổi",
        "sheet_villages": "Thôn thay đổi",
        "sheet_trend": "Xu hướng",
        "figure": "Chỉ tiêu",
        "value": "Giá trị",
        "village": i18n.TERMS["village"][0],
        "commune": "Xã",
        "district": "Huyện",
        "change": "Thay đổi",
        "joined": "Vào danh sách",
        "left": "Ra khỏi danh sách",
        "technology": "Công nghệ",
    },
    "en": {
        "title": "Mobile coverage gaps — Đắk Nông province",
        "title_2025": "Mobile coverage gaps — Lâm Đồng province (former Đắk Nông area)",
        "denominator": (
            "Of the {population} people living here: {in_gaps} ({share_in_gaps}) live in coverage gaps (measured "
            "weak, no operator covers them), {covered} ({share_covered}) where coverage was measured, and "
            "{unknown} ({share_unknown}) where there are not enough measurements to say."
        ),
        "people_covered": "People where coverage was measured",
        "people_without_evidence": "People where there are not enough measurements to say",
        "map_units": "Boundary of a new administrative unit (2025)",
        "subtitle": "Reporting period: {year}-{month}",
        "subtitle_2025": "Reporting period: {year}-{month} — in the new administrative units (Lâm Đồng province)",
        "generated": "Prepared on {date} with the lomsong tool",
        "synthetic_banner": (
            "SIMULATED DATA (DỮ LIỆU MÔ PHỎNG) — the measurements behind this report were generated by the "
            "simulator for illustration, not measured; do not use these figures in an official report."
        ),
        "headline": "Headline figures",
        "people_without_coverage": "People without coverage from any operator",
        "share_of_population": "{share} of the province's population",
        "gaps_all": "Coverage gaps (no operator covers them)",
        "villages_all": "Villages no operator covers",
        "change_headline": "Change in people in gaps since the previous period ({previous})",
        "change_text": (
            "{closed} gaps closed (measured covered again), {not_remeasured} gaps not measured again "
            "({not_remeasured_people} people in cells not measured again, unknown whether covered now), {new} new "
            "gaps, {shrunk} shrunk, "
            "{grew} grew; {covered} people newly covered (only where measured covered); people in gaps "
            "{direction} {delta}."
        ),
        "direction_down": "down by",
        "direction_up": "up by",
        "direction_same": "unchanged",
        "villages_change": "Villages that left the list: {left}; villages that joined it: {joined}.",
        "no_previous": "No earlier period is stored to compare with.",
        "operators_title": "Per operator",
        "operator": "Operator",
        "n_gaps": "Gaps",
        "people_in_gaps": "People in gaps",
        "villages_weak": "Villages with weak signal",
        "villages_trang_song": "Villages without signal at the centre (CV 1603)",
        "villages_lom_song": "Villages with a dead hamlet (CV 1603)",
        "closed": "Gaps closed",
        "not_remeasured": "Gaps not measured again",
        "new": "New gaps",
        "newly_covered": "People newly covered",
        "areas_title": "Per district and commune",
        "areas_title_2025": "Per new administrative unit (2025)",
        "district_commune": "District / commune",
        "unit": "New unit",
        "old_communes": "Old communes",
        "population": "Population",
        "share_in_gaps": "Share in gaps",
        "share_covered": "Share covered",
        "share_no_data": "Share without enough data",
        "change_people": "± since previous",
        "province_total": "Province",
        "top_title": "The ten largest gaps (no operator)",
        "rank": "Rank",
        "where": "Location",
        "area_km2": "Area (km²)",
        "evidence": i18n.TERMS["evidence"][1],
        "evidence_confirmed": i18n.TERMS["evidence_confirmed"][1],
        "evidence_likely": i18n.TERMS["evidence_likely"][1],
        "coordinates": "Coordinates (lat, lon)",
        "status": "Since previous",
        "status_new": "New",
        "status_persisting": "Unchanged",
        "status_shrunk": "Shrunk",
        "status_grew": "Grew",
        "status_closed": "Closed (measured covered)",
        "status_not_remeasured": "Not measured again",
        "status_none": "–",
        "trend_title": "Trend over the stored periods",
        "trend_people": "People in gaps",
        "trend_gaps": "Number of gaps",
        "trend_period": "Period",
        "map_title": "Coverage gaps in the province",
        "map_gaps": "Coverage gap (no operator)",
        "map_closed": "Gap closed since the previous period",
        "map_districts": "District boundary",
        "map_communes": "Commune boundary",
        "closed_list": "Gaps closed",
        "not_remeasured_list": "Gaps not measured again (to measure)",
        "new_list": "New gaps",
        "method_title": "Data sources and method",
        "method": (
            "Based on {n_measurements} mobile signal measurements ({sources}) in the period {period}. The "
            "province is divided into H3 hexagons of resolution {resolution} (about {cell_km2} km² each). A "
            "measurement is weak when its signal is below the threshold (4G RSRP {t4g} dBm, 5G {t5g} dBm, 3G "
            "RSCP {t3g} dBm, 2G RSSI {t2g} dBm) or the phone had no service. A cell is decided only with at "
            "least {min_samples} samples from {min_devices} devices; it is a gap when no operator covers it. "
            "Neighbouring gap cells form a gap area. {people} Commune boundaries: "
            "censusVN2009; codes and names from the GSO administrative-unit list."
        ),
        "people_even": (
            "People come from the 2019 census (GSO), spread evenly over each commune's area (100 m grid), so the "
            "people in a gap are an estimate."
        ),
        "people_source": "People: {source}; each commune's total by the rule recorded in run.json (population).",
        "units_note_title": "Note on administrative units",
        "page": "Page {page}",
        "yes": "Yes",
        "sheet_summary": "Summary",
        "sheet_areas": "Communes",
        "sheet_areas_2025": "Units 2025",
        "sheet_top": "Largest gaps",
        "sheet_changes": "Changes",
        "sheet_villages": "Village changes",
        "sheet_trend": "Trend",
        "figure": "Figure",
        "value": "Value",
        "village": i18n.TERMS["village"][1],
        "commune": "Commune",
        "district": "District",
        "change": "Change",
        "joined": "Joined the list",
        "left": "Left the list",
        "technology": "Technology",
    },
}

#: H3 average cell areas (km²) by resolution, for the method paragraph.
_H3_CELL_KM2 = {7: 5.16, 8: 0.74, 9: 0.105, 10: 0.015}


@dataclass
class Table:
    """One table of the report: localized headers, raw values, and how to format each column.

    Attributes
    ----------
    title : str
        Heading above the table.
    frame : pandas.DataFrame
        Raw values (numbers stay numbers: the XLSX keeps them), columns = headers.
    kinds : dict
        Header → ``text``, ``int``, ``float1``, ``share``, ``signed`` (how to format it).
    emphasis : list of bool
        Rows to set in bold (district and province totals).
    keys : list of str
        Machine names of the columns, same order (for tests and the HTML ``data-column``).
    """

    title: str
    frame: pd.DataFrame
    kinds: dict[str, str]
    emphasis: list[bool] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def formatted(self, lang: str) -> list[list[str]]:
        """Return the rows as display strings for ``lang``."""
        columns = [self.frame[c].tolist() for c in self.frame.columns]
        kinds = [self.kinds.get(c, "text") for c in self.frame.columns]
        rows = []
        for values in zip(*columns, strict=True) if columns else []:
            rows.append([_format(value, kind, lang) for value, kind in zip(values, kinds, strict=True)])
        return rows

    def numeric(self) -> list[bool]:
        """Return which columns are numbers (right-aligned)."""
        return [self.kinds.get(c, "text") != "text" for c in self.frame.columns]


def _format(value: Any, kind: str, lang: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if kind == "int":
        return i18n.format_number(round(float(value)), lang)
    if kind == "float1":
        return i18n.format_number(float(value), lang, 1)
    if kind == "share":
        return i18n.format_share(float(value), lang)
    if kind == "signed":
        number = round(float(value))
        text = i18n.format_number(abs(number), lang)
        return f"+{text}" if number > 0 else (f"−{text}" if number < 0 else "0")
    return str(value)


@dataclass
class Headline:
    """One headline figure: machine key, label, raw value and display text."""

    key: str
    label: str
    value: float
    text: str
    detail: str = ""


@dataclass
class Report:
    """Everything the report shows, ready to render (no I/O happened to make it).

    Attributes
    ----------
    period, previous : str or None
        The period reported and the one compared with.
    lang, units : str
        Language and administrative units.
    synthetic : bool
        Simulated measurements: every page is marked.
    texts : dict
        Title, subtitle, banner, change paragraph, method paragraph, units note.
    headlines : list of Headline
    operators, areas, top_gaps : Table
    changes : pandas.DataFrame
        The comparison's change rows without geometry (empty without a previous period).
    village_changes : pandas.DataFrame
    trend : pandas.DataFrame
        ``period, operator, n_gaps, people_in_gaps`` over the stored periods.
    closed_gaps, current_gaps : geopandas.GeoDataFrame
        For the map: gaps of the all view now, and those closed since the previous period.
    claims : Table or None
        The operators' claimed coverage against the measurements (province rows per operator ×
        technology), when the run checked claim maps.
    """

    period: str
    previous: str | None
    lang: str
    units: str
    synthetic: bool
    texts: dict[str, str]
    headlines: list[Headline]
    operators: Table
    areas: Table
    top_gaps: Table
    changes: pd.DataFrame
    village_changes: pd.DataFrame
    trend: pd.DataFrame
    current_gaps: gpd.GeoDataFrame
    closed_gaps: gpd.GeoDataFrame
    claims: Table | None = None

    def label(self, key: str, **values: Any) -> str:
        """Return a label in the report's language."""
        template = LABELS[self.lang][key]
        return template.format(**values) if values else template


def _view(frame: pd.DataFrame, operator: str = ALL_OPERATORS, technology: str = ANY_TECHNOLOGY) -> pd.DataFrame:
    mask = (frame["operator"] == operator) & (frame["technology"] == technology)
    return frame[mask.to_numpy(bool, na_value=False)]


def headline_figures(run: RunResults) -> dict[str, float]:
    """Return the headline numbers of a run, computed from its tables.

    Parameters
    ----------
    run : lomsong.tables.results.RunResults

    Returns
    -------
    dict
        ``people_without_coverage`` (people in the gaps of the all-operators view),
        ``population`` (people of the province in the commune summary), ``share_without_coverage``,
        ``people_covered`` and ``people_without_evidence`` (people in cells measured covered,
        and in cells without enough evidence, in that view) with their shares ``share_covered``,
        ``share_without_evidence`` of the same population, ``gaps_all`` (gaps of that view) and,
        when the run has villages, ``villages_all`` (villages no operator covers).
    """
    gaps = _view(run.gaps)
    summary = _view(run.communes)
    people = float(gaps["population"].sum())
    population = float(summary["population"].sum())
    commune_people = summary["population"].astype(float).fillna(0.0)
    covered = float((commune_people * summary["share_people_covered"].astype(float).fillna(0.0)).sum())
    unknown = float((commune_people * summary["share_people_no_data"].astype(float).fillna(0.0)).sum())

    def share(value: float) -> float:
        return value / population if population > 0 else float("nan")

    figures = {
        "people_without_coverage": people,
        "population": population,
        "share_without_coverage": share(people),
        "people_covered": covered,
        "share_covered": share(covered),
        "people_without_evidence": unknown,
        "share_without_evidence": share(unknown),
        "gaps_all": float(len(gaps)),
    }
    if run.villages is not None and "no_operator" in run.villages:
        figures["villages_all"] = float(run.villages["no_operator"].to_numpy(bool, na_value=False).sum())
    return figures


def _operators_in(run: RunResults) -> list[str]:
    present = set(run.communes["operator"].astype(str)) | set(run.gaps["operator"].astype(str))
    return [op for op in OPERATOR_IDS if op in present] + sorted(
        op for op in present if op not in OPERATOR_IDS and op != ALL_OPERATORS
    )


def _operator_name(operator: str, lang: str) -> str:
    if operator == ALL_OPERATORS and lang == "en":
        return "All operators"
    return display_name(operator)


def _operator_table(run: RunResults, comparison: Comparison | None, lang: str) -> Table:
    labels = LABELS[lang]
    operators = [ALL_OPERATORS, *_operators_in(run)]
    rows = []
    for operator in operators:  # a handful of operators
        gaps = _view(run.gaps, operator)
        row = {
            "operator": _operator_name(operator, lang),
            "n_gaps": len(gaps),
            "people_in_gaps": float(gaps["population"].sum()),
        }
        if run.villages is not None:
            column = "no_operator" if operator == ALL_OPERATORS else f"status_{operator}"
            if column == "no_operator" and column in run.villages:
                row["villages_weak"] = int(run.villages[column].to_numpy(bool, na_value=False).sum())
            elif column in run.villages:
                row["villages_weak"] = int((run.villages[column] == "weak").to_numpy(bool, na_value=False).sum())
            else:
                row["villages_weak"] = np.nan
            # The Ministry's two tiers (CV 1603), counted as the province reports them.
            tier = "status_cv1603" if operator == ALL_OPERATORS else f"status_cv1603_{operator}"
            if tier in run.villages:
                for code in ("trang_song", "lom_song"):
                    row[f"villages_{code}"] = int((run.villages[tier] == code).to_numpy(bool, na_value=False).sum())
        if comparison is not None:
            view = comparison.view(operator, ANY_TECHNOLOGY)
            row["closed"] = int(view["closed"])
            row["not_remeasured"] = int(view["not_remeasured"])
            row["new"] = int(view["new"])
            row["newly_covered"] = float(view["people_newly_covered"])
        rows.append(row)
    frame = pd.DataFrame(rows)
    kinds = {"operator": "text", "n_gaps": "int", "people_in_gaps": "int", "villages_weak": "int"}
    kinds |= {"villages_trang_song": "int", "villages_lom_song": "int"}
    kinds |= {"closed": "int", "not_remeasured": "int", "new": "int", "newly_covered": "int"}
    keys = list(frame.columns)
    headers = [labels[k] for k in keys]
    return Table(
        title=labels["operators_title"],
        frame=frame.set_axis(headers, axis=1),
        kinds={labels[k]: v for k, v in kinds.items() if k in keys},
        emphasis=[i == 0 for i in range(len(frame))],
        keys=keys,
    )


def _claims_table(run: RunResults, lang: str) -> Table | None:
    """Claimed coverage against the measurements: one province row per operator × technology."""
    if run.claims is None or run.claims.empty:
        return None
    rows = run.claims[(run.claims["level"].astype(str) == "province").to_numpy(bool)].copy()
    rank = {op: i for i, op in enumerate(OPERATOR_IDS)}
    rows = rows.assign(
        _op=rows["operator"].astype(str).map(rank).fillna(len(rank)),
        _tech=(rows["technology"].astype(str) == ANY_TECHNOLOGY).astype(int),
    ).sort_values(["_op", "_tech", "technology"])
    keys = [
        "operator",
        "technology",
        "claim_date",
        "claimed_people",
        "verified_people",
        "over_claim_people",
        "unverified_people",
        "over_claim_km2",
        "share_claimed_people_verified",
        "n_challenges",
    ]
    frame = rows[keys].reset_index(drop=True)
    frame["operator"] = frame["operator"].astype(str).map(lambda op: _operator_name(op, lang))
    frame["technology"] = frame["technology"].astype(str).replace({ANY_TECHNOLOGY: i18n.text(lang, "technology_any")})
    kinds = {"claimed_people": "int", "verified_people": "int", "over_claim_people": "int", "unverified_people": "int"}
    kinds |= {"over_claim_km2": "float1", "share_claimed_people_verified": "share", "n_challenges": "int"}
    headers = {key: i18n.header(key, lang) for key in keys}
    return Table(
        title=i18n.text(lang, "claims_title"),
        frame=frame.rename(columns=headers),
        kinds={headers[k]: v for k, v in kinds.items()},
        keys=keys,
    )


def _gap_counts_by(gaps: pd.DataFrame, codes_to_group: pd.Series) -> pd.Series:
    """Count distinct gaps touching each group (a gap over two communes of one group counts once)."""
    touched = gaps[["gap_id", "commune_codes"]].assign(code=gaps["commune_codes"].astype(str).str.split(";"))
    touched = touched.explode("code")
    touched["group"] = touched["code"].str.strip().map(codes_to_group)
    return touched.dropna(subset=["group"]).groupby("group")["gap_id"].nunique()


def _area_table_2019(run: RunResults, previous: RunResults | None, lang: str) -> Table:
    labels = LABELS[lang]
    summary = _view(run.communes).copy()
    summary["commune_code"] = summary["commune_code"].astype(str)
    gaps = _view(run.gaps)
    if previous is not None:
        before = _view(previous.communes).assign(commune_code=lambda f: f["commune_code"].astype(str))
        summary["change"] = summary["people_in_gaps"].astype(float) - summary["commune_code"].map(
            before.set_index("commune_code")["people_in_gaps"]
        ).astype(float)
    summary["_covered_people"] = summary["share_people_covered"].astype(float) * summary["population"].astype(float)
    summary["_no_data_people"] = summary["share_people_no_data"].astype(float) * summary["population"].astype(float)

    def totals(frame: pd.DataFrame, name: str, n_gaps: int) -> dict[str, Any]:
        population = float(frame["population"].sum())
        row = {
            "name": name,
            "population": population,
            "people_in_gaps": float(frame["people_in_gaps"].sum()),
            "n_gaps": n_gaps,
            "share_covered": frame["_covered_people"].sum() / population if population else np.nan,
            "share_no_data": frame["_no_data_people"].sum() / population if population else np.nan,
        }
        if "change" in frame:
            row["change"] = float(frame["change"].sum())
        return row

    district_of = summary.set_index("commune_code")["district_code"].astype(str)
    gaps_per_district = _gap_counts_by(gaps, district_of)
    rows, emphasis = [totals(summary, labels["province_total"], len(gaps))], [True]
    for (district_code, district), members in summary.groupby(["district_code", "district"], sort=True):
        rows.append(totals(members, str(district), int(gaps_per_district.get(str(district_code), 0))))
        emphasis.append(True)
        ordered = members.iloc[fold_series(members["commune"].astype(str)).argsort(kind="stable")]
        for record in ordered.to_dict("records"):  # communes of one district
            row = {
                "name": "    " + str(record["commune"]),
                "population": float(record["population"]),
                "people_in_gaps": float(record["people_in_gaps"]),
                "n_gaps": int(record["n_gaps"]),
                "share_covered": float(record["share_people_covered"]),
                "share_no_data": float(record["share_people_no_data"]),
            }
            if "change" in record:
                row["change"] = record["change"]
            rows.append(row)
            emphasis.append(False)
    frame = pd.DataFrame(rows)
    frame.insert(3, "share_in_gaps", frame["people_in_gaps"] / frame["population"].where(frame["population"] > 0))
    names = {
        "name": labels["district_commune"],
        "population": labels["population"],
        "people_in_gaps": labels["people_in_gaps"],
        "share_in_gaps": labels["share_in_gaps"],
        "n_gaps": labels["n_gaps"],
        "share_covered": labels["share_covered"],
        "share_no_data": labels["share_no_data"],
        "change": labels["change_people"],
    }
    kinds = {"name": "text", "population": "int", "people_in_gaps": "int", "share_in_gaps": "share"}
    kinds |= {"n_gaps": "int", "share_covered": "share", "share_no_data": "share", "change": "signed"}
    keys = list(frame.columns)
    return Table(
        title=labels["areas_title"],
        frame=frame.rename(columns=names),
        kinds={names[k]: kinds[k] for k in keys},
        emphasis=emphasis,
        keys=keys,
    )


def _area_table_2025(run: RunResults, previous: RunResults | None, communes: gpd.GeoDataFrame, lang: str) -> Table:
    labels = LABELS[lang]
    mapping = unit_mapping(communes)
    area = communes.set_index("commune_code").geometry.to_crs(METRIC_CRS).area / 1e6
    units = _view(summarise_units(run.communes, mapping, run.gaps, area))
    frame = pd.DataFrame(
        {
            "name": units["unit"].astype(str),
            "old_communes": units["old_communes"].str.replace(";", ", "),
            "population": units["population"].astype(float),
            "people_in_gaps": units["people_in_gaps"].astype(float),
            "n_gaps": units["n_gaps"].astype(int),
            "share_covered": units["share_people_covered"].astype(float),
            "share_no_data": units["share_people_no_data"].astype(float),
        }
    )
    if previous is not None:
        before = _view(summarise_units(previous.communes, mapping, previous.gaps, area))
        frame["change"] = (
            frame["people_in_gaps"]
            - units["unit_code"].map(before.set_index("unit_code")["people_in_gaps"]).astype(float).to_numpy()
        )
    frame = frame.iloc[fold_series(frame["name"]).argsort(kind="stable")].reset_index(drop=True)
    gaps = _view(run.gaps)
    population = frame["population"].sum()
    total = {
        "name": labels["province_total"],
        "old_communes": "",
        "population": population,
        "people_in_gaps": frame["people_in_gaps"].sum(),
        "n_gaps": len(gaps),
        "share_covered": (frame["share_covered"] * frame["population"]).sum() / population if population else np.nan,
        "share_no_data": (frame["share_no_data"] * frame["population"]).sum() / population if population else np.nan,
    }
    if "change" in frame:
        total["change"] = frame["change"].sum()
    frame = pd.concat([pd.DataFrame([total]), frame], ignore_index=True)
    frame.insert(4, "share_in_gaps", frame["people_in_gaps"] / frame["population"].where(frame["population"] > 0))
    names = {
        "name": labels["unit"],
        "old_communes": labels["old_communes"],
        "population": labels["population"],
        "people_in_gaps": labels["people_in_gaps"],
        "share_in_gaps": labels["share_in_gaps"],
        "n_gaps": labels["n_gaps"],
        "share_covered": labels["share_covered"],
        "share_no_data": labels["share_no_data"],
        "change": labels["change_people"],
    }
    kinds = {"name": "text", "old_communes": "text", "population": "int", "people_in_gaps": "int"}
    kinds |= {"share_in_gaps": "share", "n_gaps": "int", "share_covered": "share", "share_no_data": "share"}
    kinds |= {"change": "signed"}
    keys = list(frame.columns)
    return Table(
        title=labels["areas_title_2025"],
        frame=frame.rename(columns=names),
        kinds={names[k]: kinds[k] for k in keys},
        emphasis=[True] + [False] * (len(frame) - 1),
        keys=keys,
    )


def _top_gaps(
    run: RunResults, comparison: Comparison | None, communes: gpd.GeoDataFrame | None, units: str, lang: str
) -> Table:
    labels = LABELS[lang]
    gaps = _view(run.gaps).sort_values("population", ascending=False).head(10)
    if units == "2025" and communes is not None:
        per_unit = gap_people_by_unit(gaps, unit_mapping(communes))
        main_unit = per_unit.sort_values("people", ascending=False).drop_duplicates("gap_id").set_index("gap_id")
        where = gaps["gap_id"].map(main_unit["unit"]).astype(str) + " (" + gaps["commune"].astype(str) + ")"
    else:
        where = gaps["commune"].astype(str) + ", " + gaps["district"].astype(str)
    status = pd.Series(labels["status_none"], index=gaps.index)
    if comparison is not None:
        after_ids = _view(comparison.changes)[["gap_ids_after", "status"]].copy()
        after_ids["gap_id"] = after_ids["gap_ids_after"].str.split(";")
        exploded = after_ids.explode("gap_id")
        exploded = exploded[exploded["gap_id"].astype(str) != ""].drop_duplicates("gap_id")
        lookup = exploded.set_index("gap_id")["status"]
        status = gaps["gap_id"].astype(str).map(lookup).map(lambda s: labels.get(f"status_{s}", "–"))
    evidence = gaps["evidence"].astype(str).map(lambda e: labels.get(f"evidence_{e}", e))
    coordinates = gaps["centroid_lat"].map(lambda v: f"{v:.4f}") + ", " + gaps["centroid_lon"].map(lambda v: f"{v:.4f}")
    frame = pd.DataFrame(
        {
            "rank": np.arange(1, len(gaps) + 1),
            "where": where.to_numpy(),
            "population": gaps["population"].astype(float).to_numpy(),
            "area_km2": gaps["area_km2"].astype(float).to_numpy(),
            "evidence": evidence.to_numpy(),
            "coordinates": coordinates.to_numpy(),
        }
    )
    if comparison is not None:
        frame["status"] = status.to_numpy()
    names = {k: labels[k if k != "population" else "people_in_gaps"] for k in frame.columns}
    kinds = {"rank": "int", "population": "int", "area_km2": "float1"}
    keys = list(frame.columns)
    return Table(
        title=labels["top_title"],
        frame=frame.rename(columns=names),
        kinds={names[k]: kinds.get(k, "text") for k in keys},
        emphasis=[False] * len(frame),
        keys=keys,
    )


def _period_text(period: str, lang: str) -> str:
    year, month = period.split("-")
    return f"tháng {int(month)}/{year}" if lang == "vi" else period


def _method_text(run: RunResults, period: str, lang: str) -> str:
    meta = run.meta
    config = meta.get("config") or meta.get("configuration") or {}
    thresholds = {**{"2G": -100, "3G": -100, "4G": -110, "5G": -110}, **(config.get("thresholds") or {})}
    counts = meta.get("counts") or {}
    n_measurements = counts.get("measurements") or counts.get("measurements_used") or counts.get("samples")
    if n_measurements is None:
        n_measurements = float(_view(run.cells)["n_samples"].sum()) if "n_samples" in run.cells else float("nan")
    inputs = meta.get("inputs") or []
    # run.json lists its inputs as records with a role; older layouts used a dict of roles.
    records = (
        inputs
        if isinstance(inputs, list)
        else [
            {"role": role, "path": entry}
            for role, value in inputs.items()
            for entry in (value if isinstance(value, list) else [value])
        ]
    )
    names = [
        str(record.get("name") or Path(str(record.get("path", ""))).name)
        for record in records
        if isinstance(record, dict) and record.get("role") == "measurements"
    ]
    if meta.get("measurement_source") == "store" and not names:
        names = ["kho số đo" if lang == "vi" else "measurement store"]
    sources = ", ".join(names[:3]) + (" …" if len(names) > 3 else "")
    if not sources:
        sources = "kho số đo" if lang == "vi" else "measurement store"
    if run.synthetic:
        sources += ", " + ("mô phỏng" if lang == "vi" else "simulated")
    resolution = int(config.get("resolution", 8))
    return LABELS[lang]["method"].format(
        n_measurements=i18n.format_number(n_measurements, lang),
        sources=sources,
        period=_period_text(period, lang),
        resolution=resolution,
        cell_km2=i18n.format_number(_H3_CELL_KM2.get(resolution, 0.74), lang, 2),
        t4g=i18n.format_number(thresholds["4G"], lang),
        t5g=i18n.format_number(thresholds["5G"], lang),
        t3g=i18n.format_number(thresholds["3G"], lang),
        t2g=i18n.format_number(thresholds["2G"], lang),
        min_samples=config.get("min_samples", 5),
        min_devices=config.get("min_devices", 2),
        people=_people_text(meta, lang),
    )


def _people_text(meta: dict, lang: str) -> str:
    """Say where the report's people come from (``run.json`` ``population.source``; even when absent)."""
    from lomsong.products.words import text

    source = (meta.get("population") or {}).get("source", "even")
    if source not in ("villages", "buildings", "raster"):
        return LABELS[lang]["people_even"]
    return LABELS[lang]["people_source"].format(source=text(lang, f"population_source_{source}"))


def prepare_report(
    run: RunResults,
    period: str,
    previous: RunResults | None = None,
    comparison: Comparison | None = None,
    trend: pd.DataFrame | None = None,
    communes: gpd.GeoDataFrame | None = None,
    lang: str = "vi",
    units: str = "2025",
    today: str | None = None,
) -> Report:
    """Gather everything the report shows (pure: tables in, a :class:`Report` out).

    Parameters
    ----------
    run : lomsong.tables.results.RunResults
        The period's run.
    period : str
        Its name (``YYYY-MM``).
    previous : lomsong.tables.results.RunResults, optional
        The previous stored period's run (for the per-commune change).
    comparison : lomsong.analysis.compare.Comparison, optional
        ``compare_runs(previous, run)``.
    trend : pandas.DataFrame, optional
        :func:`trend_table` over the stored periods.
    communes : geopandas.GeoDataFrame, optional
        Commune table (with ``unit_2025``); needed for ``units="2025"``.
    lang : str
        ``vi`` (default) or ``en``.
    units : str
        ``2025`` (default: the new Lâm Đồng units, old communes mapped whole) or ``2019`` (the
        communes and districts of the data, as history).
    today : str, optional
        Date printed as the preparation date (default: today).

    Returns
    -------
    Report
    """
    if lang not in LABELS:
        raise ReportError(f"language {lang!r}: choose vi or en")
    if units not in UNITS:
        raise ReportError(f"units {units!r}: choose 2019 (communes of the data) or 2025 (new Lâm Đồng units)")
    if units == "2025" and communes is None:
        raise ReportError("the 2025 units need the commune table with its unit_2025 field")
    labels = LABELS[lang]
    year, month = period.split("-")
    figures = headline_figures(run)
    synthetic = run.synthetic or (comparison.synthetic if comparison is not None else False)
    date = today or datetime.now().date().isoformat()
    texts = {
        "title": labels["title_2025" if units == "2025" else "title"],
        "denominator": labels["denominator"].format(
            population=i18n.format_number(figures["population"], lang),
            in_gaps=i18n.format_number(figures["people_without_coverage"], lang),
            share_in_gaps=i18n.format_share(figures["share_without_coverage"], lang),
            covered=i18n.format_number(figures["people_covered"], lang),
            share_covered=i18n.format_share(figures["share_covered"], lang),
            unknown=i18n.format_number(figures["people_without_evidence"], lang),
            share_unknown=i18n.format_share(figures["share_without_evidence"], lang),
        ),
        "subtitle": labels["subtitle_2025" if units == "2025" else "subtitle"].format(month=month, year=year),
        "generated": labels["generated"].format(date=i18n.format_date(date, lang)),
        "synthetic_banner": labels["synthetic_banner"] if synthetic else "",
        "method": _method_text(run, period, lang),
        "units_note": MAPPED_WHOLE_NOTE[lang] if units == "2025" else "",
        "change": "",
        "villages_change": "",
    }
    headlines = [
        Headline(
            "people_without_coverage",
            labels["people_without_coverage"],
            figures["people_without_coverage"],
            i18n.format_number(figures["people_without_coverage"], lang),
            labels["share_of_population"].format(share=i18n.format_share(figures["share_without_coverage"], lang)),
        ),
        Headline(
            "people_covered",
            labels["people_covered"],
            figures["people_covered"],
            i18n.format_number(figures["people_covered"], lang),
            labels["share_of_population"].format(share=i18n.format_share(figures["share_covered"], lang)),
        ),
        Headline(
            "people_without_evidence",
            labels["people_without_evidence"],
            figures["people_without_evidence"],
            i18n.format_number(figures["people_without_evidence"], lang),
            labels["share_of_population"].format(share=i18n.format_share(figures["share_without_evidence"], lang)),
        ),
        Headline("gaps_all", labels["gaps_all"], figures["gaps_all"], i18n.format_number(figures["gaps_all"], lang)),
    ]
    if "villages_all" in figures:
        headlines.append(
            Headline(
                "villages_all",
                labels["villages_all"],
                figures["villages_all"],
                i18n.format_number(figures["villages_all"], lang),
            )
        )
    changes = pd.DataFrame()
    village_changes = pd.DataFrame()
    closed = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    if comparison is not None:
        view = comparison.view()
        delta = float(view["people_in_gaps_after"] - view["people_in_gaps_before"])
        direction = "direction_down" if delta < 0 else "direction_up" if delta > 0 else "direction_same"
        texts["change"] = (
            labels["change_text"]
            .format(
                closed=i18n.format_number(view["closed"], lang),
                new=i18n.format_number(view["new"], lang),
                shrunk=i18n.format_number(view["shrunk"], lang),
                grew=i18n.format_number(view["grew"], lang),
                not_remeasured=i18n.format_number(view["not_remeasured"], lang),
                # the people of those gaps' cells that were not measured again (not all such cells)
                not_remeasured_people=i18n.format_number(
                    float(comparison.changes_of("not_remeasured")["people_not_remeasured"].sum()), lang
                ),
                covered=i18n.format_number(view["people_newly_covered"], lang),
                direction=labels[direction],
                delta=i18n.format_number(abs(delta), lang) if delta else "",
            )
            .replace("  ", " ")
            .replace(" .", ".")
        )
        headlines.append(
            Headline(
                "people_in_gaps_change",
                labels["change_headline"].format(previous=comparison.before),
                delta,
                _format(delta, "signed", lang),
                texts["change"],
            )
        )
        changes = pd.DataFrame(comparison.changes.drop(columns="geometry"))
        village_changes = comparison.villages
        if len(village_changes):
            texts["villages_change"] = labels["villages_change"].format(
                left=int((village_changes["change"] == "left").sum()),
                joined=int((village_changes["change"] == "joined").sum()),
            )
        closed_rows = comparison.changes_of("closed")
        closed = gpd.GeoDataFrame(
            closed_rows[["change_id", "geometry"]], geometry="geometry", crs=comparison.changes.crs
        )
    else:
        texts["change"] = labels["no_previous"]
    areas = (
        _area_table_2025(run, previous, communes, lang) if units == "2025" else _area_table_2019(run, previous, lang)
    )
    current = _view(run.gaps)
    return Report(
        period=period,
        previous=comparison.before if comparison is not None else None,
        lang=lang,
        units=units,
        synthetic=synthetic,
        texts=texts,
        headlines=headlines,
        operators=_operator_table(run, comparison, lang),
        areas=areas,
        top_gaps=_top_gaps(run, comparison, communes, units, lang),
        changes=changes,
        village_changes=village_changes,
        trend=trend if trend is not None else pd.DataFrame(columns=["period", "operator", "n_gaps", "people_in_gaps"]),
        current_gaps=gpd.GeoDataFrame(
            current[["gap_id", "population", "geometry"]], geometry="geometry", crs=run.gaps.crs
        ),
        closed_gaps=closed,
        claims=_claims_table(run, lang),
    )


def trend_table(folders: dict[str, Path]) -> pd.DataFrame:
    """Return gaps and people in gaps per period and operator (technology ``any``).

    Parameters
    ----------
    folders : dict
        Period name → run folder (e.g. from :func:`lomsong.tables.periods.list_periods`).

    Returns
    -------
    pandas.DataFrame
        ``period, operator, n_gaps, people_in_gaps`` and ``villages_all`` (villages no operator
        covers, NaN without a village layer), one row per period and operator, periods in order.
    """
    frames = []
    for name, folder in sorted(folders.items()):  # one small parquet read per stored period
        gaps = pd.read_parquet(Path(folder) / GAPS_PARQUET, columns=["operator", "technology", "population"])
        gaps = gaps[(gaps["technology"] == ANY_TECHNOLOGY).to_numpy(bool, na_value=False)]
        per_operator = gaps.groupby("operator").agg(n_gaps=("population", "size"), people_in_gaps=("population", "sum"))
        villages_path = Path(folder) / VILLAGES_PARQUET
        villages = np.nan
        if villages_path.exists():
            flags = pd.read_parquet(villages_path, columns=["no_operator"])["no_operator"]
            villages = float(flags.to_numpy(bool, na_value=False).sum())
        frames.append(per_operator.reset_index().assign(period=name, villages_all=villages))
    if not frames:
        return pd.DataFrame(columns=["period", "operator", "n_gaps", "people_in_gaps", "villages_all"])
    table = pd.concat(frames, ignore_index=True)
    return table[["period", "operator", "n_gaps", "people_in_gaps", "villages_all"]]


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def _figure_png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _stamp_synthetic(figure) -> None:
    figure.text(
        0.5, 0.5, SYNTHETIC_MARK, fontsize=34, color="#C00000", alpha=0.13, ha="center", va="center", rotation=24
    )


def trend_chart(report: Report) -> bytes:
    """Return a PNG with the people in gaps and the number of gaps per period and operator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trend = report.trend
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    periods = sorted(trend["period"].unique()) if len(trend) else [report.period]
    positions = {p: i for i, p in enumerate(periods)}
    for ax, column, title in (
        (axes[0], "people_in_gaps", report.label("trend_people")),
        (axes[1], "n_gaps", report.label("trend_gaps")),
    ):
        for operator in [ALL_OPERATORS, *[o for o in OPERATOR_IDS if o in set(trend["operator"])]]:
            rows = trend[trend["operator"] == operator].sort_values("period")
            if rows.empty:
                continue
            ax.plot(
                rows["period"].map(positions),
                rows[column],
                marker="o",
                linewidth=2.4 if operator == ALL_OPERATORS else 1.4,
                color=OPERATOR_COLOURS.get(operator, "#777777"),
                label=_operator_name(operator, report.lang),
            )
        ax.set_title(title, fontsize=11)
        ax.set_xticks(range(len(periods)), periods)
        ax.set_xlabel(report.label("trend_period"))
        ax.grid(alpha=0.3)
        ax.yaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda value, _: i18n.format_number(value, report.lang))
        )
        ax.set_ylim(bottom=0)
        if len(periods) == 1:
            ax.set_xlim(-0.5, 0.5)
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    if report.synthetic:
        _stamp_synthetic(figure)
    figure.tight_layout()
    return _figure_png(figure)


def _short_unit_name(name: str) -> str:
    """A map label without the unit type: "Huyện Đắk Mil" → "Đắk Mil", "Phường Nam Gia Nghĩa" → "P. Nam Gia Nghĩa"."""
    for prefix, short in (("Huyện ", ""), ("Thành phố ", "TP "), ("Thị xã ", "TX "), ("Xã ", ""), ("Phường ", "P. ")):
        if name.startswith(prefix):
            return short + name[len(prefix) :]
    return name


def province_map(report: Report, communes: gpd.GeoDataFrame) -> bytes:
    """Return a PNG map of the province: communes, districts, gaps now, gaps closed since before."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from lomsong.reference.boundaries import districts

    metric = communes.to_crs(METRIC_CRS)
    figure, ax = plt.subplots(figsize=(8, 8.4))
    metric.plot(ax=ax, facecolor="#F4F1EA", edgecolor="#B9B2A6", linewidth=0.4)
    if report.units == "2025":
        # Today's units, dissolved from the old communes (mapped whole), over the old commune lines.
        outlines = dissolve_units(communes).to_crs(METRIC_CRS)
        outline_label, name_column = report.label("map_units"), "unit"
    else:
        outlines = districts(communes).to_crs(METRIC_CRS)
        outline_label, name_column = report.label("map_districts"), "district"
    outlines.plot(ax=ax, facecolor="none", edgecolor="#4A4A4A", linewidth=1.1)
    handles = [
        Line2D([], [], color="#B9B2A6", linewidth=0.8, label=report.label("map_communes")),
        Line2D([], [], color="#4A4A4A", linewidth=1.4, label=outline_label),
    ]
    if len(report.closed_gaps):
        report.closed_gaps.to_crs(METRIC_CRS).plot(
            ax=ax, facecolor="#009E73", edgecolor="#006B4E", linewidth=0.6, alpha=0.8
        )
        handles.append(Patch(facecolor="#009E73", edgecolor="#006B4E", label=report.label("map_closed")))
    if len(report.current_gaps):
        report.current_gaps.to_crs(METRIC_CRS).plot(ax=ax, facecolor="#D7191C", edgecolor="#8B0000", linewidth=0.6)
        handles.append(Patch(facecolor="#D7191C", edgecolor="#8B0000", label=report.label("map_gaps")))
    for point, name in zip(outlines.geometry.representative_point(), outlines[name_column], strict=True):
        ax.annotate(
            _short_unit_name(str(name)),
            (point.x, point.y),
            fontsize=6 if report.units == "2025" else 8,
            ha="center",
            color="#222222",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.6, "linewidth": 0},
        )
    ax.set_axis_off()
    ax.set_title(f"{report.label('map_title')} — {report.period}", fontsize=12)
    ax.legend(handles=handles, loc="lower left", fontsize=8, frameon=True)
    # A 20 km scale bar: the map is in UTM metres.
    minx, miny, maxx, _ = metric.total_bounds
    x0, y0 = maxx - 26000, miny + 4000
    ax.plot([x0, x0 + 20000], [y0, y0], color="black", linewidth=3)
    ax.text(x0 + 10000, y0 + 1500, "20 km", ha="center", fontsize=8)
    if report.synthetic:
        _stamp_synthetic(figure)
    return _figure_png(figure)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


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
        labels=LABELS[report.lang],
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
    changes = _view(report.changes)
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
    story.append(Paragraph(escape(report.label("method_title")), h2))
    story.append(Paragraph(escape(report.texts["method"]), body))

    footer_left = report.texts["title"] + " — " + report.period
    synthetic = report.synthetic
    page_label = LABELS[report.lang]["page"]

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
    labels = LABELS[report.lang]
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


# --------------------------------------------------------------------------------------------
# A comparison's files (the jobs in lomsong.jobs.monthly make and report periods)
# --------------------------------------------------------------------------------------------


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
