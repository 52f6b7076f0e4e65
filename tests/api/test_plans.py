"""``POST /plans`` over real HTTP: operator keys plan their own network, admins any (SYNTHETIC example run).

The hand-made example run gets a radio-map model for Viettel and VinaPhone 4G in its ``run.json``
(as ``lomsong run --sites`` writes it), so the plan has a propagation model to place sites with.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from openpyxl import load_workbook

from api.app import create_app
from tests.support.api_server import ApiServer, example_settings, live_server, make_keys

MODEL = {
    "intercept_dbm": -90.0,
    "slope_db_per_decade": 35.0,
    "nugget_db2": 4.0,
    "sill_db2": 32.0,
    "threshold_dbm": -110.0,
}


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> ApiServer:
    """A server over the example run with a radio-map model; ``api.app`` is the application."""
    folder = tmp_path_factory.mktemp("plans-api")
    settings = example_settings(folder)
    run_json = Path(settings.run_folder) / "run.json"
    meta = json.loads(run_json.read_text(encoding="utf-8"))
    meta["prediction"] = {"covered_p": 0.8, "models": {"viettel/4G": MODEL, "vinaphone/4G": MODEL}}
    run_json.write_text(json.dumps(meta), encoding="utf-8")
    keys = make_keys(settings)
    app = create_app(settings)
    with live_server(app) as url:
        server = ApiServer(url=url, settings=settings, keys=keys)
        server.app = app
        yield server


def _post(api: ApiServer, who: str, files=None, **form) -> httpx.Response:
    return httpx.post(f"{api.url}/plans", data=form, files=files, headers=api.headers(who), timeout=120)


def test_an_operator_plans_its_own_network_and_downloads_the_files(api):
    answer = _post(api, "viettel", sites="3")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["operator"] == "viettel" and body["technology"] == "4G" and body["prediction"] is True
    assert body["synthetic"] is True
    people = [site["people_newly_covered"] for site in body["sites"]]
    assert 1 <= len(people) <= 3
    assert all(later <= earlier + 1e-9 for earlier, later in zip(people, people[1:], strict=False))
    assert body["people_newly_covered"] == pytest.approx(sum(people), abs=0.5)
    assert body["people_newly_covered"] <= body["people_in_scope_measured"] + body["people_in_scope_predicted"] + 0.5
    assert answer.headers["location"] == f"/plans/{body['id']}"
    downloads = {link["title"]: link["href"] for link in body["links"] if link["rel"] == "enclosure"}
    assert set(downloads) == {"plan.csv", "plan.xlsx", "plan.geojson"}

    csv = httpx.get(downloads["plan.csv"], headers=api.headers("viettel"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.lstrip("\ufeff").startswith("order,candidate_id")
    workbook = load_workbook(io.BytesIO(httpx.get(downloads["plan.xlsx"], headers=api.headers("viettel")).content))
    assert "Thứ tự" in [cell.value for row in workbook.worksheets[0].iter_rows(max_row=4) for cell in row]
    geojson = httpx.get(downloads["plan.geojson"], headers=api.headers("viettel")).json()
    kinds = [feature["properties"]["feature"] for feature in geojson["features"]]
    assert kinds.count("site") == len(people) and kinds.count("predicted_coverage") == len(people)

    again = httpx.get(f"{api.url}/plans/{body['id']}", headers=api.headers("viettel")).json()
    assert again["sites"] == body["sites"]
    # another operator's key cannot see it; the department's can
    assert httpx.get(f"{api.url}/plans/{body['id']}", headers=api.headers("vinaphone")).status_code == 404
    assert httpx.get(downloads["plan.csv"], headers=api.headers("vinaphone")).status_code == 404
    assert httpx.get(f"{api.url}/plans/{body['id']}", headers=api.headers("admin")).status_code == 200


@pytest.mark.parametrize("operator", ["vinaphone", "VNPT", "all"])
def test_an_operator_key_cannot_plan_another_network(api, operator):
    answer = _post(api, "viettel", operator=operator)
    assert answer.status_code == 403
    error = answer.json()
    assert error["code"] == "other_operator" and error["field"] == "operator"
    assert "viettel" in error["message"]


def test_an_admin_plans_any_network_and_a_view_without_a_model_is_a_clear_422(api):
    vinaphone = _post(api, "admin", operator="VinaPhone", sites="2", antenna_m="45")
    assert vinaphone.status_code == 201, vinaphone.text
    assert vinaphone.json()["operator"] == "vinaphone" and vinaphone.json()["options"]["antenna_m"] == 45.0
    missing = _post(api, "admin", operator="viettel", technology="5G")
    assert missing.status_code == 422
    message = missing.json()["message"]
    assert "viettel/5G" in message and str(api.settings.run_folder) not in message


@pytest.mark.parametrize(
    ("form", "field"),
    [({"sites": "0"}, "sites"), ({"sites": "51"}, "sites"), ({"technology": "6G"}, "technology"),
     ({"antenna_m": "400"}, "antenna_m"), ({"operator": "nokia"}, "operator")],
)
def test_bad_options_are_a_400_naming_the_field(api, form, field):
    answer = _post(api, "admin", **form)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field


def test_readers_and_anonymous_callers_are_refused(api):
    assert _post(api, "reader").status_code == 403
    assert httpx.post(f"{api.url}/plans", data={}).status_code == 401


def test_uploaded_candidates_are_the_only_ones_and_a_bad_row_is_named(api):
    from lomsong.testing import reference_communes

    communes = reference_communes().set_index("commune_code")
    centre = communes.loc["24664"].geometry.representative_point()
    good = f"id,lon,lat,note\nmast-A,{centre.x:.6f},{centre.y:.6f},=cmd|' /C calc'!A0\nfar-away,106.0,20.9,\n"
    answer = _post(api, "viettel", files={"candidates": ("mine.csv", good.encode(), "text/csv")}, sites="2")
    assert answer.status_code == 201, answer.text
    chosen = [site["candidate_id"] for site in answer.json()["sites"]]
    assert chosen and set(chosen) <= {"mast-A", "far-away"} and chosen[0] == "mast-A"
    assert answer.json()["options"]["candidates"] == "mine.csv"
    csv = httpx.get(f"{api.url}/plans/{answer.json()['id']}/plan.csv", headers=api.headers("viettel")).text
    assert ",=cmd" not in csv and "'=cmd" in csv  # the note is text in the download, never a formula

    bad = "id,lon,lat\nmast-A,107.9,twelve\n"
    refused = _post(api, "viettel", files={"candidates": ("bad.csv", bad.encode(), "text/csv")})
    assert refused.status_code == 400
    error = refused.json()
    assert error["field"] == "candidates" and "bad.csv" in error["message"] and "row 2" in error["message"]
    assert "/tmp" not in error["message"]
    too_many = "id,lon,lat\n" + "".join(f"c{i},107.9,12.0\n" for i in range(5001))
    assert _post(api, "viettel", files={"candidates": ("many.csv", too_many.encode(), "text/csv")}).status_code == 413


def test_the_server_keeps_answering_while_a_plan_is_computed(api):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        plan = pool.submit(_post, api, "admin", operator="viettel", sites="5")
        health = [httpx.get(f"{api.url}/health", timeout=10).status_code for _ in range(3)]
        assert plan.result().status_code == 201
    assert health == [200, 200, 200]
    assert np.isfinite(plan.result().json()["people_newly_covered"])


def test_a_second_plan_waits_then_gets_a_503_while_one_is_computed(api, monkeypatch):
    from api import plans

    monkeypatch.setattr(plans, "WAIT_SECONDS", 0.2)
    slot = api.app.state.plan_slot
    assert slot.acquire(timeout=60)  # a plan "being computed"
    try:
        answer = _post(api, "admin")
    finally:
        slot.release()
    assert answer.status_code == 503 and answer.json()["code"] == "busy"
    assert _post(api, "admin", sites="1").status_code == 201  # once it is done, plans are made again


def test_each_key_lists_only_its_own_plans(api):
    made = _post(api, "viettel", sites="1").json()["id"]
    own = httpx.get(f"{api.url}/plans", headers=api.headers("viettel")).json()["items"]
    assert made in [item["id"] for item in own] and {item["operator"] for item in own} == {"viettel"}
    others = httpx.get(f"{api.url}/plans", headers=api.headers("vinaphone")).json()["items"]
    assert made not in [item["id"] for item in others]
    everything = httpx.get(f"{api.url}/plans", headers=api.headers("admin")).json()["items"]
    assert made in [item["id"] for item in everything]
    assert httpx.get(f"{api.url}/plans", headers=api.headers("reader")).status_code == 403
    assert httpx.get(f"{api.url}/plans/../../etc", headers=api.headers("admin")).status_code == 404
