"""The pages' GeoJSON as text made once per feature, so that a feature shared by many pages is dumped once.

folium writes a layer's data with Jinja's ``tojson`` filter: ``json.dumps(data, sort_keys=True)``,
then the HTML-safe escapes. The pages of a run are cut from layers made once
(:class:`~lomsong.products.maps.layers.PreparedLayers`): every commune page holds features of the
same few tables, renumbered. :class:`FeatureTexts` keeps the text ``json.dumps`` gives for each
feature's geometry and properties; a page's :class:`Collection` joins them around its own feature
numbers, which is the very text ``json.dumps`` would give for the whole collection (with sorted
keys and the default separators, the text of a dict is its keys' and values' texts joined). While
a page renders (:func:`texts_used`), ``tojson`` takes that text instead of dumping the collection
again; everything else is dumped as before.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import folium
import numpy as np
import orjson
import shapely

#: Jinja's ``tojson`` arguments (its default policy): the only ones a :class:`Collection` has text for.
_SORTED = {"sort_keys": True}
#: The keys of every feature the layers make (:func:`lomsong.products.maps.layers._records_collection`).
_FEATURE_KEYS = {"type", "id", "properties", "geometry"}


def dumps_sorted(value: Any) -> str:
    """``json.dumps(value, sort_keys=True)``: the text ``tojson`` writes before its HTML escapes."""
    return json.dumps(value, sort_keys=True, default=_parsed)


def _parsed(value: Any) -> Any:
    """What ``json`` writes of a :class:`GeometryText` (the geometry it is the text of)."""
    if isinstance(value, GeometryText):
        return dict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class GeometryText(Mapping):
    """A GeoJSON geometry known by its text (``json.dumps(geometry, sort_keys=True)``), read only when asked.

    The merged cells of every page and view are shapes nobody reads in Python: their text goes
    into the page as it is (:func:`shapes_text` makes it from the shapes' coordinates), and the
    mapping (``type``, ``coordinates``) is parsed from it at its first reading.

    Parameters
    ----------
    text : str
        :func:`geometry_text` of the geometry.
    """

    __slots__ = ("_value", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._value: dict[str, Any] | None = None

    def _geometry(self) -> dict[str, Any]:
        if self._value is None:
            self._value = orjson.loads(self.text)
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._geometry()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._geometry())

    def __len__(self) -> int:
        return len(self._geometry())

    def __repr__(self) -> str:
        return f"GeometryText({self.text[:60]!r}…)" if len(self.text) > 60 else f"GeometryText({self.text!r})"


#: shapely's type ids of the shapes :func:`shapes_text` writes from their coordinates.
_POLYGON, _MULTIPOLYGON = 3, 6


def shapes_text(shapes: np.ndarray) -> list[str | None]:
    """:func:`geometry_text` of each shape's GeoJSON (None for a missing shape), without a dict between.

    ``shapely.to_geojson`` writes up to 17 digits (``12.140930000000001``) where ``json`` writes
    the shortest that reads back the same (``12.14093``): the text of a polygon or multipolygon is
    made from its coordinates, each ring dumped by orjson (the shortest digits, as ``json``) from
    the coordinate array; any other shape, and any number :func:`geometry_text` leaves to
    ``json``, goes through its GeoJSON as a dict.
    """
    shapes = np.asarray(shapes, dtype=object)
    texts: list[str | None] = [None] * len(shapes)
    kinds = shapely.get_type_id(shapes)
    plain = ((kinds == _POLYGON) | (kinds == _MULTIPOLYGON)) & ~shapely.is_empty(shapes) & ~shapely.has_z(shapes)
    for number in np.flatnonzero(~plain & (kinds >= 0)).tolist():  # other shapes (none among the cells)
        texts[number] = geometry_text(orjson.loads(shapely.to_geojson(shapes[number])))
    chosen = np.flatnonzero(plain)
    if not len(chosen):
        return texts
    parts, part_shape = shapely.get_parts(shapes[chosen], return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coordinates = shapely.get_coordinates(rings)
    counts = shapely.get_num_coordinates(rings)
    ends = np.cumsum(counts)
    ring_texts = [
        orjson.dumps(coordinates[start:end], option=orjson.OPT_SERIALIZE_NUMPY)
        for start, end in zip((ends - counts).tolist(), ends.tolist(), strict=True)
    ]  # one per ring (thousands over a run's pages)
    part_edges = np.searchsorted(ring_part, np.arange(len(parts) + 1)).tolist()
    part_texts = [b"[" + b",".join(ring_texts[part_edges[i] : part_edges[i + 1]]) + b"]" for i in range(len(parts))]
    shape_edges = np.searchsorted(part_shape, np.arange(len(chosen) + 1)).tolist()
    for number, shape_number in enumerate(chosen.tolist()):  # one per shape
        own = part_texts[shape_edges[number] : shape_edges[number + 1]]
        polygon = kinds[shape_number] == _POLYGON
        written = own[0] if polygon else b"[" + b",".join(own) + b"]"
        if b"e" in written or b"n" in written or (b"0.0000" in written and _NOT_AS_JSON_WRITES.search(written)):
            texts[shape_number] = geometry_text(orjson.loads(shapely.to_geojson(shapes[shape_number])))
            continue
        kind = "Polygon" if polygon else "MultiPolygon"
        # only numbers and brackets: every comma is a separator
        texts[shape_number] = f'{{"coordinates": {written.decode().replace(",", ", ")}, "type": "{kind}"}}'
    return texts


#: Where orjson's numbers may not be json's: below 1e-4 (json writes ``1e-05``, orjson ``0.00001``),
#: exponents, and NaN or infinities (orjson writes ``null``).
_NOT_AS_JSON_WRITES = re.compile(rb"(?<![0-9.])-?0\.0000|[eEn]")


def geometry_text(geometry: Any) -> str:
    """:func:`dumps_sorted` of a GeoJSON geometry, its coordinates written by orjson (ten times faster).

    orjson writes a float with the same shortest digits as ``json`` (``repr``) from 1e-4 up to
    1e16 and an integer alike, with no space after its commas; a geometry with another number, or
    that is not ``{"type", "coordinates"}``, is dumped by ``json`` itself.
    """
    if type(geometry) is GeometryText:
        return geometry.text
    if type(geometry) is not dict or geometry.keys() != {"type", "coordinates"} or type(geometry["type"]) is not str:
        return dumps_sorted(geometry)
    try:
        coordinates = orjson.dumps(geometry["coordinates"])
    except (TypeError, orjson.JSONEncodeError):
        return dumps_sorted(geometry)
    # a byte search first: the pattern's look-behind is slow over megabytes of coordinates
    if b"e" in coordinates or b"n" in coordinates or b"E" in coordinates:
        return dumps_sorted(geometry)
    if b"0.0000" in coordinates and _NOT_AS_JSON_WRITES.search(coordinates):
        return dumps_sorted(geometry)
    # only numbers and brackets: every comma is a separator
    return f'{{"coordinates": {coordinates.decode().replace(",", ", ")}, "type": {json.dumps(geometry["type"])}}}'


class FeatureTexts(dict):
    """A layer's features by row (``row → feature``), with each one's geometry and properties as text.

    Parameters
    ----------
    by_row : dict
        Row position → GeoJSON feature (:func:`lomsong.products.maps.layers._by_row`). Its
        geometries and properties are shared by the pages and never changed.
    """

    def __init__(self, by_row: dict[int, dict[str, Any]]) -> None:
        super().__init__(by_row)
        self.geometry_text = {row: geometry_text(feature["geometry"]) for row, feature in by_row.items()}
        self.properties_text = {row: dumps_sorted(feature["properties"]) for row, feature in by_row.items()}


def feature_text(geometry_text: str, number: int, properties_text: str) -> str:
    """The sorted-key text of feature ``{"type", "id": str(number), "properties", "geometry"}``."""
    return f'{{"geometry": {geometry_text}, "id": "{number}", "properties": {properties_text}, "type": "Feature"}}'


def _feature_json(feature: Any) -> str:
    """:func:`dumps_sorted` of a feature, its geometry by :func:`geometry_text`."""
    if type(feature) is not dict or feature.keys() != _FEATURE_KEYS:
        return dumps_sorted(feature)
    return (
        f'{{"geometry": {geometry_text(feature["geometry"])}, "id": {json.dumps(feature["id"])}, '
        f'"properties": {dumps_sorted(feature["properties"])}, "type": {json.dumps(feature["type"])}}}'
    )


class Collection(dict):
    """A GeoJSON FeatureCollection that knows its ``json.dumps(…, sort_keys=True)`` text.

    Parameters
    ----------
    features : list of dict
        The features.
    texts : list of str or None, optional
        Each feature's text (:func:`feature_text`) when made already (shared features), None
        where it is to be made when the page is written.
    """

    def __init__(self, features: list[dict[str, Any]], texts: list[str | None] | None = None) -> None:
        super().__init__(type="FeatureCollection", features=features)
        texts = [None] * len(features) if texts is None else texts
        # what each text was made from: a feature changed since is dumped again
        self._made_from = [
            (feature, feature.get("geometry"), feature.get("properties"), feature.get("id"), text)
            for feature, text in zip(features, texts, strict=True)
        ]

    def sorted_json(self) -> str:
        """The text of ``json.dumps(self, sort_keys=True)``, from the features' texts where they hold."""
        features = self["features"]
        if (
            self.keys() != {"type", "features"}
            or self["type"] != "FeatureCollection"
            or type(features) is not list
            or len(features) != len(self._made_from)
        ):
            return dumps_sorted(dict(self))
        parts = []
        for feature, (made, geometry, properties, number, text) in zip(features, self._made_from, strict=True):
            unchanged = (
                text is not None
                and feature is made
                and feature.keys() == _FEATURE_KEYS
                and feature["geometry"] is geometry
                and feature["properties"] is properties
                and feature["id"] == number
                and feature["type"] == "Feature"
            )
            parts.append(text if unchanged else _feature_json(feature))
        return '{"features": [' + ", ".join(parts) + '], "type": "FeatureCollection"}'


def _dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` for Jinja's ``tojson``, a :class:`Collection` from its features' texts.

    A feature id (``"12"``: ASCII letters and digits, which JSON writes as they are between
    quotes) is written without ``json``: a layer's style switch writes one per feature, tens of
    thousands over a run's pages.
    """
    if type(value) is str and value.isascii() and value.isalnum():
        return f'"{value}"'
    if isinstance(value, Collection) and kwargs == _SORTED:
        return value.sorted_json()
    return json.dumps(value, **kwargs)


#: The Jinja environment of folium's templates (one, shared by all of them).
_ENVIRONMENT = folium.GeoJson._template.environment


@contextlib.contextmanager
def texts_used() -> Iterator[None]:
    """While a page renders, folium's ``tojson`` writes a :class:`Collection` from its texts.

    The caller holds the rendering lock (:data:`lomsong.products.maps.build._RENDERING`): the
    policy is the environment's, shared by every folium template.
    """
    policies = _ENVIRONMENT.policies
    original = policies["json.dumps_function"]
    policies["json.dumps_function"] = _dumps
    try:
        yield
    finally:
        policies["json.dumps_function"] = original
