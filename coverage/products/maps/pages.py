"""Assembling pages: the province, commune and 2025-unit maps, cut from layers made once for the run."""

from __future__ import annotations

import html
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import xyzservices.providers as xyz
from folium.plugins import Fullscreen, HeatMap, MeasureControl
from folium.utilities import JsCode

from lomsong.products.maps.furniture import (
    MEASURE_UNITS,
    _Behaviour,
    _Furniture,
    _Hatch,
    _Labels,
    _legend_html,
    _Legibility,
    _NameKept,
    _title_html,
)
from lomsong.products.maps.layers import (
    DEGREES,
    PageRows,
    PreparedLayers,
    _check_view,
    _commune_label_entries,
    _communes_or_default,
    _has_challenges,
    _has_plan,
    _has_predicted,
    _has_units,
    _has_villages,
    _operator_label,
    _plan_features,
    _subset_collection,
    _units_of,
    challenge_features,
    gap_features,
    has_cv1603,
    predicted_gap_features,
    village_features,
)
from lomsong.products.maps.style import (
    CHALLENGE_STYLE,
    COMMUNE_LABEL_MIN_ZOOM,
    EVIDENCE_STYLE,
    FIT_PADDING_BOTTOM_RIGHT,
    FIT_PADDING_TOP_LEFT,
    PAGE_MARGIN_METRES,
    PLAN_COLOUR,
    PREDICTED_COLOUR,
    PREDICTED_STYLE,
    STATE_COLOURS,
    UNIT_OUTLINE,
)
from lomsong.products.words import check_language, text
from lomsong.reference.boundaries import METRIC_CRS
from lomsong.reference.units import (
    parse_unit,
)
from lomsong.tables.results import ALL_OPERATORS, RunResults


# Leaflet inserts a string tooltip as HTML: labels carry names from the user's files (villages,
# boundaries), so each tooltip is a text node, never markup. Popups are HTML built in Python, every
# name in them escaped.
def _add_challenge_layers(
    m: folium.Map,
    challenges: gpd.GeoDataFrame | None,
    lang: str,
    area: Any,
    *,
    prepared: PreparedLayers | None = None,
    near: np.ndarray | None = None,
) -> dict[str, str]:
    """One hidden layer of over-claimed areas per operator (the lists to send each operator).

    ``near``: whether each area touches ``area``, when known already (:class:`PageRows`).
    """
    if challenges is None or challenges.empty:
        return {}
    if near is None:
        near = np.ones(len(challenges), bool) if area is None else challenges.intersects(area).to_numpy(bool)
    names = {}
    operators = challenges["operator"].astype(str).to_numpy()
    for operator in sorted(set(operators[near])):  # per operator (a few)
        own_rows = np.flatnonzero(operators == operator)
        shown = np.flatnonzero(near[own_rows])
        if prepared is None:
            features = challenge_features(challenges.iloc[own_rows[shown]], lang)
        else:
            # the operator's rows are cut from the table once, when its whole layer is made
            features = _subset_collection(
                prepared.layer(
                    ("challenges", id(challenges), operator, lang),
                    lambda own_rows=own_rows: challenge_features(challenges.iloc[own_rows], lang),
                ),
                shown,
            )
        layer = _GeoJson(
            features,
            name=text(lang, "layer_challenges", operator=_operator_label(operator, lang)),
            show=False,
            style_function=lambda f: CHALLENGE_STYLE,
            on_each_feature=_POPUP_JS,
        ).add_to(m)
        names[f"challenges:{operator}"] = layer.get_name()
    return names


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


class _GeoJson(_NameKept, folium.GeoJson):
    """:class:`folium.GeoJson`, its name made once."""


class _Map(_NameKept, folium.Map):
    """:class:`folium.Map`, its name made once."""


class _TileLayer(_NameKept, folium.TileLayer):
    """:class:`folium.TileLayer`, its name made once (the layer control and the map ask it)."""


class _FeatureGroup(_NameKept, folium.FeatureGroup):
    """:class:`folium.FeatureGroup`, its name made once."""


class _LayerControl(_NameKept, folium.LayerControl):
    """:class:`folium.LayerControl`, its name made once."""


class _Fullscreen(_NameKept, Fullscreen):
    """:class:`folium.plugins.Fullscreen`, its name made once."""


class _MeasureControl(_NameKept, MeasureControl):
    """:class:`folium.plugins.MeasureControl`, its name made once."""


class _HeatMap(_NameKept, HeatMap):
    """:class:`folium.plugins.HeatMap` of points that are ``[lat, lon, weight]`` floats already.

    folium checks and copies every point in Python (a twentieth of a commune page's time); the
    cells' centres are floats made from arrays, so they are checked at once, as an array, for
    what folium refuses (NaN). The data folium writes is the same.
    """

    def __init__(self, points: list[list[float]], **kwargs: Any) -> None:
        super().__init__([], **kwargs)
        values = np.asarray(points, dtype=float)
        if points and (values.shape[1:] != (3,) or np.isnan(values).any()):
            super().__init__(points, **kwargs)  # folium's own check says what is wrong with them
        self.data = points


def _base_map(lang: str, bounds: list[list[float]]) -> folium.Map:
    # The scale bar is added metric-only by _Legibility (folium's own shows miles as well).
    m = _Map(tiles=None, control_scale=False, prefer_canvas=False, zoom_snap=0.25)
    # CARTO's light tiles now need an API key; Esri's light grey canvas is free to use.
    _TileLayer(xyz.Esri.WorldGrayCanvas, name=text(lang, "base_light"), show=True).add_to(m)
    _TileLayer(xyz.OpenStreetMap.Mapnik, name=text(lang, "base_osm"), show=False).add_to(m)
    _TileLayer(xyz.Esri.WorldImagery, name=text(lang, "base_satellite"), show=False).add_to(m)
    # Keep the area clear of the title block (top) and the legend (right) on a 1366×768 screen.
    m.fit_bounds(bounds, padding_top_left=FIT_PADDING_TOP_LEFT, padding_bottom_right=FIT_PADDING_BOTTOM_RIGHT)
    return m


def _page_area(outline: Any, crs: Any) -> Any:
    """A commune's or unit's outline and :data:`PAGE_MARGIN_METRES` around it: what its page draws."""
    return gpd.GeoSeries([outline], crs=crs).to_crs(METRIC_CRS).buffer(PAGE_MARGIN_METRES).to_crs(crs).iloc[0]


def _bounds(frame: gpd.GeoDataFrame) -> list[list[float]]:
    # in degrees already, to_crs would leave the shapes as they are: their bounds without a copy of the frame
    in_degrees = frame.crs is not None and frame.crs.is_exact_same(DEGREES)
    geometry = frame.geometry.values if in_degrees else frame.to_crs(DEGREES).geometry.values
    west, south, east, north = geometry.total_bounds
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
    page: PageRows | None = None,
) -> dict[str, str]:
    """Add every overlay to ``m``; return layer key → JavaScript variable name.

    With the 2025 units in the commune table (``unit_2025``), the units dissolved from the old
    communes are drawn over them, searchable and labelled; the 2019 districts stay as a layer
    that is off by default. ``page``: what lies near ``area``, found for every page at once
    (``communes`` is then unused: the page's communes are ``page.communes`` of the prepared table).
    """
    prepared = prepared or PreparedLayers(results, communes, view_operator)
    gaps, villages = prepared.gaps, prepared.villages
    cell_rows = None
    gap_rows = np.arange(len(gaps))
    village_rows = np.arange(len(villages)) if villages is not None else None
    # the page's communes as positions in the prepared table when known (no frame cut per page)
    nearby = page.communes if page is not None else communes
    if page is not None:
        cell_rows, gap_rows, village_rows = page.cells, page.gaps, page.villages
    elif area is not None:
        # A commune page draws what lies near its commune only.
        cell_rows = prepared.positions("cells", area)
        gap_rows = prepared.positions("gaps", area)
        if villages is not None:
            village_rows = prepared.positions("villages", area)
    names: dict[str, str] = {}

    commune_layer = _GeoJson(
        prepared.commune_layer(nearby, lang, commune_url, focus_code, focus_codes, unit_url),
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
    if units is not None and page is not None and page.units is not None and units is dissolved:
        unit_rows = page.units
    elif units is not None and area is not None:
        unit_rows = np.flatnonzero(units.intersects(area).to_numpy(bool))
    district_layer = _GeoJson(
        prepared.district_features(nearby),
        name=text(lang, "layer_districts" if units is None else "layer_districts_2019"),
        style_function=lambda f: {"color": "#252525", "weight": 2.2, "opacity": 0.9, "dashArray": "6 4"},
        interactive=False,
        # Today's units replace the districts; the districts stay as history.
        show=units is None,
    ).add_to(m)
    names["districts"] = district_layer.get_name()
    if units is not None:
        unit_summary = prepared.unit_summary(whole, view_operator, results)
        unit_layer = _GeoJson(
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
        layer = _GeoJson(
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

    heat = _HeatMap(
        prepared.heat_points(view_operator, cell_rows) or [[0.0, 0.0, 0.0]],
        name=text(lang, "layer_heat"),
        show=False,
        radius=14,
        blur=12,
        min_opacity=0.3,
    ).add_to(m)
    names["heat"] = heat.get_name()

    gap_layer = _GeoJson(
        _subset_collection(prepared.layer(("gaps", lang), lambda: gap_features(prepared.gaps, lang)), gap_rows),
        name=text(lang, "layer_gaps"),
        style_function=lambda f: EVIDENCE_STYLE.get(f["properties"]["evidence"], EVIDENCE_STYLE["likely"]),
        on_each_feature=_POPUP_JS,
    ).add_to(m)
    names["gaps"] = gap_layer.get_name()
    names.update(
        _add_challenge_layers(
            m,
            results.challenges,
            lang,
            area,
            prepared=prepared,
            near=page.challenges if page is not None and results.challenges is prepared.challenges else None,
        )
    )

    predicted = prepared.predicted
    if predicted is not None:
        predicted_rows = np.arange(len(predicted))
        if page is not None:
            predicted_rows = page.predicted
        elif area is not None:
            predicted_rows = np.flatnonzero(predicted.intersects(area).to_numpy(bool))
        whole_predicted = predicted
        predicted_layer = _GeoJson(
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
        plan_layer = _GeoJson(
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

    if villages is not None and len(village_rows):
        everyone = prepared.villages
        village_layer = _GeoJson(
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
    label_group = _FeatureGroup(name=text(lang, label_name), show=True).add_to(m)
    # With today's units labelled, the old communes' names wait for a closer zoom.
    min_zoom = COMMUNE_LABEL_MIN_ZOOM if units is not None else 0
    # names are set as text by lomsongPage.labels, never as markup
    commune_labels = prepared.commune_labels(nearby, min_zoom)
    if commune_labels is None:  # not rows of the prepared table
        labels, people = _commune_label_entries(communes)
        commune_labels = [[*labels[i], min_zoom] for i in np.argsort(-people, kind="stable")]
    unit_labels = prepared.unit_labels(all_units, unit_rows) if units is not None else []
    _Labels(unit_labels + commune_labels).add_to(label_group)
    names["labels"] = label_group.get_name()

    # Collapsed: the open panel covered a quarter of a 1366×768 screen.
    _LayerControl(position="topright", collapsed=True).add_to(m)
    _Fullscreen(position="topleft", title="Toàn màn hình" if lang == "vi" else "Full screen").add_to(m)
    _MeasureControl(
        position="topleft",
        primary_length_unit="kilometers",
        secondary_length_unit=None,
        primary_area_unit="hectares",
        secondary_area_unit=None,
        units=MEASURE_UNITS,
        localization="en",
    ).add_to(m)

    entries = prepared.commune_search(nearby)
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
    _check_view(results, view_operator, prepared.views if prepared is not None else None)
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
            + _page_legend(results, lang, with_units)
        )
    )
    m.get_root().title = title
    return m


def _page_legend(results: RunResults, lang: str, with_units: bool) -> str:
    """The legend of a page: the layers this run has (villages, claims, units, predictions, plan)."""
    return _legend_html(
        lang,
        _has_villages(results),
        _has_challenges(results),
        with_units,
        tiers=has_cv1603(results.villages),
        with_predicted=_has_predicted(results),
        with_plan=_has_plan(results),
    )


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
    _check_view(results, view_operator, prepared.views if prepared is not None else None)
    communes = _communes_or_default(communes)
    # with the prepared layers of this very table, what the page draws was found for every page at once
    page = (
        prepared.commune_page(str(commune_code), units)
        if prepared is not None and communes is prepared.communes
        else None
    )
    if page is not None:
        row, area, nearby, bounds = communes.iloc[page.position], page.area, communes, page.bounds
    else:
        match = communes[(communes["commune_code"] == str(commune_code)).to_numpy(bool)]
        if match.empty:
            raise KeyError(f"commune_code {commune_code!r} is not in the commune table")
        row = match.iloc[0]
        area = _page_area(row.geometry, communes.crs)
        nearby = communes[communes.intersects(area).to_numpy(bool)]
        bounds = _bounds(match)
    m = _base_map(lang, bounds)
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
        page=page,
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
            + _page_legend(results, lang, with_units)
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
    _check_view(results, view_operator, prepared.views if prepared is not None else None)
    communes = _communes_or_default(communes)
    units = units if units is not None else _units_of(communes)
    page = (
        prepared.unit_page(str(unit_code), units)
        if prepared is not None and units is not None and communes is prepared.communes
        else None
    )
    if page is not None:
        row, area, nearby, bounds = units.iloc[page.position], page.area, communes, page.bounds
    else:
        match = units[units["unit_code"] == str(unit_code)] if units is not None else None
        if match is None or match.empty:
            raise KeyError(f"unit_code {unit_code!r} is not a 2025 unit of the commune table")
        row = match.iloc[0]
        area = _page_area(row.geometry, communes.crs)
        nearby = communes[communes.intersects(area).to_numpy(bool)]
        bounds = _bounds(match)
    old_codes = str(row["old_commune_codes"]).split(";")
    m = _base_map(lang, bounds)
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
        page=page,
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
