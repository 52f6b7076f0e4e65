"""End to end over HTTP with the real pipeline: an operator uploads, the department reruns, the API switches.

No stand-in runner here: ``POST /runs`` runs :func:`lomsong.jobs.run.run_analysis` on the store the
uploads went into, and the read endpoints must then serve that run's gaps.
"""

from __future__ import annotations

import dataclasses
import time

import httpx

from lomsong.simulate.demo import simulate
from lomsong.simulate.writers import write_generic_csv
from lomsong.tables.results import load_run
from tests.support.api_server import running_api


def test_upload_then_admin_rerun_serves_the_new_gaps(tmp_path, communes, population_surface):
    result = simulate(communes, population_surface, n_points=40_000, seed=5, n_gnettrack_devices=0)
    # an operator key may only add evidence about its own network: Viettel sends its own rows
    own = (result.measurements["operator"] == "viettel").to_numpy(bool)
    result = dataclasses.replace(result, measurements=result.measurements[own].reset_index(drop=True))
    csv = write_generic_csv(result, tmp_path / "viettel_drive_test_synthetic.csv")
    with running_api(tmp_path) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        example_gaps = http.get("/gaps").json()["numberMatched"]
        with open(csv, "rb") as handle:
            uploaded = http.post(
                "/measurements", headers=server.headers("viettel"), files={"file": (csv.name, handle, "text/csv")}
            )
        assert uploaded.status_code in (200, 201), uploaded.text
        report = uploaded.json()
        assert report["accepted"] > 10_000

        started = http.post("/runs", headers=server.headers("admin"))
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        state = {}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state = http.get(f"/runs/{run_id}", headers=server.headers("admin")).json()
            if state["state"] in ("done", "failed"):
                break
            time.sleep(0.5)
        assert state["state"] == "done", state

        written = load_run(server.settings.run_folder)
        assert written.meta["measurement_source"] == "store"
        assert written.meta["counts"]["measurements"] == report["accepted"]
        served = http.get("/gaps", params={"limit": 1}).json()["numberMatched"]
        assert served == len(written.gaps) != example_gaps
        lomsong = http.get("/gaps", params={"operator": "all", "limit": 1000}).json()
        assert {item["gap_id"] for item in lomsong["items"]} == set(
            written.gaps.loc[written.gaps["operator"] == "all", "gap_id"]
        )
        assert http.get("/maps/").status_code == 200
