"""The API as GIS clients use it: paging, typed fields, time, periods, vector tiles (issue 19).

A real uvicorn server on a loopback port over a hand-made run with two monthly runs beside it;
GDAL is driven as users drive it (pyogrio's GDAL ≥ 3.8 and Debian's ``ogrinfo``, in subprocesses).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import geopandas as gpd
import httpx
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
import shapely

from api.app import create_app
from api.core import ITEMS_MAX_LIMIT, STREAM_CHUNK
from api.tiles import tile_bounds
from lomsong.tables.periods import period_dir
from lomsong.tables.results import CELLS_PARQUET, load_run
from tests.support.api_server import example_settings, live_server, make_keys
from tests.support.scenes import MONTHS, make_period_run


class _Counter:
    """ASGI middleware counting requests per path, and keeping their queries (which pages a client asked for)."""

    def __init__(self, app, counts: Counter, queries: list):
        self.app, self.counts, self.queries = app, counts, queries

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.counts[scope["path"]] += 1
            self.queries.append((scope["path"], scope["query_string"].decode("latin-1")))
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gis")
    settings = example_settings(folder)
    make_period_run(settings.run_folder, MONTHS[0], keep_every=1)
    make_period_run(settings.run_folder, MONTHS[1], keep_every=3)
    keys = make_keys(settings)
    counts: Counter = Counter()
    queries: list = []
    app = create_app(settings)
    app.add_middleware(_Counter, counts=counts, queries=queries)
    with live_server(app) as url:
        yield {"url": url, "settings": settings, "keys": keys, "counts": counts, "queries": queries}


@pytest.fixture(scope="module")
def client(api):
    with httpx.Client(base_url=api["url"], timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def served(api):
    return load_run(api["settings"].run_folder)


def _period_cells(api, name: str) -> gpd.GeoDataFrame:
    return load_run(period_dir(name, api["settings"].run_folder)).cells


# ----------------------------------------------------------------------------------------------
# OGC API - Features as clients expect


def test_limit_is_one_shared_component_with_the_documented_bounds(client):
    document = client.get("/openapi.json").json()
    limit = document["components"]["parameters"]["limit"]
    assert limit["in"] == "query" and limit["schema"]["default"] == 100 and limit["schema"]["maximum"] == 10_000
    gaps = document["paths"]["/gaps"]["get"]["parameters"]
    assert {"$ref": "#/components/parameters/limit"} in gaps
    assert not any(p.get("name") == "limit" for p in gaps)  # declared once, referred to
    assert client.get("/gaps", params={"limit": 10_001}).status_code == 400
    assert len(client.get("/collections/cells/items").json()["features"]) == 100


def test_each_collection_has_its_own_items_path_with_the_large_page_limit(client):
    """GDAL looks the page size up on ``/collections/<id>/items`` and takes the maximum when no default is declared."""
    document = client.get("/openapi.json").json()
    items_limit = document["components"]["parameters"]["items-limit"]
    assert items_limit["schema"]["maximum"] == ITEMS_MAX_LIMIT and "default" not in items_limit["schema"]
    assert "100" in items_limit["description"]  # the default is said, not declared
    reference = {"$ref": "#/components/parameters/items-limit"}
    for collection in client.get("/collections").json()["collections"]:
        operation = document["paths"][f"/collections/{collection['id']}/items"]["get"]
        assert reference in operation["parameters"], collection["id"]
        assert not any(p.get("name") == "collectionId" for p in operation["parameters"])
    assert reference in document["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    assert client.get("/collections/cells/items", params={"limit": ITEMS_MAX_LIMIT + 1}).status_code == 400


def test_a_large_page_is_streamed_whole_and_valid(client, served):
    assert len(served.cells) > STREAM_CHUNK  # so the page below goes out in several chunks
    response = client.get("/collections/cells/items", params={"limit": ITEMS_MAX_LIMIT})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["numberReturned"] == body["numberMatched"] == len(body["features"]) == len(served.cells)
    ids = [feature["id"] for feature in body["features"]]
    assert len(set(ids)) == len(ids)  # no feature twice at a chunk boundary
    smaller = client.get("/collections/cells/items", params={"limit": STREAM_CHUNK, "offset": STREAM_CHUNK}).json()
    assert [f["id"] for f in smaller["features"]] == ids[STREAM_CHUNK : 2 * STREAM_CHUNK]


def test_schema_and_queryables_type_every_property(client, served):
    schema = client.get("/collections/cells/schema")
    assert schema.status_code == 200 and schema.headers["content-type"].startswith("application/schema+json")
    properties = schema.json()["properties"]
    for name in ("median_signal_dbm", "p10_signal_dbm", "no_service_share", "median_dl_kbps", "population"):
        assert properties[name]["type"] == ["number", "null"], name
    for name in ("n_samples", "n_devices", "n_days"):
        assert properties[name]["type"] == ["integer", "null"], name
    assert properties["first_date"]["format"] == "date" and properties["state"]["type"] == ["string", "null"]
    assert set(served.cells.columns) - {"geometry"} <= set(properties)

    queryables = client.get("/collections/cells/queryables").json()
    assert {"operator", "technology", "state", "datetime", "geometry"} <= set(queryables["properties"])
    links = {link["rel"]: link["href"] for link in client.get("/collections/cells").json()["links"]}
    assert links["http://www.opengis.net/def/rel/ogc/1.0/schema"].endswith("/collections/cells/schema")
    # describedBy: the schema of a whole GeoJSON Feature, one type name per property (what GDAL reads)
    feature = httpx.get(links["describedBy"]).json()["properties"]["properties"]["properties"]
    assert feature["median_signal_dbm"]["type"] == "number" and feature["first_date"]["format"] == "date"
    assert set(feature) == set(properties) - {"geometry"}
    assert client.get("/collections/nothing/schema").status_code == 404


def test_every_feature_has_every_property_null_for_no_data(client):
    schema = client.get("/collections/cells/schema").json()["properties"]
    expected = set(schema) - {"geometry"}
    python_types = {"number": (int, float), "integer": (int,), "string": (str,), "boolean": (bool,)}
    features = client.get("/collections/cells/items", params={"limit": 10_000}).json()["features"]
    assert features and any(f["properties"]["state"] == "no_data" for f in features)
    for feature in features[:: max(1, len(features) // 300)]:  # a spread sample of every state
        properties = feature["properties"]
        assert set(properties) == expected, feature["id"]
        for name, value in properties.items():
            if value is not None:
                assert isinstance(value, python_types[schema[name]["type"][0]]), (name, value)
    no_data = next(f for f in features if f["properties"]["state"] == "no_data")["properties"]
    assert no_data["median_signal_dbm"] is None and no_data["first_date"] is None


def test_unknown_parameters_are_refused_with_their_name(client):
    for path in ("/collections/cells/items", "/gaps", "/communes", "/periods"):
        response = client.get(path, params={"datetme": "2026-10"})
        assert response.status_code == 400, path
        assert response.json()["field"] == "datetme" and "datetme" in response.json()["message"]


def test_coordinates_have_six_decimals_at_most(client):
    for collection in ("gaps", "cells"):
        text = client.get(f"/collections/{collection}/items", params={"limit": 500}).text
        geometry_text = "".join(re.findall(r'"coordinates":(\[[^a-z]*?\]{3,4})', text))
        decimals = [len(d) for d in re.findall(r"\.(\d+)", geometry_text)]
        assert decimals and max(decimals) <= 6, collection
    gap = client.get("/gaps", params={"limit": 1}).json()["items"][0]
    assert round(gap["centroid_lon"], 6) == gap["centroid_lon"]


def test_datetime_keeps_the_features_measured_then(client, served):
    cells = served.cells
    measured = cells["first_date"].notna()
    everything = client.get("/collections/cells/items", params={"limit": 1}).json()["numberMatched"]
    assert everything == len(cells)
    inside = client.get("/collections/cells/items", params={"datetime": "2024-03-05/2024-03-10", "limit": 1})
    assert inside.json()["numberMatched"] == int(measured.sum()) < everything  # no-data cells have no time
    later = client.get("/collections/cells/items", params={"datetime": "2025-01-01T00:00:00Z/..", "limit": 1})
    assert later.json()["numberMatched"] == 0
    instant = client.get("/collections/cells/items", params={"datetime": "2024-04-28", "limit": 1})
    assert instant.json()["numberMatched"] == int(measured.sum())
    next_link = next(link for link in inside.json()["links"] if link["rel"] == "next")["href"]
    assert "datetime=2024-03-05%2F2024-03-10" in next_link
    for bad in ("yesterday", "2024-03-10/2024-03-01", "../.."):
        response = client.get("/collections/cells/items", params={"datetime": bad})
        assert response.status_code == 400 and response.json()["field"] == "datetime", bad
    gaps = client.get("/gaps", params={"datetime": "2030-01-01/..", "limit": 1}).json()
    assert gaps["numberMatched"] == 0


def test_technology_aliases_name_the_same_generations(client):
    assert client.get("/gaps", params={"technology": "LTE"}).status_code == 200
    lte = client.get("/collections/cells/items", params={"technology": "lte", "limit": 1})
    four_g = client.get("/collections/cells/items", params={"technology": "4G", "limit": 1})
    assert lte.json()["numberMatched"] == four_g.json()["numberMatched"]
    assert client.get("/gaps", params={"technology": "6G"}).json()["field"] == "technology"


def test_forbidden_message_reads_as_english(api, client):
    response = client.post("/runs", headers={"X-API-Key": api["keys"]["viettel"]})
    assert response.status_code == 403
    assert response.json()["message"].startswith("an operator key cannot")


def test_cells_download_as_geopackage(client, served, tmp_path):
    response = client.get("/collections/cells/items", params={"f": "gpkg", "operator": "viettel"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/geopackage")
    path = tmp_path / "cells.gpkg"
    path.write_bytes(response.content)
    frame = gpd.read_file(path, layer="cells")
    assert len(frame) == int((served.cells["operator"] == "viettel").sum())  # the whole view, not one page
    assert pd.api.types.is_float_dtype(frame["median_signal_dbm"]) and frame.crs.to_epsg() == 4326


# ----------------------------------------------------------------------------------------------
# GDAL


PYOGRIO_READER = """
import json, sys
import pyogrio
frame = pyogrio.read_dataframe(sys.argv[1])
print(json.dumps({"rows": len(frame), "dtypes": {k: str(v) for k, v in frame.dtypes.items()},
                  "version": pyogrio.__gdal_version_string__}))
"""


def _item_pages(api, start: int) -> list[str]:
    return [query for path, query in api["queries"][start:] if path == "/collections/cells/items"]


def test_gdal_reads_the_cells_layer_in_a_few_requests_with_numeric_fields(api, served):
    start = len(api["queries"])
    done = subprocess.run(
        [sys.executable, "-c", PYOGRIO_READER, f"OAPIF:{api['url']}/collections/cells"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert tuple(int(p) for p in read["version"].split(".")[:2]) >= (3, 8)
    assert read["rows"] == len(served.cells)
    pages = _item_pages(api, start)
    # one small page to sample the schema, then pages of the declared maximum (it was 1,000 a page)
    assert f"limit={ITEMS_MAX_LIMIT}" in pages[1] and len(pages) <= 1 + -(-len(served.cells) // ITEMS_MAX_LIMIT)
    for name in ("median_signal_dbm", "p10_signal_dbm", "no_service_share", "median_dl_kbps"):
        assert read["dtypes"][name] == "float64", name
    assert read["dtypes"]["n_samples"].startswith("int") and read["dtypes"]["first_date"].startswith("datetime")

    # only no-data cells: every value null, so the types can come from the schema alone
    start = len(api["queries"])
    empty = subprocess.run(
        [sys.executable, "-c", PYOGRIO_READER, f"OAPIF:{api['url']}/collections/cells?state=no_data"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert empty.returncode == 0, empty.stderr
    read = json.loads(empty.stdout.strip().splitlines()[-1])
    assert read["rows"] == int((served.cells["state"] == "no_data").sum()) > 0
    assert read["dtypes"]["median_signal_dbm"] == "float64" and read["dtypes"]["first_date"].startswith("datetime")
    # the connection string's query goes to the landing page too: it is let through, so GDAL finds the API
    assert any(f"limit={ITEMS_MAX_LIMIT}" in query for query in _item_pages(api, start))


def test_debian_gdal_types_the_fields_from_the_schema_at_its_default_page_size(api, served):
    """GDAL 3.6 pages 10 features and reads ``rel="describedBy"`` (its spelling) for the field types."""
    done = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", f"OAPIF:{api['url']}/collections/cells?state=no_data"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    fields = dict(re.findall(r"^(\w+): (\w+)", done.stdout, flags=re.MULTILINE))
    numbers = ("median_signal_dbm", "p10_signal_dbm", "no_service_share", "median_dl_kbps", "p_covered")
    assert all(fields[name] == "Real" for name in numbers), fields  # every value of the first page is null
    assert fields["n_samples"] == "Integer" and fields["first_date"] == "Date"


def _ogrinfo_count(url: str) -> int:
    done = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", f"OAPIF:{url}", "-oo", "PAGE_SIZE=1000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return int(re.search(r"Feature Count: (\d+)", done.stdout).group(1))


def test_ogrinfo_with_a_period_or_datetime_returns_that_month_only(api, served):
    url = api["url"]
    october = _period_cells(api, "2026-10")
    assert len(october) != len(served.cells)
    assert _ogrinfo_count(f"{url}/collections/cells?period=2026-10") == len(october)
    measured_in_october = int(october["first_date"].notna().sum())
    assert _ogrinfo_count(f"{url}/collections/cells?period=2026-10&datetime=2026-10-01/2026-10-31") == (
        measured_in_october
    )
    assert _ogrinfo_count(f"{url}/collections/cells?datetime=2026-10-01/2026-10-31") == 0  # the served run: 2024


# ----------------------------------------------------------------------------------------------
# Periods


def test_periods_are_listed_and_filter_gaps_communes_and_collections(client, api, served):
    listed = client.get("/periods").json()["items"]
    assert [p["period"] for p in listed] == list(MONTHS)
    october = _period_cells(api, "2026-10")
    items = client.get("/collections/cells/items", params={"period": "2026-10", "limit": 1}).json()
    assert items["numberMatched"] == len(october)
    assert "period=2026-10" in next(link for link in items["links"] if link["rel"] == "next")["href"]
    gaps = client.get("/gaps", params={"period": "2026-09"}).json()
    assert gaps["numberMatched"] == len(served.gaps)
    communes = client.get("/communes", params={"period": "2026-09", "limit": 1}).json()
    assert communes["numberMatched"] == len(served.communes)
    summary = client.get("/summary", params={"period": "2026-10"}).json()
    assert summary["run"]["period"] == "2026-10"
    code = served.communes["commune_code"].iloc[0]
    assert client.get(f"/communes/{code}", params={"period": "2026-09"}).json()["commune_code"] == code
    missing = client.get("/gaps", params={"period": "2026-11"})
    assert missing.status_code == 404 and "2026-09" in missing.json()["message"]
    assert client.get("/gaps", params={"period": "October"}).json()["field"] == "period"


def test_compare_two_periods(client):
    change = client.get("/compare", params={"before": "2026-09", "after": "2026-10"})
    assert change.status_code == 200, change.text
    body = change.json()
    assert body["before"] == "2026-09" and body["after"] == "2026-10" and body["synthetic"] is True
    views = {(row["operator"], row["technology"]) for row in body["summary"]}
    assert ("all", "any") in views
    one = client.get("/compare", params={"before": "2026-09", "after": "2026-10", "operator": "viettel"}).json()
    assert {row["operator"] for row in one["summary"]} == {"viettel"}
    assert client.get("/compare", params={"before": "2026-10", "after": "2026-09"}).status_code == 400


# ----------------------------------------------------------------------------------------------
# Vector tiles


def _tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    col = int((lon + 180.0) / 360.0 * n)
    row = int((1.0 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2.0 * n)
    return row, col


def test_a_vector_tile_decodes_to_the_cells_it_covers(client, served):
    tileset = client.get("/collections/cells/tiles/WebMercatorQuad").json()
    template = next(link["href"] for link in tileset["links"] if link["rel"] == "item")
    assert "{tileMatrix}/{tileRow}/{tileCol}" in template
    viettel = served.cells[served.cells["operator"] == "viettel"]
    centre = viettel.geometry.union_all().representative_point()
    zoom = 12
    row, col = _tile_of(centre.x, centre.y, zoom)
    path = f"/collections/cells/tiles/WebMercatorQuad/{zoom}/{row}/{col}"
    response = client.get(path, params={"operator": "viettel"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(response.content)["cells"]
    decoded = {f["properties"]["id"]: f for f in layer["features"]}
    box = shapely.box(*tile_bounds(zoom, row, col))
    covered = viettel[viettel.intersects(box)]
    expected = set(covered["h3"] + "_viettel_any")
    assert expected and set(decoded) == expected
    sample = covered.iloc[0]
    properties = decoded[f"{sample['h3']}_viettel_any"]["properties"]
    assert properties["state"] == sample["state"] and properties["operator"] == "viettel"
    # tile coordinates lie within the 4096 grid and its small buffer
    coordinates = np.concatenate([np.asarray(f["geometry"]["coordinates"][0]) for f in layer["features"]])
    assert coordinates.min() >= -64 and coordinates.max() <= 4096 + 64
    empty = client.get("/collections/cells/tiles/WebMercatorQuad/12/0/0")
    assert empty.status_code == 200 and not mapbox_vector_tile.decode(empty.content).get("cells", {}).get("features")
    default_view = mapbox_vector_tile.decode(client.get(path).content)["cells"]["features"]
    assert {f["properties"]["operator"] for f in default_view} == {"all"}  # one view a tile: all × any
    assert client.get("/collections/cells/tiles/WebMercatorQuad/2/9/0").status_code == 400
    assert client.get("/collections/villages/tiles/WebMercatorQuad/2/1/1").status_code == 404
    gaps = client.get(f"/collections/gaps/tiles/WebMercatorQuad/{zoom}/{row}/{col}", params={"operator": "viettel"})
    assert mapbox_vector_tile.decode(gaps.content)["gaps"]["features"]


def test_datetime_is_read_in_vietnam_time():
    from api.core import datetime_text, parse_datetime

    # 20:00 UTC on 31 October is 03:00 on 1 November in Đắk Nông
    assert parse_datetime("2026-10-31T20:00:00Z") == ("2026-11-01", "2026-11-01")
    assert parse_datetime("2026-10-01/..") == ("2026-10-01", None)
    assert parse_datetime("../2026-10-31T16:59:59Z") == (None, "2026-10-31")
    assert datetime_text(parse_datetime("2026-10-01/2026-10-31")) == "2026-10-01/2026-10-31"
    assert parse_datetime("") is None


# ----------------------------------------------------------------------------------------------
# Whole tables: paged lists, the run's own files


def test_gaps_geojson_is_paged_and_links_the_whole_file(client, api, served):
    page = client.get("/gaps", params={"f": "geojson"}).json()
    assert page["numberMatched"] == len(served.gaps)
    assert page["numberReturned"] == min(100, len(served.gaps)) == len(page["features"])
    links = {link["rel"]: link for link in page["links"]}
    assert "limit=100" in links["self"]["href"]  # a page, like the collections, not everything
    two = client.get("/gaps", params={"f": "geojson", "limit": 2}).json()
    assert len(two["features"]) == 2 and "offset=2" in next(x for x in two["links"] if x["rel"] == "next")["href"]
    enclosure = links["enclosure"]  # the whole table: the run folder's own file
    assert enclosure["href"].endswith("/files/gaps.parquet")
    whole = httpx.get(enclosure["href"])
    assert whole.status_code == 200 and whole.headers["x-lomsong-synthetic"] == "true"
    assert whole.content == (api["settings"].run_folder / "gaps.parquet").read_bytes()
    assert "synthetic" in whole.headers["content-disposition"]


def test_files_lists_only_the_run_tables_by_plain_name(client, api):
    listed = client.get("/files").json()["items"]
    names = {item["name"] for item in listed}
    assert {"gaps.parquet", "cells.parquet"} <= names and "run.json" not in names
    for item in listed:
        assert item["bytes"] == (api["settings"].run_folder / item["name"]).stat().st_size
    for bad in ("run.json", "..%2Frun.json", "nothing.geojson", "%2Fetc%2Fpasswd"):
        response = client.get(f"/files/{bad}")
        assert response.status_code == 404, bad
    october = client.get("/files", params={"period": "2026-10"}).json()["items"]
    assert all("period=2026-10" in item["href"] for item in october) and october


def test_datetime_on_a_collection_without_time_matches_every_feature(client):
    """OGC API - Features Part 1: ``datetime`` matches the features not associated with a time."""
    for collection in ("communes", "villages"):
        everything = client.get(f"/collections/{collection}/items", params={"limit": 1}).json()["numberMatched"]
        dated = client.get(f"/collections/{collection}/items", params={"limit": 1, "datetime": "2026-10-01/.."})
        assert dated.status_code == 200 and dated.json()["numberMatched"] == everything > 0, collection
        assert "datetime=2026-10-01%2F.." in next(x for x in dated.json()["links"] if x["rel"] == "next")["href"]
        malformed = client.get(f"/collections/{collection}/items", params={"datetime": "October"})
        assert malformed.status_code == 400 and malformed.json()["field"] == "datetime", collection


# ----------------------------------------------------------------------------------------------
# GeoParquet


GEOPARQUET_GEOMETRY_TYPES = {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}


def test_cells_parquet_carries_geoparquet_metadata_as_the_spec_asks(served, tmp_path):
    """The run writer's ``cells.parquet``: GeoParquet 1.x "geo" metadata that GDAL's Parquet driver reads."""
    import pyarrow.parquet as pq

    from lomsong.products.tables import write_geoparquet

    # stored as EPSG:4326 whatever the frame comes in
    path = write_geoparquet(served.cells.to_crs(32648), tmp_path / CELLS_PARQUET)
    schema = pq.read_schema(path)
    geo = json.loads(schema.metadata[b"geo"])
    assert geo["version"].split(".")[0] == "1" and geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB" and schema.field("geometry").type in ("binary", "large_binary")
    assert set(column["geometry_types"]) <= GEOPARQUET_GEOMETRY_TYPES | {f"{t} Z" for t in GEOPARQUET_GEOMETRY_TYPES}
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}  # PROJJSON, as the spec asks
    frame = gpd.read_parquet(path)
    assert np.allclose(column["bbox"], frame.total_bounds)
    for part in column.get("covering", {}).get("bbox", {}).values():
        assert part[0] in schema.names  # the covering column the metadata names exists
    assert frame.crs.to_epsg() == 4326 and len(frame) == len(served.cells)
    assert shapely.from_wkb(pq.read_table(path, columns=["geometry"])["geometry"][0].as_py()).is_valid


# ----------------------------------------------------------------------------------------------
# HTML pages (Jinja templates)


def test_html_pages_read_in_vietnamese_with_the_glossary_headers(client, served):
    from lomsong.products.words import header, text

    page = client.get("/collections/gaps/items", params={"f": "html", "limit": 2})
    assert page.headers["content-type"].startswith("text/html")
    assert f'<th title="population">{header("population")}</th>' in page.text  # the glossary's header
    assert text("vi", "api_page_count", returned=2, matched=len(served.gaps)) in page.text
    assert text("vi", "synthetic") in page.text  # the simulated-data banner
    conformance = client.get("/conformance", params={"f": "html"}).text
    assert text("vi", "api_conformance") in conformance and "conf/core</li>" in conformance


def test_html_templates_escape_every_value():
    """Autoescape is on: a name from the data is text, never markup."""
    from api.html import document_page, html_page

    hostile = '<script>window.__xss=1</script>"&'
    page = document_page(hostile, [{"rel": "self", "href": 'x"><img src=x>', "title": hostile}], description=hostile)
    text_page = page.decode("utf-8")
    assert "<script>" not in text_page and "<img" not in text_page and "&lt;script&gt;" in text_page
    assert "<b>" not in html_page("t", "<b>plain text</b>").decode("utf-8")  # a plain str body is escaped too


def test_list_routes_share_their_parameters(client):
    """Declared once (api.params): the same name has the same description and bounds on every list."""
    document = client.get("/openapi.json").json()
    paths = ("/gaps", "/communes", "/villages", "/collections/{collectionId}/items")
    for name in ("operator", "technology", "commune", "unit", "bbox", "datetime", "period"):
        seen = []
        for path in paths:
            for parameter in document["paths"][path]["get"]["parameters"]:
                if parameter.get("name") == name:
                    seen.append(json.dumps({k: parameter[k] for k in ("description", "schema") if k in parameter}))
        assert len(seen) == len(paths) and len(set(seen)) == 1, name
    assert client.get("/villages", params={"datetime": "2026-10-01/.."}).status_code == 200
    assert client.get("/claims", params={"datetime": "2026-10"}).status_code in (400, 404)  # claims take no time


def test_a_streamed_page_is_the_same_bytes_in_chunks(served):
    """The chunked writer yields the very bytes of the one-string writer, a few thousand features at a time."""
    from api.core import feature_collection_bytes, feature_collection_chunks, prepare_results

    cells = prepare_results(served).collection("cells")
    positions = np.arange(len(cells))
    links = [{"rel": "self", "href": "http://example.test/collections/cells/items"}]
    chunks = list(feature_collection_chunks(cells, positions, len(cells), links, chunk=500))
    assert len(chunks) == 2 + -(-len(cells) // 500)  # head, one chunk per 500 features, tail
    assert max(len(chunk) for chunk in chunks) < len(b"".join(chunks)) / 2  # never the whole page at once
    assert b"".join(chunks) == feature_collection_bytes(cells, positions, len(cells), links)
