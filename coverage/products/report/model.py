"""The monthly report's content, pure: headline figures, tables per operator and area, the largest gaps,
the method paragraph and the trend, from one period's run and the previous one (:func:`prepare_report`).

Words come from :data:`lomsong.products.words.REPORT_LABELS`; :mod:`.figures` draws and :mod:`.render`
writes the files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong._text import fold_series
from lomsong.analysis.compare import Comparison
from lomsong.errors import ReportError
from lomsong.operators import OPERATOR_IDS, display_name
from lomsong.products import words as i18n
from lomsong.products.words import REPORT_LABELS
from lomsong.reference.boundaries import METRIC_CRS
from lomsong.reference.units import (
    MAPPED_WHOLE_NOTE,
    gap_people_by_unit,
    summarise_units,
    unit_mapping,
)
from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY, GAPS_PARQUET, VILLAGES_PARQUET, RunResults

UNITS = ("2019", "2025")
SYNTHETIC_MARK = "DỮ LIỆU MÔ PHỎNG"

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
    commitments: Any = None  # lomsong.products.report.commitments.CommitmentSection, set by the monthly job

    def label(self, key: str, **values: Any) -> str:
        """Return a label in the report's language."""
        template = REPORT_LABELS[self.lang][key]
        return template.format(**values) if values else template


def select_view(frame: pd.DataFrame, operator: str = ALL_OPERATORS, technology: str = ANY_TECHNOLOGY) -> pd.DataFrame:
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
    gaps = select_view(run.gaps)
    summary = select_view(run.communes)
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


def operator_label(operator: str, lang: str) -> str:
    if operator == ALL_OPERATORS and lang == "en":
        return "All operators"
    return display_name(operator)


def _operator_table(run: RunResults, comparison: Comparison | None, lang: str) -> Table:
    labels = REPORT_LABELS[lang]
    operators = [ALL_OPERATORS, *_operators_in(run)]
    rows = []
    for operator in operators:  # a handful of operators
        gaps = select_view(run.gaps, operator)
        row = {
            "operator": operator_label(operator, lang),
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
    frame["operator"] = frame["operator"].astype(str).map(lambda op: operator_label(op, lang))
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
    labels = REPORT_LABELS[lang]
    summary = select_view(run.communes).copy()
    summary["commune_code"] = summary["commune_code"].astype(str)
    gaps = select_view(run.gaps)
    if previous is not None:
        before = select_view(previous.communes).assign(commune_code=lambda f: f["commune_code"].astype(str))
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
    labels = REPORT_LABELS[lang]
    mapping = unit_mapping(communes)
    area = communes.set_index("commune_code").geometry.to_crs(METRIC_CRS).area / 1e6
    units = select_view(summarise_units(run.communes, mapping, run.gaps, area))
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
        before = select_view(summarise_units(previous.communes, mapping, previous.gaps, area))
        frame["change"] = (
            frame["people_in_gaps"]
            - units["unit_code"].map(before.set_index("unit_code")["people_in_gaps"]).astype(float).to_numpy()
        )
    frame = frame.iloc[fold_series(frame["name"]).argsort(kind="stable")].reset_index(drop=True)
    gaps = select_view(run.gaps)
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
    labels = REPORT_LABELS[lang]
    gaps = select_view(run.gaps).sort_values("population", ascending=False).head(10)
    if units == "2025" and communes is not None:
        per_unit = gap_people_by_unit(gaps, unit_mapping(communes))
        main_unit = per_unit.sort_values("people", ascending=False).drop_duplicates("gap_id").set_index("gap_id")
        where = gaps["gap_id"].map(main_unit["unit"]).astype(str) + " (" + gaps["commune"].astype(str) + ")"
    else:
        where = gaps["commune"].astype(str) + ", " + gaps["district"].astype(str)
    status = pd.Series(labels["status_none"], index=gaps.index)
    if comparison is not None:
        after_ids = select_view(comparison.changes)[["gap_ids_after", "status"]].copy()
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
        n_measurements = float(select_view(run.cells)["n_samples"].sum()) if "n_samples" in run.cells else float("nan")
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
    return REPORT_LABELS[lang]["method"].format(
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
        return REPORT_LABELS[lang]["people_even"]
    return REPORT_LABELS[lang]["people_source"].format(source=text(lang, f"population_source_{source}"))


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
    if lang not in REPORT_LABELS:
        raise ReportError(f"language {lang!r}: choose vi or en")
    if units not in UNITS:
        raise ReportError(f"units {units!r}: choose 2019 (communes of the data) or 2025 (new Lâm Đồng units)")
    if units == "2025" and communes is None:
        raise ReportError("the 2025 units need the commune table with its unit_2025 field")
    labels = REPORT_LABELS[lang]
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
    current = select_view(run.gaps)
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
