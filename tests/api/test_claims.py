"""``/claims`` and ``/challenges`` over HTTP: a real server over a run of the planted over-claim (SYNTHETIC)."""

from __future__ import annotations

import io

import httpx
import openpyxl
import pytest

from api.app import create_app
from api.settings import ApiSettings
from lomsong.analysis.engine import analyse
from lomsong.products.tables import write_run
from lomsong.settings import Config
from lomsong.tables.results import load_run
from tests.support.api_server import live_server
from tests.support.scenes import planted_scene


@pytest.fixture(scope="module")
def served(tmp_path_factory, communes, population_surface):
    folder = tmp_path_factory.mktemp("claims-api")
    measurements, claims, _ = planted_scene()
    analysis = analyse(measurements, communes, population_surface, Config(), claims=claims)
    write_run(
        analysis, folder / "run", {"tool": "lomsong", "synthetic": True, "counts": analysis.counts}, synthetic=True
    )
    settings = ApiSettings(run_folder=folder / "run", store_dir=folder / "store", keys_db=folder / "keys.sqlite")
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, load_run(folder / "run")


def test_claims_endpoint_serves_the_run_figures(served):
    client, results = served
    body = client.get("/claims", params={"operator": "viettel", "technology": "4G", "limit": 1000}).json()
    rows = body["items"]
    n_units = results.claims.loc[results.claims["level"] == "unit_2025", "unit_2025_code"].nunique()
    assert n_units > 0
    assert body["numberMatched"] == len(rows) == 1 + n_units + 71  # the province, its 2025 units, 71 communes
    assert rows and all(r["operator"] == "viettel" and r["technology"] == "4G" for r in rows)
    assert all(r["synthetic"] is True for r in rows)
    province = next(r for r in rows if r["level"] == "province")
    expected = results.claims[(results.claims["level"] == "province") & (results.claims["technology"] == "4G")]
    assert province["over_claim_people"] == pytest.approx(float(expected["over_claim_people"].iloc[0]))
    assert province["verified_people"] + province["over_claim_people"] + province["unverified_people"] == pytest.approx(
        province["claimed_people"]
    )
    workbook = openpyxl.load_workbook(io.BytesIO(client.get("/claims", params={"f": "xlsx"}).content), read_only=True)
    assert workbook.worksheets


def test_challenges_endpoint_is_geojson_with_evidence(served):
    client, results = served
    response = client.get("/challenges", params={"f": "geojson"})
    assert response.status_code == 200 and "geo+json" in response.headers["content-type"]
    features = response.json()["features"]
    assert len(features) == len(results.challenges) >= 1
    first = features[0]
    assert first["id"] == results.challenges["challenge_id"].iloc[0]
    assert first["geometry"]["type"] in ("Polygon", "MultiPolygon")
    for key in ("population", "area_km2", "n_samples", "n_devices", "n_days", "first_date", "last_date"):
        assert key in first["properties"]
    assert client.get("/challenges", params={"operator": "mobifone", "f": "geojson"}).json()["features"] == []
    bad = client.get("/challenges", params={"operator": "nokia"})
    assert bad.status_code == 400 and set(bad.json()) == {"code", "message", "field"}


def test_a_run_without_claim_maps_answers_404_and_operators_upload_their_own_maps(tmp_path):
    import geopandas as gpd

    from lomsong.reference.boundaries import STORAGE_CRS
    from lomsong.tables.store import MeasurementStore
    from tests.support.api_server import running_api

    _, claims, _ = planted_scene()
    claim = tmp_path / "vt_4g.geojson"
    gpd.GeoDataFrame(geometry=claims.geometry.values, crs=STORAGE_CRS).to_file(claim, driver="GeoJSON")
    form = {"technology": "4G", "claim_date": "2026-07-01"}
    with running_api(tmp_path / "api") as server, httpx.Client(base_url=server.url, timeout=60) as client:

        def send(who: str, data: dict, content: bytes | None = None) -> httpx.Response:
            files = {"file": ("vt_4g.geojson", content if content is not None else claim.read_bytes())}
            return client.post("/claim-maps", files=files, data=data, headers=server.headers(who))

        done = send("viettel", form)
        assert done.status_code == 200, done.text
        assert done.json()["kind"] == "claims" and done.json()["owner"] == "viettel" and done.json()["accepted"] == 2
        assert set(MeasurementStore(server.settings.store_dir).read_claims()["operator"]) == {"viettel"}
        assert send("viettel", form).json()["duplicate_file"] is True
        other = send("viettel", {**form, "operator": "mobifone"})
        assert other.status_code == 400 and other.json()["field"] == "operator"
        assert send("reader", form).status_code in (401, 403)
        bad = send("vinaphone", {"technology": "4G"}, claim.read_bytes() + b"\n")  # new bytes, no date anywhere
        assert bad.status_code == 400 and bad.json()["message"].startswith("vt_4g.geojson: feature 1: claim_date")

        for path in ("/claims", "/challenges"):
            response = client.get(path)
            assert response.status_code == 404
            assert "lomsong ingest --claims" in response.json()["message"]
        collections = [c["id"] for c in client.get("/collections").json()["collections"]]
        assert "claims" not in collections
