"""Interactive maps of a finished run: the province (``index.html``) and one page per commune.

Built with folium from a :class:`~lomsong.tables.results.RunResults` (nothing is recomputed). Every layer
is switchable in the layer control: communes coloured by the share of their people living in
coverage gaps, the gaps coloured by evidence (one click gives their facts), H3 cells by signal class
per operator, a heat map of measurement density, villages by status, district borders and commune
names. A diacritic-insensitive commune search, fullscreen, scale bar, measuring tool, legend and a
title block (data period, "dữ liệu mô phỏng" for simulated data) complete the page.

No page loads code from another server: Leaflet and its plugins come from the vendored npm packages
(:mod:`lomsong.products.maps.assets`), either in one shared script and stylesheet under the pages'
``assets/`` folder (a run's pages, the default) or inlined in each page (self-contained, to send
one page on its own); only the background tiles need the internet.
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import branca.element
import folium
import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely
import xyzservices.providers as xyz
from branca.element import Element, MacroElement
from folium.plugins import Fullscreen, HeatMap, MeasureControl
from folium.template import Template
from folium.utilities import JsCode

from lomsong._text import fold, fold_series
from lomsong.operators import OPERATOR_IDS, display_name
from lomsong.products.maps import assets as _mapassets
from lomsong.products.words import STRINGS, check_language, format_date, format_number, format_share, header, text
from lomsong.reference.boundaries import METRIC_CRS, districts
from lomsong.reference.units import (
    MAPPED_WHOLE_NOTE,
    dissolve_units,
    parse_unit,
    summarise_units,
    unit_lookup,
    unit_mapping,
)
from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY, RunResults

#: Folder of a run's pages that holds their shared script and stylesheet (``asset_mode="shared"``).
SHARED_ASSETS_FOLDER = "assets"
#: Class breaks of the commune layer (share of people in gaps) and their colours: ColorBrewer
#: YlOrBr (sequential, colour-blind safe), the palest for "none". Browns, not reds, so that the
#: weak cells and the gaps (purples) stand out on top of it for every colour vision.
SHARE_BREAKS = [0.0, 0.02, 0.05, 0.10, 0.20]
SHARE_COLOURS = ["#ffffd4", "#fee391", "#fec44f", "#fe9929", "#d95f0e", "#993404"]
NO_PEOPLE_COLOUR = "#ffffff"
#: The choropleth's own class for a commune whose share in gaps means little: more than
#: ``INSUFFICIENT_CLASS_SHARE`` of its people live where there is not enough evidence. Grey, as
#: the cells without enough evidence, never "0 %".
INSUFFICIENT_CLASS_SHARE = 0.5
INSUFFICIENT_CLASS_COLOUR = "#a3a3a3"
INSUFFICIENT_CLASS = -2
#: Padding (pixels) kept around the area when the page opens: room for the title and the legend.
FIT_PADDING_TOP_LEFT = (20, 120)
FIT_PADDING_BOTTOM_RIGHT = (280, 10)
#: Zoom from which the old communes' names show beside the units' (fewer labels at province scale).
COMMUNE_LABEL_MIN_ZOOM = 10.5
#: Outline of the 2025 units (drawn over the old communes they were dissolved from).
UNIT_OUTLINE = {"color": "#1a1a1a", "weight": 2.6, "opacity": 0.95}
#: Gap evidence colours: purples, distinct from the commune reds for every colour vision.
EVIDENCE_STYLE = {
    "confirmed": {"color": "#3f007d", "fillColor": "#54278f", "fillOpacity": 0.65, "weight": 1.5},
    "likely": {"color": "#54278f", "fillColor": "#bcbddc", "fillOpacity": 0.55, "weight": 1.5, "dashArray": "4 3"},
}
#: Cell state colours: Okabe-Ito blue, a near-black indigo (the gaps' hue family, far from every
#: choropleth class for every colour vision: tests/products/test_maps.py checks it), grey.
STATE_COLOURS = {"covered": "#0072B2", "weak": "#1B0C42", "insufficient": "#999999"}
#: Village status colours.
VILLAGE_COLOURS = {"in_gap": "#D55E00", "weak": "#E69F00", "covered": "#0072B2", "no_data": "#999999"}
#: Village colours by the Ministry's tiers (CV 1603), colour-blind safe (Okabe–Ito).
CV1603_COLOURS = {"trang_song": "#D55E00", "lom_song": "#E69F00", "co_song": "#0072B2", "chua_du_du_lieu": "#999999"}
#: Display precision: 1e-5 degree is about 1 m.
COORDINATE_DECIMALS = 5
#: Simplification tolerance for display, metres (UTM 48N).
SIMPLIFY_METRES = 15.0


# ---------------------------------------------------------------------------------------------
# Data preparation (pure)
# ---------------------------------------------------------------------------------------------


def available_views(results: RunResults) -> list[str]:
    """Return the view operators present in the run, ``all`` first then the operators in order."""
    # unique() first: iterating an arrow string column of every cell × view is slow.
    present = {
        str(op) for frame in (results.gaps, results.communes, results.cells) for op in frame["operator"].unique()
    }
    ordered = [ALL_OPERATORS] + [op for op in OPERATOR_IDS if op in present]
    return [op for op in ordered if op in present] + sorted(present - set(ordered))


def _check_view(results: RunResults, view_operator: str) -> None:
    views = available_views(results)
    if view_operator not in views:
        raise ValueError(f"view {view_operator!r} is not in this run; available views: {', '.join(views)}")


def _select(frame: pd.DataFrame, operator: str, technology: str = ANY_TECHNOLOGY) -> pd.DataFrame:
    # compared as they are (Arrow strings compare in C): a copy as Python strings cost every page 10 ms
    mask = (frame["operator"] == operator).to_numpy(bool, na_value=False) & (
        frame["technology"] == technology
    ).to_numpy(bool, na_value=False)
    return frame[mask]


def _operator_label(operator: str, lang: str) -> str:
    if operator == ALL_OPERATORS:
        return text(lang, "all_operators")
    return display_name(operator)


def display_geometry(geometry: gpd.GeoSeries, simplify_metres: float = SIMPLIFY_METRES) -> np.ndarray:
    """Return geometries lightened for display: simplified in UTM, coordinates rounded to ~1 m.

    Parameters
    ----------
    geometry : geopandas.GeoSeries
        Any CRS.
    simplify_metres : float
        Douglas-Peucker tolerance in metres (topology preserved); 0 keeps every vertex.

    Returns
    -------
    numpy.ndarray
        Shapely geometries in EPSG:4326.
    """
    if simplify_metres > 0:
        metric = geometry.to_crs(METRIC_CRS).simplify(simplify_metres, preserve_topology=True)
        values = metric.to_crs("EPSG:4326").values
    else:  # nothing to do in metres: no round trip through UTM
        values = geometry.to_crs("EPSG:4326").values
    return shapely.transform(np.asarray(values), lambda xy: np.round(xy, COORDINATE_DECIMALS))


def _feature_collection(frame: pd.DataFrame, geometry: np.ndarray, properties: list[str]) -> dict[str, Any]:
    """Build a GeoJSON FeatureCollection with only ``properties`` (keeps the page light)."""
    return _records_collection(frame[properties].to_dict("records"), geometry)


def _records_collection(records: list[dict[str, Any]], geometry: np.ndarray) -> dict[str, Any]:
    """A FeatureCollection of one feature per record and geometry (none where the geometry is missing)."""
    shapes = shapely.to_geojson(geometry)
    # orjson reads the same numbers as json, several times faster (the cells' outlines are large)
    features = [
        {"type": "Feature", "id": str(i), "properties": props, "geometry": orjson.loads(shape)}
        for i, (props, shape) in enumerate(zip(records, shapes, strict=True))
        if shape is not None
    ]
    return {"type": "FeatureCollection", "features": features}


def _by_row(collection: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The features of a feature function's output by row position (its feature ids)."""
    return {int(feature["id"]): feature for feature in collection["features"]}


def _subset_collection(
    by_row: dict[int, dict[str, Any]],
    positions: Sequence[int],
    properties: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The FeatureCollection a feature function gives for rows ``positions`` of the table it was given.

    ``by_row`` is :func:`_by_row` of that function's output for the whole table; the chosen rows'
    features are renumbered as the function numbers its own rows. Valid for the functions whose
    features depend on their row only (gaps, villages, units, communes …); ``properties(number,
    properties)`` gives a page's own properties of its ``number``-th row (a village's search key).
    """
    features = []
    for number, position in enumerate(positions):
        found = by_row.get(int(position))
        if found is None:  # an empty geometry: the function left the row out
            continue
        values = found["properties"] if properties is None else properties(number, found["properties"])
        features.append({"type": "Feature", "id": str(number), "properties": values, "geometry": found["geometry"]})
    return {"type": "FeatureCollection", "features": features}


def _share_class(share: pd.Series, no_data_share: pd.Series | None = None) -> np.ndarray:
    """Class index of each share (0 = nobody in gaps), -1 where unknown (no people).

    With ``no_data_share``, communes where more than :data:`INSUFFICIENT_CLASS_SHARE` of the
    people live without enough evidence get :data:`INSUFFICIENT_CLASS` ("chưa đủ số liệu").
    """
    values = share.to_numpy(float, na_value=np.nan)
    classes = np.searchsorted(np.asarray(SHARE_BREAKS), values, side="right")
    classes = np.where(values <= 0, 0, classes)
    if no_data_share is not None:
        unknown = no_data_share.to_numpy(float, na_value=np.nan) > INSUFFICIENT_CLASS_SHARE
        classes = np.where(unknown, INSUFFICIENT_CLASS, classes)
    return np.where(np.isnan(values), -1, classes)


def _class_fill(classes: np.ndarray) -> list[str]:
    return [
        NO_PEOPLE_COLOUR if c == -1 else INSUFFICIENT_CLASS_COLOUR if c == INSUFFICIENT_CLASS else SHARE_COLOURS[c]
        for c in classes
    ]


def _people_share(people: float, population: float, lang: str) -> str:
    """``1.234 người (12,5 %)``: a figure with its share of the denominator."""
    share = people / population if population and population > 0 else float("nan")
    return f"{format_number(people, lang)} {text(lang, 'people_unit')} ({format_share(share, lang)})"


def denominator_text(population: float, in_gaps: float, covered: float, unknown: float, lang: str) -> str:
    """The headline's denominator line: people in gaps, covered and without enough evidence."""

    def share(value: float) -> str:
        return format_share(value / population if population > 0 else float("nan"), lang)

    return text(
        lang,
        "denominator",
        population=format_number(population, lang),
        in_gaps=format_number(in_gaps, lang),
        share_in_gaps=share(in_gaps),
        covered=format_number(covered, lang),
        share_covered=share(covered),
        unknown=format_number(unknown, lang),
        share_unknown=share(unknown),
    )


def _share_labels(lang: str) -> list[str]:
    labels = [format_share(0.0, lang)]
    bounds = [*SHARE_BREAKS[1:], None]
    for low, high in zip(SHARE_BREAKS, bounds, strict=True):
        if high is None:
            labels.append(f"≥ {format_share(low, lang)}")
        else:
            labels.append(f"{format_share(low, lang)} – {format_share(high, lang)}")
    # The first bracket starts just above zero.
    labels[1] = f"> 0 – {format_share(SHARE_BREAKS[1], lang)}"
    return labels


def _script_json(value: Any) -> str:
    """Return ``value`` as JSON safe to put inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c``-style escapes (still the same JSON strings), so a name
    such as ``</script><script>…`` cannot end the script element; jinja2's ``tojson`` does the same.
    """
    text_json = json.dumps(value, ensure_ascii=False)
    return text_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _table_html(rows: list[tuple[str, str]], title: str = "") -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    heading = f"<div class='lomsong-popup-title'>{html.escape(title)}</div>" if title else ""
    return f"{heading}<table class='lomsong-popup'>{body}</table>"


def commune_features(
    communes: gpd.GeoDataFrame,
    summary: pd.DataFrame,
    lang: str,
    commune_url: str | None = "communes/{code}.html",
    focus_code: str | None = None,
    focus_codes: list[str] | None = None,
    unit_url: str | None = None,
    *,
    geometry: np.ndarray | None = None,
) -> dict[str, Any]:
    """Return the commune layer's GeoJSON: class, colour, label and a Vietnamese popup per commune.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    summary : pandas.DataFrame
        Commune summary rows of one view (:data:`~lomsong.tables.results.COMMUNE_SUMMARY_SCHEMA`).
    lang : str
        ``vi`` or ``en``.
    commune_url : str, optional
        Link to a commune's own map, ``{code}`` replaced; None for no link.
    focus_code : str, optional
        Commune drawn with a heavy outline (the commune page's own).
    focus_codes : list of str, optional
        Communes drawn with a heavy outline (a unit page's old communes).
    unit_url : str, optional
        Link from the popup to the commune's 2025 unit page, ``{code}`` replaced.
    geometry : numpy.ndarray, optional
        The communes' :func:`display_geometry`, when already computed (:class:`PreparedLayers`).

    Returns
    -------
    dict
        FeatureCollection. The popup gives the people in gaps, covered and without enough
        evidence, each with its share of the commune's population, and the commune's 2025 unit.
    """
    columns = ["people_in_gaps", "share_people_covered", "share_people_no_data", "n_gaps"]
    view = summary.drop_duplicates("commune_code").set_index(summary.drop_duplicates("commune_code")["commune_code"])
    frame = communes[["commune_code", "commune", "district", "population"]].copy()
    for column in columns:
        frame[column] = frame["commune_code"].map(view[column]) if len(view) else np.nan
    population = pd.to_numeric(frame["population"], errors="coerce").astype(float)
    in_gaps = pd.to_numeric(frame["people_in_gaps"], errors="coerce").astype(float).fillna(0.0)
    share = (in_gaps / population.where(population > 0)).clip(0, 1)
    frame["share"] = share
    frame["cls"] = _share_class(share, frame["share_people_no_data"])
    frame["fill"] = _class_fill(frame["cls"].to_numpy())
    focus = {focus_code} if focus_code else set(focus_codes or [])
    frame["focus"] = frame["commune_code"].astype(str).isin(focus).to_numpy(bool)
    frame["folded"] = [fold(f"{n} {d}") for n, d in zip(frame["commune"], frame["district"], strict=True)]
    units = unit_lookup(communes)
    frame["unit_code"] = frame["commune_code"].astype(str).map(units["unit_2025_code"]).to_numpy()
    frame["unit"] = frame["commune_code"].astype(str).map(units["unit_2025"]).to_numpy()
    popups = []
    for row in frame.itertuples():  # one per commune
        people = float(row.population) if pd.notna(row.population) else 0.0
        covered = people * float(row.share_people_covered) if pd.notna(row.share_people_covered) else float("nan")
        unknown = people * float(row.share_people_no_data) if pd.notna(row.share_people_no_data) else float("nan")
        rows = [
            (text(lang, "district"), html.escape(str(row.district))),
            (text(lang, "population"), f"<b>{format_number(row.population, lang)} {text(lang, 'people_unit')}</b>"),
            (text(lang, "people_in_gaps"), _people_share(float(row.people_in_gaps or 0.0), people, lang)),
            (text(lang, "people_covered"), _people_share(covered, people, lang)),
            (text(lang, "people_no_data"), _people_share(unknown, people, lang)),
            (text(lang, "n_gaps"), format_number(row.n_gaps, lang)),
        ]
        if isinstance(row.unit, str) and row.unit:
            unit = html.escape(row.unit)
            if unit_url:
                unit = f"<a href='{html.escape(unit_url.format(code=row.unit_code))}'>{unit}</a>"
            rows.insert(0, (text(lang, "unit"), f"<b>{unit}</b>"))
        link = ""
        if commune_url and row.commune_code != focus_code:
            href = html.escape(commune_url.format(code=row.commune_code))
            link = f"<div class='lomsong-popup-link'><a href='{href}'>{text(lang, 'open_commune_map')}</a></div>"
        popups.append(_table_html(rows, str(row.commune)) + link)
    frame["popup"] = popups
    frame["label"] = [
        f"{c} — {text(lang, 'state_insufficient') if k == INSUFFICIENT_CLASS else format_share(s, lang)}"
        for c, s, k in zip(frame["commune"], frame["share"], frame["cls"], strict=True)
    ]
    geometry = display_geometry(communes.geometry) if geometry is None else geometry
    properties = ["commune_code", "commune", "district", "folded", "cls", "fill", "focus", "popup", "label"]
    return _feature_collection(frame, geometry, properties)


def unit_features(
    units: gpd.GeoDataFrame,
    unit_summary: pd.DataFrame,
    lang: str,
    unit_url: str | None = "units/{code}.html",
    focus_code: str | None = None,
) -> dict[str, Any]:
    """Return the 2025 units' GeoJSON: outline, label and a popup with the denominators.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        :func:`lomsong.reference.units.dissolve_units`.
    unit_summary : pandas.DataFrame
        :func:`lomsong.reference.units.summarise_units` rows of one view.
    lang : str
        ``vi`` or ``en``.
    unit_url : str, optional
        Link to a unit's own map, ``{code}`` replaced; None for no link.
    focus_code : str, optional
        The unit page's own unit (no link to itself).

    Returns
    -------
    dict
        FeatureCollection (``unit_code, unit, folded, popup, label``). The popup names the old
        communes and says they are mapped whole.
    """
    frame = pd.DataFrame(units.drop(columns="geometry")).copy()
    view = unit_summary.drop_duplicates("unit_code").set_index("unit_code")
    for column in ("population", "people_in_gaps", "share_people_covered", "share_people_no_data", "n_gaps"):
        source = view[column] if column in view else pd.Series(dtype=float)
        frame[f"v_{column}"] = frame["unit_code"].map(source).to_numpy()
    frame["folded"] = [fold(f"{u} {o}") for u, o in zip(frame["unit"], frame["old_communes"], strict=True)]
    popups = []
    for row in frame.itertuples():  # one per unit (28)
        people = float(row.v_population) if pd.notna(row.v_population) else 0.0
        covered = people * float(row.v_share_people_covered) if pd.notna(row.v_share_people_covered) else float("nan")
        unknown = people * float(row.v_share_people_no_data) if pd.notna(row.v_share_people_no_data) else float("nan")
        rows = [
            (text(lang, "unit_code"), html.escape(str(row.unit_code))),
            (text(lang, "old_communes"), html.escape(", ".join(str(row.old_communes).split(";")))),
            (text(lang, "population"), f"<b>{format_number(people, lang)} {text(lang, 'people_unit')}</b>"),
            (text(lang, "people_in_gaps"), _people_share(float(row.v_people_in_gaps or 0.0), people, lang)),
            (text(lang, "people_covered"), _people_share(covered, people, lang)),
            (text(lang, "people_no_data"), _people_share(unknown, people, lang)),
            (text(lang, "n_gaps"), format_number(row.v_n_gaps, lang)),
        ]
        note = f"<div class='lomsong-popup-note'>{html.escape(MAPPED_WHOLE_NOTE[lang])}</div>"
        link = ""
        if unit_url and row.unit_code != focus_code:
            href = html.escape(unit_url.format(code=row.unit_code))
            link = f"<div class='lomsong-popup-link'><a href='{href}'>{text(lang, 'open_unit_map')}</a></div>"
        popups.append(_table_html(rows, str(row.unit)) + note + link)
    frame["popup"] = popups
    frame["label"] = frame["unit"].astype(str)
    geometry = display_geometry(units.geometry)
    return _feature_collection(frame, geometry, ["unit_code", "unit", "folded", "popup", "label"])


def gap_features(gaps: pd.DataFrame, lang: str) -> dict[str, Any]:
    """Return the gap layer's GeoJSON with the evidence and a popup of the gap's facts.

    The popup names the commune (xã), district (huyện), people affected, area, samples, median
    signal, evidence and the gap id, in ``lang``.
    """
    frame = gaps.copy()
    popups = []
    for row in frame.itertuples():  # one per gap
        others = [c for c in str(row.communes or "").split(";") if c and c != row.commune]
        rows = [
            (text(lang, "commune"), f"<b>{html.escape(str(row.commune))}</b>"),
            (text(lang, "district"), html.escape(str(row.district))),
            (
                text(lang, "affected_people"),
                f"<b>{format_number(row.population, lang)} {text(lang, 'people_unit')}</b>",
            ),
            (text(lang, "area_km2"), format_number(row.area_km2, lang, 2)),
            (text(lang, "n_samples"), format_number(row.n_samples, lang)),
            (text(lang, "n_devices"), format_number(row.n_devices, lang)),
            (text(lang, "median_signal"), f"{format_number(row.median_signal_dbm, lang, 1)} {text(lang, 'dbm')}"),
            (text(lang, "no_service_share"), format_share(row.no_service_share, lang)),
            (text(lang, "evidence"), text(lang, f"evidence_{row.evidence}") if row.evidence else "–"),
            (text(lang, "operator"), html.escape(_operator_label(str(row.operator), lang))),
            (
                text(lang, "technology"),
                text(lang, "technology_any") if row.technology == ANY_TECHNOLOGY else html.escape(str(row.technology)),
            ),
            (text(lang, "dates"), f"{format_date(row.first_date, lang)} – {format_date(row.last_date, lang)}"),
            (text(lang, "gap_id"), f"<code>{html.escape(str(row.gap_id))}</code>"),
        ]
        if others:
            rows.insert(2, (text(lang, "other_communes"), html.escape(", ".join(others))))
        listed = getattr(row, "villages", None)
        if isinstance(listed, str) and listed:
            # "Thôn 3 (420); Bon Bu Prăng (130)": the villages' people inside this gap.
            items = "".join(f"<li>{html.escape(item.strip())}</li>" for item in listed.split(";") if item.strip())
            rows.insert(3, (text(lang, "gap_villages"), f"<ul class='lomsong-villages'>{items}</ul>"))
        popups.append(_table_html(rows))
    frame["popup"] = popups
    frame["label"] = [
        f"{c}: {format_number(p, lang)} {text(lang, 'people_unit')}"
        for c, p in zip(frame["commune"], frame["population"], strict=True)
    ]
    frame["evidence"] = frame["evidence"].astype(str)
    geometry = display_geometry(gaps.geometry, simplify_metres=0)
    return _feature_collection(frame, geometry, ["gap_id", "commune_code", "commune", "evidence", "popup", "label"])


#: Over-claimed areas (claimed covered, measured weak): magenta with a thick outline, apart from the
#: gaps' purples and the cells' blue and orange.
CHALLENGE_STYLE = {"color": "#c51b7d", "weight": 3, "fillColor": "#f1b6da", "fillOpacity": 0.55}


def challenge_features(challenges: pd.DataFrame, lang: str) -> dict[str, Any]:
    """Return the over-claimed areas' GeoJSON with a popup of each challenge's facts and evidence.

    The popup names the operator and technology claimed, the claim map's date, the commune, the
    people and area, the evidence (samples, phones, days, dates, median signal) and the id, in
    ``lang``; every string from the data is escaped.
    """
    frame = challenges.copy()
    popups = []
    for row in frame.itertuples():  # one per challenge
        rows = [
            (text(lang, "operator"), f"<b>{html.escape(_operator_label(str(row.operator), lang))}</b>"),
            (text(lang, "technology"), html.escape(str(row.technology))),
            (header("claim_date", lang), format_date(row.claim_date, lang)),
            (text(lang, "commune"), html.escape(str(row.commune))),
            (text(lang, "district"), html.escape(str(row.district))),
            (
                text(lang, "affected_people"),
                f"<b>{format_number(row.population, lang)} {text(lang, 'people_unit')}</b>",
            ),
            (text(lang, "area_km2"), format_number(row.area_km2, lang, 2)),
            (text(lang, "n_samples"), format_number(row.n_samples, lang)),
            (text(lang, "n_devices"), format_number(row.n_devices, lang)),
            (header("n_days", lang), format_number(row.n_days, lang)),
            (text(lang, "median_signal"), f"{format_number(row.median_signal_dbm, lang, 1)} {text(lang, 'dbm')}"),
            (text(lang, "dates"), f"{format_date(row.first_date, lang)} – {format_date(row.last_date, lang)}"),
            (header("challenge_id", lang), f"<code>{html.escape(str(row.challenge_id))}</code>"),
        ]
        popups.append(_table_html(rows, text(lang, "legend_challenges")))
    frame["popup"] = popups
    frame["label"] = [
        f"{_operator_label(str(o), lang)} {t}: {format_number(p, lang)} {text(lang, 'people_unit')}"
        for o, t, p in zip(frame["operator"], frame["technology"], frame["population"], strict=True)
    ]
    geometry = display_geometry(challenges.geometry, simplify_metres=0)
    return _feature_collection(frame, geometry, ["challenge_id", "operator", "technology", "popup", "label"])


def _add_challenge_layers(
    m: folium.Map,
    challenges: gpd.GeoDataFrame | None,
    lang: str,
    area: Any,
    *,
    prepared: PreparedLayers | None = None,
) -> dict[str, str]:
    """One hidden layer of over-claimed areas per operator (the lists to send each operator)."""
    if challenges is None or challenges.empty:
        return {}
    near = np.ones(len(challenges), bool) if area is None else challenges.intersects(area).to_numpy(bool)
    names = {}
    operators = challenges["operator"].astype(str).to_numpy()
    for operator in sorted(set(operators[near])):  # per operator (a few)
        own_rows = np.flatnonzero(operators == operator)
        own = challenges.iloc[own_rows]
        shown = np.flatnonzero(near[own_rows])
        if prepared is None:
            features = challenge_features(own.iloc[shown], lang)
        else:
            features = _subset_collection(
                prepared.layer(
                    ("challenges", id(challenges), operator, lang), lambda own=own: challenge_features(own, lang)
                ),
                shown,
            )
        layer = folium.GeoJson(
            features,
            name=text(lang, "layer_challenges", operator=_operator_label(operator, lang)),
            show=False,
            style_function=lambda f: CHALLENGE_STYLE,
            on_each_feature=_POPUP_JS,
        ).add_to(m)
        names[f"challenges:{operator}"] = layer.get_name()
    return names


def cell_class_features(cells: pd.DataFrame, lang: str) -> dict[str, Any]:
    """Return one view's cells with data merged into one shape per signal class (light to draw).

    Cells without measurements (``no_data``) are left out to keep the page light.
    """
    # arrays, not frame filters: this runs for every view of every page
    states = cells["state"].astype(str).to_numpy()
    return _cell_class_collection(states, np.asarray(cells.geometry.values), cells.crs, lang)


def _cell_class_collection(states: np.ndarray, shapes_of_cells: np.ndarray, crs: Any, lang: str) -> dict[str, Any]:
    """:func:`cell_class_features` of cells given as their states and shapes."""
    rows, shapes = [], []
    for state in STATE_COLOURS:  # three classes
        members = shapes_of_cells[states == state]
        if len(members) == 0:
            continue
        shapes.append(shapely.coverage_union_all(members))
        rows.append(
            {
                "state": state,
                "label": f"{text(lang, 'state_' + state)} — {format_number(len(members), lang)} {text(lang, 'cells')}",
            }
        )
    geometry = display_geometry(gpd.GeoSeries(shapes, crs=crs or "EPSG:4326"), simplify_metres=0)
    return _records_collection(rows, geometry)


def heat_points(cells: pd.DataFrame) -> list[list[float]]:
    """Return ``[lat, lon, samples]`` at the centre of every cell with measurements."""
    measured = cells[(pd.to_numeric(cells["n_samples"], errors="coerce").fillna(0) > 0).to_numpy(bool)]
    if measured.empty:
        return []
    centres = shapely.centroid(np.asarray(measured.geometry.values))
    lat = np.round(shapely.get_y(centres), 4)
    lon = np.round(shapely.get_x(centres), 4)
    weight = pd.to_numeric(measured["n_samples"], errors="coerce").to_numpy(float)
    return np.column_stack([lat, lon, weight]).tolist()


def village_status(villages: gpd.GeoDataFrame, view_operator: str) -> pd.Series:
    """Return each village's status in the view: ``in_gap``, ``weak``, ``covered`` or ``no_data``.

    ``all`` view: ``in_gap`` when no operator covers the village (``no_operator``), ``covered``
    when one does, else ``no_data``. Operator view: that operator's ``status_<operator>``.
    """
    statuses = [c for c in villages.columns if c.startswith("status_")]
    if view_operator != ALL_OPERATORS and f"status_{view_operator}" in villages:
        raw = villages[f"status_{view_operator}"].astype("string").str.lower().str.replace(" ", "_")
        return raw.fillna("no_data").astype(str)
    covered_any = np.zeros(len(villages), dtype=bool)
    for column in statuses:
        covered_any |= (villages[column].astype("string") == "covered").to_numpy(bool, na_value=False)
    if "no_operator" in villages:
        no_operator = villages["no_operator"].astype("boolean").to_numpy(bool, na_value=False)
    else:
        no_operator = np.zeros(len(villages), dtype=bool)
    status = np.where(no_operator, "in_gap", np.where(covered_any, "covered", "no_data"))
    return pd.Series(status, index=villages.index)


def has_cv1603(villages: pd.DataFrame | None) -> bool:
    """True when the villages carry the Ministry's tiers (runs since CV 1603 statuses)."""
    return villages is not None and "status_cv1603" in villages


def village_tier(villages: pd.DataFrame, view_operator: str) -> pd.Series:
    """Return each village's CV 1603 tier in the view (``status_cv1603`` or ``status_cv1603_<operator>``)."""
    column = "status_cv1603" if view_operator == ALL_OPERATORS else f"status_cv1603_{view_operator}"
    if column not in villages:
        return pd.Series("chua_du_du_lieu", index=villages.index)
    return villages[column].astype("string").fillna("chua_du_du_lieu").astype(str)


def _village_popup_rows(row: dict[str, Any], operators: list[str], lang: str) -> list[tuple[str, str]]:
    """Popup rows of one village: commune, households, people, grid power, tier overall and per operator."""

    def whole(value: Any) -> str:
        return "–" if value is None or pd.isna(value) else format_number(value, lang)

    power = row.get("has_grid_power")
    power_text = "–" if power is None or pd.isna(power) else text(lang, "grid_power_yes" if power else "grid_power_no")
    rows = [
        (text(lang, "commune"), html.escape(str(row.get("commune", "")))),
        (text(lang, "households"), whole(row.get("households"))),
        (text(lang, "village_people"), whole(row.get("population"))),
        (text(lang, "grid_power"), power_text),
    ]
    if "status_cv1603" in row:
        rows.append((text(lang, "cv1603_status"), f"<b>{text(lang, 'cv1603_' + str(row['status_cv1603']))}</b>"))
        for operator in operators:
            tier = row.get(f"status_cv1603_{operator}")
            if isinstance(tier, str) and tier:
                rows.append((_operator_label(operator, lang), text(lang, f"cv1603_{tier}")))
        rows.append((text(lang, "people_affected"), whole(row.get("people_affected"))))
        rows.append((text(lang, "households_affected"), whole(row.get("households_affected"))))
    return rows


def village_features(villages: gpd.GeoDataFrame, view_operator: str, lang: str) -> dict[str, Any]:
    """Return the villages as points with their status, colour and a popup.

    With the CV 1603 columns the colour is the village's tier in the view (trắng sóng, lõm sóng,
    có sóng, chưa đủ dữ liệu) and the popup shows households, people, grid power, the tier for all
    operators and per operator, and the people and households affected; older runs show the
    centre's state.
    """
    frame = villages.copy().reset_index(drop=True)
    name_column = next((c for c in ("name", "village", "ten") if c in frame), None)
    names = frame[name_column].astype(str) if name_column else pd.Series("", index=frame.index)
    communes = frame["commune"].astype(str) if "commune" in frame else pd.Series("", index=frame.index)
    frame["key"] = [f"v{i}" for i in range(len(frame))]
    if has_cv1603(frame):
        frame["status"] = village_tier(frame, view_operator)
        frame["colour"] = frame["status"].map(CV1603_COLOURS).fillna(CV1603_COLOURS["chua_du_du_lieu"])
        status_text = [text(lang, f"cv1603_{s}") for s in frame["status"]]
        operators = [c.removeprefix("status_cv1603_") for c in frame.columns if c.startswith("status_cv1603_")]
        records = frame.drop(columns="geometry").to_dict(orient="records")
        frame["popup"] = [
            _table_html(_village_popup_rows(record, operators, lang), name)
            for record, name in zip(records, names, strict=True)
        ]  # one per village
    else:
        frame["status"] = village_status(frame, view_operator)
        frame["colour"] = frame["status"].map(VILLAGE_COLOURS).fillna(VILLAGE_COLOURS["no_data"])
        status_text = [
            text(lang, f"village_{s}") if f"village_{s}" in {"village_" + k for k in VILLAGE_COLOURS} else s
            for s in frame["status"]
        ]
        frame["popup"] = [
            _table_html([(text(lang, "commune"), html.escape(c)), (text(lang, "status"), html.escape(s))], n)
            for n, c, s in zip(names, communes, status_text, strict=True)
        ]
    # Leaflet shows a tooltip string as HTML: the village list is the user's, so its names are escaped.
    frame["label"] = [f"{html.escape(n)}: {html.escape(s)}" for n, s in zip(names, status_text, strict=True)]
    points = frame.geometry.representative_point() if (frame.geom_type != "Point").any() else frame.geometry
    geometry = shapely.transform(np.asarray(points.values), lambda xy: np.round(xy, COORDINATE_DECIMALS))
    return _feature_collection(frame, geometry, ["key", "status", "colour", "popup", "label"])


def commune_search_entries(communes: gpd.GeoDataFrame) -> list[list[Any]]:
    """Search entries of communes: code, name, district, folded text, bounds, ``commune``."""
    return [
        [
            row.commune_code,
            row.commune,
            row.district,
            fold(f"{row.commune} {row.district}"),
            _bounds_of(row.geometry),
            "commune",
        ]
        for row in communes.itertuples()  # one per commune (71)
    ]


def unit_search_entries(units: gpd.GeoDataFrame, lang: str) -> list[list[Any]]:
    """Search entries of the 2025 units: code, name, kind, folded text, bounds, ``unit``."""
    kind = text(lang, "search_kind_unit")
    return [
        [row.unit_code, row.unit, kind, fold(f"{row.unit} {kind} {row.old_communes}"), _bounds_of(row.geometry), "unit"]
        for row in units.itertuples()  # one per unit (28)
    ]


def village_search_entries(villages: gpd.GeoDataFrame | None) -> list[list[Any]]:
    """Return search entries for the villages: key, name, commune, folded text, bounds, ``village``.

    The key matches the ``key`` property of :func:`village_features` on the same table.
    """
    if villages is None or not len(villages):
        return []
    frame = villages.reset_index(drop=True)
    names = frame["name"].astype(str) if "name" in frame else pd.Series("", index=frame.index)
    communes = frame["commune"].astype(str) if "commune" in frame else pd.Series("", index=frame.index)
    points = frame.geometry.representative_point()
    lat, lon = np.round(points.y.to_numpy(), 5), np.round(points.x.to_numpy(), 5)
    folded = (fold_series(names + " " + communes)).astype(str)
    return [
        [f"v{i}", n, c, f, [[y - 0.004, x - 0.004], [y + 0.004, x + 0.004]], "village"]
        for i, (n, c, f, y, x) in enumerate(zip(names, communes, folded, lat, lon, strict=True))
    ]


def _local_day(value: object) -> str:
    """Return the date (ISO) of a date or timestamp in Vietnam's time (UTC+7) when it has a zone."""
    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        return str(value)[:10]
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("Asia/Ho_Chi_Minh")
    return stamp.strftime("%Y-%m-%d")


def data_period(results: RunResults) -> tuple[str, str] | None:
    """Return the run's measurement period (first, last date, ISO, Vietnam time) from ``run.json`` or the tables."""
    found = _period_from_meta(results.meta)
    if found:
        return _local_day(found[0]), _local_day(found[1])
    for table in (results.cells, results.gaps):
        if len(table) and "first_date" in table:
            first = table["first_date"].dropna().astype(str)
            last = table["last_date"].dropna().astype(str)
            first, last = first[first != ""], last[last != ""]
            if len(first) and len(last):
                return first.min()[:10], last.max()[:10]
    return None


def _period_from_meta(meta: dict[str, Any]) -> tuple[Any, Any] | None:
    period = meta.get("data_period") or meta.get("period")
    if isinstance(period, dict):
        for first_key, last_key in (
            ("start", "end"),
            ("first", "last"),
            ("first_date", "last_date"),
            ("since", "until"),
        ):
            if period.get(first_key) and period.get(last_key):
                return period[first_key], period[last_key]
    if isinstance(period, list | tuple) and len(period) == 2 and all(period):
        return period[0], period[1]
    if isinstance(period, str) and "/" in period:
        first, last = period.split("/", 1)
        return first, last
    return None


# ---------------------------------------------------------------------------------------------
# Page furniture: title, legend, search, labels
# ---------------------------------------------------------------------------------------------

#: The pages' own stylesheet and script (package data, read once): title, legend, search, labels.
STATIC = Path(__file__).parent / "static"


@functools.cache
def _static(name: str) -> str:
    text_of_file = (STATIC / name).read_text(encoding="utf-8")
    # inlined into <style>/<script>: a literal closing tag would end the element early
    return text_of_file.replace("</style", "<\\/style").replace("</script", "<\\/script")


class _Furniture(MacroElement):
    """Stylesheet, title block and legend (plain HTML: shows even when no tile loads)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}<style>{{ this.css }}</style><script>{{ this.js }}</script>{% endmacro %}
        {% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
        """
    )

    def __init__(self, body: str) -> None:
        super().__init__()
        self._name = "LomsongFurniture"
        self.css = _static("lomsong.css")
        self.js = _static("lomsong.js")
        self.body = body


class _Behaviour(MacroElement):
    """Commune search (diacritic-insensitive) and named handles (``window.lomsong``) for scripts and tests."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lomsongPage.behaviour({{ this._parent.get_name() }}, {{ this.communes_layer }}, {{ this.entries }},
          {{ this.strings }}, {{ this.layers }});
        {% endmacro %}
        """
    )

    def __init__(self, communes_layer: str, entries: list, strings: dict, layers: dict[str, str]) -> None:
        super().__init__()
        self._name = "LomsongBehaviour"
        self.communes_layer = communes_layer
        self.entries = _script_json(entries)
        self.strings = _script_json(strings)
        self.layers = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in layers.items()) + "}"


class _Labels(MacroElement):
    """Commune names as non-interactive text markers, added to the parent feature group."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lomsongPage.labels({{ this.labels }}, {{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, labels: list) -> None:
        super().__init__()
        self._name = "LomsongLabels"
        self.labels = _script_json(labels)


class _Legibility(MacroElement):
    """What makes the page read at 1366×768: a legend that is a Leaflet control (so it never
    covers another control), a metric-only scale, labels that hide where they would overlap, and
    a Vietnamese measuring tool (leaflet-measure ships no Vietnamese: its English text is replaced
    on the page as it appears)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lomsongPage.legibility({{ this._parent.get_name() }}, {{ this.label_groups }}, {{ this.measure_words }});
        {% endmacro %}
        """
    )

    def __init__(self, label_groups: list[str], lang: str) -> None:
        super().__init__()
        self._name = "LomsongLegibility"
        self.label_groups = "[" + ", ".join(label_groups) + "]"
        words = {} if lang == "en" else {STRINGS["en"][k]: text(lang, k) for k in MEASURE_WORDS}
        self.measure_words = json.dumps(words, ensure_ascii=False)


#: Keys of the measuring tool's words (the same keys as leaflet-measure's own i18n files).
MEASURE_WORDS = [
    "measure",
    "measureDistancesAndAreas",
    "createNewMeasurement",
    "startCreating",
    "finishMeasurement",
    "lastPoint",
    "area",
    "perimeter",
    "pointLocation",
    "areaMeasurement",
    "linearMeasurement",
    "pathDistance",
    "centerOnArea",
    "centerOnLine",
    "centerOnLocation",
    "cancel",
    "delete",
]
#: Units of the measuring tool, metric only, with their usual abbreviations.
MEASURE_UNITS = {
    "kilometers": {"factor": 0.001, "display": "km", "decimals": 2},
    "meters": {"factor": 1, "display": "m", "decimals": 0},
    "hectares": {"factor": 0.0001, "display": "ha", "decimals": 2},
    "sqmeters": {"factor": 1, "display": "m²", "decimals": 0},
}


def _title_html(
    results: RunResults,
    lang: str,
    view_operator: str,
    heading: str,
    extra: str = "",
    commune_code: str | None = None,
    unit_communes: list[str] | None = None,
    prepared: PreparedLayers | None = None,
) -> str:
    period = data_period(results)
    period_text = (
        text(lang, "period", start=format_date(period[0], lang), end=format_date(period[1], lang))
        if period
        else text(lang, "period_unknown")
    )
    # the view's gaps and commune rows, selected once for every page when the layers are prepared
    gaps = prepared.gaps if prepared is not None else _select(results.gaps, view_operator)
    view_communes = prepared.summary if prepared is not None else _select(results.communes, view_operator)
    if unit_communes is not None:
        # a unit's page speaks of that unit: gaps touching its old communes, its people in them
        wanted = set(unit_communes)
        touching = gaps["commune_codes"].astype(str).str.split(";").map(lambda codes: bool(wanted & set(codes)))
        own = view_communes[view_communes["commune_code"].astype(str).isin(wanted).to_numpy(bool)]
        summary = text(
            lang,
            "summary_unit",
            n_gaps=format_number(int(touching.to_numpy(bool).sum()), lang),
            people=format_number(float(pd.to_numeric(own["people_in_gaps"], errors="coerce").sum()), lang),
        )
    elif commune_code is None:
        summary = text(
            lang,
            "summary",
            n_gaps=format_number(len(gaps), lang),
            people=format_number(float(pd.to_numeric(gaps["population"], errors="coerce").sum()), lang),
        )
    else:
        # a commune's page speaks of that commune: its gaps and its own people in them
        touching = gaps["commune_codes"].astype(str).str.split(";").map(lambda codes: commune_code in codes)
        own = view_communes[(view_communes["commune_code"].astype(str) == commune_code).to_numpy(bool)]
        people = float(pd.to_numeric(own["people_in_gaps"], errors="coerce").sum()) if len(own) else 0.0
        summary = text(
            lang,
            "summary_commune",
            n_gaps=format_number(int(touching.to_numpy(bool).sum()), lang),
            people=format_number(people, lang),
        )
    view = f"{text(lang, 'view')}: <b>{html.escape(_operator_label(view_operator, lang))}</b>"
    synthetic = f"<br><span class='lomsong-synthetic'>{text(lang, 'synthetic')}</span>" if results.synthetic else ""
    codes = unit_communes if unit_communes is not None else [commune_code] if commune_code else None
    denominator = _denominator_of(results, view_operator, codes, lang, rows=view_communes)
    denominator = f"<br><span class='lomsong-denominator' id='lomsong-denominator'>{denominator}</span>"
    return (
        f"<div class='lomsong-title' id='lomsong-title'><h1>{html.escape(heading)}</h1>"
        f"{view} · {period_text}<br>{summary}{denominator}{_population_source_html(results, lang)}{extra}"
        f"{synthetic}</div>"
    )


def _denominator_of(
    results: RunResults,
    view_operator: str,
    commune_codes: list[str] | None,
    lang: str,
    *,
    rows: pd.DataFrame | None = None,
) -> str:
    """People in gaps, covered and without enough evidence over the population of the page's area.

    From the commune summary of the view (the province: every commune; ``rows`` when already
    selected), so the three parts add up to the population shown.
    """
    rows = _select(results.communes, view_operator) if rows is None else rows
    if commune_codes is not None:
        rows = rows[rows["commune_code"].astype(str).isin(set(commune_codes)).to_numpy(bool)]
    people = pd.to_numeric(rows["population"], errors="coerce").fillna(0.0)
    in_gaps = float(pd.to_numeric(rows["people_in_gaps"], errors="coerce").fillna(0.0).sum())
    covered = float((people * pd.to_numeric(rows["share_people_covered"], errors="coerce").fillna(0.0)).sum())
    unknown = float((people * pd.to_numeric(rows["share_people_no_data"], errors="coerce").fillna(0.0)).sum())
    return denominator_text(float(people.sum()), in_gaps, covered, unknown, lang)


#: Hatching of predicted areas: a predicted gap must never look like a measured one.
PREDICTED_COLOUR = "#252525"
PREDICTED_STYLE = {"color": PREDICTED_COLOUR, "weight": 1.5, "dashArray": "2 4", "fillOpacity": 1.0}
PREDICTED_LEGEND_SWATCH = (
    f"background:repeating-linear-gradient(45deg,{PREDICTED_COLOUR} 0 2px,transparent 2px 5px);"
    f"border:1.5px dotted {PREDICTED_COLOUR}"
)


def predicted_gap_features(gaps: pd.DataFrame, lang: str) -> dict[str, Any]:
    """Return the predicted-gap layer's GeoJSON with a popup that says it is a prediction."""
    frame = gaps.copy()
    popups = []
    for row in frame.itertuples():  # one per predicted area
        rows = [
            ("", f"<i>{text(lang, 'predicted_note')}</i>"),
            (text(lang, "commune"), f"<b>{html.escape(str(row.commune))}</b>"),
            (text(lang, "district"), html.escape(str(row.district))),
            (
                text(lang, "affected_people"),
                f"<b>{format_number(row.population, lang)} {text(lang, 'people_unit')}</b>",
            ),
            (text(lang, "villages_in_area"), format_number(row.n_villages, lang)),
            (text(lang, "area_km2"), format_number(row.area_km2, lang, 2)),
            (text(lang, "mean_p_covered"), format_share(row.mean_p_covered, lang)),
            (text(lang, "gap_id"), f"<code>{html.escape(str(row.gap_id))}</code>"),
        ]
        popups.append(_table_html(rows))
    frame["popup"] = popups
    prefix = text(lang, "legend_predicted")
    frame["label"] = [
        f"{prefix} — {html.escape(str(c))}: {format_number(p, lang)} {text(lang, 'people_unit')}"
        for c, p in zip(frame["commune"], frame["population"], strict=True)
    ]
    geometry = display_geometry(gaps.geometry, simplify_metres=0)
    return _feature_collection(frame, geometry, ["gap_id", "commune_code", "commune", "popup", "label"])


class _Hatch(MacroElement):
    """An SVG hatch pattern in the map's vector pane, used as the fill of predicted areas."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
          var svg = {{ this._parent.get_name() }}.getPanes().overlayPane.querySelector('svg');
          if (!svg || svg.querySelector('#lomsong-hatch')) { return; }
          var ns = 'http://www.w3.org/2000/svg';
          var defs = document.createElementNS(ns, 'defs');
          var pattern = document.createElementNS(ns, 'pattern');
          pattern.setAttribute('id', 'lomsong-hatch');
          pattern.setAttribute('patternUnits', 'userSpaceOnUse');
          pattern.setAttribute('width', '7');
          pattern.setAttribute('height', '7');
          pattern.setAttribute('patternTransform', 'rotate(45)');
          var line = document.createElementNS(ns, 'rect');
          line.setAttribute('width', '2.5');
          line.setAttribute('height', '7');
          line.setAttribute('fill', {{ this.colour }});
          pattern.appendChild(line);
          defs.appendChild(pattern);
          svg.insertBefore(defs, svg.firstChild);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, colour: str) -> None:
        super().__init__()
        self._name = "LomsongHatch"
        self.colour = json.dumps(colour)


#: Proposed sites of ``lomsong plan`` (``<run>/plan/plan.geojson``), drawn when the plan exists.
PLAN_COLOUR = "#1b7837"


def _plan_features(results: RunResults, lang: str, area: Any = None) -> dict[str, Any] | None:
    """The remedy plan's sites and coverage areas with a popup, or None when the run has no plan."""
    path = Path(results.folder) / "plan" / "plan.geojson"
    if not path.exists():
        return None
    plan = gpd.read_file(path, engine="pyogrio")
    if area is not None:
        plan = plan[plan.intersects(area).to_numpy(bool)]
    if plan.empty:
        return None
    popups, labels = [], []
    for row in plan.itertuples():  # one per site and area (tens)
        rows = [
            ("", f"<i>{text(lang, 'plan_note')}</i>"),
            (text(lang, "plan_order"), f"<b>{int(row.order)}</b>"),
            (text(lang, "commune"), html.escape(str(row.commune))),
            (
                text(lang, "plan_people"),
                f"<b>{format_number(row.people_newly_covered, lang)} {text(lang, 'people_unit')}</b>",
            ),
            (text(lang, "operator"), html.escape(_operator_label(str(row.operator), lang))),
            (text(lang, "technology"), html.escape(str(row.technology))),
            (text(lang, "plan_candidate"), f"<code>{html.escape(str(row.candidate_id))}</code>"),
            (text(lang, "plan_remark"), html.escape(str(row.note or ""))),
        ]
        popups.append(_table_html(rows))
        labels.append(f"{int(row.order)}. {html.escape(str(row.candidate_id))}")
    plan = plan.assign(popup=popups, label=labels)
    return _feature_collection(plan, plan.geometry.to_numpy(), ["order", "candidate_id", "popup", "label"])


def _predicted_gaps(results: RunResults, view_operator: str) -> gpd.GeoDataFrame | None:
    """The run's predicted gaps of the view (any technology), or None when the run has none."""
    predicted = results.extras.get("predicted_gaps")
    if predicted is None:
        return None
    return _select(predicted, view_operator)


def _has_predicted(results: RunResults) -> bool:
    predicted = results.extras.get("predicted_gaps")
    return predicted is not None and len(predicted) > 0


def _has_plan(results: RunResults) -> bool:
    return (Path(results.folder) / "plan" / "plan.geojson").exists()


def _population_source_html(results: RunResults, lang: str) -> str:
    """Name where the people on the map come from (``run.json`` ``population.source``)."""
    source = (results.meta.get("population") or {}).get("source")
    if source not in ("villages", "buildings", "raster", "even"):
        return ""
    return (
        f"<br><small class='lomsong-population-source'>{text(lang, 'population_source')}: "
        f"{text(lang, 'population_source_' + source)}</small>"
    )


def _legend_html(
    lang: str,
    with_villages: bool,
    with_challenges: bool = False,
    with_units: bool = False,
    *,
    tiers: bool = False,
    with_predicted: bool = False,
    with_plan: bool = False,
) -> str:
    parts = [f"<h4>{text(lang, 'legend_communes')}</h4>"]
    for colour, label in zip(SHARE_COLOURS, _share_labels(lang), strict=True):
        parts.append(f"<div><i style='background:{colour}'></i>{html.escape(label)}</div>")
    parts.append(
        f"<div><i style='background:{INSUFFICIENT_CLASS_COLOUR}'></i>{html.escape(text(lang, 'legend_insufficient'))}"
        "</div>"
    )
    parts.append(f"<div><i style='background:{NO_PEOPLE_COLOUR}'></i>{text(lang, 'legend_no_people')}</div>")
    if with_units:
        parts.append(
            f"<div><i style='background:none;border:0;border-top:3px solid {UNIT_OUTLINE['color']};height:0'></i>"
            f"{html.escape(text(lang, 'legend_units'))}<small>{html.escape(text(lang, 'legend_mapped_whole'))}</small>"
            "</div>"
        )
    parts.append(f"<h4>{text(lang, 'legend_gaps')}</h4>")
    for evidence, style in EVIDENCE_STYLE.items():
        border = "dashed" if style.get("dashArray") else "solid"
        parts.append(
            f"<div><i style='background:{style['fillColor']};border:2px {border} {style['color']}'></i>"
            f"{text(lang, 'evidence_' + evidence)}</div>"
        )
    if with_predicted:
        parts.append(f"<h4>{text(lang, 'legend_predicted')}</h4>")
        parts.append(f"<div><i style='{PREDICTED_LEGEND_SWATCH}'></i>{text(lang, 'legend_predicted_weak')}</div>")
    if with_plan:
        parts.append(f"<div><i class='dot' style='background:{PLAN_COLOUR}'></i>{text(lang, 'layer_plan')}</div>")
    parts.append(f"<h4>{text(lang, 'legend_cells')}</h4>")
    for state, colour in STATE_COLOURS.items():
        parts.append(f"<div><i style='background:{colour}'></i>{text(lang, 'state_' + state)}</div>")
    if with_challenges:
        style = CHALLENGE_STYLE
        parts.append(f"<h4>{text(lang, 'legend_claims')}</h4>")
        parts.append(
            f"<div><i style='background:{style['fillColor']};border:2px solid {style['color']}'></i>"
            f"{text(lang, 'legend_challenges')}</div>"
        )
    if with_villages and tiers:
        parts.append(f"<h4>{text(lang, 'legend_villages')} ({text(lang, 'cv1603_status')})</h4>")
        for status, colour in CV1603_COLOURS.items():
            parts.append(f"<div><i class='dot' style='background:{colour}'></i>{text(lang, 'cv1603_' + status)}</div>")
    elif with_villages:
        parts.append(f"<h4>{text(lang, 'legend_villages')}</h4>")
        for status, colour in VILLAGE_COLOURS.items():
            parts.append(f"<div><i class='dot' style='background:{colour}'></i>{text(lang, 'village_' + status)}</div>")
    return (
        f"<div class='lomsong-legend' id='lomsong-legend'><details open><summary>{text(lang, 'legend_toggle')}"
        f"</summary>{''.join(parts)}</details></div>"
    )


# ---------------------------------------------------------------------------------------------
# Map assembly
# ---------------------------------------------------------------------------------------------

# Leaflet inserts a string tooltip as HTML: labels carry names from the user's files (villages,
# boundaries), so each tooltip is a text node, never markup. Popups are HTML built in Python, every
# name in them escaped.
_TEXT_TOOLTIP = (
    "var tip = document.createElement('span'); "
    "tip.textContent = feature.properties.label == null ? '' : String(feature.properties.label); "
    "layer.bindTooltip(tip, {sticky: true});"
)
_POPUP_JS = JsCode(
    """function (feature, layer) {
        // Popups open clear of the title block (top) and the legend (right).
        layer.bindPopup(feature.properties.popup, {maxWidth: 380, autoPanPaddingTopLeft: [50, 170],
                                                   autoPanPaddingBottomRight: [300, 20]});
        """
    + _TEXT_TOOLTIP
    + """
    }"""
)
_TOOLTIP_JS = JsCode("function (feature, layer) { " + _TEXT_TOOLTIP + " }")


def _base_map(lang: str, bounds: list[list[float]]) -> folium.Map:
    # The scale bar is added metric-only by _Legibility (folium's own shows miles as well).
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=False, zoom_snap=0.25)
    # CARTO's light tiles now need an API key; Esri's light grey canvas is free to use.
    folium.TileLayer(xyz.Esri.WorldGrayCanvas, name=text(lang, "base_light"), show=True).add_to(m)
    folium.TileLayer(xyz.OpenStreetMap.Mapnik, name=text(lang, "base_osm"), show=False).add_to(m)
    folium.TileLayer(xyz.Esri.WorldImagery, name=text(lang, "base_satellite"), show=False).add_to(m)
    # Keep the area clear of the title block (top) and the legend (right) on a 1366×768 screen.
    m.fit_bounds(bounds, padding_top_left=FIT_PADDING_TOP_LEFT, padding_bottom_right=FIT_PADDING_BOTTOM_RIGHT)
    return m


def _bounds(frame: gpd.GeoDataFrame) -> list[list[float]]:
    west, south, east, north = frame.to_crs("EPSG:4326").total_bounds
    return [[float(south), float(west)], [float(north), float(east)]]


def _add_layers(
    m: folium.Map,
    results: RunResults,
    communes: gpd.GeoDataFrame,
    lang: str,
    view_operator: str,
    commune_url: str | None,
    focus_code: str | None = None,
    area: Any = None,
    focus_codes: list[str] | None = None,
    unit_url: str | None = None,
    focus_unit: str | None = None,
    all_communes: gpd.GeoDataFrame | None = None,
    dissolved: gpd.GeoDataFrame | None = None,
    prepared: PreparedLayers | None = None,
) -> dict[str, str]:
    """Add every overlay to ``m``; return layer key → JavaScript variable name.

    With the 2025 units in the commune table (``unit_2025``), the units dissolved from the old
    communes are drawn over them, searchable and labelled; the 2019 districts stay as a layer
    that is off by default.
    """
    prepared = prepared or PreparedLayers(results, communes, view_operator)
    gaps, villages = prepared.gaps, prepared.villages
    cell_rows = None
    gap_rows = np.arange(len(gaps))
    village_rows = np.arange(len(villages)) if villages is not None else None
    if area is not None:
        # A commune page draws what lies near its commune only.
        cell_rows = prepared.positions("cells", area)
        gap_rows = prepared.positions("gaps", area)
        if villages is not None:
            village_rows = prepared.positions("villages", area)
            villages = villages.iloc[village_rows]
    names: dict[str, str] = {}

    commune_layer = folium.GeoJson(
        prepared.commune_layer(communes, lang, commune_url, focus_code, focus_codes, unit_url),
        name=text(lang, "layer_communes"),
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.75,
            "color": "#000000" if f["properties"]["focus"] else "#666666",
            "weight": 3.5 if f["properties"]["focus"] else 0.7,
        },
        on_each_feature=_POPUP_JS,
    ).add_to(m)
    names["communes"] = commune_layer.get_name()

    # Units are whole: dissolved from every commune (``all_communes``), not only the page's nearby ones.
    whole = all_communes if all_communes is not None else communes
    units = dissolved if dissolved is not None else _units_of(whole)
    all_units = units
    unit_rows = np.arange(len(units)) if units is not None else None
    if units is not None and area is not None:
        unit_rows = np.flatnonzero(units.intersects(area).to_numpy(bool))
        units = units.iloc[unit_rows].reset_index(drop=True)
    district_layer = folium.GeoJson(
        prepared.district_features(communes),
        name=text(lang, "layer_districts" if units is None else "layer_districts_2019"),
        style_function=lambda f: {"color": "#252525", "weight": 2.2, "opacity": 0.9, "dashArray": "6 4"},
        interactive=False,
        # Today's units replace the districts; the districts stay as history.
        show=units is None,
    ).add_to(m)
    names["districts"] = district_layer.get_name()
    if units is not None:
        unit_summary = prepared.unit_summary(whole, view_operator, results)
        unit_layer = folium.GeoJson(
            prepared.unit_layer(all_units, unit_rows, unit_summary, lang, unit_url, focus_code=focus_unit),
            name=text(lang, "layer_units"),
            style_function=lambda f: {**UNIT_OUTLINE, "fill": False},
            on_each_feature=_POPUP_JS,
        ).add_to(m)
        names["units"] = unit_layer.get_name()

    for operator in prepared.views:
        cell_layer = prepared.cell_layer(operator, cell_rows, lang)
        if cell_layer is None:
            continue
        layer = folium.GeoJson(
            cell_layer,
            name=text(lang, "layer_cells", operator=_operator_label(operator, lang)),
            show=False,
            style_function=lambda f: {
                "fillColor": STATE_COLOURS[f["properties"]["state"]],
                "fillOpacity": 0.55,
                "color": STATE_COLOURS[f["properties"]["state"]],
                "weight": 0.5,
            },
            on_each_feature=_TOOLTIP_JS,
        ).add_to(m)
        names[f"cells:{operator}"] = layer.get_name()

    heat = HeatMap(
        heat_points(prepared.view_cells(view_operator, cell_rows)) or [[0.0, 0.0, 0.0]],
        name=text(lang, "layer_heat"),
        show=False,
        radius=14,
        blur=12,
        min_opacity=0.3,
    ).add_to(m)
    names["heat"] = heat.get_name()

    gap_layer = folium.GeoJson(
        _subset_collection(prepared.layer(("gaps", lang), lambda: gap_features(prepared.gaps, lang)), gap_rows),
        name=text(lang, "layer_gaps"),
        style_function=lambda f: EVIDENCE_STYLE.get(f["properties"]["evidence"], EVIDENCE_STYLE["likely"]),
        on_each_feature=_POPUP_JS,
    ).add_to(m)
    names["gaps"] = gap_layer.get_name()
    names.update(_add_challenge_layers(m, results.challenges, lang, area, prepared=prepared))

    predicted = _predicted_gaps(results, view_operator)
    if predicted is not None:
        predicted_rows = np.arange(len(predicted))
        if area is not None:
            predicted_rows = np.flatnonzero(predicted.intersects(area).to_numpy(bool))
        whole_predicted = predicted
        predicted_layer = folium.GeoJson(
            _subset_collection(
                prepared.layer(
                    ("predicted", view_operator, lang), lambda: predicted_gap_features(whole_predicted, lang)
                ),
                predicted_rows,
            ),
            name=text(lang, "layer_predicted"),
            style_function=lambda f: {**PREDICTED_STYLE, "className": "lomsong-predicted"},
            on_each_feature=_POPUP_JS,
        ).add_to(m)
        _Hatch(PREDICTED_COLOUR).add_to(m)
        names["predicted"] = predicted_layer.get_name()

    plan = _plan_features(results, lang, area)
    if plan is not None:
        plan_layer = folium.GeoJson(
            plan,
            name=text(lang, "layer_plan"),
            show=False,
            marker=folium.CircleMarker(radius=7, weight=2, color="#ffffff", fill=True, fill_opacity=1.0),
            style_function=lambda f: {
                "color": PLAN_COLOUR,
                "fillColor": PLAN_COLOUR,
                "fillOpacity": 1.0 if f["geometry"]["type"] == "Point" else 0.08,
                "weight": 2,
                "dashArray": None if f["geometry"]["type"] == "Point" else "6 4",
            },
            on_each_feature=_POPUP_JS,
        ).add_to(m)
        names["plan"] = plan_layer.get_name()

    if villages is not None and len(villages):
        everyone = prepared.villages
        village_layer = folium.GeoJson(
            _subset_collection(
                prepared.layer(
                    ("villages", view_operator, lang), lambda: village_features(everyone, view_operator, lang)
                ),
                village_rows,
                # the search key is the village's place on this page (village_search_entries)
                lambda number, values: {**values, "key": f"v{number}"},
            ),
            name=text(lang, "layer_villages"),
            # Hundreds of markers hide the gaps at province scale: on by default on commune pages only.
            show=focus_code is not None,
            marker=folium.CircleMarker(radius=6, weight=1.5, color="#ffffff", fill=True, fill_opacity=0.95),
            style_function=lambda f: {"fillColor": f["properties"]["colour"]},
            on_each_feature=_POPUP_JS,
        ).add_to(m)
        names["villages"] = village_layer.get_name()

    label_name = "layer_labels" if units is None else "layer_labels_2025"
    label_group = folium.FeatureGroup(name=text(lang, label_name), show=True).add_to(m)
    points = communes.geometry.to_crs(METRIC_CRS).representative_point().to_crs("EPSG:4326")
    # Most important first: the decluttering keeps them and hides what would overlap them.
    order = np.argsort(-pd.to_numeric(communes["population"], errors="coerce").fillna(0.0).to_numpy(), kind="stable")
    commune_labels = [
        [
            round(points.values[i].y, 5),
            round(points.values[i].x, 5),
            short_name(n, t),  # set as text by lomsongPage.labels, never as markup
            "lomsong-label-commune",
            # With today's units labelled, the old communes' names wait for a closer zoom.
            COMMUNE_LABEL_MIN_ZOOM if units is not None else 0,
        ]
        for i, n, t in zip(
            order, communes["commune"].to_numpy()[order], communes["commune_type"].to_numpy()[order], strict=True
        )
    ]
    unit_labels = []
    if units is not None:
        metric_units = units.to_crs(METRIC_CRS)
        unit_points = metric_units.representative_point().to_crs("EPSG:4326")
        by_people = np.argsort(-metric_units["population"].to_numpy(float), kind="stable")
        unit_labels = [
            [
                round(unit_points.values[i].y, 5),
                round(unit_points.values[i].x, 5),
                unit_label(str(units["unit"].iloc[i])),
                "lomsong-label-unit",
            ]
            for i in by_people
        ]
    _Labels(unit_labels + commune_labels).add_to(label_group)
    names["labels"] = label_group.get_name()

    # Collapsed: the open panel covered a quarter of a 1366×768 screen.
    folium.LayerControl(position="topright", collapsed=True).add_to(m)
    Fullscreen(position="topleft", title="Toàn màn hình" if lang == "vi" else "Full screen").add_to(m)
    MeasureControl(
        position="topleft",
        primary_length_unit="kilometers",
        secondary_length_unit=None,
        primary_area_unit="hectares",
        secondary_area_unit=None,
        units=MEASURE_UNITS,
        localization="en",
    ).add_to(m)

    entries = prepared.commune_search(communes)
    strings = {"placeholder": text(lang, "search_placeholder"), "none": text(lang, "search_none")}
    if units is not None:
        # Today's units first in the list: the search ranks name matches, then alphabetically.
        entries = prepared.unit_search(all_units, unit_rows, lang) + entries
        strings = {"placeholder": text(lang, "search_placeholder_2025"), "none": text(lang, "search_none_2025")}
    village_entries = prepared.village_search(village_rows) if villages is not None else []
    if village_entries:
        entries += village_entries
        if units is None:
            strings["placeholder"] = text(lang, "search_villages")
    _Behaviour(names["communes"], entries, strings, names).add_to(m)
    _Legibility([names["labels"]], lang).add_to(m)
    return names


class PreparedLayers:
    """What every page of one run, view and commune table shares, computed once for all the pages.

    The commune outlines simplified once, the district borders (one layer for every page), the
    view's rows and spatial indexes of the gaps, cells and villages, so that a
    commune page only selects what lies near it: building the pages costs in proportion to the
    gaps and cells drawn, not to the number of pages.

    Parameters
    ----------
    results : RunResults
        A finished run.
    communes : geopandas.GeoDataFrame
        Canonical commune table (every page's communes are rows of it).
    view_operator : str
        ``all`` or an operator id.
    """

    def __init__(self, results: RunResults, communes: gpd.GeoDataFrame, view_operator: str) -> None:
        self.communes = communes
        self.summary = _select(results.communes, view_operator)
        self.gaps = _select(results.gaps, view_operator)
        self.cells = results.cells[(results.cells["technology"].astype(str) == ANY_TECHNOLOGY).to_numpy(bool)]
        self._cell_operators = self.cells["operator"].astype(str).to_numpy()
        self._cell_states = self.cells["state"].astype(str).to_numpy()
        self._cell_shapes = np.asarray(self.cells.geometry.values)
        self.views = available_views(results)
        self.villages = results.villages
        self._trees = {
            name: shapely.STRtree(np.asarray(frame.geometry.values))
            for name, frame in [("gaps", self.gaps), ("cells", self.cells), ("villages", self.villages)]
            if frame is not None
        }
        self._geometry = pd.Series(list(display_geometry(communes.geometry)), index=communes.index, dtype=object)
        whole = districts(communes)
        self._districts = whole[["district_code", "district"]].assign(
            geometry=list(display_geometry(whole.geometry.boundary))
        )
        # layers of the whole tables, made at their first use and cut out for every page after
        self._memo: dict[tuple, Any] = {}

    def _once(self, key: tuple, build: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def positions(self, name: str, area: Any) -> np.ndarray:
        """Positions (table order) of the view's ``gaps``, ``cells`` or ``villages`` that intersect ``area``."""
        return np.sort(self._trees[name].query(area, predicate="intersects"))

    def commune_layer(
        self,
        communes: gpd.GeoDataFrame,
        lang: str,
        commune_url: str | None,
        focus_code: str | None = None,
        focus_codes: list[str] | None = None,
        unit_url: str | None = None,
    ) -> dict[str, Any]:
        """:func:`commune_features` of these communes (rows of the prepared table), popups made once."""
        positions = self.communes.index.get_indexer(communes.index)
        if (positions < 0).any():  # not rows of the prepared table
            return commune_features(communes, self.summary, lang, commune_url, focus_code, focus_codes, unit_url)
        geometry = self._geometry.to_numpy(object)

        def whole(url: str | None) -> dict[int, dict[str, Any]]:
            return _by_row(
                commune_features(self.communes, self.summary, lang, url, unit_url=unit_url, geometry=geometry)
            )

        linked = self._once(("communes", lang, commune_url, unit_url), lambda: whole(commune_url))
        plain = self._once(("communes", lang, None, unit_url), lambda: whole(None))  # no link to itself
        codes = self.communes["commune_code"].astype(str).to_numpy()
        focus = {focus_code} if focus_code else set(focus_codes or [])
        features = []
        for number, position in enumerate(positions):  # the page's communes (tens)
            code = codes[position]
            found = (plain if code == focus_code else linked).get(int(position))
            if found is None:
                continue
            values = {**found["properties"], "focus": code in focus}
            features.append({"type": "Feature", "id": str(number), "properties": values, "geometry": found["geometry"]})
        return {"type": "FeatureCollection", "features": features}

    def unit_layer(
        self,
        units: gpd.GeoDataFrame,
        positions: np.ndarray,
        unit_summary: pd.DataFrame,
        lang: str,
        unit_url: str | None,
        focus_code: str | None = None,
    ) -> dict[str, Any]:
        """:func:`unit_features` of rows ``positions`` of ``units`` (the same table on every page)."""
        linked = self._once(
            ("units", id(units), lang, unit_url),
            lambda: (units, _by_row(unit_features(units, unit_summary, lang, unit_url))),
        )
        plain = self._once(
            ("units", id(units), lang, None), lambda: (units, _by_row(unit_features(units, unit_summary, lang, None)))
        )
        if linked[0] is not units or plain[0] is not units:  # another table under a reused id
            chosen = units.iloc[positions].reset_index(drop=True)
            return unit_features(chosen, unit_summary, lang, unit_url, focus_code=focus_code)
        codes = units["unit_code"].astype(str).to_numpy()
        features = []
        for number, position in enumerate(positions):  # the page's units (a few)
            found = (plain[1] if codes[position] == focus_code else linked[1]).get(int(position))
            if found is not None:
                features.append(
                    {
                        "type": "Feature",
                        "id": str(number),
                        "properties": found["properties"],
                        "geometry": found["geometry"],
                    }
                )
        return {"type": "FeatureCollection", "features": features}

    def unit_summary(self, whole: gpd.GeoDataFrame, view_operator: str, results: RunResults) -> pd.DataFrame:
        """:func:`lomsong.reference.units.summarise_units` of the view, once for every page."""

        def build() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
            all_gaps = _select(results.gaps, view_operator)
            summary = self.summary
            unit_summary = summarise_units(summary, unit_mapping(whole), all_gaps) if len(summary) else pd.DataFrame()
            return whole, (pd.DataFrame(columns=["unit_code"]) if unit_summary.empty else unit_summary)

        kept = self._once(("unit_summary", id(whole), view_operator), build)
        return kept[1] if kept[0] is whole else build()[1]

    def layer(self, key: tuple, build: Callable[[], dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """The features by row of a feature function on a whole prepared table, made once per ``key``."""
        return self._once(("layer", *key), lambda: _by_row(build()))

    def near(self, area: Any) -> tuple[pd.DataFrame, np.ndarray, gpd.GeoDataFrame | None]:
        """The view's gaps and villages that intersect ``area`` and the positions of its cells that do.

        Rows keep their table order; the cell positions go to :meth:`view_cells`.
        """

        def rows(name: str) -> np.ndarray:
            return np.sort(self._trees[name].query(area, predicate="intersects"))

        villages = None if self.villages is None else self.villages.iloc[rows("villages")]
        return self.gaps.iloc[rows("gaps")], rows("cells"), villages

    def cell_layer(self, operator: str, rows: np.ndarray | None, lang: str) -> dict[str, Any] | None:
        """:func:`cell_class_features` of :meth:`view_cells` (None without cells), from arrays."""
        rows = np.arange(len(self.cells)) if rows is None else rows
        chosen = rows[self._cell_operators[rows] == operator]
        if len(chosen) == 0:
            return None
        return _cell_class_collection(self._cell_states[chosen], self._cell_shapes[chosen], self.cells.crs, lang)

    def commune_search(self, communes: gpd.GeoDataFrame) -> list[list[Any]]:
        """The search entries of these communes (rows of the prepared table), made once."""
        whole = self._once(("commune_search",), lambda: commune_search_entries(self.communes))
        positions = self.communes.index.get_indexer(communes.index)
        if (positions < 0).any():  # not rows of the prepared table
            return commune_search_entries(communes)
        return [whole[position] for position in positions]

    def unit_search(self, units: gpd.GeoDataFrame, rows: np.ndarray, lang: str) -> list[list[Any]]:
        """The search entries of the units at ``rows`` of ``units`` (the same table on every page)."""
        kept = self._once(("unit_search", id(units), lang), lambda: (units, unit_search_entries(units, lang)))
        whole = kept[1] if kept[0] is units else unit_search_entries(units, lang)
        return [whole[int(row)] for row in rows]

    def village_search(self, rows: np.ndarray) -> list[list[Any]]:
        """:func:`village_search_entries` of the villages at ``rows`` (their entries made once)."""
        if self.villages is None:
            return []
        whole = self._once(("village_search",), lambda: village_search_entries(self.villages))
        return [[f"v{number}", *whole[int(row)][1:]] for number, row in enumerate(rows)]

    def view_cells(self, operator: str, rows: np.ndarray | None = None) -> pd.DataFrame:
        """The ``any``-technology cells of one operator's view, of all or of these positions only."""
        rows = np.arange(len(self.cells)) if rows is None else rows
        return self.cells.iloc[rows[self._cell_operators[rows] == operator]]

    def commune_geometry(self, communes: gpd.GeoDataFrame) -> np.ndarray:
        """The simplified outlines of these communes (rows of the prepared table)."""
        return self._geometry.loc[communes.index].to_numpy(object)

    def district_features(self, communes: gpd.GeoDataFrame) -> dict[str, Any]:
        """The borders of the districts these communes lie in (whole districts, simplified once)."""
        whole = self._once(
            ("districts",),
            lambda: _by_row(
                _feature_collection(self._districts, self._districts["geometry"].to_numpy(object), ["district"])
            ),
        )
        shown = np.flatnonzero(self._districts["district_code"].isin(communes["district_code"]).to_numpy(bool))
        return _subset_collection(whole, shown)


def _has_units(communes: gpd.GeoDataFrame) -> bool:
    return "unit_2025" in communes and not communes["unit_2025"].isna().all()


def _units_of(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """The 2025 units dissolved from ``communes``, or None when the table has no ``unit_2025``."""
    return dissolve_units(communes) if _has_units(communes) else None


def unit_label(unit: str) -> str:
    """A 2025 unit's map label: ``Xã Quảng Sơn`` → ``Quảng Sơn``, ``Phường Nam Gia Nghĩa`` → ``P. Nam Gia Nghĩa``."""
    for prefix, short in (("Xã ", ""), ("Phường ", "P. ")):
        if unit.startswith(prefix):
            return short + unit[len(prefix) :]
    return unit


def short_name(commune: str, commune_type: str | None) -> str:
    """Return a commune's name without its type (``Xã Đắk Wil`` → ``Đắk Wil``), for labels."""
    commune, prefix = str(commune), f"{commune_type} " if isinstance(commune_type, str) else ""
    return commune[len(prefix) :] if prefix and commune.startswith(prefix) else commune


def _bounds_of(geometry: Any) -> list[list[float]]:
    west, south, east, north = geometry.bounds
    return [[round(south, 5), round(west, 5)], [round(north, 5), round(east, 5)]]


def province_map(
    results: RunResults,
    communes: gpd.GeoDataFrame | None = None,
    lang: str = "vi",
    view_operator: str = ALL_OPERATORS,
    commune_url: str | None = "communes/{code}.html",
    unit_url: str | None = "units/{code}.html",
    *,
    units: gpd.GeoDataFrame | None = None,
    prepared: PreparedLayers | None = None,
) -> folium.Map:
    """Build the province map of a run.

    Parameters
    ----------
    results : RunResults
        A finished run (:func:`lomsong.tables.results.load_run`).
    communes : geopandas.GeoDataFrame, optional
        Canonical commune table; default the bundled communes.
    lang : {"vi", "en"}
        Language of every word on the map.
    view_operator : str
        View whose gaps and commune shares are drawn: ``all`` or an operator id.
    commune_url : str, optional
        Link from a commune's popup to its own map (``{code}`` replaced); None for no link.
    unit_url : str, optional
        Link from a 2025 unit's popup to its own map (``{code}`` replaced); None for no link.
    units : geopandas.GeoDataFrame, optional
        :func:`lomsong.reference.units.dissolve_units` of ``communes``, when already made (pages in a row).
    prepared : PreparedLayers, optional
        The layers shared by the run's pages, when several pages are built (same communes and view).

    Returns
    -------
    folium.Map
        Render it with :func:`render_html` (never with folium's own ``save``, which links CDNs).
    """
    check_language(lang)
    _check_view(results, view_operator)
    communes = _communes_or_default(communes)
    m = _base_map(lang, _bounds(communes))
    with_units = _has_units(communes)
    _add_layers(
        m,
        results,
        communes,
        lang,
        view_operator,
        commune_url,
        unit_url=unit_url if with_units else None,
        dissolved=units,
        prepared=prepared,
    )
    title = text(lang, "title_2025" if with_units else "title")
    m.add_child(
        _Furniture(
            _title_html(results, lang, view_operator, title, prepared=prepared)
            + _legend_html(
                lang,
                _has_villages(results),
                _has_challenges(results),
                with_units,
                tiers=has_cv1603(results.villages),
                with_predicted=_has_predicted(results),
                with_plan=_has_plan(results),
            )
        )
    )
    m.get_root().title = title
    return m


def commune_map(
    results: RunResults,
    communes: gpd.GeoDataFrame | None,
    commune_code: str,
    lang: str = "vi",
    view_operator: str = ALL_OPERATORS,
    province_url: str | None = "../index.html",
    commune_url: str | None = "{code}.html",
    unit_url: str | None = "../units/{code}.html",
    *,
    units: gpd.GeoDataFrame | None = None,
    prepared: PreparedLayers | None = None,
) -> folium.Map:
    """Build the map of one commune, zoomed to it, with its neighbours for context.

    Parameters
    ----------
    results : RunResults
        A finished run.
    communes : geopandas.GeoDataFrame or None
        Canonical commune table; None for the bundled communes.
    commune_code : str
        GSO code of the commune.
    lang : {"vi", "en"}
        Language.
    view_operator : str
        ``all`` or an operator id.
    province_url : str, optional
        Link back to the province map; None for no link.
    commune_url : str, optional
        Link from a neighbour's popup to its own map.
    unit_url : str, optional
        Link to the 2025 unit pages (``{code}`` replaced); None for no link.
    units : geopandas.GeoDataFrame, optional
        :func:`lomsong.reference.units.dissolve_units` of ``communes``, when already made.
    prepared : PreparedLayers, optional
        The layers shared by the run's pages (built from the same ``communes`` and view).

    Returns
    -------
    folium.Map
    """
    check_language(lang)
    _check_view(results, view_operator)
    communes = _communes_or_default(communes)
    match = communes[(communes["commune_code"] == str(commune_code)).to_numpy(bool)]
    if match.empty:
        raise KeyError(f"commune_code {commune_code!r} is not in the commune table")
    row = match.iloc[0]
    area = gpd.GeoSeries([row.geometry], crs=communes.crs).to_crs(METRIC_CRS).buffer(3000).to_crs(communes.crs).iloc[0]
    nearby = communes[communes.intersects(area).to_numpy(bool)]
    m = _base_map(lang, _bounds(match))
    prepared = prepared or PreparedLayers(results, communes, view_operator)
    with_units = _has_units(communes)
    unit_url = unit_url if with_units else None
    _add_layers(
        m,
        results,
        nearby,
        lang,
        view_operator,
        commune_url,
        focus_code=str(commune_code),
        area=area,
        unit_url=unit_url,
        all_communes=communes,
        dissolved=units,
        prepared=prepared,
    )
    back = f"<br><a href='{html.escape(province_url)}'>{text(lang, 'back_to_province')}</a>" if province_url else ""
    if with_units and isinstance(row.get("unit_2025"), str):
        unit_code, unit = parse_unit(row["unit_2025"])
        unit_text = html.escape(unit)
        if unit_url:
            unit_text = f"<a href='{html.escape(unit_url.format(code=unit_code))}'>{unit_text}</a>"
        back = f"<br>{text(lang, 'unit')}: <b>{unit_text}</b>" + back
    heading = text(lang, "commune_title", commune=row["commune"], district=row["district"])
    m.add_child(
        _Furniture(
            _title_html(results, lang, view_operator, heading, back, commune_code=str(commune_code), prepared=prepared)
            + _legend_html(
                lang,
                _has_villages(results),
                _has_challenges(results),
                with_units,
                tiers=has_cv1603(results.villages),
                with_predicted=_has_predicted(results),
                with_plan=_has_plan(results),
            )
        )
    )
    m.get_root().title = heading
    return m


def unit_map(
    results: RunResults,
    communes: gpd.GeoDataFrame | None,
    unit_code: str,
    lang: str = "vi",
    view_operator: str = ALL_OPERATORS,
    province_url: str | None = "../index.html",
    unit_url: str | None = "{code}.html",
    commune_url: str | None = "../communes/{code}.html",
    *,
    units: gpd.GeoDataFrame | None = None,
    prepared: PreparedLayers | None = None,
) -> folium.Map:
    """Build the map of one 2025 unit, zoomed to it, its old communes outlined, neighbours for context.

    Parameters
    ----------
    results : RunResults
        A finished run.
    communes : geopandas.GeoDataFrame or None
        Canonical commune table with ``unit_2025``; None for the bundled communes.
    unit_code : str
        Code of the 2025 unit (e.g. ``24615``).
    lang : {"vi", "en"}
        Language.
    view_operator : str
        ``all`` or an operator id.
    province_url : str, optional
        Link back to the province map; None for no link.
    unit_url, commune_url : str, optional
        Links from a neighbouring unit's and from an old commune's popup to their maps.
    units : geopandas.GeoDataFrame, optional
        :func:`lomsong.reference.units.dissolve_units` of ``communes``, when already made.
    prepared : PreparedLayers, optional
        The layers shared by the run's pages (built from the same ``communes`` and view).

    Returns
    -------
    folium.Map

    Raises
    ------
    KeyError
        When no unit has that code.
    """
    check_language(lang)
    _check_view(results, view_operator)
    communes = _communes_or_default(communes)
    units = units if units is not None else _units_of(communes)
    match = units[units["unit_code"] == str(unit_code)] if units is not None else None
    if match is None or match.empty:
        raise KeyError(f"unit_code {unit_code!r} is not a 2025 unit of the commune table")
    row = match.iloc[0]
    old_codes = str(row["old_commune_codes"]).split(";")
    area = gpd.GeoSeries([row.geometry], crs=communes.crs).to_crs(METRIC_CRS).buffer(3000).to_crs(communes.crs).iloc[0]
    nearby = communes[communes.intersects(area).to_numpy(bool)]
    m = _base_map(lang, _bounds(match))
    prepared = prepared or PreparedLayers(results, communes, view_operator)
    _add_layers(
        m,
        results,
        nearby,
        lang,
        view_operator,
        commune_url,
        area=area,
        focus_codes=old_codes,
        unit_url=unit_url,
        focus_unit=str(unit_code),
        all_communes=communes,
        dissolved=units,
        prepared=prepared,
    )
    back = f"<br><a href='{html.escape(province_url)}'>{text(lang, 'back_to_province')}</a>" if province_url else ""
    old_names = ", ".join(str(row["old_communes"]).split(";"))
    note = f"<br><small>{html.escape(text(lang, 'old_communes'))}: {html.escape(old_names)}</small>"
    heading = text(lang, "unit_title", unit=row["unit"])
    m.add_child(
        _Furniture(
            _title_html(results, lang, view_operator, heading, note + back, unit_communes=old_codes, prepared=prepared)
            + _legend_html(
                lang,
                _has_villages(results),
                _has_challenges(results),
                True,
                with_predicted=_has_predicted(results),
                with_plan=_has_plan(results),
            )
        )
    )
    m.get_root().title = html.escape(heading)  # branca writes the title unescaped
    return m


def _has_challenges(results: RunResults) -> bool:
    return results.challenges is not None and len(results.challenges) > 0


def _has_villages(results: RunResults) -> bool:
    return results.villages is not None and len(results.villages) > 0


def _communes_or_default(communes: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    if communes is not None:
        return communes
    from lomsong.reference.boundaries import read_communes

    return read_communes()


# ---------------------------------------------------------------------------------------------
# Rendering without CDNs
# ---------------------------------------------------------------------------------------------


def _use_vendored_assets(m: folium.Map) -> None:
    """Point every JS/CSS resource of the map's elements at the vendored copies (or drop it)."""
    stack: list[Element] = [m.get_root()]
    while stack:
        element = stack.pop()
        stack.extend(element._children.values())
        for attribute in ("default_js", "default_css"):
            resources = getattr(element, attribute, None)
            if not resources:
                continue
            replaced = []
            for name, url in resources:
                if url.startswith(_mapassets.ASSET_SCHEME):
                    replaced.append((name, url))
                    continue
                if name not in _mapassets.FOLIUM_RESOURCES:
                    raise _mapassets.AssetError(
                        f"{type(element).__name__} needs {name} ({url}), which is not vendored; "
                        "add it to lomsong.products.maps.assets"
                    )
                key = _mapassets.FOLIUM_RESOURCES[name]
                if key is not None:
                    replaced.append((name, _mapassets.placeholder(key)))
            setattr(element, attribute, replaced)


def render_html(m: folium.Map, asset_mode: str = "inline", asset_base_url: str | None = None) -> str:
    """Render a map to a complete HTML page whose code never comes from a CDN.

    Parameters
    ----------
    m : folium.Map
        A map from :func:`province_map` or :func:`commune_map` (any folium map whose plugins are
        vendored works).
    asset_mode : {"inline", "url"}
        ``inline`` embeds Leaflet and the plugins (a file that works offline and can be e-mailed);
        ``url`` links them under ``asset_base_url``, where the caller serves
        :func:`lomsong.products.maps.assets.asset_root` (the API).
    asset_base_url : str, optional
        Base URL of the served assets (``url`` mode).

    Returns
    -------
    str
        The page.
    """
    if asset_mode == "inline":
        _mapassets.ensure_assets()
    _use_vendored_assets(m)
    with _RENDERING, _rendered_text_kept():
        page = m.get_root().render()
    return _mapassets.resolve_links(page, asset_mode, asset_base_url)


class _RenderedText(Element):
    """Markup a MacroElement has rendered, kept as text.

    branca wraps every rendered header, body and script in ``Element(markup)``, which compiles the
    markup as a Jinja template and renders it a second time: the page's GeoJSON compiled again
    (a fifth of the maps' time) and a ``{{ … }}`` in a village or commune name evaluated. The text
    is what that second rendering gives for markup without Jinja syntax: line ends as ``\\n``,
    one final line end dropped.
    """

    def __init__(self, template: str | None = None, template_name: str | None = None) -> None:
        super().__init__(None, template_name)
        self._text = template

    def render(self, **kwargs: Any) -> str:
        if self._text is None:
            return super().render(**kwargs)
        text_out = self._text.replace("\r\n", "\n").replace("\r", "\n")
        return text_out[:-1] if text_out.endswith("\n") else text_out


#: One page renders at a time: :func:`_rendered_text_kept` swaps a name in branca's module.
_RENDERING = threading.Lock()


@contextlib.contextmanager
def _rendered_text_kept() -> Iterator[None]:
    """While rendering, MacroElements wrap their markup in :class:`_RenderedText` (not a template)."""
    original = branca.element.Element
    branca.element.Element = _RenderedText
    try:
        yield
    finally:
        branca.element.Element = original


def build_maps(
    results: RunResults,
    out_dir: str | Path,
    communes: gpd.GeoDataFrame | None = None,
    lang: str = "vi",
    view_operator: str = ALL_OPERATORS,
    asset_mode: str = "shared",
    asset_base_url: str | None = None,
    commune_codes: list[str] | None = None,
    on_page: Any = None,
    unit_codes: list[str] | None = None,
) -> list[Path]:
    """Write ``out_dir/index.html``, ``out_dir/communes/<commune_code>.html`` and, with the 2025
    units in the commune table, ``out_dir/units/<unit_code>.html``.

    Parameters
    ----------
    results : RunResults
        A finished run.
    out_dir : str or Path
        Folder to write (usually the run folder).
    communes : geopandas.GeoDataFrame, optional
        Canonical commune table; default the bundled communes.
    lang : {"vi", "en"}
        Language.
    view_operator : str
        ``all`` or an operator id.
    asset_mode : {"shared", "inline", "url"}
        ``shared`` (default): Leaflet and the plugins in one script and one stylesheet under
        ``out_dir/assets/`` that every page links (light pages for a folder people open as a
        whole); ``inline``: every page self-contained (to send one page by Zalo or e-mail);
        ``url``: see :func:`render_html`.
    asset_base_url : str, optional
        See :func:`render_html` (``url`` mode).
    commune_codes : list of str, optional
        Only these commune pages (default: every commune).
    on_page : callable, optional
        Called with each written path (progress display).
    unit_codes : list of str, optional
        Only these unit pages (default: every 2025 unit; none when the table has no units).

    Returns
    -------
    list of Path
        The pages written, province first, then the communes, then the units.
    """
    check_language(lang)
    _check_view(results, view_operator)
    communes = _communes_or_default(communes)
    if asset_mode == "inline":
        _mapassets.ensure_assets()
    out_dir = Path(out_dir)
    (out_dir / "communes").mkdir(parents=True, exist_ok=True)
    index_assets = commune_assets = asset_base_url
    if asset_mode == "shared":
        _mapassets.write_shared_assets(out_dir / SHARED_ASSETS_FOLDER)
        index_assets, commune_assets = SHARED_ASSETS_FOLDER, f"../{SHARED_ASSETS_FOLDER}"
    written = []
    prepared = PreparedLayers(results, communes, view_operator)  # once for every page
    units = _units_of(communes)  # dissolved once for every page
    index = out_dir / "index.html"
    index.write_text(
        render_html(
            province_map(results, communes, lang, view_operator, units=units, prepared=prepared),
            asset_mode,
            index_assets,
        ),
        encoding="utf-8",
    )
    written.append(index)
    if on_page:
        on_page(index)
    codes = commune_codes if commune_codes is not None else communes["commune_code"].astype(str).tolist()
    for code in codes:  # one page per commune
        page = out_dir / "communes" / f"{code}.html"
        page.write_text(
            render_html(
                commune_map(results, communes, code, lang, view_operator, units=units, prepared=prepared),
                asset_mode,
                commune_assets,
            ),
            encoding="utf-8",
        )
        written.append(page)
        if on_page:
            on_page(page)
    if units is not None:
        (out_dir / "units").mkdir(parents=True, exist_ok=True)
        for code in unit_codes if unit_codes is not None else units["unit_code"].astype(str).tolist():
            page = out_dir / "units" / f"{code}.html"
            page.write_text(
                render_html(
                    unit_map(results, communes, code, lang, view_operator, units=units, prepared=prepared),
                    asset_mode,
                    commune_assets,
                ),
                encoding="utf-8",
            )
            written.append(page)
            if on_page:
                on_page(page)
    return written
