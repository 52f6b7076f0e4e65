"""The maps' data, pure: every layer of a run as GeoJSON features with their popups, labels and search entries."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyproj
import shapely

from lomsong._text import fold, fold_series
from lomsong.operators import OPERATOR_IDS, display_name
from lomsong.products.maps.jsontext import (
    Collection,
    FeatureTexts,
    GeometryText,
    dumps_sorted,
    feature_text,
    shapes_text,
)
from lomsong.products.maps.style import (
    COORDINATE_DECIMALS,
    CV1603_COLOURS,
    INSUFFICIENT_CLASS,
    INSUFFICIENT_CLASS_COLOUR,
    INSUFFICIENT_CLASS_SHARE,
    NO_PEOPLE_COLOUR,
    PAGE_MARGIN_METRES,
    SHARE_BREAKS,
    SHARE_COLOURS,
    SIMPLIFY_METRES,
    STATE_COLOURS,
    VILLAGE_COLOURS,
)
from lomsong.products.words import format_date, format_number, format_share, header, text
from lomsong.reference.boundaries import METRIC_CRS, districts
from lomsong.reference.units import (
    MAPPED_WHOLE_NOTE,
    dissolve_units,
    summarise_units,
    unit_lookup,
    unit_mapping,
)
from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY, RunResults


def available_views(results: RunResults) -> list[str]:
    """Return the view operators present in the run, ``all`` first then the operators in order."""
    # unique() first: iterating an arrow string column of every cell × view is slow.
    present = {
        str(op) for frame in (results.gaps, results.communes, results.cells) for op in frame["operator"].unique()
    }
    ordered = [ALL_OPERATORS] + [op for op in OPERATOR_IDS if op in present]
    return [op for op in ordered if op in present] + sorted(present - set(ordered))


def _check_view(results: RunResults, view_operator: str, views: list[str] | None = None) -> None:
    """Raise when the run has no view ``view_operator`` (``views``: :func:`available_views`, when known)."""
    views = available_views(results) if views is None else views
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
    # written with the geometries' text made by orjson (the cells' outlines are large)
    return Collection(features)


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
    When ``by_row`` is a :class:`~lomsong.products.maps.jsontext.FeatureTexts`, the collection
    carries its text, made from the rows' texts (a page's own properties dumped).
    """
    texts = by_row if isinstance(by_row, FeatureTexts) else None
    features, feature_texts = [], []
    for number, position in enumerate(positions):
        row = int(position)
        found = by_row.get(row)
        if found is None:  # an empty geometry: the function left the row out
            continue
        values = found["properties"] if properties is None else properties(number, found["properties"])
        features.append({"type": "Feature", "id": str(number), "properties": values, "geometry": found["geometry"]})
        if texts is not None:
            own = texts.properties_text[row] if properties is None else dumps_sorted(values)
            feature_texts.append(feature_text(texts.geometry_text[row], number, own))
    if texts is None:
        return {"type": "FeatureCollection", "features": features}
    return Collection(features, feature_texts)


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
    *,
    geometry: np.ndarray | None = None,
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
    geometry : numpy.ndarray, optional
        The units' :func:`display_geometry`, when already computed (:class:`PreparedLayers`).

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
    geometry = display_geometry(units.geometry) if geometry is None else geometry
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


def cell_class_features(cells: pd.DataFrame, lang: str) -> dict[str, Any]:
    """Return one view's cells with data merged into one shape per signal class (light to draw).

    Cells without measurements (``no_data``) are left out to keep the page light.
    """
    # arrays, not frame filters: this runs for every view of every page
    states = cells["state"].astype(str).to_numpy()
    return _cell_class_collection(states, np.asarray(cells.geometry.values), cells.crs, lang)


def _cell_class_collection(
    states: np.ndarray,
    shapes_of_cells: np.ndarray,
    crs: Any,
    lang: str,
    *,
    in_degrees: bool | None = None,
    as_text: bool = False,
) -> dict[str, Any]:
    """:func:`cell_class_features` of cells given as their states and shapes.

    ``in_degrees``: whether ``crs`` is exactly EPSG:4326 (:func:`_in_degrees`), when known already;
    ``as_text``: geometries kept as their text (:func:`_text_collection`, for a page's layer).
    """
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
    crs = crs or "EPSG:4326"
    if in_degrees if in_degrees is not None else _in_degrees(crs):
        # what display_geometry does in degrees (to_crs leaves the same CRS as it is), without a GeoSeries
        shapes_array = np.empty(len(shapes), dtype=object)
        shapes_array[:] = shapes
        geometry = shapely.transform(shapes_array, lambda xy: np.round(xy, COORDINATE_DECIMALS))
    else:
        geometry = display_geometry(gpd.GeoSeries(shapes, crs=crs), simplify_metres=0)
    if as_text:
        return _text_collection(rows, geometry)
    return _records_collection(rows, geometry)


def _text_collection(records: list[dict[str, Any]], geometry: np.ndarray) -> Collection:
    """:func:`_records_collection` whose geometries are their text (:class:`GeometryText`), parsed only if read.

    For layers only a page reads (the merged cells of every page and view): their text goes into
    the page as it is, with each feature's text made here.
    """
    features, texts = [], []
    for number, (props, shape) in enumerate(zip(records, shapes_text(geometry), strict=True)):  # a few classes
        if shape is None:
            continue
        # numbered as _records_collection numbers its features: by record, gaps where a shape is missing
        features.append({"type": "Feature", "id": str(number), "properties": props, "geometry": GeometryText(shape)})
        texts.append(feature_text(shape, number, dumps_sorted(props)))
    return Collection(features, texts)


#: The maps' CRS, as geopandas makes it of ``to_crs("EPSG:4326")``.
DEGREES = pyproj.CRS.from_user_input("EPSG:4326")


def _in_degrees(crs: Any) -> bool:
    """Whether geopandas' ``to_crs("EPSG:4326")`` leaves geometries in ``crs`` as they are (the same CRS)."""
    return pyproj.CRS.from_user_input(crs).is_exact_same(DEGREES)


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


@dataclass(frozen=True)
class PageRows:
    """What one commune or unit page draws, as positions in the tables of its :class:`PreparedLayers`.

    Attributes
    ----------
    position : int
        The page's row in its own table (the communes, or the units it was made from).
    area : shapely.Geometry
        Its outline and :data:`~lomsong.products.maps.style.PAGE_MARGIN_METRES` around it.
    bounds : list
        ``[[south, west], [north, east]]`` of its outline, in degrees (the map's first view).
    communes, cells, gaps : numpy.ndarray
        Positions (table order) of the communes, the drawn cells and the view's gaps that touch ``area``.
    villages, units, predicted : numpy.ndarray or None
        The same of the villages, the 2025 units and the predicted gaps (None: the run has none).
    challenges : numpy.ndarray or None
        Whether each over-claimed area touches ``area`` (None: the run has none).
    """

    position: int
    area: Any
    bounds: list[list[float]]
    communes: np.ndarray
    cells: np.ndarray
    gaps: np.ndarray
    villages: np.ndarray | None
    units: np.ndarray | None
    predicted: np.ndarray | None
    challenges: np.ndarray | None


@dataclass(frozen=True)
class PageAreas:
    """The areas of a run's commune or unit pages and what of the outlines lies in them (whatever the run).

    Attributes
    ----------
    codes : list of str
        The pages' codes, in table order (a code's first row makes its page).
    positions : numpy.ndarray
        Each page's row in its table.
    areas : numpy.ndarray
        Each page's outline and :data:`~lomsong.products.maps.style.PAGE_MARGIN_METRES` around it.
    bounds : list
        Each page's ``[[south, west], [north, east]]`` in degrees (all the rows of its code).
    communes : list of numpy.ndarray
        Each page's communes touching its area (positions in the commune table).
    units : list of numpy.ndarray or None
        Each page's 2025 units touching its area (positions in the units table; None without units).
    """

    codes: list[str]
    positions: np.ndarray
    areas: np.ndarray
    bounds: list[list[list[float]]]
    communes: list[np.ndarray]
    units: list[np.ndarray] | None


def _page_areas(
    communes: gpd.GeoDataFrame, shapes: np.ndarray, codes: np.ndarray, units: gpd.GeoDataFrame | None
) -> PageAreas:
    """:class:`PageAreas` of the pages of these outlines (the communes' or the units'), with their codes."""
    crs = communes.crs
    # the area a page draws: its outline and 3 km around it (what the pages did one by one)
    areas = np.asarray(gpd.GeoSeries(shapes, crs=crs).to_crs(METRIC_CRS).buffer(PAGE_MARGIN_METRES).to_crs(crs).values)
    in_degrees = crs is not None and pyproj.CRS.from_user_input(crs).is_exact_same(DEGREES)
    degrees = shapes if in_degrees else np.asarray(gpd.GeoSeries(shapes, crs=crs).to_crs(DEGREES).values)
    corners = pd.DataFrame(shapely.bounds(degrees), columns=["west", "south", "east", "north"]).groupby(
        codes, sort=False
    )
    bounds = corners.agg({"west": "min", "south": "min", "east": "max", "north": "max"})
    first = pd.Series(np.arange(len(codes))).groupby(codes, sort=False).first()
    chosen = first.to_numpy()
    areas = areas[chosen]

    def touching(frame: gpd.GeoDataFrame | None) -> list[np.ndarray] | None:
        # what GeoSeries.intersects did on each page: every row against the page's area
        if frame is None:
            return None
        return list(map(np.flatnonzero, shapely.intersects(np.asarray(frame.geometry.values)[None, :], areas[:, None])))

    return PageAreas(
        codes=[str(code) for code in first.index],
        positions=chosen,
        areas=areas,
        bounds=[
            [[float(south), float(west)], [float(north), float(east)]]
            for west, south, east, north in bounds[["west", "south", "east", "north"]].itertuples(index=False)
        ],
        communes=touching(communes),
        units=touching(units),
    )


class CommuneOutlines:
    """What the pages draw of a commune table alone, whatever the run: made once, before a run exists.

    The communes' outlines simplified for display, the old districts' borders, the 2025 units
    dissolved and every page's area (:class:`PageAreas`). The maps' process of ``lomsong run``
    makes them while the run is analysed (:meth:`prepare_all`), so that the pages wait only for
    what depends on the run.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    """

    def __init__(self, communes: gpd.GeoDataFrame) -> None:
        self.communes = communes
        self.geometry = pd.Series(list(display_geometry(communes.geometry)), index=communes.index, dtype=object)
        whole = districts(communes)
        self.districts = whole[["district_code", "district"]].assign(
            geometry=list(display_geometry(whole.geometry.boundary))
        )
        self._memo: dict[tuple, Any] = {}

    def units(self) -> gpd.GeoDataFrame | None:
        """The 2025 units dissolved from the communes (None when the table has no ``unit_2025``), made once."""
        if "units" not in self._memo:
            self._memo["units"] = _units_of(self.communes)
        return self._memo["units"]

    def page_areas(self, kind: str, units: gpd.GeoDataFrame | None) -> PageAreas:
        """The :class:`PageAreas` of the ``communes`` or the ``units`` pages, with ``units`` drawn on them."""
        key = (kind, id(units))
        kept = self._memo.get(key)
        if kept is None or kept[0] is not units:  # made for another table under a reused id
            if kind == "communes":
                shapes, codes = self.communes.geometry.to_numpy(object), self.communes["commune_code"].astype(str)
            else:
                shapes, codes = units.geometry.to_numpy(object), units["unit_code"].astype(str)
            kept = self._memo[key] = (units, _page_areas(self.communes, shapes, codes.to_numpy(), units))
        return kept[1]

    def unit_geometry(self, units: gpd.GeoDataFrame) -> np.ndarray:
        """:func:`display_geometry` of a units table's outlines, made once per table."""
        key = ("unit_geometry", id(units))
        kept = self._memo.get(key)
        if kept is None or kept[0] is not units:  # made for another table under a reused id
            kept = self._memo[key] = (units, display_geometry(units.geometry))
        return kept[1]

    def prepare_all(self) -> CommuneOutlines:
        """Make now what the run's pages will ask: the units, their outlines, every commune and unit page's area."""
        units = self.units()
        self.page_areas("communes", units)
        if units is not None:
            self.unit_geometry(units)
            self.page_areas("units", units)
        return self


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
    outlines : CommuneOutlines, optional
        What the pages draw of ``communes`` alone, when made already (used only when made of
        this very table).
    """

    def __init__(
        self,
        results: RunResults,
        communes: gpd.GeoDataFrame,
        view_operator: str,
        *,
        outlines: CommuneOutlines | None = None,
    ) -> None:
        self.communes = communes
        # what depends on the communes alone: made already when given (the maps' process does)
        self.outlines = (
            outlines if outlines is not None and outlines.communes is communes else CommuneOutlines(communes)
        )
        self.summary = _select(results.communes, view_operator)
        self.gaps = _select(results.gaps, view_operator)
        self.cells = results.cells[(results.cells["technology"].astype(str) == ANY_TECHNOLOGY).to_numpy(bool)]
        self._cell_operators = self.cells["operator"].astype(str).to_numpy()
        self._cell_states = self.cells["state"].astype(str).to_numpy()
        self._cell_shapes = np.asarray(self.cells.geometry.values)
        self._cells_crs = self.cells.crs  # a GeoDataFrame finds its geometry column on each .crs
        self._cells_in_degrees = _in_degrees(self._cells_crs or "EPSG:4326")
        # the heat map's points of every cell, cut for each page (heat_points of the page's cells)
        self._cell_measured = (pd.to_numeric(self.cells["n_samples"], errors="coerce").fillna(0) > 0).to_numpy(bool)
        self._cell_heat = np.full((len(self.cells), 3), np.nan)
        if self._cell_measured.any():
            centres = shapely.centroid(self._cell_shapes[self._cell_measured])
            self._cell_heat[self._cell_measured] = np.column_stack(
                [
                    np.round(shapely.get_y(centres), 4),
                    np.round(shapely.get_x(centres), 4),
                    pd.to_numeric(self.cells["n_samples"], errors="coerce").to_numpy(float)[self._cell_measured],
                ]
            )
        self.views = available_views(results)
        self.period = data_period(results)  # the title block's, the same on every page
        self.villages = results.villages
        self.predicted = _predicted_gaps(results, view_operator)
        # what the title blocks count: the communes each gap touches, the view's figures per commune
        self.gap_commune_codes = self.gaps["commune_codes"].astype(str).str.split(";").tolist()
        self._summary_codes = self.summary["commune_code"].astype(str).to_numpy()
        # arrays, not Series: a page sums a few of them (a Series' boolean cut costs it a millisecond)
        self._summary_figures = {
            "people_in_gaps": pd.to_numeric(self.summary["people_in_gaps"], errors="coerce").to_numpy(float),
            "population": pd.to_numeric(self.summary["population"], errors="coerce").fillna(0.0).to_numpy(float),
            "share_people_covered": pd.to_numeric(self.summary["share_people_covered"], errors="coerce")
            .fillna(0.0)
            .to_numpy(float),
            "share_people_no_data": pd.to_numeric(self.summary["share_people_no_data"], errors="coerce")
            .fillna(0.0)
            .to_numpy(float),
        }
        # the cells a page draws: with a signal class or with measurements (the heat map); the
        # others (most of a province's cells, no data) are in no page's layers
        self._cell_drawn = np.flatnonzero(np.isin(self._cell_states, list(STATE_COLOURS)) | self._cell_measured)
        self._tree_rows = {"cells": self._cell_drawn}
        self._trees = {
            name: shapely.STRtree(np.asarray(frame.geometry.values)[self._tree_rows.get(name, slice(None))])
            for name, frame in [("gaps", self.gaps), ("cells", self.cells), ("villages", self.villages)]
            if frame is not None
        }
        self.challenges = results.challenges
        self._commune_codes = communes["commune_code"].astype(str).to_numpy()
        self._district_codes = communes["district_code"].to_numpy(object) if "district_code" in communes else None
        self._geometry = self.outlines.geometry
        self._districts = self.outlines.districts
        # layers of the whole tables, made at their first use and cut out for every page after
        self._memo: dict[tuple, Any] = {}

    def _once(self, key: tuple, build: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def positions(self, name: str, area: Any) -> np.ndarray:
        """Positions (table order) of the view's ``gaps``, ``cells`` or ``villages`` that intersect ``area``.

        Of the cells, those a page draws only (a signal class or measurements).
        """
        found = self._trees[name].query(area, predicate="intersects")
        rows = self._tree_rows.get(name)
        return np.sort(found if rows is None else rows[found])

    def _positions_of(self, communes: gpd.GeoDataFrame | np.ndarray) -> np.ndarray:
        """Positions in the prepared table of these communes (-1 where a row is not one of it)."""
        if isinstance(communes, np.ndarray):
            return communes
        return self.communes.index.get_indexer(communes.index)

    def commune_page(self, commune_code: str, units: gpd.GeoDataFrame | None) -> PageRows | None:
        """What the page of a commune of the prepared table draws (None when no row has that code).

        Found for every commune at once, at the first page: one query of all the pages' areas
        per table instead of one per page.
        """
        return self._pages("communes", units).get(str(commune_code))

    def unit_page(self, unit_code: str, units: gpd.GeoDataFrame) -> PageRows | None:
        """What the page of a 2025 unit of ``units`` draws (None: no unit has that code); see :meth:`commune_page`."""
        return self._pages("units", units).get(str(unit_code))

    def _pages(self, kind: str, units: gpd.GeoDataFrame | None) -> dict[str, PageRows]:
        """:class:`PageRows` of every ``communes`` or ``units`` page, by code, made once per units table."""
        kept = self._memo.get(("pages", kind, id(units)))
        if kept is not None and kept[0] is units:
            return kept[1]
        found = self.outlines.page_areas(kind, units)
        areas = found.areas

        def near(name: str) -> list[np.ndarray] | None:
            if name not in self._trees:
                return None
            page, rows = self._trees[name].query(areas, predicate="intersects")
            table_rows = self._tree_rows.get(name)
            rows = rows if table_rows is None else table_rows[rows]
            order = np.lexsort((rows, page))
            page, rows = page[order], rows[order]
            edges = np.searchsorted(page, np.arange(len(areas) + 1))
            return [rows[edges[i] : edges[i + 1]] for i in range(len(areas))]  # one per page

        def touching(frame: gpd.GeoDataFrame | None) -> np.ndarray | None:
            # what GeoSeries.intersects did on each page: every row against the page's area
            if frame is None:
                return None
            return shapely.intersects(np.asarray(frame.geometry.values)[None, :], areas[:, None])

        cells, gaps, villages = near("cells"), near("gaps"), near("villages")
        predicted = touching(self.predicted)
        challenges = touching(self.challenges) if self.challenges is not None and len(self.challenges) else None
        pages = {}
        for number, code in enumerate(found.codes):  # one per page (about a hundred)
            pages[code] = PageRows(
                position=int(found.positions[number]),
                area=areas[number],
                bounds=found.bounds[number],
                communes=found.communes[number],
                cells=cells[number] if cells is not None else np.zeros(0, int),
                gaps=gaps[number] if gaps is not None else np.zeros(0, int),
                villages=villages[number] if villages is not None else None,
                units=found.units[number] if found.units is not None else None,
                predicted=np.flatnonzero(predicted[number]) if predicted is not None else None,
                challenges=challenges[number] if challenges is not None else None,
            )
        self._memo[("pages", kind, id(units))] = (units, pages)
        return pages

    def commune_layer(
        self,
        communes: gpd.GeoDataFrame | np.ndarray,
        lang: str,
        commune_url: str | None,
        focus_code: str | None = None,
        focus_codes: list[str] | None = None,
        unit_url: str | None = None,
    ) -> dict[str, Any]:
        """:func:`commune_features` of these communes (prepared rows or their positions), popups made once."""
        positions = self._positions_of(communes)
        if (positions < 0).any():  # not rows of the prepared table
            return commune_features(communes, self.summary, lang, commune_url, focus_code, focus_codes, unit_url)
        geometry = self._geometry.to_numpy(object)

        def whole(url: str | None) -> FeatureTexts:
            return FeatureTexts(
                _by_row(commune_features(self.communes, self.summary, lang, url, unit_url=unit_url, geometry=geometry))
            )

        linked = self._once(("communes", lang, commune_url, unit_url), lambda: whole(commune_url))
        # a commune page's own commune has no link to itself (made only where a page has its commune)
        plain = self._once(("communes", lang, None, unit_url), lambda: whole(None)) if focus_code else linked
        codes = self._commune_codes
        focus = {focus_code} if focus_code else set(focus_codes or [])
        features, texts = [], []
        for number, position in enumerate(positions):  # the page's communes (tens)
            code = codes[position]
            whole_layer = plain if code == focus_code else linked
            found = whole_layer.get(int(position))
            if found is None:
                continue
            values = {**found["properties"], "focus": code in focus}
            features.append({"type": "Feature", "id": str(number), "properties": values, "geometry": found["geometry"]})
            # made with no focus: only the page's focused communes have other properties
            own = (
                whole_layer.properties_text[int(position)]
                if values["focus"] == found["properties"]["focus"]
                else dumps_sorted(values)
            )
            texts.append(feature_text(whole_layer.geometry_text[int(position)], number, own))
        return Collection(features, texts)

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

        def whole(url: str | None) -> tuple[gpd.GeoDataFrame, FeatureTexts]:
            outlines = self.outlines.unit_geometry(units)  # simplified once, before the run in the maps' process
            return units, FeatureTexts(_by_row(unit_features(units, unit_summary, lang, url, geometry=outlines)))

        linked = self._once(("units", id(units), lang, unit_url), lambda: whole(unit_url))
        # a unit page's own unit has no link to itself (made only where a page has its unit)
        plain = self._once(("units", id(units), lang, None), lambda: whole(None)) if focus_code else linked
        if linked[0] is not units or plain[0] is not units:  # another table under a reused id
            chosen = units.iloc[positions].reset_index(drop=True)
            return unit_features(chosen, unit_summary, lang, unit_url, focus_code=focus_code)
        codes = units["unit_code"].astype(str).to_numpy()
        features, texts = [], []
        for number, position in enumerate(positions):  # the page's units (a few)
            whole_layer = plain[1] if codes[position] == focus_code else linked[1]
            found = whole_layer.get(int(position))
            if found is not None:
                features.append(
                    {
                        "type": "Feature",
                        "id": str(number),
                        "properties": found["properties"],
                        "geometry": found["geometry"],
                    }
                )
                texts.append(
                    feature_text(
                        whole_layer.geometry_text[int(position)], number, whole_layer.properties_text[int(position)]
                    )
                )
        return Collection(features, texts)

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
        return self._once(("layer", *key), lambda: FeatureTexts(_by_row(build())))

    def near(self, area: Any) -> tuple[pd.DataFrame, np.ndarray, gpd.GeoDataFrame | None]:
        """The view's gaps and villages that intersect ``area`` and the positions of its drawn cells that do.

        Rows keep their table order; the cell positions go to :meth:`view_cells`.
        """
        villages = None if self.villages is None else self.villages.iloc[self.positions("villages", area)]
        return self.gaps.iloc[self.positions("gaps", area)], self.positions("cells", area), villages

    def cell_layer(self, operator: str, rows: np.ndarray | None, lang: str) -> dict[str, Any] | None:
        """:func:`cell_class_features` of :meth:`view_cells` (None without cells), from arrays."""
        rows = np.arange(len(self.cells)) if rows is None else rows
        chosen = rows[self._cell_operators[rows] == operator]
        if len(chosen) == 0:
            return None
        return _cell_class_collection(
            self._cell_states[chosen],
            self._cell_shapes[chosen],
            self._cells_crs,
            lang,
            in_degrees=self._cells_in_degrees,
            as_text=True,
        )

    def heat_points(self, operator: str, rows: np.ndarray | None = None) -> list[list[float]]:
        """:func:`heat_points` of :meth:`view_cells` (``operator``, ``rows``), from arrays made once."""
        rows = np.arange(len(self.cells)) if rows is None else rows
        chosen = rows[self._cell_operators[rows] == operator]
        return self._cell_heat[chosen[self._cell_measured[chosen]]].tolist()

    def commune_labels(self, communes: gpd.GeoDataFrame | np.ndarray, min_zoom: int) -> list[list[Any]] | None:
        """The name labels of these communes (rows of the prepared table, or their positions), most people first.

        None when they are not rows of the prepared table.
        """
        positions = self._positions_of(communes)
        if (positions < 0).any():
            return None
        labels, people = self._once(("commune_labels",), lambda: _commune_label_entries(self.communes))
        # most important first: the decluttering keeps them and hides what would overlap them
        order = positions[np.argsort(-people[positions], kind="stable")]
        return [[*labels[position], min_zoom] for position in order]

    def unit_labels(self, units: gpd.GeoDataFrame, rows: np.ndarray) -> list[list[Any]]:
        """The name labels of the units at ``rows`` of ``units`` (the same table on every page), most people first."""
        kept = self._once(("unit_labels", id(units)), lambda: (units, _unit_label_entries(units)))
        labels, people = kept[1] if kept[0] is units else _unit_label_entries(units)
        order = rows[np.argsort(-people[rows], kind="stable")]
        return [labels[position] for position in order]

    def people_in_gaps(self, commune_codes: set[str]) -> tuple[float, int]:
        """The view's people in gaps of these communes (their commune rows) and how many rows there are."""
        chosen = np.isin(self._summary_codes, list(commune_codes))
        return float(np.nansum(self._summary_figures["people_in_gaps"][chosen])), int(chosen.sum())

    def denominator(self, commune_codes: list[str] | None) -> tuple[float, float, float, float]:
        """Population, people in gaps, covered and without enough evidence of these communes (all: None)."""
        chosen = (
            np.ones(len(self._summary_codes), bool)
            if commune_codes is None
            else np.isin(self._summary_codes, list(set(commune_codes)))
        )
        figures = {name: values[chosen] for name, values in self._summary_figures.items()}
        people = figures["population"]
        return (
            float(people.sum()),
            float(np.nansum(figures["people_in_gaps"])),
            float((people * figures["share_people_covered"]).sum()),
            float((people * figures["share_people_no_data"]).sum()),
        )

    def commune_search(self, communes: gpd.GeoDataFrame | np.ndarray) -> list[list[Any]]:
        """The search entries of these communes (rows of the prepared table, or their positions), made once."""
        whole = self._once(("commune_search",), lambda: commune_search_entries(self.communes))
        positions = self._positions_of(communes)
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

    def district_features(self, communes: gpd.GeoDataFrame | np.ndarray) -> dict[str, Any]:
        """The borders of the districts these communes lie in (whole districts, simplified once)."""
        whole = self._once(
            ("districts",),
            lambda: FeatureTexts(
                _by_row(
                    _feature_collection(self._districts, self._districts["geometry"].to_numpy(object), ["district"])
                )
            ),
        )
        # a few districts: a set, not Series.isin (which costs a page a millisecond)
        if isinstance(communes, np.ndarray):  # positions in the prepared table
            wanted = set(self._district_codes[communes].tolist())
        else:
            wanted = set(communes["district_code"].tolist())
        shown = np.flatnonzero([code in wanted for code in self._districts["district_code"].tolist()])
        return _subset_collection(whole, shown)


def _commune_label_entries(communes: gpd.GeoDataFrame) -> tuple[list[list[Any]], np.ndarray]:
    """Each commune's label (latitude, longitude, short name, class) and its people (the label order)."""
    points = communes.geometry.to_crs(METRIC_CRS).representative_point().to_crs("EPSG:4326")
    labels = [
        [round(point.y, 5), round(point.x, 5), short_name(name, kind), "lomsong-label-commune"]
        for point, name, kind in zip(
            points.values, communes["commune"].to_numpy(), communes["commune_type"].to_numpy(), strict=True
        )
    ]  # one per commune (71)
    return labels, pd.to_numeric(communes["population"], errors="coerce").fillna(0.0).to_numpy()


def _unit_label_entries(units: gpd.GeoDataFrame) -> tuple[list[list[Any]], np.ndarray]:
    """Each 2025 unit's label (latitude, longitude, short name, class) and its people (the label order)."""
    metric_units = units.to_crs(METRIC_CRS)
    points = metric_units.representative_point().to_crs("EPSG:4326")
    labels = [
        [round(point.y, 5), round(point.x, 5), unit_label(str(unit)), "lomsong-label-unit"]
        for point, unit in zip(points.values, units["unit"], strict=True)
    ]  # one per unit (28)
    return labels, metric_units["population"].to_numpy(float)


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


def _has_challenges(results: RunResults) -> bool:
    return results.challenges is not None and len(results.challenges) > 0


def _has_villages(results: RunResults) -> bool:
    return results.villages is not None and len(results.villages) > 0


def _communes_or_default(communes: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    if communes is not None:
        return communes
    from lomsong.reference.boundaries import read_communes

    return read_communes()
