"""Products of a run: the machine tables and the downloads people open, written atomically.

:func:`write_run` writes one run folder (see :mod:`lomsong.tables.results`): the GeoParquet tables that
:func:`lomsong.tables.results.load_run` reads back (``gaps.parquet``, ``cells.parquet``,
``communes.parquet``, ``villages.parquet``) and the downloads made from them:

============== ====================================================================
``gaps.geojson`` RFC 7946 (EPSG:4326, no ``crs`` member, right-hand rule, 6 decimals)
``gaps.csv``     one row per gap and view, centroid lon/lat, ``;``-joined lists
``gaps.xlsx``    Vietnamese headers, a sheet per view, the measurement plan, a legend
``gaps.gpkg``    one layer ``gaps`` holding every view (``operator``/``technology`` columns)
``gaps.kml``     Google Earth: a folder per view, names and descriptions in Vietnamese
``communes.csv`` commune summary per view
``campaign.csv`` measurement plan: where more samples would settle an open question
``villages.xlsx`` the provincial village list (only when a village layer was given)
``run.json``     inputs with sha256, configuration, counts, versions, timings, period
============== ====================================================================

Everything is written into a hidden folder beside the target and swapped in at the end, so a
reader (the maps, the API) never sees a half-written run. The tables for the README are
rendered from the same column lists (:func:`outputs_markdown`), so the documentation stays true.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import html
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyogrio

from lomsong._process import is_stale
from lomsong._text import safe_cell, safe_cells
from lomsong.analysis import engine as _analysis
from lomsong.operators import OPERATOR_COLOURS, OPERATOR_IDS, OPERATORS, display_name
from lomsong.products import words
from lomsong.products.workbook import Sheet, readable_values, write_workbook
from lomsong.settings import TECHNOLOGIES
from lomsong.tables import results

STORAGE_CRS = "EPSG:4326"

GAPS_GEOJSON = "gaps.geojson"
GAPS_CSV = "gaps.csv"
GAPS_XLSX = "gaps.xlsx"
GAPS_GPKG = "gaps.gpkg"
GAPS_KML = "gaps.kml"
COMMUNES_CSV = "communes.csv"
VILLAGES_XLSX = "villages.xlsx"

#: Measurement plan (``campaign.csv`` and ``campaign.xlsx``): the analysis defines it.
CAMPAIGN_SCHEMA: list[tuple[str, str]] = _analysis.CAMPAIGN_SCHEMA
CAMPAIGN_COLUMNS = [name for name, _ in CAMPAIGN_SCHEMA]

#: Top-level keys of ``run.json`` (written by :func:`lomsong.jobs.run.run_analysis`): (key, meaning).
RUN_JSON_SCHEMA: list[tuple[str, str]] = [
    ("tool", "lomsong"),
    ("version", "lomsong version"),
    ("created", "when the run was made (UTC, ISO 8601)"),
    ("synthetic", "true when any input (measurements, villages) is simulated: by its metadata or its file name"),
    ("period", "the month YYYY-MM given with --period, else null"),
    ("data_period", "start and end: time of the first and the last measurement used (UTC)"),
    ("filter", "since and until given (--since/--until/--period), else null"),
    ("measurement_source", "files (read, not stored) or store"),
    ("engine", "local, or dask when indexing and aggregation ran on a Dask cluster (--engine dask)"),
    (
        "inputs",
        "one record per input: role (boundaries, population, buildings, measurements, villages, config, store), "
        "path, "
        "name, bytes, sha256, synthetic, and for measurement files the ingest report (rows read, accepted, "
        "no-service, outside the province, rejected by reason with example lines, values removed, corrections)",
    ),
    (
        "population",
        "where the people come from: source (villages, buildings, raster or even), parameters (village kernel "
        "σ and cut-off, the rule deciding a commune's total, files), total, and communes: per commune the census, "
        "the source's own figure (source_people), n_items (villages or buildings), used, placed by the source "
        "and spread_evenly",
    ),
    ("configuration", "the options used: resolution, thresholds, speed threshold, evidence rule, village options"),
    (
        "counts",
        "measurements used, operators, cells, populated cells, cells with data, views, gaps (per view), "
        "vùng lõm sóng and their people, people covered and without evidence, population totals, "
        "grid_cached (the province grid was loaded from data/cache/ rather than built)",
    ),
    (
        "headline",
        "the headline with its denominator: population (people in the province's cells), people_in_gaps, "
        "people_covered, people_without_evidence (the three add up to population) and each one's share",
    ),
    (
        "prediction",
        "radio map: method, decision probabilities, fitted model per operator/technology (path-loss intercept "
        "and slope, variogram), and validation per operator/technology: spatially blocked (5 km, 5 folds) "
        "rmse_db, bias_db, interval80_coverage, accuracy, decided_share, n_cells for the model and the "
        "path_loss and nearest_cell baselines",
    ),
    ("versions", "Python, lomsong, GDAL and the main libraries"),
    (
        "timings",
        "seconds per stage: inputs, analysis (analysis_stages: grid, index, aggregate, classify, gaps, tables, "
        "villages), write (write_files: per file), maps (until the run had them), maps_build (the maps' second "
        "process alone, from the tables to the last page, when they are built there), total",
    ),
    ("files", "every file of the run folder"),
    ("maps", "index.html when the maps were built, else null"),
]

#: Added to every CSV so that a spreadsheet row tells whether the data were simulated.
SYNTHETIC_COLUMN = ("synthetic", "true when the measurements were simulated (demo data), false for real data")

# ---------------------------------------------------------------------------------------------
# Words people read (Vietnamese). One place, so the XLSX, the KML and the README agree.
# ---------------------------------------------------------------------------------------------

_GAP_READ_COLUMNS = [c for c in results.GAP_COLUMNS if c != "geometry"]
GAP_HEADERS_VI: dict[str, str] = words.headers(_GAP_READ_COLUMNS)

GAP_MEANINGS_VI: dict[str, str] = {c: words.meaning(c) for c in _GAP_READ_COLUMNS}

CAMPAIGN_HEADERS_VI: dict[str, str] = words.headers(
    [c for c in CAMPAIGN_COLUMNS if c not in ("operator", "technology")]
)

COMMUNE_HEADERS_VI: dict[str, str] = words.headers([name for name, _ in results.COMMUNE_SUMMARY_SCHEMA])

STATE_VI = {state: words.term(f"state_{state}") for state in ("no_data", "insufficient", "covered", "weak")}
EVIDENCE_VI = {level: words.term(f"evidence_{level}") for level in ("confirmed", "likely")}
ANY_TECHNOLOGY_VI = words.term("any_technology")
SYNTHETIC_NOTE_VI = (
    "DỮ LIỆU MÔ PHỎNG: các số đo trong lần chạy này do chương trình tạo ra để minh hoạ (synthetic), "
    "không phải số đo thật. Không dùng để ra quyết định."
)
SYNTHETIC_NOTE_EN = "SYNTHETIC DATA: the measurements of this run were simulated for a demonstration."

#: Short operator names for sheet titles (Excel allows 31 characters).
_SHORT_OPERATOR = {
    "viettel": "Viettel",
    "vinaphone": "VinaPhone",
    "mobifone": "MobiFone",
    "vietnamobile": "Vietnamobile",
    "gmobile": "Gmobile",
}


class AnalysisLike(Protocol):
    """What :func:`write_run` needs from :class:`lomsong.analysis.engine.Analysis`."""

    cells: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    communes: pd.DataFrame
    campaign: pd.DataFrame
    villages: gpd.GeoDataFrame | None


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------


def view_order(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Return the views present in ``frame``, the lõm-sóng view first.

    Order: ``all`` before the operators (in :data:`lomsong.operators.OPERATOR_IDS` order, other
    ids after), and within an operator ``any`` before 2G … 5G.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table with ``operator`` and ``technology`` columns.

    Returns
    -------
    list of tuple
        ``(operator, technology)`` pairs.
    """
    if frame.empty:
        return []
    pairs = frame[["operator", "technology"]].astype(str).drop_duplicates()
    operator_rank = {results.ALL_OPERATORS: -1, **{op: i for i, op in enumerate(OPERATOR_IDS)}}
    technology_rank = {results.ANY_TECHNOLOGY: -1, **{t: i for i, t in enumerate(TECHNOLOGIES)}}
    keys = [
        (operator_rank.get(op, len(operator_rank)), op, technology_rank.get(tech, len(technology_rank)), tech)
        for op, tech in pairs.itertuples(index=False)
    ]
    return [(op, tech) for _, op, _, tech in sorted(keys)]


def view_title(operator: str, technology: str) -> str:
    """Return the Vietnamese title of a view, e.g. ``Vùng lõm sóng (mọi nhà mạng)``, ``Viettel 4G``."""
    if operator == results.ALL_OPERATORS:
        if technology == results.ANY_TECHNOLOGY:
            return "Vùng lõm sóng (mọi nhà mạng)"
        return f"Mọi nhà mạng {technology}"
    name = display_name(operator)
    return f"{name} – {ANY_TECHNOLOGY_VI}" if technology == results.ANY_TECHNOLOGY else f"{name} {technology}"


def _sheet_title(operator: str, technology: str) -> str:
    """Return an Excel sheet name (≤ 31 characters, none of ``[]:*?/\\``) for a view."""
    if operator == results.ALL_OPERATORS:
        name = "Lõm sóng (mọi mạng)" if technology == results.ANY_TECHNOLOGY else f"Mọi mạng {technology}"
    else:
        short = _SHORT_OPERATOR.get(operator, operator.replace(":", " "))
        name = short if technology == results.ANY_TECHNOLOGY else f"{short} {technology}"
    for bad in "[]:*?/\\":
        name = name.replace(bad, " ")
    return name[:31]


# ---------------------------------------------------------------------------------------------
# Shaping tables for people
# ---------------------------------------------------------------------------------------------


def _join_list(value: Any) -> Any:
    """Join a list-like cell with ``;`` (strings pass through; missing stays missing)."""
    if isinstance(value, list | tuple | np.ndarray):
        return ";".join(_format_list_item(v) for v in value)
    return value


def _format_list_item(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return str(int(round(value))) if math.isfinite(value) else ""
    return str(value)


def _as_date_text(column: pd.Series) -> pd.Series:
    """Return dates as ``YYYY-MM-DD`` text (already-text dates pass through)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.dt.strftime("%Y-%m-%d").astype("string")
    return column.astype("string")


#: Decimals kept in the human downloads (the Parquet tables keep full precision).
_ROUNDING = {
    "population": 0,
    "people_in_gaps": 0,
    "largest_gap_population": 0,
    "area_km2": 3,
    "median_signal_dbm": 1,
    "p10_signal_dbm": 1,
    "no_service_share": 3,
    "share_people_covered": 3,
    "share_people_no_data": 3,
    "share_area_with_data": 3,
    "median_dl_kbps": 0,
    "centroid_lon": 6,
    "centroid_lat": 6,
    "lon": 6,
    "lat": 6,
}


def tidy_table(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Return the human form of a result table: given columns, lists joined, dates as text, rounded.

    Parameters
    ----------
    frame : pandas.DataFrame
        Gap, commune or campaign table (geometry is dropped).
    columns : sequence of str
        Columns to keep, in order; missing ones are added empty.

    Returns
    -------
    pandas.DataFrame
        A plain DataFrame ready for CSV, XLSX or KML.
    """
    out = pd.DataFrame(index=frame.index)
    for name in columns:
        if name not in frame.columns:
            out[name] = pd.NA
            continue
        column = frame[name]
        if column.dtype == object:
            column = column.map(_join_list)
        if name.endswith("_date"):
            column = _as_date_text(column)
        elif name in _ROUNDING and pd.api.types.is_numeric_dtype(column):
            column = column.astype("float64").round(_ROUNDING[name])
            if _ROUNDING[name] == 0:
                column = column.astype("Int64")
        out[name] = column
    return out.reset_index(drop=True)


def _sorted_by_view(frame: pd.DataFrame, within: str) -> pd.DataFrame:
    """Sort a table by view (lõm-sóng view first) and then by ``within``."""
    views = pd.MultiIndex.from_tuples(view_order(frame))
    rows = pd.MultiIndex.from_arrays([frame["operator"].astype(str), frame["technology"].astype(str)])
    return (
        frame.assign(_view=views.get_indexer(rows)).sort_values(["_view", within], kind="stable").drop(columns="_view")
    )


# ---------------------------------------------------------------------------------------------
# Writers (each writes one file)
# ---------------------------------------------------------------------------------------------


def _gap_frame(gaps: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the gap table with exactly :data:`lomsong.tables.results.GAP_COLUMNS`, in EPSG:4326, view-sorted."""
    gaps = gaps if gaps.crs is not None else gaps.set_crs(STORAGE_CRS)
    gaps = gaps.to_crs(STORAGE_CRS)
    if not gaps.empty:
        gaps = _sorted_by_view(gaps, "rank")
    attributes = tidy_table(gaps, [c for c in results.GAP_COLUMNS if c != "geometry"])
    # Text downloads keep the exact population of the table (rounded only for display in CSV).
    attributes["population"] = gaps["population"].to_numpy("float64") if len(gaps) else attributes["population"]
    return gpd.GeoDataFrame(attributes, geometry=gaps.geometry.reset_index(drop=True).values, crs=STORAGE_CRS)


def write_gaps_geojson(gaps: gpd.GeoDataFrame, path: str | Path, synthetic: bool = False) -> Path:
    """Write the gaps as RFC 7946 GeoJSON.

    GDAL's RFC 7946 mode guarantees EPSG:4326 with lon/lat order, no ``crs`` member, exterior
    rings counter-clockwise and holes clockwise, and a ``bbox``; coordinates keep 6 decimals
    (about 0.1 m).

    Parameters
    ----------
    gaps : geopandas.GeoDataFrame
        Gap table (:data:`lomsong.tables.results.GAP_SCHEMA`).
    path : str or Path
        Target file.
    synthetic : bool
        Put the synthetic-data note in the collection's ``description`` member.

    Returns
    -------
    Path
    """
    path = Path(path)
    frame = _gap_frame(gaps)
    description = "Vùng lõm sóng và vùng sóng yếu theo nhà mạng, tỉnh Đắk Nông (lomsong)."
    if synthetic:
        description = f"{SYNTHETIC_NOTE_VI} {SYNTHETIC_NOTE_EN} {description}"
    pyogrio.write_dataframe(
        frame,
        path,
        driver="GeoJSON",
        layer="gaps",
        layer_options={
            "RFC7946": "YES",
            "COORDINATE_PRECISION": "6",
            "WRITE_BBOX": "YES",
            "DESCRIPTION": description,
        },
    )
    return path


def write_predicted_gaps_geojson(gaps: gpd.GeoDataFrame, path: str | Path, synthetic: bool = False) -> Path:
    """Write the radio map's predicted gaps as RFC 7946 GeoJSON (see :func:`write_gaps_geojson`).

    Every feature has ``prediction: true``: these areas are predicted, not measured.

    Parameters
    ----------
    gaps : geopandas.GeoDataFrame
        Predicted gaps (:data:`lomsong.tables.results.PREDICTED_GAP_SCHEMA`).
    path : str or Path
        Target file.
    synthetic : bool
        Put the synthetic-data note in the collection's ``description`` member.

    Returns
    -------
    Path
    """
    path = Path(path)
    gaps = gaps if gaps.crs is not None else gaps.set_crs(STORAGE_CRS)
    attributes = tidy_table(gaps.to_crs(STORAGE_CRS), [c for c in results.PREDICTED_GAP_COLUMNS if c != "geometry"])
    attributes["population"] = gaps["population"].to_numpy("float64") if len(gaps) else attributes["population"]
    attributes["prediction"] = True
    frame = gpd.GeoDataFrame(attributes, geometry=gaps.to_crs(STORAGE_CRS).geometry.values, crs=STORAGE_CRS)
    description = (
        "Vùng dự báo sóng yếu (bản đồ dự báo, không phải số đo), tỉnh Đắk Nông (lomsong). "
        "Predicted weak-signal areas: a prediction, not measurements."
    )
    if synthetic:
        description = f"{SYNTHETIC_NOTE_VI} {SYNTHETIC_NOTE_EN} {description}"
    pyogrio.write_dataframe(
        frame,
        path,
        driver="GeoJSON",
        layer="predicted_gaps",
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "6", "WRITE_BBOX": "YES", "DESCRIPTION": description},
    )
    return path


def write_gaps_csv(gaps: gpd.GeoDataFrame, path: str | Path, synthetic: bool = False) -> Path:
    """Write the gaps as CSV (UTF-8 with BOM so spreadsheets show the diacritics).

    Parameters
    ----------
    gaps : geopandas.GeoDataFrame
        Gap table.
    path : str or Path
        Target file.
    synthetic : bool
        Value of the trailing ``synthetic`` column.

    Returns
    -------
    Path
    """
    frame = pd.DataFrame(_gap_frame(gaps).drop(columns="geometry"))
    frame["population"] = frame["population"].round(0).astype("Int64")
    frame[SYNTHETIC_COLUMN[0]] = synthetic
    frame = safe_cells(frame)
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return Path(path)


def write_table_csv(
    frame: pd.DataFrame,
    columns: Sequence[str] | None,
    path: str | Path | IO[str],
    synthetic: bool = False,
    sort_within: str = "",
) -> Path | IO[str]:
    """Write a table as CSV (UTF-8 with BOM) with the given columns and a trailing ``synthetic``.

    The one CSV writer for tables: the run's commune summary and measurement plan, and the API's
    CSV downloads.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    columns : sequence of str or None
        Columns, in order (None: the table's own).
    path : str or Path or text file
        Target file, or an open text buffer.
    synthetic : bool
        Value of the trailing ``synthetic`` column.
    sort_within : str, optional
        Sort by view and then by this column (when the table has view columns).

    Returns
    -------
    Path or the buffer
    """
    if sort_within and not frame.empty and {"operator", "technology"} <= set(frame.columns):
        frame = _sorted_by_view(frame, sort_within)
    out = tidy_table(frame, list(frame.columns) if columns is None else columns)
    out[SYNTHETIC_COLUMN[0]] = synthetic
    out = safe_cells(out)
    out.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return path if hasattr(path, "write") else Path(path)


def write_gpkg(
    frame: gpd.GeoDataFrame,
    path: str | Path,
    *,
    layer: str,
    identifier: str,
    description: str,
    synthetic: bool = False,
) -> Path:
    """Write one layer to a GeoPackage in EPSG:4326 (polygons promoted to MultiPolygon).

    The one GeoPackage writer, for the run's ``gaps.gpkg`` and the API's downloads.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        The layer (any CRS; text columns as Python strings or pandas strings).
    path : str or Path
        Target file.
    layer : str
        Layer (table) name.
    identifier, description : str
        What QGIS shows for the layer; the synthetic-data note goes before the description.
    synthetic : bool
        Whether the data is simulated.

    Returns
    -------
    Path
    """
    path = Path(path)
    frame = frame if frame.crs is not None else frame.set_crs(STORAGE_CRS)
    frame = frame.to_crs(STORAGE_CRS)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.StringDtype):
            frame[column] = frame[column].astype(object)
    if synthetic:
        description = f"{SYNTHETIC_NOTE_VI} {description}"
    kinds = set(frame.geom_type.dropna())
    polygons = bool(kinds) and kinds <= {"Polygon", "MultiPolygon"}
    pyogrio.write_dataframe(
        frame,
        path,
        driver="GPKG",
        layer=layer,
        promote_to_multi=polygons or None,
        geometry_type="MultiPolygon" if polygons or not kinds else None,
        # GeoPackage 1.2: the newest version older GDALs (QGIS LTR, Debian's ogrinfo) open without a warning.
        dataset_options={"VERSION": "1.2"},
        layer_options={"IDENTIFIER": identifier, "DESCRIPTION": description, "SPATIAL_INDEX": "YES"},
    )
    return path


def write_gaps_gpkg(gaps: gpd.GeoDataFrame, path: str | Path, synthetic: bool = False) -> Path:
    """Write the gaps as a GeoPackage: one layer ``gaps`` with every view (MultiPolygon, EPSG:4326).

    Parameters
    ----------
    gaps : geopandas.GeoDataFrame
        Gap table.
    path : str or Path
        Target file.
    synthetic : bool
        Put the synthetic-data note in the layer description.

    Returns
    -------
    Path
    """
    description = "Vùng lõm sóng theo nhà mạng và công nghệ (lomsong)"
    return write_gpkg(
        _gap_frame(gaps), path, layer="gaps", identifier="Vùng lõm sóng", description=description, synthetic=synthetic
    )


def _kml_colour(hex_colour: str, alpha: int) -> str:
    """Return a KML colour (``aabbggrr``) for ``#rrggbb``."""
    red, green, blue = hex_colour[1:3], hex_colour[3:5], hex_colour[5:7]
    return f"{alpha:02x}{blue}{green}{red}".lower()


def _number_vi(value: Any, decimals: int = 0) -> str:
    """Format a number the Vietnamese way (``1.234,5``); empty for missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or pd.isna(value):
        return ""
    text = f"{float(value):,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def _gap_description_vi(row: dict[str, Any]) -> str:
    """Return the HTML description of one gap in Vietnamese."""
    technology = ANY_TECHNOLOGY_VI if row["technology"] == results.ANY_TECHNOLOGY else row["technology"]
    lines = [
        ("Nhà mạng", display_name(str(row["operator"]))),
        ("Công nghệ", technology),
        ("Hạng theo số dân", _number_vi(row["rank"])),
        ("Số dân", _number_vi(row["population"])),
        ("Diện tích", f"{_number_vi(row['area_km2'], 2)} km²"),
        ("Xã", f"{row['commune'] or ''} ({row['district'] or ''})"),
        ("Các xã liên quan", str(row["communes"] or "").replace(";", "; ")),
        ("Số mẫu đo / số máy", f"{_number_vi(row['n_samples'])} / {_number_vi(row['n_devices'])}"),
        ("Tín hiệu trung vị", f"{_number_vi(row['median_signal_dbm'], 1)} dBm"),
        ("Tỷ lệ mẫu mất sóng", _number_vi(100 * row["no_service_share"], 0) + " %"),
        ("Mức bằng chứng", EVIDENCE_VI.get(str(row["evidence"]), str(row["evidence"]))),
        ("Thời gian đo", f"{row['first_date'] or ''} – {row['last_date'] or ''}"),
        ("Mã vùng", str(row["gap_id"])),
    ]
    # Google Earth renders descriptions as HTML: names from a boundaries file are escaped
    return "<br/>".join(f"<b>{label}:</b> {html.escape(str(safe_cell(value)))}" for label, value in lines)


def _xml_text(text: str) -> str:
    """Text as an XML element's content: ``& < " >`` escaped (as ``xml.dom.minidom`` writes it)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;").replace(">", "&gt;")


def _kml_rings(geometries: np.ndarray) -> tuple[list[list[tuple[str, list[str]]]], np.ndarray]:
    """Each geometry's polygons as ``(outer ring, inner rings)`` coordinate texts, and its polygon count.

    The coordinates of all the rings are rounded to 6 decimals and written at once (numpy's shortest
    text of each float, as ``str`` of a float), each point ``lon,lat,0.0``.
    """
    import shapely

    parts, owner = shapely.get_parts(geometries, return_index=True)
    kept = ~shapely.is_empty(parts)  # an empty polygon has no ring to draw
    parts, owner = parts[kept], owner[kept]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of_point = shapely.get_coordinates(rings, return_index=True)
    text = np.round(coords, 6).astype(np.dtypes.StringDType())
    points = (text[:, 0] + "," + text[:, 1] + ",0.0").tolist()
    ends = np.cumsum(np.bincount(ring_of_point, minlength=len(rings))).tolist()
    starts = [0, *ends[:-1]] if ends else []
    ring_texts = [" ".join(points[start:stop]) for start, stop in zip(starts, ends, strict=True)]
    first_ring = np.searchsorted(ring_part, np.arange(len(parts))).tolist()
    last_ring = [*first_ring[1:], len(rings)]
    polygons: list[list[tuple[str, list[str]]]] = [[] for _ in range(len(geometries))]
    for part, geometry in enumerate(owner.tolist()):
        first, last = first_ring[part], last_ring[part]
        polygons[geometry].append((ring_texts[first], ring_texts[first + 1 : last]))
    return polygons, np.bincount(owner, minlength=len(geometries))


def _kml_polygon(outer: str, inners: list[str], indent: str) -> list[str]:
    """A ``<Polygon>`` element's lines."""
    step = "    "
    lines = [f"{indent}<Polygon>", f"{indent}{step}<outerBoundaryIs>", f"{indent}{step * 2}<LinearRing>",
             f"{indent}{step * 3}<coordinates>{outer}</coordinates>", f"{indent}{step * 2}</LinearRing>",
             f"{indent}{step}</outerBoundaryIs>"]  # fmt: skip
    if inners:
        lines.append(f"{indent}{step}<innerBoundaryIs>")
        for ring in inners:
            lines += [f"{indent}{step * 2}<LinearRing>", f"{indent}{step * 3}<coordinates>{ring}</coordinates>",
                      f"{indent}{step * 2}</LinearRing>"]  # fmt: skip
        lines.append(f"{indent}{step}</innerBoundaryIs>")
    lines.append(f"{indent}</Polygon>")
    return lines


def write_gaps_kml(gaps: gpd.GeoDataFrame, path: str | Path, synthetic: bool = False) -> Path:
    """Write the gaps as KML for Google Earth: a folder per view, Vietnamese names and descriptions.

    The KML is written as text, laid out as simplekml laid it out before (4-space indents, a
    ``Style`` per operator in the first folder that uses it, a ``Placemark`` per gap with its name,
    its HTML description, its style and a ``Polygon``, or a ``MultiGeometry`` of several), without
    simplekml's object per element: names and descriptions are XML-escaped, the coordinates of all
    the rings formatted at once. Only the styles carry an ``id`` (``style-<n>``), for ``styleUrl``.

    Parameters
    ----------
    gaps : geopandas.GeoDataFrame
        Gap table.
    path : str or Path
        Target file.
    synthetic : bool
        Label the document and every placemark as synthetic.

    Returns
    -------
    Path
    """
    import shapely

    frame = _gap_frame(gaps)
    geometries = shapely.orient_polygons(frame.geometry.values)
    label = " (DỮ LIỆU MÔ PHỎNG)" if synthetic else ""
    description = SYNTHETIC_NOTE_VI if synthetic else "Kết quả phân tích vùng lõm sóng (lomsong)."
    attributes = frame.drop(columns="geometry")
    records = attributes.astype(object).where(attributes.notna(), None).to_dict("records")
    polygons, counts = _kml_rings(np.asarray(geometries))
    views = pd.MultiIndex.from_arrays([frame["operator"].astype(str), frame["technology"].astype(str)])
    order = view_order(frame)
    view_of_row = pd.MultiIndex.from_tuples(order).get_indexer(views) if order else np.zeros(0, "int64")
    rows_in_order = np.argsort(view_of_row, kind="stable")
    style_ids: dict[str, str] = {}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">',
             "    <Document>", f"        <name>{_xml_text(f'Vùng lõm sóng tỉnh Đắk Nông{label}')}</name>",
             f"        <description>{_xml_text(description)}</description>"]  # fmt: skip
    bounds = np.searchsorted(view_of_row[rows_in_order], np.arange(len(order) + 1))
    for number, (operator, technology) in enumerate(order):
        lines.append("        <Folder>")
        if operator not in style_ids:  # each operator's style, in the first folder that uses it
            style_ids[operator] = f"style-{len(style_ids) + 1}"
            colour = OPERATOR_COLOURS.get(operator, "#555555")
            lines += [f'            <Style id="{style_ids[operator]}">', "                <LineStyle>",
                      f"                    <color>{_kml_colour(colour, 0xFF)}</color>",
                      "                    <colorMode>normal</colorMode>", "                    <width>2</width>",
                      "                </LineStyle>", "                <PolyStyle>",
                      f"                    <color>{_kml_colour(colour, 0x80)}</color>",
                      "                    <colorMode>normal</colorMode>", "                    <fill>1</fill>",
                      "                    <outline>1</outline>", "                </PolyStyle>",
                      "            </Style>"]  # fmt: skip
        lines.append(f"            <name>{_xml_text(view_title(operator, technology) + label)}</name>")
        for index in rows_in_order[bounds[number] : bounds[number + 1]].tolist():
            row = records[index]
            name = safe_cell(f"#{row['rank']} {row['commune'] or ''}: {_number_vi(row['population'])} người{label}")
            lines += ["            <Placemark>", f"                <name>{_xml_text(str(name))}</name>",
                      f"                <description>{_xml_text(_gap_description_vi(row))}</description>",
                      f"                <styleUrl>#{style_ids[operator]}</styleUrl>"]  # fmt: skip
            if counts[index] == 1:
                lines += _kml_polygon(*polygons[index][0], "                ")
            elif counts[index] == 0:
                lines.append("                <MultiGeometry/>")
            else:
                lines.append("                <MultiGeometry>")
                for outer, inners in polygons[index]:
                    lines += _kml_polygon(outer, inners, "                    ")
                lines.append("                </MultiGeometry>")
            lines.append("            </Placemark>")
        lines.append("        </Folder>")
    lines += ["    </Document>", "</kml>", ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
    return Path(path)


def gap_summary(gaps: pd.DataFrame, communes: pd.DataFrame | None) -> pd.DataFrame:
    """Return the summary sheet's rows: per view, gaps and people in them with their denominators.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Gap table.
    communes : pandas.DataFrame, optional
        Commune summary; gives the population and the people covered and without enough evidence.

    Returns
    -------
    pandas.DataFrame
        ``operator, technology, n_gaps, people_in_gaps, people_covered, people_no_data, population``
        (the last four only with ``communes``), the lõm-sóng view first.
    """
    counts = (
        pd.DataFrame(gaps[["operator", "technology", "population"]])
        .astype({"operator": str, "technology": str})
        .groupby(["operator", "technology"], sort=False)["population"]
        .agg(n_gaps="size", people_in_gaps="sum")
        .reset_index()
    )
    if communes is not None and not communes.empty:
        frame = pd.DataFrame(communes).astype({"operator": str, "technology": str})
        people = frame["population"].astype("float64")
        by_view = (
            frame.assign(
                people_covered=people * frame["share_people_covered"].astype("float64"),
                people_no_data=people * frame["share_people_no_data"].astype("float64"),
            )
            .groupby(["operator", "technology"], sort=False)[["people_covered", "people_no_data", "population"]]
            .sum()
            .reset_index()
        )
        counts = by_view.merge(counts, on=["operator", "technology"], how="left").fillna(
            {"n_gaps": 0, "people_in_gaps": 0}
        )
        columns = ["n_gaps", "people_in_gaps", "people_covered", "people_no_data", "population"]
        counts = counts[["operator", "technology", *columns]]
    if counts.empty:
        return counts
    order = pd.MultiIndex.from_tuples(view_order(counts))
    rows = pd.MultiIndex.from_arrays([counts["operator"], counts["technology"]])
    return counts.iloc[np.argsort(order.get_indexer(rows), kind="stable")].reset_index(drop=True)


def _population_source_lines(population: dict[str, Any] | None) -> list[str]:
    """Name where the people come from (``run.json`` ``population.source``), for a sheet's intro."""
    source = (population or {}).get("source")
    if source not in ("villages", "buildings", "raster", "even"):
        return []
    return [f"{words.text('vi', 'population_source')}: {words.text('vi', 'population_source_' + source)}."]


def write_gaps_xlsx(
    gaps: gpd.GeoDataFrame,
    path: str | Path,
    campaign: pd.DataFrame | None = None,
    communes: pd.DataFrame | None = None,
    synthetic: bool = False,
    *,
    claims: pd.DataFrame | None = None,
    challenges: gpd.GeoDataFrame | None = None,
    population: dict[str, Any] | None = None,
) -> Path:
    """Write the gap lists as an Excel workbook fit for a meeting (:mod:`lomsong.products.workbook`).

    Sheets: 'Tổng hợp' (per view: gaps, people in them, people covered and without enough
    evidence, population), one per view (the lõm-sóng view first, rows by rank), 'Tóm tắt xã'
    (the commune summary of the lõm-sóng view) and 'Chú giải' (each header, its machine name and
    its meaning). The measurement plan has its own workbook, a sheet per unit
    (:func:`write_campaign_xlsx`).

    Parameters
    ----------
    gaps : geopandas.GeoDataFrame
        Gap table.
    path : str or Path
        Target file.
    campaign : pandas.DataFrame, optional
        Measurement plan: when given, the summary sheet points to ``campaign.xlsx``.
    communes : pandas.DataFrame, optional
        Commune summary (:data:`lomsong.tables.results.COMMUNE_SUMMARY_SCHEMA`).
    synthetic : bool
        Put the synthetic-data note on top of every sheet.
    claims, challenges : optional
        The claims check (:mod:`lomsong.products.claims`): two more sheets, 'Đối chiếu khai báo'
        and 'Vùng khai báo vượt'.
    population : dict, optional
        The run's ``population`` record: the summary sheet names where the people come from.

    Returns
    -------
    Path
    """
    note = SYNTHETIC_NOTE_VI if synthetic else ""
    human = tidy_table(_gap_frame(gaps), [c for c in _gap_read_columns(gaps)])
    sheets = [
        Sheet(
            words.text("vi", "summary_sheet"),
            readable_values(gap_summary(human, communes)),
            headers={"operator": words.text("vi", "view_title"), "technology": words.header("technology")},
            intro=[
                words.text("vi", "denominator_note"),
                *_population_source_lines(population),
                *([words.text("vi", "gaps_campaign_pointer")] if campaign is not None else []),
            ],
        )
    ]
    # the words people read, put once for every gap, then a slice per view (rows by rank)
    order = view_order(human)
    if order:
        views = pd.MultiIndex.from_arrays([human["operator"].astype(str), human["technology"].astype(str)])
        view_of_row = pd.MultiIndex.from_tuples(order).get_indexer(views)
        rows_in_order = np.argsort(view_of_row, kind="stable")
        readable = readable_values(human.iloc[rows_in_order].reset_index(drop=True))
        bounds = np.searchsorted(view_of_row[rows_in_order], np.arange(len(order) + 1))
        for number, (operator, technology) in enumerate(order):
            rows = readable.iloc[bounds[number] : bounds[number + 1]]
            sheets.append(Sheet(_sheet_title(operator, technology), rows))
    if communes is not None and not communes.empty:
        lom_song = communes[
            (communes["operator"].astype(str) == results.ALL_OPERATORS)
            & (communes["technology"].astype(str) == results.ANY_TECHNOLOGY)
        ]
        summary = tidy_table(lom_song, [c for c in communes.columns if c not in ("operator", "technology")])
        sheets.append(Sheet("Tóm tắt xã", readable_values(summary)))
    if claims is not None or challenges is not None:
        from lomsong.products.claims import claim_sheets

        sheets += claim_sheets(claims, challenges)
    return write_workbook(sheets, path, synthetic_note=note)


def write_campaign_xlsx(campaign: pd.DataFrame, path: str | Path, synthetic: bool = False) -> Path:
    """Write the measurement plan for the community digital teams: a summary and one sheet per unit.

    Parameters
    ----------
    campaign : pandas.DataFrame
        Measurement plan (:data:`CAMPAIGN_COLUMNS`).
    path : str or Path
        Target file.
    synthetic : bool
        Put the synthetic-data note on top of every sheet.

    Returns
    -------
    Path
    """
    from lomsong.products.campaign import campaign_sheets

    plan = tidy_table(campaign, [c for c in CAMPAIGN_COLUMNS if c in campaign.columns or c in CAMPAIGN_HEADERS_VI])
    sheets = campaign_sheets(plan, cells_per_day=_analysis.CELLS_PER_DAY)
    return write_workbook(sheets, path, synthetic_note=SYNTHETIC_NOTE_VI if synthetic else "")


def _gap_read_columns(gaps: pd.DataFrame) -> list[str]:
    """The gap columns people read: the schema's, then any further ones the table carries (units, villages)."""
    extra = [c for c in gaps.columns if c not in results.GAP_COLUMNS and c != "geometry"]
    return _GAP_READ_COLUMNS + extra


def write_villages_xlsx(
    villages: gpd.GeoDataFrame,
    path: str | Path,
    operators: Sequence[str],
    synthetic: bool = False,
    *,
    population: dict[str, Any] | None = None,
) -> Path:
    """Write the provincial village list (thôn, bon, buôn): CV 1603 status per village and commune.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        Village table from :func:`lomsong.analysis.villages.village_status`.
    path : str or Path
        Target file.
    operators : sequence of str
        Operators to report, in order.
    synthetic : bool
        Put the synthetic-data note on top (the demo village list is invented).
    population : dict, optional
        The run's ``population`` record: adds the population source and the per-commune check.

    Returns
    -------
    Path
    """
    from lomsong.products.villages import (
        CHECK_SHEET,
        COUNT_SHEET,
        LIST_SHEET,
        population_check,
        status_counts,
        village_report,
    )

    note = SYNTHETIC_NOTE_VI if synthetic else ""
    intro = []
    if population:
        source = words.text("vi", f"population_source_{population.get('source', 'even')}")
        intro = [f"{words.text('vi', 'population_source')}: {source}."]
    people = {"Số hộ": "people", "Số dân": "people", "Số dân bị ảnh hưởng": "people", "Số hộ bị ảnh hưởng": "people"}
    report = village_report(villages, list(operators))
    counts = status_counts(villages)
    sheets = [
        Sheet(LIST_SHEET, report, kinds={"STT": "int", **people}, headers={c: c for c in report.columns}, intro=intro),
        Sheet(COUNT_SHEET, counts, kinds={c: "int" for c in counts.columns[2:]} | people,
              headers={c: c for c in counts.columns}, intro=intro),  # fmt: skip
    ]
    check = population_check(population)
    if check is not None:
        sheets.append(Sheet(CHECK_SHEET, check, kinds={c: "people" for c in check.columns[2:]},
                            headers={c: c for c in check.columns}, intro=intro))  # fmt: skip
    return write_workbook(sheets, path, synthetic_note=note, legend=False)


def write_geoparquet(frame: pd.DataFrame, path: str | Path, *, shared_geometry: str = "") -> Path:
    """Write a machine table: GeoParquet for GeoDataFrames (EPSG:4326), plain Parquet otherwise.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        The table.
    path : str or Path
        Target file.
    shared_geometry : str, optional
        A column whose rows of one value share one geometry object (the cells: an H3 cell's
        hexagon in every view). Its WKB and bounding box are then made once per value
        (:func:`_write_shared_geoparquet`); the file holds the same table as without it.

    Returns
    -------
    Path
    """
    path = Path(path)
    if isinstance(frame, gpd.GeoDataFrame):
        frame = frame if frame.crs is not None else frame.set_crs(STORAGE_CRS)
        frame = frame if frame.crs == STORAGE_CRS else frame.to_crs(STORAGE_CRS)
        if not (shared_geometry and _write_shared_geoparquet(frame, path, shared_geometry)):
            frame.to_parquet(path, index=False, compression="zstd", write_covering_bbox=True)
    else:
        frame.to_parquet(path, index=False, compression="zstd")
    return path


def _write_shared_geoparquet(frame: gpd.GeoDataFrame, path: Path, key: str) -> bool:
    """Write ``frame`` as geopandas would, encoding each shared geometry once; False when they are not shared.

    GeoPandas turns every row's geometry into WKB and a bounding box (0.1 CPU-s for the 138,567
    rows of the 240-log run's cells, 8,151 hexagons). Here geopandas converts one row per
    ``key`` value, which gives the schema, the GeoParquet metadata (its bbox and geometry types
    are those of all the rows) and the encoded geometries; the attributes are converted to that
    schema and the geometries taken for every row.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        from geopandas.io.arrow import _geopandas_to_arrow
    except ImportError:  # another geopandas: its own writer
        return False
    geometries = np.asarray(frame.geometry.values)
    codes, _ = pd.factorize(frame[key])
    if not len(frame) or (codes < 0).any():
        return False
    _, first = np.unique(codes, return_index=True)
    # the same object for every row of a value: nothing else is assumed about the geometries
    identities = np.fromiter(map(id, geometries), dtype=np.int64, count=len(geometries))
    if not (identities == identities[first][codes]).all():
        return False
    one_each = _geopandas_to_arrow(frame.iloc[first], index=False, write_covering_bbox=True)
    encoded = (frame.geometry.name, "bbox")
    attributes = pa.schema([field for field in one_each.schema if field.name not in encoded])
    table = pa.Table.from_pandas(pd.DataFrame(frame.drop(columns=frame.geometry.name)), schema=attributes,
                                 preserve_index=False)  # fmt: skip
    rows = pa.array(codes)
    for name in encoded:
        position = one_each.schema.get_field_index(name)
        table = table.add_column(position, one_each.schema.field(name), one_each.column(name).take(rows))
    pq.write_table(table.replace_schema_metadata(one_each.schema.metadata), path, compression="zstd")
    return True


def write_json(data: dict[str, Any], path: str | Path) -> Path:
    """Write ``data`` as indented UTF-8 JSON (numpy scalars, paths and timestamps allowed)."""
    Path(path).write_bytes(
        orjson.dumps(data, default=_json_default, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    return Path(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# ---------------------------------------------------------------------------------------------
# The run folder, written atomically
# ---------------------------------------------------------------------------------------------


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2(RENAME_EXCHANGE)``; False when unavailable."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    return result == 0


def _produced_by(folder: Path) -> set[str]:
    """Return the top-level names a previous run wrote into ``folder`` (from its run.json)."""
    try:
        meta = orjson.loads((folder / results.RUN_JSON).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return set()
    return {str(name).split("/")[0] for name in meta.get("files", [])} | {results.RUN_JSON}


def swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by the finished ``staging`` folder so readers see the old or the new run.

    Files in ``target`` that no run produced (such as ``maps/README.md`` or a user's notes) are
    moved into the new folder first; the previous run's own files are deleted.

    Parameters
    ----------
    staging : Path
        Finished run folder (a sibling of ``target``).
    target : Path
        The run folder readers use.
    """
    if not target.exists():
        os.replace(staging, target)
        return
    if not target.is_dir():
        raise NotADirectoryError(f"{target}: exists and is not a folder")
    previous = _produced_by(target)
    for entry in target.iterdir():
        if entry.name not in previous and not (staging / entry.name).exists():
            os.replace(entry, staging / entry.name)
    if _exchange(staging, target):
        shutil.rmtree(staging)
        return
    # Fallback: two renames, a moment without a folder (readers retry on RunNotFoundError).
    retired = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


#: A staging folder of the old form (no process id in its name) is stale after this many seconds.
_LEGACY_STAGING_SECONDS = 24 * 3600


def remove_stale_staging(out: Path) -> list[Path]:
    """Remove what killed runs left next to ``out`` (``.<out>.new-<pid>-*``, ``.<out>.old-<pid>``).

    A folder whose process no longer runs is removed; one of a live process (a run going on in
    parallel) is kept. Folders of the old form without a process id are removed once a day old.

    Returns
    -------
    list of Path
        The folders removed.
    """
    removed = []
    for pattern in (f".{out.name}.new-*", f".{out.name}.old-*"):
        for entry in out.parent.glob(pattern):
            rest = entry.name.split(".new-", 1)[-1] if ".new-" in entry.name else entry.name.split(".old-", 1)[-1]
            pid = rest.split("-", 1)[0]
            named_by_process = pid.isdigit() and ("-" in rest or ".old-" in entry.name)
            stale = is_stale(entry, pid if named_by_process else "", legacy_seconds=_LEGACY_STAGING_SECONDS)
            if stale and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed




def list_files(folder: Path) -> list[str]:
    """Return every file under ``folder`` as sorted POSIX relative paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


#: What :func:`write_products` writes: everything, the machine tables (Parquet, what
#: :func:`lomsong.tables.results.load_run` reads back), or the downloads people open.
PRODUCT_PARTS = ("all", "tables", "downloads")


def write_products(
    analysis: AnalysisLike,
    folder: str | Path,
    synthetic: bool = False,
    on_file: Callable[[str], None] | None = None,
    *,
    part: str = "all",
) -> dict[str, float]:
    """Write every table and download of a run into ``folder`` (no ``run.json``, not atomic).

    Parameters
    ----------
    analysis : lomsong.analysis.engine.Analysis
        The analysis result.
    folder : str or Path
        Existing folder to write into.
    synthetic : bool
        Label the downloads as synthetic.
    on_file : callable, optional
        Called with each file name before it is written (for progress).
    part : {"all", "tables", "downloads"}
        Which files (:data:`PRODUCT_PARTS`): the machine tables (what maps drawn from the folder
        read back) or the downloads; ``all`` writes the tables first.

    Returns
    -------
    dict
        Seconds spent per file name.
    """
    if part not in PRODUCT_PARTS:
        raise ValueError(f"part must be one of {', '.join(PRODUCT_PARTS)}, not {part!r}")

    folder = Path(folder)
    timings: dict[str, float] = {}
    villages = analysis.villages
    operators = _village_operators(villages) if villages is not None else []
    steps: list[tuple[str, Callable[[Path], Any]]] = [
        (results.GAPS_PARQUET, lambda p: write_geoparquet(analysis.gaps, p)),
        (results.CELLS_PARQUET, lambda p: write_geoparquet(analysis.cells, p, shared_geometry="h3")),
        (results.COMMUNE_SUMMARY_PARQUET, lambda p: write_geoparquet(analysis.communes, p)),
        (results.CAMPAIGN_CSV, lambda p: write_table_csv(analysis.campaign, CAMPAIGN_COLUMNS, p, synthetic)),
        (results.CAMPAIGN_XLSX, lambda p: write_campaign_xlsx(analysis.campaign, p, synthetic)),
        (COMMUNES_CSV, lambda p: write_table_csv(analysis.communes, _commune_columns(), p, synthetic, "commune_code")),
        (GAPS_CSV, lambda p: write_gaps_csv(analysis.gaps, p, synthetic)),
        (GAPS_GEOJSON, lambda p: write_gaps_geojson(analysis.gaps, p, synthetic)),
        (GAPS_GPKG, lambda p: write_gaps_gpkg(analysis.gaps, p, synthetic)),
        (GAPS_KML, lambda p: write_gaps_kml(analysis.gaps, p, synthetic)),
        (
            GAPS_XLSX,
            lambda p: write_gaps_xlsx(
                analysis.gaps, p, analysis.campaign, analysis.communes, synthetic, **_claim_tables(analysis),
                population=getattr(analysis, "population", None),
            ),  # fmt: skip
        ),
    ]
    steps += _claim_steps(analysis, synthetic)
    sites = getattr(analysis, "sites", None)
    if sites is not None and len(sites):
        steps.append((results.SITES_PARQUET, lambda p: sites.to_parquet(p, index=False)))
    predicted = getattr(analysis, "predicted_gaps", None)
    if predicted is not None:
        steps.append((results.PREDICTED_GAPS_PARQUET, lambda p: write_geoparquet(predicted, p)))
        steps.append((results.PREDICTED_GAPS_GEOJSON, lambda p: write_predicted_gaps_geojson(predicted, p, synthetic)))
    if villages is not None:
        steps.append((results.VILLAGES_PARQUET, lambda p: write_geoparquet(villages, p)))
        population = getattr(analysis, "population", None)
        steps.append(
            (VILLAGES_XLSX, lambda p: write_villages_xlsx(villages, p, operators, synthetic, population=population))
        )
    if part != "all":
        steps = [(name, write) for name, write in steps if name.endswith(".parquet") == (part == "tables")]
    for name, write in steps:
        if on_file:
            on_file(name)
        started = time.perf_counter()
        write(folder / name)
        timings[name] = round(time.perf_counter() - started, 3)
    return timings


def _claim_tables(analysis: AnalysisLike) -> dict[str, Any]:
    """The claims summary and challenges of an analysis that compared claims, else nothing."""
    checked = getattr(analysis, "claims", None)
    return {} if checked is None else {"claims": checked.summary, "challenges": checked.challenges}


def _claim_steps(analysis: AnalysisLike, synthetic: bool) -> list[tuple[str, Callable[[Path], Any]]]:
    """The claims check's files: machine tables, ``claims.csv`` and ``challenges.geojson``."""
    tables = _claim_tables(analysis)
    if not tables:
        return []
    from lomsong.products.claims import CHALLENGES_GEOJSON, CLAIMS_CSV, write_challenges_geojson, write_claims_csv

    return [
        (results.CLAIMS_PARQUET, lambda p: write_geoparquet(tables["claims"], p)),
        (results.CHALLENGES_PARQUET, lambda p: write_geoparquet(tables["challenges"], p)),
        (CLAIMS_CSV, lambda p: write_claims_csv(tables["claims"], p, synthetic)),
        (CHALLENGES_GEOJSON, lambda p: write_challenges_geojson(tables["challenges"], p, synthetic)),
    ]


def _commune_columns() -> list[str]:
    return [name for name, _ in results.COMMUNE_SUMMARY_SCHEMA]


def _village_operators(villages: pd.DataFrame) -> list[str]:
    """Return the operators that have a ``status_<operator>`` column, in the usual order."""
    found = [
        c.removeprefix("status_")
        for c in villages.columns
        if c.startswith("status_") and not c.startswith("status_cv1603")
    ]
    known = [op for op in OPERATOR_IDS if op in found]
    return known + sorted(op for op in found if op not in known)


class Alongside(Protocol):
    """Work on a staging run folder done in another process while the downloads are written.

    :func:`write_run` starts it (``start(staging, meta)``, ``meta`` being ``run.json``'s contents
    so far) before it writes any file, so the work takes what it needs from memory, not from the
    folder; it calls :meth:`poll` between files, then :meth:`finish`, whose dict goes into
    ``run.json``; :meth:`stop` when anything failed, before the folder is removed.
    """

    def poll(self) -> None:
        """Pass on progress."""

    def finish(self) -> dict[str, Any] | None:
        """Wait for the work to end; raise when it failed."""

    def stop(self) -> None:
        """End the work now."""


def write_run(
    analysis: AnalysisLike,
    out: str | Path,
    meta: dict[str, Any],
    synthetic: bool = False,
    finish: Callable[[Path], dict[str, Any] | None] | None = None,
    on_file: Callable[[str], None] | None = None,
    *,
    alongside: Callable[[Path, dict[str, Any]], Alongside] | None = None,
) -> list[str]:
    """Write a whole run folder atomically: tables, downloads, ``run.json``, then swap it in.

    Parameters
    ----------
    analysis : lomsong.analysis.engine.Analysis
        The analysis result.
    out : str or Path
        The run folder (created or replaced).
    meta : dict
        Contents of ``run.json``; ``files`` and ``timings['write']`` are filled in here.
    synthetic : bool
        Label the downloads as synthetic (``meta['synthetic']`` should agree).
    finish : callable, optional
        Called with the staging folder after ``run.json`` exists there (e.g. to build the maps
        from :func:`lomsong.tables.results.load_run`); a returned dict is merged into ``run.json``.
    on_file : callable, optional
        Called with each file name before it is written (for progress).
    alongside : callable, optional
        ``alongside(staging, meta)`` starts work in another process (the maps) before any file is
        written (see :class:`Alongside`); the tables and downloads are written meanwhile, then
        ``finish`` (if given) runs after it.

    Returns
    -------
    list of str
        The files of the run, relative to ``out``.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-{os.getpid()}-", dir=out.parent))
    started: Alongside | None = None
    try:
        meta = {**meta, "synthetic": bool(synthetic)}
        if alongside is None:
            write_timings = write_products(analysis, staging, synthetic=synthetic, on_file=on_file)
        else:
            started = alongside(staging, meta)

            def note_and_poll(name: str) -> None:
                started.poll()
                if on_file:
                    on_file(name)

            write_timings = write_products(analysis, staging, synthetic=synthetic, on_file=note_and_poll)
            meta = _merge(meta, started.finish() or {})
            started = None
        meta.setdefault("timings", {})["write_files"] = write_timings
        meta["files"] = [*list_files(staging), results.RUN_JSON]
        write_json(meta, staging / results.RUN_JSON)
        if finish is not None:
            extra = finish(staging) or {}
            meta = _merge(meta, extra)
            meta["files"] = sorted(set(list_files(staging)) | {results.RUN_JSON})
            write_json(meta, staging / results.RUN_JSON)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a run folder is for everyone to read
        swap_in(staging, out)
    except BaseException:
        if started is not None:
            started.stop()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return meta["files"]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into ``base`` one level deep (dicts are updated, other values replaced)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------------------------------------
# Documentation: the README tables, rendered from the schemas
# ---------------------------------------------------------------------------------------------


def _markdown_table(rows: Iterable[tuple[str, ...]], header: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def outputs_markdown() -> str:
    """Return the README's "outputs" section: every file of a run and every column.

    Generated from :data:`lomsong.tables.results.GAP_SCHEMA`, :data:`lomsong.tables.results.CELL_STATE_SCHEMA`,
    :data:`lomsong.tables.results.COMMUNE_SUMMARY_SCHEMA` and :data:`CAMPAIGN_SCHEMA`, with the
    Vietnamese headers of the XLSX.

    Returns
    -------
    str
        Markdown.
    """
    files = [
        (f"`{GAPS_CSV}`", "every gap of every view, one row each; columns below + `synthetic`"),
        (
            f"`{GAPS_XLSX}`",
            "the same with Vietnamese headers: sheet 'Giải thích' (legend), a sheet per view "
            "('Lõm sóng (mọi mạng)' first, then 'Viettel', 'Viettel 4G', …), "
            "'Tóm tắt xã' (communes, lõm-sóng view)",
        ),
        (
            f"`{GAPS_GEOJSON}`",
            "the gaps as RFC 7946 GeoJSON (EPSG:4326, lon/lat, counter-clockwise exterior "
            "rings, 6 decimals, no `crs` member); properties = the gap columns",
        ),
        (
            f"`{GAPS_GPKG}`",
            "GeoPackage, one layer `gaps` (MultiPolygon, EPSG:4326) holding every view; filter on "
            "`operator` and `technology`",
        ),
        (f"`{GAPS_KML}`", "Google Earth: a folder per view, placemark names and descriptions in Vietnamese"),
        (f"`{COMMUNES_CSV}`", "commune summary per view (columns below + `synthetic`)"),
        (
            f"`{results.CAMPAIGN_CSV}`",
            "measurement plan: cells where people live and evidence is missing (columns below + `synthetic`)",
        ),
        (
            f"`{results.CAMPAIGN_XLSX}`",
            "the same plan for the community digital teams: sheet 'Tổng hợp' (per 2025 unit: communes, cells, "
            "team-days, people, people decided on day one) and one printable sheet per unit, rows in visit order",
        ),
        (
            f"`{VILLAGES_XLSX}`",
            "only with a village layer: the provincial list (STT, Huyện, Xã, Đơn vị mới (2025), Thôn/Bon, Số hộ, "
            "Điện lưới, status per operator, no-operator flag)",
        ),
        (
            f"`{results.PREDICTED_GAPS_GEOJSON}`",
            "radio map: connected predicted-weak cells that have no measured state, per view (RFC 7946; "
            "every feature has `prediction: true`). A prediction, never evidence: `gaps.*` are unchanged",
        ),
        (f"`{results.PREDICTED_GAPS_PARQUET}`", "machine table of the predicted gaps (GeoParquet)"),
        (f"`{results.SITES_PARQUET}`", "the known sites the radio map used (site list and OpenCelliD), when given"),
        (f"`{results.GAPS_PARQUET}`", "machine table of the gaps (GeoParquet, full precision)"),
        (f"`{results.CELLS_PARQUET}`", "every H3 cell × view with its state and statistics (GeoParquet)"),
        (f"`{results.COMMUNE_SUMMARY_PARQUET}`", "machine table of the commune summary (Parquet)"),
        (f"`{results.VILLAGES_PARQUET}`", "only with a village layer: village statuses (GeoParquet)"),
        (
            f"`{results.RUN_JSON}`",
            "inputs with sha256 and ingest reports, configuration, counts, data period, "
            "library versions, seconds per stage, `synthetic`, the list of files",
        ),
        ("`index.html`, `communes/`", "the maps (see the maps section), when the maps module is installed"),
        *_claim_files(),
    ]
    from lomsong.analysis.villages import VILLAGE_COLUMNS

    header = ("column", "XLSX header", "meaning")
    gap_rows = [(f"`{n}`", GAP_HEADERS_VI.get(n, "—"), m) for n, m in results.GAP_SCHEMA]
    campaign_rows = [(f"`{n}`", CAMPAIGN_HEADERS_VI.get(n, "—"), m) for n, m in CAMPAIGN_SCHEMA]
    commune_rows = [(f"`{n}`", COMMUNE_HEADERS_VI.get(n, "—"), m) for n, m in results.COMMUNE_SUMMARY_SCHEMA]
    cell_rows = [(f"`{n}`", m) for n, m in results.CELL_STATE_SCHEMA]
    views = (
        "Views: `operator` is one of "
        + ", ".join(f"`{op}`" for op in [*OPERATORS, results.ALL_OPERATORS])
        + "; `technology` one of "
        + ", ".join(f"`{t}`" for t in [*TECHNOLOGIES, results.ANY_TECHNOLOGY])
        + ". `all` × `any` is the vùng lõm sóng view (no operator covers the place). Cell states: "
        + ", ".join(f"`{k}` ({v})" for k, v in STATE_VI.items())
        + "; gap evidence: "
        + ", ".join(f"`{k}` ({v})" for k, v in EVIDENCE_VI.items())
        + "."
    )
    parts = [
        "### Outputs of `lomsong run`",
        "",
        "A run writes one folder (default `maps/`, `--out DIR`). Everything is written into a hidden "
        "folder beside it and swapped in at the end, so the maps and the API never see a half-written "
        "run. Text files are UTF-8 (CSV with a BOM so Excel shows the diacritics); people counts in "
        "the CSV/XLSX are rounded to whole people, the Parquet tables keep full precision. When the "
        "measurements are simulated (the demo) every product says so: `synthetic` is true in "
        "`run.json` and in every CSV row, the XLSX sheets and KML names carry 'DỮ LIỆU MÔ PHỎNG', "
        "the GeoJSON and GPKG descriptions too.",
        "",
        _markdown_table(files, ("file", "what it holds")),
        "",
        views,
        "",
        "#### Gap columns (`gaps.csv`, `gaps.xlsx`, `gaps.geojson`, `gaps.gpkg`, `gaps.parquet`)",
        "",
        _markdown_table(gap_rows, header),
        "",
        f"`{SYNTHETIC_COLUMN[0]}` (CSV only): {SYNTHETIC_COLUMN[1]}.",
        "",
        "#### Measurement plan (`campaign.csv`, `campaign.xlsx`)",
        "",
        _markdown_table(campaign_rows, header),
        "",
        "#### Commune summary (`communes.csv`, `communes.parquet`, sheet 'Tóm tắt xã')",
        "",
        _markdown_table(commune_rows, header),
        "",
        "#### Cells (`cells.parquet`)",
        "",
        _markdown_table(cell_rows, ("column", "meaning")),
        "",
        "#### Predicted gaps (`predicted_gaps.geojson`, `predicted_gaps.parquet`)",
        "",
        _markdown_table([(f"`{n}`", m) for n, m in results.PREDICTED_GAP_SCHEMA], ("column", "meaning")),
        "",
        "#### Villages (`villages.parquet`, `villages.xlsx`)",
        "",
        "The village layer as given (" + ", ".join(f"`{c}`" for c in VILLAGE_COLUMNS) + ") plus `commune_code`, "
        "`district_code`, `district` (from the polygon holding the village centre unless given), `h3` (the "
        "cell of the centre), `status_<operator>` (the state of that operator's view at the centre: "
        + ", ".join(f"`{k}`" for k in STATE_VI)
        + ") for each Vietnamese operator in the data, `all_state` (the all-operators view) and `no_operator` "
        "(true when the centre lies in a vùng lõm sóng); the Ministry's tiers (Công văn 1603/BTTTT-CVT) "
        "`status_cv1603` (all operators: weak means every operator of the data weak with evidence) and "
        "`status_cv1603_<operator>`: `trang_song` (the centre's cell is weak with evidence), `lom_song` (the "
        "centre is covered, a cell holding at least `villages.min_people` of the village's people is weak), "
        "`co_song`, `chua_du_du_lieu`; `people` (the village's people on the run's "
        "surface: each populated cell's people belong to the nearest centre of their commune within "
        "`villages.max_distance_m`), `people_affected` (its people in weak cells of the all view), "
        "`households_affected` (its households in the same proportion) and `gap_ids` (the all-view gaps holding "
        "them, ';'-joined). `villages.xlsx` is the provincial list, Vietnamese headers: sheet 'Danh sách thôn, "
        "bon' (STT, Huyện, Xã, Thôn/Bon, Số hộ, Số dân, Điện lưới, Tình trạng (CV 1603) as Trắng sóng / Lõm sóng / "
        "Có sóng / Chưa đủ dữ liệu, the same per operator, Số dân bị ảnh hưởng, Số hộ bị ảnh hưởng, Vùng lõm "
        "sóng, the centre's signal per operator, Không nhà mạng nào), sheet 'Tổng hợp theo xã' (villages per "
        "status per commune, a province row) and sheet 'Đối chiếu dân số' (per commune: census, the population "
        "source's own figure, the people used).",
        "",
        *_claim_markdown(),
        "#### `run.json`",
        "",
        _markdown_table([(f"`{k}`", m) for k, m in RUN_JSON_SCHEMA], ("key", "meaning")),
    ]
    return "\n".join(parts)


def _claim_files() -> list[tuple[str, str]]:
    """The claims check's files, for the README's file table."""
    return [
        (
            "`claims.csv`, `claims.parquet`",
            "only with claim maps: claimed, verified, over-claimed, unverified and under-claimed people and km² "
            "per operator, technology and commune, with province rows; also sheet 'Đối chiếu khai báo' of gaps.xlsx",
        ),
        (
            "`challenges.geojson`, `challenges.parquet`",
            "only with claim maps: over-claimed areas (RFC 7946) with people, area and evidence; also sheet "
            "'Vùng khai báo vượt' of gaps.xlsx",
        ),
    ]


def _claim_markdown() -> list[str]:
    """The claims tables' columns, for the README (Vietnamese headers from the glossary)."""
    from lomsong.tables.claims import CHALLENGE_SCHEMA, CLAIM_SUMMARY_SCHEMA

    def rows(schema: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        return [(f"`{n}`", words.header(n) if n in words.COLUMNS else "—", m) for n, m in schema]

    header = ("column", "XLSX header", "meaning")
    return [
        "#### Claimed coverage (`claims.csv`, `claims.parquet`, sheet 'Đối chiếu khai báo')",
        "",
        _markdown_table(rows(CLAIM_SUMMARY_SCHEMA), header),
        "",
        "#### Challenges (`challenges.geojson`, `challenges.parquet`, sheet 'Vùng khai báo vượt')",
        "",
        _markdown_table(rows(CHALLENGE_SCHEMA), header),
        "",
    ]


GENERATED_BEGIN = "<!-- generated: outputs tables (python -m lomsong.products.tables) -->"
GENERATED_END = "<!-- end generated: outputs tables -->"


def update_readme(readme: str | Path) -> bool:
    """Rewrite the generated tables of the README's outputs section; return True when they changed.

    The tables sit between :data:`GENERATED_BEGIN` and :data:`GENERATED_END`; when those lines are
    missing they are added at the end of the ``<!-- section: outputs -->`` section.
    """
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    block = f"{GENERATED_BEGIN}\n{outputs_markdown()}\n{GENERATED_END}"
    if GENERATED_BEGIN in text and GENERATED_END in text:
        start = text.index(GENERATED_BEGIN)
        end = text.index(GENERATED_END) + len(GENERATED_END)
        updated = text[:start] + block + text[end:]
    else:
        # At the end of the outputs section, after any hand-written text.
        marker = "<!-- section: outputs -->"
        at = text.find("<!-- section:", text.index(marker) + len(marker))
        at = len(text) if at < 0 else at
        updated = text[:at] + block + "\n\n" + text[at:]
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated != text


if __name__ == "__main__":  # python -m lomsong.products.tables [README.md]: refresh the outputs section
    import sys

    from lomsong import paths

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else paths.project_root() / "README.md"
    print(f"{target}: {'updated' if update_readme(target) else 'already up to date'}")
