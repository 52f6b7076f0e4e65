"""Safe reruns over HTTP (issue 19): no rerun silently replaces the served run with an empty or much smaller one.

A stand-in runner writes hand-made runs with a chosen measurement count into the candidate folder
the API gives it; the real pipeline is exercised in ``test_api_pipeline.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from api.reruns import MUCH_SMALLER, RunOptions, candidate_result, decide, kept_inputs
from lomsong.tables.periods import period_dir
from lomsong.tables.results import RUN_JSON
from lomsong.testing import make_example_run, reference_communes
from tests.support.api_server import running_api

SERVED_MEASUREMENTS = 80_894


def _set_counts(folder: Path, measurements: int, **extra) -> None:
    meta = json.loads((folder / RUN_JSON).read_text(encoding="utf-8"))
    meta.update(counts={"measurements": measurements}, **extra)
    (folder / RUN_JSON).write_text(json.dumps(meta), encoding="utf-8")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    planned: list[int] = []
    seen: list[tuple[RunOptions, Path]] = []

    def runner(settings, options: RunOptions, out: Path) -> dict:
        measurements = planned.pop(0)
        folder = candidate_result(out, options)
        run = make_example_run(reference_communes(), folder)
        run.gaps.iloc[:1].to_parquet(folder / "gaps.parquet", index=False)  # one gap: a visibly new run
        _set_counts(folder, measurements, run_id=out.name)
        seen.append((options, out))
        return {"gaps": 1}

    with running_api(tmp_path_factory.mktemp("runs"), runner=runner) as server:
        _set_counts(server.settings.run_folder, SERVED_MEASUREMENTS, run_id="served")
        (server.settings.run_folder / "periods").mkdir()
        (server.settings.run_folder / "notes.txt").write_text("kept across reruns", encoding="utf-8")
        server.planned, server.seen = planned, seen
        yield server


@pytest.fixture(scope="module")
def client(api):
    with httpx.Client(base_url=api.url, timeout=30) as http:
        yield http


def _finish(client, api, body: dict | None = None, measurements: int = 0) -> dict:
    api.planned.append(measurements)
    started = client.post("/runs", headers=api.headers("admin"), json=body)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    for _ in range(600):
        state = client.get(f"/runs/{run_id}", headers=api.headers("admin")).json()
        if state["state"] not in ("queued", "running"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def _served_run_id(client) -> str:
    return client.get("/summary").json()["run"]["run_id"]


def test_an_empty_rerun_fails_and_keeps_the_served_run(client, api):
    gaps_before = client.get("/gaps").json()["numberMatched"]
    state = _finish(client, api, measurements=0)
    assert state["state"] == "failed" and "no usable measurements" in state["error"]
    assert _served_run_id(client) == "served" and client.get("/gaps").json()["numberMatched"] == gaps_before
    assert not any((api.settings.run_folder.with_name("run-candidates")).glob(f"{state['id']}*"))


def test_a_much_smaller_rerun_stays_a_candidate_until_promoted(client, api):
    small = int(SERVED_MEASUREMENTS * MUCH_SMALLER) - 1
    state = _finish(client, api, measurements=small)
    assert state["state"] == "candidate", state
    assert state["summary"]["measurements"] == small and state["summary"]["served_measurements"] == SERVED_MEASUREMENTS
    assert "promote" in state["summary"]["decision"] and state["summary"]["replaced"] is False
    assert _served_run_id(client) == "served"

    viettel = client.post(f"/runs/{state['id']}/promote", headers=api.headers("viettel"))
    assert viettel.status_code == 403
    promoted = client.post(f"/runs/{state['id']}/promote", headers=api.headers("admin"))
    assert promoted.status_code == 200 and promoted.json()["state"] == "done"
    assert _served_run_id(client) == state["id"] and client.get("/gaps").json()["numberMatched"] == 1
    # the served folder kept what no run wrote: the monthly runs and the department's notes
    assert (api.settings.run_folder / "periods").is_dir()
    assert (api.settings.run_folder / "notes.txt").read_text(encoding="utf-8") == "kept across reruns"
    again = client.post(f"/runs/{state['id']}/promote", headers=api.headers("admin"))
    assert again.status_code == 409


def test_replace_true_serves_a_smaller_run_and_a_full_one_replaces_at_once(client, api):
    _set_counts(api.settings.run_folder, SERVED_MEASUREMENTS, run_id="served")
    state = _finish(client, api, {"replace": True}, measurements=100)
    assert state["state"] == "done" and state["summary"]["replaced"] is True
    assert _served_run_id(client) == state["id"]
    full = _finish(client, api, {"resolution": 9}, measurements=200)  # not smaller than the 100 served
    assert full["state"] == "done" and _served_run_id(client) == full["id"]
    assert api.seen[-1][0].resolution == 9


def test_a_period_rerun_writes_that_month_and_leaves_the_served_run(client, api):
    served = _served_run_id(client)
    state = _finish(client, api, {"period": "2026-10"}, measurements=500)
    assert state["state"] == "done", state
    month = period_dir("2026-10", api.settings.run_folder)
    assert json.loads((month / RUN_JSON).read_text(encoding="utf-8"))["counts"]["measurements"] == 500
    assert _served_run_id(client) == served
    assert [p["period"] for p in client.get("/periods").json()["items"]] == ["2026-10"]
    assert client.get("/gaps", params={"period": "2026-10"}).json()["numberMatched"] == 1


def test_bad_run_options_answer_400_naming_the_field(client, api):
    for body, field in (
        ({"period": "2026-13"}, "period"),
        ({"resolution": 12}, "resolution"),
        ({"period": "2026-10", "since": "2026-10-02"}, "period"),
        ({"villages": "/nonexistent/villages.csv"}, "villages"),
        ({"colour": "red"}, "colour"),
    ):
        response = client.post("/runs", headers=api.headers("admin"), json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["field"] == field, (body, response.json())


def test_decide_and_kept_inputs_follow_the_rules(tmp_path):
    served = {"counts": {"measurements": 1000}}
    assert decide({"counts": {"measurements": 0}}, served, replace=True).state == "failed"
    assert decide(None, served, replace=False).state == "failed"
    assert decide({"counts": {"measurements": 499}}, served, replace=False).state == "candidate"
    assert decide({"counts": {"measurements": 499}}, served, replace=True).state == "done"
    assert decide({"counts": {"measurements": 500}}, served, replace=False).state == "done"
    assert decide({"counts": {"measurements": 3}}, None, replace=False).state == "done"

    villages = tmp_path / "villages.xlsx.csv"
    villages.write_text("name,lon,lat\n", encoding="utf-8")
    meta = {
        "inputs": [{"role": "villages", "path": str(villages)}, {"role": "boundaries", "path": "/gone.gpkg"}],
        "configuration": {"resolution": 9, "min_samples": 7},
    }
    kept = kept_inputs(meta, RunOptions())
    assert kept["villages"] == villages and "boundaries" not in kept  # a vanished file is left to the default
    assert kept["config"].resolution == 9 and kept["config"].min_samples == 7
    assert kept_inputs(meta, RunOptions(resolution=10))["resolution"] == 10
