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
from collections.abc import Iterator
from typing import Any

import folium
import orjson

#: Jinja's ``tojson`` arguments (its default policy): the only ones a :class:`Collection` has text for.
_SORTED = {"sort_keys": True}
#: The keys of every feature the layers make (:func:`lomsong.products.maps.layers._records_collection`).
_FEATURE_KEYS = {"type", "id", "properties", "geometry"}


def dumps_sorted(value: Any) -> str:
    """``json.dumps(value, sort_keys=True)``: the text ``tojson`` writes before its HTML escapes."""
    return json.dumps(value, sort_keys=True)


#: Where orjson's numbers may not be json's: below 1e-4 (json writes ``1e-05``, orjson ``0.00001``),
#: exponents, and NaN or infinities (orjson writes ``null``).
_NOT_AS_JSON_WRITES = re.compile(rb"(?<![0-9.])-?0\.0000|[eEn]")


def geometry_text(geometry: Any) -> str:
    """:func:`dumps_sorted` of a GeoJSON geometry, its coordinates written by orjson (ten times faster).

    orjson writes a float with the same shortest digits as ``json`` (``repr``) from 1e-4 up to
    1e16 and an integer alike, with no space after its commas; a geometry with another number, or
    that is not ``{"type", "coordinates"}``, is dumped by ``json`` itself.
    """
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
    """``json.dumps`` for Jinja's ``tojson``, a :class:`Collection` from its features' texts."""
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
