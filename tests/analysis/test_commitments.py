"""The follow-up of committed sites tells closed from still open and from not measured again.

Hand-made SYNTHETIC periods: three gaps of seven H3 cells each in the Viettel view of 2026-08; in
2026-09 the first is measured covered, the second still weak, the third not measured again.
"""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from lomsong.analysis.commitments import follow_up_commitments, latest_status
from lomsong.tables.commitments import COMMITMENT_COLUMNS, FOLLOWUP_COLUMNS
from lomsong.tables.results import RunResults

SITES = {"A": (107.70, 12.00), "B": (107.80, 12.10), "C": (107.90, 12.20)}


def _disk(site: str) -> list[str]:
    lon, lat = SITES[site]
    return sorted(h3.grid_disk(h3.latlng_to_cell(lat, lon, 8), 1))


def _run(name: str, states: dict[str, str]) -> RunResults:
    """A run of the Viettel view: ``states`` gives each site's seven cells one state (absent: not measured)."""
    rows = []
    for site, state in states.items():
        for position, cell in enumerate(_disk(site)):
            rows.append({"h3": cell, "state": state, "population": 10.0 * (position + 1), "site": site})
    cells = pd.DataFrame(rows).assign(operator="viettel", technology="any")
    cells["gap_id"] = np.where(cells["state"] == "weak", "viettel-any-" + name + "-" + cells["site"], "")
    members = cells[cells["gap_id"] != ""]
    gaps = []
    for gap_id, group in members.groupby("gap_id"):  # three gaps at most
        outline = shapely.union_all([shapely.Polygon([(b, a) for a, b in h3.cell_to_boundary(c)]) for c in group["h3"]])
        gaps.append(
            {"operator": "viettel", "technology": "any", "gap_id": gap_id, "n_cells": len(group),
             "population": group["population"].sum(), "area_km2": 5.0, "commune_code": "1", "commune": "Xã X",
             "unit_2025_code": "9", "unit_2025": "Xã Y", "district": "Huyện Z", "geometry": outline}
        )
    gap_table = gpd.GeoDataFrame(gaps, geometry="geometry", crs="EPSG:4326") if gaps else gpd.GeoDataFrame(
        columns=["operator", "technology", "gap_id", "n_cells", "population", "area_km2", "geometry"],
        geometry="geometry", crs="EPSG:4326",
    )
    return RunResults(folder=None, meta={"period": name, "synthetic": True}, gaps=gap_table,
                      cells=cells.drop(columns="site"), communes=pd.DataFrame())


@pytest.fixture(scope="module")
def periods() -> dict[str, RunResults]:
    return {
        "2026-08": _run("2026-08", {"A": "weak", "B": "weak", "C": "weak"}),
        "2026-09": _run("2026-09", {"A": "covered", "B": "weak"}),  # C: nobody measured there again
    }


def _commitments(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["operator", "site", "technology", "planned_month"])
    frame["lon"] = frame["site"].map(lambda s: SITES[s][0])
    frame["lat"] = frame["site"].map(lambda s: SITES[s][1])
    frame["site_id"] = "site-" + frame["site"] + "-" + frame["planned_month"]
    frame["commitment_id"] = frame["operator"] + ":" + frame["site_id"]
    frame["note"], frame["source_row"] = "", (frame.index + 2).astype(str)
    return frame[COMMITMENT_COLUMNS]


def test_gaps_around_a_built_site_closed_and_around_others_not(periods):
    commitments = _commitments(
        [("viettel", "A", "4G", "2026-09"), ("viettel", "B", "4G", "2026-09"), ("viettel", "C", "4G", "2026-09"),
         ("vinaphone", "A", "4G", "2026-09"), ("viettel", "B", "4G", "2026-10")]
    )
    followup = follow_up_commitments(commitments, periods, radius_m=3000.0)
    assert list(followup.columns) == FOLLOWUP_COLUMNS
    by_site = followup.set_index("commitment_id")
    a, b, c = (by_site.loc[f"viettel:site-{s}-2026-09"] for s in "ABC")
    assert (a["status"], b["status"], c["status"]) == ("closed", "still_open", "not_remeasured")
    assert a["baseline_period"] == "2026-08" and a["period"] == "2026-09"
    # every baseline gap cell around the site is accounted for, once
    for row in (a, b, c):
        assert row["gap_cells_before"] == 7
        assert row["cells_measured_covered"] + row["cells_still_weak"] + row["cells_not_remeasured"] == 7
    assert a["people_newly_covered"] == pytest.approx(a["gap_people_before"]) == pytest.approx(280.0)
    assert b["people_newly_covered"] == 0.0
    assert a["change_statuses"] == "closed: 1" and b["change_statuses"] == "persisting: 1"
    assert a["gap_ids_before"] == "viettel-any-2026-08-A"  # B's gap is 15 km away
    assert by_site.loc["vinaphone:site-A-2026-09"]["status"] == "no_gap_before"  # another network's view
    assert by_site.loc["viettel:site-B-2026-10"]["status"] == "not_measured_yet"
    assert by_site.loc["viettel:site-B-2026-10"]["baseline_period"] == "2026-09"


def test_a_plan_site_counts_only_the_gap_cells_in_its_predicted_coverage(periods):
    commitments = _commitments([("viettel", "A", "4G", "2026-09")])
    centre = h3.latlng_to_cell(SITES["A"][1], SITES["A"][0], 8)
    area = shapely.Polygon([(b, a) for a, b in h3.cell_to_boundary(centre)]).buffer(1e-4)
    followup = follow_up_commitments(commitments, periods, areas={commitments["commitment_id"][0]: area})
    row = followup.iloc[0]
    assert row["area"] == "predicted_coverage" and row["gap_cells_before"] == 1 and row["status"] == "closed"


def test_latest_status_keeps_one_row_per_site_with_its_history(periods):
    later = dict(periods) | {"2026-10": _run("2026-10", {"A": "covered", "B": "covered"})}
    commitments = _commitments([("viettel", "B", "4G", "2026-09")])
    followup = follow_up_commitments(commitments, later)
    assert followup["period"].tolist() == ["2026-09", "2026-10"]
    latest = latest_status(followup)
    assert len(latest) == 1 and latest.iloc[0]["status"] == "closed"
    assert latest.iloc[0]["history"] == "2026-09: still_open; 2026-10: closed"
