"""The pages' GeoJSON text made once per feature is the text folium's ``tojson`` dumps itself."""

from __future__ import annotations

import json
import re

import folium
import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from lomsong.products.maps.jsontext import (
    Collection,
    FeatureTexts,
    GeometryText,
    _dumps,
    dumps_sorted,
    feature_text,
    geometry_text,
    shapes_text,
    texts_used,
)
from lomsong.products.maps.layers import _by_row, _records_collection, _subset_collection

#: folium names every element with 32 random hex digits.
_ELEMENT_IDS = re.compile(r"[0-9a-f]{32}")
#: Every kind of number a coordinate can be: tiny, huge, negative, integers, NaN and infinities.
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.floats(min_value=100, max_value=110).map(lambda x: round(x, 5)),
    st.integers(min_value=-(2**70), max_value=2**70),
)
POSITIONS = st.lists(NUMBERS, min_size=2, max_size=3)
COORDINATES = st.one_of(
    POSITIONS, st.lists(POSITIONS, max_size=6), st.lists(st.lists(st.lists(POSITIONS, max_size=5), max_size=3))
)


@settings(max_examples=400, deadline=None)
@given(COORDINATES, st.sampled_from(["Point", "LineString", "Polygon", "MultiPolygon", "Polygon\u00e9"]))
def test_a_geometry_is_written_as_json_writes_it(coordinates, kind):
    geometry = {"type": kind, "coordinates": coordinates}
    assert geometry_text(geometry) == json.dumps(geometry, sort_keys=True)


@given(st.dictionaries(st.text(max_size=8), st.one_of(NUMBERS, st.text(max_size=8), st.none()), max_size=4))
def test_anything_else_is_dumped_by_json(value):
    assert geometry_text(value) == json.dumps(value, sort_keys=True)


def _shapes():
    return [
        shapely.Polygon([(107.1, 12.0), (107.2, 12.0), (107.2, 12.1), (107.1, 12.0)]),
        shapely.Point(107.123456789, 11.000001),
        None,
        shapely.MultiPolygon([shapely.box(107.0, 12.0, 107.00001, 12.00001), shapely.box(108, 12, 109, 13)]),
    ]


def test_a_page_cut_from_shared_features_is_the_collection_json_dumps():
    records = [{"label": f"<b>Thôn {i}</b> & 'x'", "value": i / 3, "none": None} for i in range(4)]
    whole = _records_collection(records, shapely.transform(_shapes(), lambda xy: xy))
    assert json.loads(whole.sorted_json()) == json.loads(json.dumps(whole))
    assert whole.sorted_json() == json.dumps(whole, sort_keys=True)
    texts = FeatureTexts(_by_row(whole))
    for positions in ([3, 0], [2, 1, 3], [], [0, 0]):
        page = _subset_collection(texts, positions)
        assert isinstance(page, Collection)
        assert page.sorted_json() == json.dumps(page, sort_keys=True)
        # a page's own properties (a village's search key) are dumped for that page
        keyed = _subset_collection(texts, positions, lambda number, values: {**values, "key": f"v{number}"})
        assert keyed.sorted_json() == json.dumps(keyed, sort_keys=True)


def test_a_feature_changed_after_its_text_was_made_is_written_as_it_is_now():
    feature = {
        "type": "Feature",
        "id": "0",
        "properties": {"a": 1},
        "geometry": {"type": "Point", "coordinates": [1, 2]},
    }
    text = feature_text(geometry_text(feature["geometry"]), 0, dumps_sorted(feature["properties"]))
    page = Collection([feature], [text])
    feature["properties"] = {"a": 2}
    page["features"].append({"type": "Feature", "properties": None, "geometry": None})
    assert page.sorted_json() == json.dumps(page, sort_keys=True)


def test_folium_writes_the_collection_text_only_while_a_page_renders():
    features = _records_collection([{"label": "</script><script>alert(1)</script>"}], _shapes()[:1])
    rendered = {}
    for name, context in (("plain", None), ("texts", texts_used)):
        m = folium.Map(tiles=None)
        folium.GeoJson(features).add_to(m)
        if context is None:
            rendered[name] = m.get_root().render()
        else:
            with context():
                rendered[name] = m.get_root().render()
    assert _ELEMENT_IDS.sub("ID", rendered["plain"]) == _ELEMENT_IDS.sub("ID", rendered["texts"])
    assert "</script><script>" not in rendered["texts"]
    # the policy is folium's own again once the page is written
    assert folium.GeoJson._template.environment.policies["json.dumps_function"] is None


#: Rings of polygons: the cells' merged outlines are rounded to 5 decimals; any float may occur elsewhere.
RING_NUMBERS = st.one_of(
    st.floats(min_value=100, max_value=110).map(lambda x: round(x, 5)),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e20, max_value=1e20),
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.integers(min_value=-1000, max_value=1000).map(float),
)


def _box(west: float, south: float, width: float, height: float) -> shapely.Polygon:
    return shapely.box(west, south, west + abs(width) + 1e-3, south + abs(height) + 1e-3)


SHAPES = st.one_of(
    st.none(),
    st.builds(_box, RING_NUMBERS, RING_NUMBERS, st.floats(0, 1), st.floats(0, 1)),
    st.lists(st.builds(_box, RING_NUMBERS, RING_NUMBERS, st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=3).map(
        lambda boxes: shapely.MultiPolygon(boxes)
    ),
    st.just(shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 0)], holes=[[(1, 0.5), (3, 0.5), (3, 2.5), (1, 0.5)]])),
    st.just(shapely.Point(107.123456789, 11.000001)),
    st.just(shapely.Polygon()),
    st.just(shapely.Polygon([(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 0, 1)])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(SHAPES, max_size=6))
def test_a_shape_s_text_is_the_text_of_its_geojson(shapes):
    array = np.empty(len(shapes), dtype=object)
    array[:] = shapes
    expected = [None if shape is None else geometry_text(json.loads(shapely.to_geojson(shape))) for shape in shapes]
    assert shapes_text(array) == expected


def test_a_geometry_known_by_its_text_reads_and_dumps_as_its_geometry():
    shape = shapely.MultiPolygon([shapely.box(107.1, 12.0, 107.2, 12.1), shapely.box(108.0, 12.0, 108.5, 12.25)])
    geojson = json.loads(shapely.to_geojson(shape))
    known = GeometryText(shapes_text(np.array([shape], dtype=object))[0])
    assert dict(known) == geojson and known["type"] == "MultiPolygon" and len(known) == 2
    feature = {"type": "Feature", "id": "0", "properties": {"state": "weak"}, "geometry": known}
    # written by json as the geometry it stands for, in a collection whose text was made or not
    assert dumps_sorted(feature) == json.dumps({**feature, "geometry": geojson}, sort_keys=True)
    assert Collection([feature]).sorted_json() == json.dumps(
        {"type": "FeatureCollection", "features": [{**feature, "geometry": geojson}]}, sort_keys=True
    )


@given(st.one_of(st.text(max_size=6), st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True)))
def test_a_string_is_written_as_json_writes_it(value):
    assert _dumps(value, sort_keys=True) == json.dumps(value, sort_keys=True)
