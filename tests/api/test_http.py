"""The API over HTTP: a real uvicorn server on a loopback port, an example run, keys per role."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import threading
import time
from urllib.parse import urljoin

import geopandas as gpd
import httpx
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely

from api.app import create_app
from api.settings import ApiSettings
from lomsong import paths
from lomsong.tables.results import GAP_COLUMNS, RUN_JSON, load_run
from lomsong.testing import make_example_run, reference_communes
from tests.support.api_server import example_settings, live_server, make_keys, running_api
from tests.support.scenes import sample_slice

UPLOAD_LIMIT = 200 * 1024  # the G-NetTrack sample (281 kB) is above it, slices of it are below


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with running_api(tmp_path_factory.mktemp("api"), max_upload_bytes=UPLOAD_LIMIT) as server:
        yield server


@pytest.fixture(scope="module")
def client(api):
    with httpx.Client(base_url=api.url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def results(api):
    return load_run(api.settings.run_folder)


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> dict:
    """Every error is JSON {code, message, field}; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "field"}
    assert body["code"] and body["message"]
    if field is not None:
        assert body["field"] == field, body
    return body


def view(results, operator: str) -> pd.DataFrame:
    return results.gaps[results.gaps["operator"] == operator]


# ----------------------------------------------------------------------------------------------
# Reads


def test_health_and_summary_agree_with_the_run(client, results):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["results_loaded"] and health["synthetic"] is True

    summary = client.get("/summary").json()
    assert summary["synthetic"] is True and summary["run"]["synthetic"] is True
    views = {(v["operator"], v["technology"]): v for v in summary["views"]}
    for (operator, technology), gaps in results.gaps.groupby(["operator", "technology"]):
        assert views[(operator, technology)]["n_gaps"] == len(gaps)
        assert views[(operator, technology)]["gap_population"] == pytest.approx(gaps["population"].sum(), abs=0.1)
    for (operator, technology), rows in results.communes.groupby(["operator", "technology"]):
        assert views[(operator, technology)]["people_in_gaps"] == pytest.approx(rows["people_in_gaps"].sum(), abs=0.1)


def test_gap_filters_select_exactly_the_matching_rows(client, results):
    viettel = client.get("/gaps", params={"operator": "Viettel", "technology": "any"}).json()
    expected = view(results, "viettel")
    assert viettel["numberMatched"] == viettel["numberReturned"] == len(expected)
    assert {g["gap_id"] for g in viettel["items"]} == set(expected["gap_id"])
    assert all(g["synthetic"] is True for g in viettel["items"])

    # commune by name without diacritics nor prefix: "dak mil" is Thị trấn Đắk Mil (24664)
    by_name = client.get("/gaps", params={"commune": "dak mil"}).json()
    touching = results.gaps[results.gaps["commune_codes"].str.split(";").map(lambda codes: "24664" in codes)]
    assert {g["gap_id"] for g in by_name["items"]} == set(touching["gap_id"]) != set()
    by_code = client.get("/gaps", params={"commune": "24664"}).json()
    assert by_code["numberMatched"] == by_name["numberMatched"]

    district = client.get("/gaps", params={"district": "Đắk Mil"}).json()
    assert {g["gap_id"] for g in district["items"]} == set(
        results.gaps.loc[results.gaps["district"] == "Huyện Đắk Mil", "gap_id"]
    )

    threshold = float(results.gaps["population"].median())
    big = client.get("/gaps", params={"min_population": threshold}).json()
    assert big["numberMatched"] == int((results.gaps["population"] >= threshold).sum())
    likely = client.get("/gaps", params={"evidence": "likely"}).json()
    assert likely["numberMatched"] == int((results.gaps["evidence"] == "likely").sum()) > 0

    one = results.gaps.iloc[0].geometry
    box = shapely.box(*shapely.buffer(one.representative_point(), 0.001).bounds)
    in_box = client.get("/gaps", params={"bbox": ",".join(str(v) for v in box.bounds)}).json()
    assert {g["gap_id"] for g in in_box["items"]} == set(results.gaps.loc[results.gaps.intersects(box), "gap_id"])


def test_unit_filter_finds_the_2025_unit_by_code_or_plain_name(client, results):
    from lomsong._text import fold

    communes = results.communes.drop_duplicates("commune_code")
    unit_code, unit = communes.loc[communes["commune_code"] == "24664", ["unit_2025_code", "unit_2025"]].iloc[0]
    old = set(communes.loc[communes["unit_2025_code"] == unit_code, "commune_code"])
    touching = results.gaps[results.gaps["commune_codes"].str.split(";").map(lambda codes: bool(old & set(codes)))]
    plain = fold(unit).split(" ", 1)[1]  # "Xã Đắk Mil" typed as "dak mil"
    for text in (unit_code, unit, plain):
        found = client.get("/gaps", params={"unit": text}).json()
        assert {g["gap_id"] for g in found["items"]} == set(touching["gap_id"]) != set(), text
    assert all(g["unit_2025_code"] == unit_code for g in found["items"])
    rows = client.get("/communes", params={"unit": unit_code, "operator": "all"}).json()["items"]
    assert {r["commune_code"] for r in rows} == old and {r["unit_2025"] for r in rows} == {unit}
    assert_error(client.get("/gaps", params={"unit": "Phường Không Có"}), 400, "unit")


def test_gap_sort_and_paging_with_next_links(client, results):
    seen, matched, url = [], set(), "/gaps?limit=2&sort=-population"
    while url:
        page = client.get(url).json()
        matched.add(page["numberMatched"])
        assert page["numberReturned"] == len(page["items"]) <= 2
        seen += page["items"]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert matched == {len(results.gaps)}
    assert sorted(g["gap_id"] for g in seen) == sorted(results.gaps["gap_id"])
    populations = [g["population"] for g in seen]
    assert populations == sorted(populations, reverse=True)


def test_gap_downloads_in_every_format(client, results, tmp_path):
    expected = view(results, "viettel")
    params = {"operator": "viettel", "technology": "any"}

    csv = client.get("/gaps", params={**params, "f": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert re.search(r'filename="gaps_viettel_any_synthetic\.csv"', csv.headers["content-disposition"])
    table = pd.read_csv(io.StringIO(csv.text), dtype={"commune_code": str})
    assert len(table) == len(expected)
    assert set(GAP_COLUMNS) - {"geometry"} <= set(table.columns) and table["synthetic"].all()
    assert set(table["gap_id"]) == set(expected["gap_id"])

    geojson = client.get("/gaps", params=params, headers={"Accept": "application/geo+json"})
    assert geojson.headers["content-type"] == "application/geo+json"
    collection = geojson.json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == len(expected)
    frame = gpd.read_file(io.BytesIO(geojson.content))
    assert set(frame.geom_type) <= {"Polygon", "MultiPolygon"}
    original = expected.set_index("gap_id").geometry.to_crs(32648).area.sort_index()
    # coordinates are served at 6 decimals (about 0.1 m): areas agree to 1e-4
    assert np.allclose(frame.set_index("gap_id").geometry.to_crs(32648).area.sort_index(), original, rtol=1e-4)

    xlsx = client.get("/gaps", params={**params, "f": "xlsx"})
    assert xlsx.headers["content-disposition"].endswith('gaps_viettel_any_synthetic.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    rows = list(book["gaps"].iter_rows(values_only=True))
    assert "MÔ PHỎNG" in rows[0][0]  # the synthetic note, then the same headers as the run's gaps.xlsx
    assert "Số dân" in rows[1] and "Mã vùng lõm" in rows[1]
    assert len(rows) == len(expected) + 2
    assert "Chú giải" in book.sheetnames

    gpkg = client.get("/gaps", params=params, headers={"Accept": "application/geopackage+sqlite3"})
    path = tmp_path / "gaps.gpkg"
    path.write_bytes(gpkg.content)
    layer = pyogrio.read_dataframe(path)
    assert len(layer) == len(expected) and layer.crs.to_epsg() == 4326


def test_gap_by_id_communes_and_villages(client, results):
    gap_id = results.gaps["gap_id"].iloc[0]
    row = client.get(f"/gaps/{gap_id}").json()
    assert row["gap_id"] == gap_id and row["population"] == pytest.approx(results.gaps["population"].iloc[0])
    feature = client.get(f"/gaps/{gap_id}", params={"f": "geojson"}).json()
    assert feature["type"] == "Feature" and feature["id"] == gap_id
    assert_error(client.get("/gaps/no-such-gap"), 404)

    commune = client.get("/communes/DAK R'LA").json()
    assert commune["commune_code"] == "24670" and commune["gaps"]
    assert all("24670" in g["commune_codes"].split(";") for g in commune["gaps"])
    listed = client.get("/communes", params={"operator": "all", "limit": 1000}).json()
    assert listed["numberMatched"] == int((results.communes["operator"] == "all").sum())

    villages = client.get("/villages", params={"f": "geojson"}).json()
    assert len(villages["features"]) == len(results.villages)


def test_every_client_error_is_json_naming_the_field(client):
    assert_error(client.get("/gaps", params={"bbox": "1,2,3"}), 400, "bbox")
    assert_error(client.get("/gaps", params={"bbox": "a,b,c,d"}), 400, "bbox")
    assert_error(client.get("/gaps", params={"limit": 0}), 400, "limit")
    assert_error(client.get("/gaps", params={"offset": -1}), 400, "offset")
    assert_error(client.get("/gaps", params={"operator": "orange"}), 400, "operator")
    assert_error(client.get("/gaps", params={"technology": "6G"}), 400, "technology")
    assert_error(client.get("/gaps", params={"commune": "Atlantis"}), 400, "commune")
    assert_error(client.get("/gaps", params={"sort": "colour"}), 400, "sort")
    assert_error(client.get("/gaps", params={"f": "pdf"}), 400, "f")
    assert_error(client.get("/gaps", params={"min_population": "many"}), 400, "min_population")
    assert_error(client.get("/collections/cells/items", params={"commune": "24664"}), 400, "commune")
    assert_error(client.get("/collections/nothing"), 404)
    assert_error(client.get("/no/such/page"), 404)
    assert_error(client.post("/gaps"), 405)
    assert_error(client.post("/runs"), 401)


def test_large_bodies_are_gzipped(client):
    response = client.get("/collections/cells/items", params={"limit": 500}, headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["numberReturned"] == 500


# ----------------------------------------------------------------------------------------------
# OGC API - Features


def test_ogc_landing_conformance_and_collections(client, results):
    landing = client.get("/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    service = next(link["href"] for link in landing["links"] if link["rel"] == "service-desc")
    assert client.get(service).json()["openapi"].startswith("3.")

    conformance = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance

    collections = client.get("/collections").json()["collections"]
    assert [c["id"] for c in collections] == ["communes", "gaps", "cells", "villages"]
    gaps = client.get("/collections/gaps").json()
    west, south, east, north = gaps["extent"]["spatial"]["bbox"][0]
    minx, miny, maxx, maxy = results.gaps.total_bounds
    assert (west, south, east, north) == pytest.approx((minx, miny, maxx, maxy))

    page = client.get("/collections/gaps/items", params={"limit": 3, "offset": 3}).json()
    assert page["numberMatched"] == len(results.gaps) and page["numberReturned"] == 3
    assert {link["rel"] for link in page["links"]} >= {"self", "next", "prev"}
    fid = page["features"][0]["id"]
    feature = client.get(f"/collections/gaps/items/{fid}").json()
    assert feature["id"] == fid and any(link["rel"] == "collection" for link in feature["links"])
    html = client.get("/collections/gaps/items", params={"f": "html", "limit": 2})
    assert html.headers["content-type"].startswith("text/html") and "mô phỏng" in html.text
    assert client.get("/", headers={"Accept": "text/html"}).headers["content-type"].startswith("text/html")


#: Run GDAL in another process: the driver holds the GIL while it waits for HTTP, which would
#: stall the server thread of this process.
GDAL_READER = """
import json, sys
import pyogrio
source = sys.argv[1]
layers = [name for name, _ in pyogrio.list_layers(source)]
gaps = pyogrio.read_dataframe(source, layer="gaps", PAGE_SIZE=2)
cells = pyogrio.read_dataframe(source, layer="cells", where="state = 'weak'")
print(json.dumps({"layers": layers, "gap_ids": gaps["gap_id"].tolist(), "epsg": gaps.crs.to_epsg(),
                  "types": sorted(set(gaps.geom_type)), "weak_cells": len(cells)}))
"""


def test_gdal_ogc_api_driver_reads_every_gap(api, results):
    """GDAL's OAPIF driver (the one QGIS uses) lists the collections and pages through every gap."""
    done = subprocess.run(
        [sys.executable, "-c", GDAL_READER, f"OAPIF:{api.url}/"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"communes", "gaps", "cells", "villages"} <= set(read["layers"])
    numbers = httpx.get(f"{api.url}/collections/gaps/items", params={"limit": 1}).json()
    assert len(read["gap_ids"]) == numbers["numberMatched"] == len(results.gaps)  # 2 a page: many next links
    assert sorted(read["gap_ids"]) == sorted(results.gaps["gap_id"])
    assert read["epsg"] == 4326 and set(read["types"]) <= {"Polygon", "MultiPolygon"}
    assert read["weak_cells"] == int((results.cells["state"] == "weak").sum())


# ----------------------------------------------------------------------------------------------
# Keys and uploads


def upload(client, api, who: str, content: bytes, name: str = "drive_test.txt") -> httpx.Response:
    return client.post("/measurements", files={"file": (name, content)}, headers=api.headers(who))


def test_uploads_need_an_operator_or_admin_key(client, api):
    content = sample_slice(20)
    assert_error(client.post("/measurements", files={"file": ("a.txt", content)}), 401, "X-API-Key")
    assert_error(upload(client, api, "reader", content), 403, "X-API-Key")
    bad = {"X-API-Key": api.keys["viettel"][:-2] + "xx"}
    assert_error(client.post("/measurements", files={"file": ("a.txt", content)}, headers=bad), 401)
    assert_error(client.get("/measurements", headers=api.headers("reader")), 403)


def test_operator_upload_report_and_same_file_twice(client, api):
    content = sample_slice(400)
    first = upload(client, api, "viettel", content, "Yas_log.txt")
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["format"] == "gnettrack" and report["sha256"] == hashlib.sha256(content).hexdigest()
    assert report["rows_read"] == 399 and report["owner"] == "viettel" and report["file"] == "Yas_log.txt"
    assert report["rows_read"] == report["accepted"] + report["outside_province"] + sum(report["rejected"].values())
    before = client.get("/measurements", headers=api.headers("admin")).json()["items"]

    again = upload(client, api, "viettel", content, "copy_of_it.txt").json()
    assert again["duplicate_file"] is True and again["sha256"] == report["sha256"]
    after = client.get("/measurements", headers=api.headers("admin")).json()["items"]
    assert len(after) == len(before)


def test_operator_cannot_read_list_or_delete_another_operators_upload(client, api):
    mine = upload(client, api, "viettel", sample_slice(120)).json()["sha256"]
    theirs = upload(client, api, "vinaphone", sample_slice(130, "vinaphone")).json()["sha256"]

    viettel_list = {u["sha256"] for u in client.get("/measurements", headers=api.headers("viettel")).json()["items"]}
    vinaphone_list = {
        u["sha256"] for u in client.get("/measurements", headers=api.headers("vinaphone")).json()["items"]
    }
    assert mine in viettel_list and theirs not in viettel_list
    assert theirs in vinaphone_list and mine not in vinaphone_list
    assert all(
        u["owner"] == "vinaphone" for u in client.get("/measurements", headers=api.headers("vinaphone")).json()["items"]
    )

    assert client.get(f"/measurements/{mine}", headers=api.headers("viettel")).json()["sha256"] == mine
    assert_error(client.get(f"/measurements/{theirs}", headers=api.headers("viettel")), 404)
    assert_error(client.delete(f"/measurements/{theirs}", headers=api.headers("viettel")), 404)
    assert theirs in {u["sha256"] for u in client.get("/measurements", headers=api.headers("admin")).json()["items"]}

    assert client.delete(f"/measurements/{mine}", headers=api.headers("viettel")).json()["deleted"] is True
    assert client.delete(f"/measurements/{theirs}", headers=api.headers("admin")).json()["deleted"] is True
    remaining = {u["sha256"] for u in client.get("/measurements", headers=api.headers("admin")).json()["items"]}
    assert mine not in remaining and theirs not in remaining


def test_same_file_from_two_operators_belongs_to_both(client, api):
    shared = sample_slice(140)
    first = upload(client, api, "viettel", shared).json()
    again = upload(client, api, "vinaphone", shared).json()
    assert again["sha256"] == first["sha256"] and again["duplicate_file"] is True
    sha = first["sha256"]

    def listed(who: str) -> dict:
        return {u["sha256"]: u for u in client.get("/measurements", headers=api.headers(who)).json()["items"]}

    assert listed("viettel")[sha]["owner"] == "viettel"
    assert listed("vinaphone")[sha]["owner"] == "vinaphone"  # never shows who else sent it
    assert client.delete(f"/measurements/{sha}", headers=api.headers("viettel")).json()["deleted"] is True
    assert sha not in listed("viettel")
    assert sha in listed("vinaphone") and sha in listed("admin")  # still vinaphone's upload
    assert client.delete(f"/measurements/{sha}", headers=api.headers("vinaphone")).json()["deleted"] is True
    assert sha not in listed("admin")


def test_upload_size_limit_and_unreadable_files(client, api):
    whole = paths.gnettrack_sample_path().read_bytes()
    assert len(whole) > UPLOAD_LIMIT
    body = assert_error(upload(client, api, "viettel", whole, "Yas_log.txt"), 413, "file")
    assert "limit" in body["message"]
    # Sent chunked, without Content-Length: cut off while being read.
    request = httpx.Request("POST", "/measurements", files={"file": ("Yas_log.txt", whole)})
    multipart = request.read()
    chunks = (multipart[i : i + 65536] for i in range(0, len(multipart), 65536))
    headers = {**api.headers("viettel"), "Content-Type": request.headers["Content-Type"]}
    assert_error(client.post("/measurements", content=chunks, headers=headers), 413, "file")
    assert_error(upload(client, api, "viettel", b"", "empty.txt"), 400, "file")
    assert_error(upload(client, api, "viettel", b"\x00\x01 not a measurement file \xff", "junk.bin"), 400)


def test_read_key_required_when_configured(tmp_path):
    with running_api(tmp_path, read_requires_key=True) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/health").status_code == 200
        assert_error(http.get("/gaps"), 401, "X-API-Key")
        assert_error(http.get("/collections/gaps/items"), 401, "X-API-Key")
        assert http.get("/gaps", headers=server.headers("reader")).status_code == 200
        assert http.get("/gaps", headers=server.headers("viettel")).status_code == 200


# ----------------------------------------------------------------------------------------------
# Runs


def test_admin_rerun_swaps_results_atomically(tmp_path):
    release = threading.Event()

    def runner(settings: ApiSettings, options, out) -> dict:
        # Stand-in for the pipeline: wait, then write a new run with one gap fewer into the candidate folder.
        release.wait(30)
        new = make_example_run(reference_communes(), out)
        gaps = new.gaps.iloc[1:]
        gaps.to_parquet(new.folder / "gaps.parquet", index=False)
        meta = {"synthetic": True, "run_id": "second", "counts": {"measurements": 5000}}
        (new.folder / RUN_JSON).write_text(json.dumps(meta), encoding="utf-8")
        return {"gaps": len(gaps)}

    with running_api(tmp_path, runner=runner) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        before = http.get("/gaps").json()["numberMatched"]
        assert_error(http.post("/runs", headers=server.headers("viettel")), 403)
        started = http.post("/runs", headers=server.headers("admin"))
        assert started.status_code == 202
        run_id = started.json()["id"]
        assert http.get(f"/runs/{run_id}", headers=server.headers("admin")).json()["state"] in ("queued", "running")
        assert http.get("/gaps").json()["numberMatched"] == before  # old results while it runs
        release.set()
        state = {}
        for _ in range(600):
            state = http.get(f"/runs/{run_id}", headers=server.headers("admin")).json()
            if state["state"] in ("done", "failed"):
                break
            time.sleep(0.05)
        assert state["state"] == "done", state
        assert state["summary"]["gaps"] == before - 1 and state["summary"]["replaced"] is True
        assert http.get("/gaps").json()["numberMatched"] == before - 1
        assert http.get("/summary").json()["run"]["run_id"] == "second"
        assert_error(http.get("/runs/nope", headers=server.headers("admin")), 404)


def test_failed_run_reports_its_error_and_keeps_serving(tmp_path):
    def runner(settings: ApiSettings, options, out) -> None:
        raise RuntimeError("the store is empty")

    with running_api(tmp_path, runner=runner) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        before = http.get("/gaps").json()["numberMatched"]
        run_id = http.post("/runs", headers=server.headers("admin")).json()["id"]
        for _ in range(600):
            state = http.get(f"/runs/{run_id}", headers=server.headers("admin")).json()
            if state["state"] in ("done", "failed"):
                break
            time.sleep(0.05)
        assert state["state"] == "failed" and "the store is empty" in state["error"]
        assert http.get("/gaps").json()["numberMatched"] == before


def test_no_run_yet_answers_503_json(tmp_path):
    settings = ApiSettings(run_folder=tmp_path / "none", store_dir=tmp_path / "store", keys_db=tmp_path / "k.sqlite")
    make_keys(settings)
    with live_server(create_app(settings)) as url:
        health = httpx.get(f"{url}/health").json()
        assert health["results_loaded"] is False and "lomsong run" in health["message"]
        assert_error(httpx.get(f"{url}/gaps"), 503)
        assert_error(httpx.get(f"{url}/collections"), 503)


# ----------------------------------------------------------------------------------------------
# Map pages


def test_map_pages_load_their_assets_from_the_api(client, api):
    page = client.get("/maps/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # relative links (never built from the request's Host), resolved against the page's own URL
    assets = {urljoin(f"{api.url}/maps/", a) for a in re.findall(r'(?:src|href)="(assets/[^"]+)"', page.text)}
    assert assets and not re.search(r'(?:src|href)="(?:https?:)?//[^"]+\.(?:js|css)"', page.text)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    commune = client.get("/maps/communes/24664")
    assert commune.status_code == 200 and "Đắk Mil" in commune.text
    assert_error(client.get("/maps/communes/99999"), 404)
    assert_error(client.get("/maps/", params={"view": "orange"}), 400, "view")
    # Today's units have pages too, linked from the province map as the API serves them.
    assert "units/24615" in page.text
    unit = client.get("/maps/units/24615")
    assert unit.status_code == 200 and "Phường Nam Gia Nghĩa" in unit.text
    assert_error(client.get("/maps/units/99999"), 404)


def test_runs_left_running_by_a_stopped_server_are_reported_failed(tmp_path):
    """A server killed during a run leaves its record 'running'; the next start reports it failed."""
    import sqlite3

    settings = example_settings(tmp_path)
    runs_db = settings.keys_db.with_name("api_runs.sqlite")
    create_app(settings)  # creates the runs table
    with sqlite3.connect(runs_db) as connection:
        connection.execute(
            "INSERT INTO runs VALUES ('deadbeef0001', 'department', 'running', '2026-10-01T00:00:00+00:00', "
            "'2026-10-01T00:00:01+00:00', NULL, NULL, NULL)"
        )
    keys = make_keys(settings)
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        record = http.get("/runs/deadbeef0001", headers={"X-API-Key": keys["admin"]}).json()
    assert record["state"] == "failed"
    assert "server stopped" in record["error"]
