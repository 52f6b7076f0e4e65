"""Comparing two runs: gaps matched by their cells, each change classified, people counted."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from lomsong.analysis.compare import CHANGE_COLUMNS, CHANGE_SUMMARY_COLUMNS, compare_runs, compare_villages
from lomsong.tables.results import CELL_STATE_SCHEMA, GAP_COLUMNS, RunResults

CENTRE = h3.latlng_to_cell(12.0, 107.7, 8)
UNIVERSE = sorted(h3.grid_disk(CENTRE, 8))
PEOPLE_PER_CELL = 25.0


def _cluster(lat: float, lon: float, radius: int) -> list[str]:
    return sorted(h3.grid_disk(h3.latlng_to_cell(lat, lon, 8), radius))


def _run(gaps_by_view: dict[tuple[str, str], list[list[str]]], name: str) -> RunResults:
    """A run whose cells are covered except the listed gaps (cells given per gap)."""
    cell_frames, gap_rows = [], []
    for (operator, technology), gaps in gaps_by_view.items():
        cells = pd.DataFrame({"h3": UNIVERSE, "operator": operator, "technology": technology})
        cells["state"] = "covered"
        cells["gap_id"] = ""
        cells["population"] = PEOPLE_PER_CELL
        for members in gaps:
            gap_id = f"{operator}-{technology}-{min(members)}"
            inside = cells["h3"].isin(members)
            cells.loc[inside, "state"] = "weak"
            cells.loc[inside, "gap_id"] = gap_id
            outline = shapely.geometry.shape(h3.cells_to_geo(members))
            gap_rows.append(
                {
                    "gap_id": gap_id,
                    "operator": operator,
                    "technology": technology,
                    "population": PEOPLE_PER_CELL * len(members),
                    "area_km2": 0.74 * len(members),
                    "n_cells": len(members),
                    "commune_code": "24664",
                    "commune": "Thị trấn Đắk Mil",
                    "district": "Huyện Đắk Mil",
                    "geometry": outline,
                }
            )
        cell_frames.append(cells)
    cells = pd.concat(cell_frames, ignore_index=True)
    for column, _ in CELL_STATE_SCHEMA:
        if column not in cells:
            cells[column] = pd.NA
    cells["geometry"] = None
    gaps = gpd.GeoDataFrame(gap_rows, geometry="geometry", crs="EPSG:4326") if gap_rows else None
    if gaps is None:
        gaps = gpd.GeoDataFrame({c: [] for c in GAP_COLUMNS}, geometry="geometry", crs="EPSG:4326")
    for column in GAP_COLUMNS:
        if column not in gaps:
            gaps[column] = pd.NA
    return RunResults(
        folder=Path(name),
        meta={"period": name, "synthetic": True},
        gaps=gaps[GAP_COLUMNS],
        cells=gpd.GeoDataFrame(cells, geometry="geometry", crs="EPSG:4326"),
        communes=pd.DataFrame(),
    )


KEPT = _cluster(12.0, 107.7, 1)  # 7 cells, stays the same
CLOSING = _cluster(12.03, 107.66, 1)  # 7 cells, covered later (a new site)
OPENING = _cluster(11.97, 107.74, 1)  # 7 cells, weak later (a site removed)
BIG = _cluster(11.97, 107.66, 2)  # 19 cells, later only its centre ring remains
SMALL = _cluster(11.97, 107.66, 1)  # its inner 7 cells


@pytest.fixture(scope="module")
def comparison():
    before = _run({("all", "any"): [KEPT, CLOSING, BIG], ("viettel", "any"): [KEPT]}, "2026-09")
    after = _run({("all", "any"): [KEPT, OPENING, SMALL], ("viettel", "any"): [KEPT, CLOSING]}, "2026-10")
    return compare_runs(before, after)


def _status_of(comparison, cells: list[str], operator: str = "all") -> str:
    rows = comparison.changes[comparison.changes["operator"] == operator]
    hits = rows[
        rows["gap_ids_before"].str.contains(f"-{min(cells)}") | rows["gap_ids_after"].str.contains(f"-{min(cells)}")
    ]
    assert len(hits) == 1, hits
    return hits["status"].iloc[0]


def test_closed_new_shrunk_persisting_are_told_apart(comparison):
    assert _status_of(comparison, CLOSING) == "closed"
    assert _status_of(comparison, OPENING) == "new"
    assert _status_of(comparison, BIG) == "shrunk"
    assert _status_of(comparison, KEPT) == "persisting"
    # The same cells opening for one operator is a new gap of that operator's view only.
    assert _status_of(comparison, CLOSING, operator="viettel") == "new"
    assert _status_of(comparison, KEPT, operator="viettel") == "persisting"


def test_tables_have_documented_columns_and_counts_add_up(comparison):
    assert list(comparison.changes.columns) == CHANGE_COLUMNS
    assert list(comparison.summary.columns) == CHANGE_SUMMARY_COLUMNS
    view = comparison.view("all", "any")
    assert (view["gaps_before"], view["gaps_after"]) == (3, 3)
    assert (view["closed"], view["new"], view["shrunk"], view["grew"], view["persisting"]) == (1, 1, 1, 0, 1)
    # Every gap of either run sits in exactly one change of its view.
    for side, column in (("before", "gap_ids_before"), ("after", "gap_ids_after")):
        ids = comparison.changes[column].str.split(";").explode()
        ids = ids[ids != ""]
        assert ids.is_unique, side
    assert comparison.summary["operator"].iloc[0] == "all"


def test_people_newly_covered_and_newly_weak(comparison):
    view = comparison.view("all", "any")
    closed_cells = len(CLOSING) + (len(BIG) - len(SMALL))
    assert view["people_newly_covered"] == pytest.approx(PEOPLE_PER_CELL * closed_cells)
    assert view["people_newly_weak"] == pytest.approx(PEOPLE_PER_CELL * len(OPENING))
    assert view["people_in_gaps_after"] - view["people_in_gaps_before"] == pytest.approx(
        view["people_newly_weak"] - view["people_newly_covered"]
    )
    shrunk = comparison.changes_of("shrunk").iloc[0]
    assert shrunk["cells_closed"] == len(BIG) - len(SMALL)
    assert shrunk["population_change"] == pytest.approx(-PEOPLE_PER_CELL * (len(BIG) - len(SMALL)))


def test_a_split_gap_is_one_change_with_two_later_gaps():
    ring = _cluster(12.0, 107.7, 2)
    west = [c for c in ring if h3.cell_to_latlng(c)[1] < 107.695]
    east = [c for c in ring if h3.cell_to_latlng(c)[1] > 107.705]
    before = _run({("all", "any"): [ring]}, "a")
    after = _run({("all", "any"): [west, east]}, "b")
    changes = compare_runs(before, after).changes
    assert len(changes) == 1
    assert changes["n_gaps_before"].iloc[0] == 1 and changes["n_gaps_after"].iloc[0] == 2
    assert changes["status"].iloc[0] == "shrunk"


def test_identical_runs_have_only_persisting_gaps(comparison):
    run = _run({("all", "any"): [KEPT, BIG]}, "x")
    result = compare_runs(run, run)
    assert set(result.changes["status"]) == {"persisting"}
    assert result.view()["people_newly_covered"] == 0


def test_villages_that_joined_and_left_the_list():
    before = pd.DataFrame(
        {"name": ["Thôn 1", "Bon A", "Buôn B"], "commune": ["X", "X", "Y"], "no_operator": [True, False, True]}
    )
    after = pd.DataFrame(
        {"name": ["Thôn 1", "Bon A", "Buôn B"], "commune": ["X", "X", "Y"], "no_operator": [False, True, True]}
    )
    changed = compare_villages(before, after)
    assert dict(zip(changed["name"], changed["change"], strict=True)) == {"Thôn 1": "left", "Bon A": "joined"}
    assert compare_villages(None, after).empty
    assert np.all(changed.loc[changed["change"] == "joined", "on_list_after"])


def test_simulated_months_new_sites_close_a_gap_and_an_outage_opens_one():
    """End to end: the simulator switches sites on and off in 2026-10; the comparison finds both."""
    from lomsong.jobs.monthly import compare_periods
    from lomsong.testing import simulated_period_pair

    products, simulation = simulated_period_pair()
    comparison = compare_periods("2026-09", "2026-10", products)
    notes = simulation.sites["note"].astype(str)
    new_sites = simulation.sites[notes.str.startswith("new site")]
    outage = simulation.sites[notes.str.startswith("off air")]
    assert len(new_sites) and len(outage)

    def near(sites: pd.DataFrame, status: str) -> pd.DataFrame:
        changes = comparison.changes_of(status).to_crs("EPSG:32648")
        points = gpd.GeoSeries(gpd.points_from_xy(sites["lon"], sites["lat"]), crs="EPSG:4326").to_crs("EPSG:32648")
        distance = changes.geometry.apply(lambda shape: points.distance(shape).min())
        return changes[distance < 1000]

    closed = near(new_sites, "closed")
    opened = near(outage, "new")
    assert len(closed) >= 1, "no gap closed where the new sites switched on"
    assert len(opened) >= 1, "no new gap where the sites went off air"
    assert (closed["population_after"] == 0).all() and (closed["population_before"] > 0).all()
    assert (opened["population_before"] == 0).all() and (opened["population_after"] > 0).all()
    view = comparison.view()
    assert view["people_newly_covered"] > 0 and view["people_newly_weak"] > 0
    assert comparison.synthetic
    # Every change names today's unit beside the old commune.
    assert comparison.changes["unit_2025_code"].str.fullmatch(r"\d{5}").all()
    assert comparison.changes["unit_2025"].notna().all()
    # A closed gap's people newly covered never exceed its people: only measured-covered cells count.
    closed_rows = comparison.changes[comparison.changes["status"] == "closed"]
    assert (closed_rows["people_newly_covered"] <= closed_rows["population_before"] + 1e-6).all()
    assert (closed_rows["share_measured_covered"] >= 2 / 3).all()


def _forget(run: RunResults, cells: list[str], *, state: str = "no_data", operator: str = "all") -> RunResults:
    """The same run with ``cells`` of one view set to ``state`` (e.g. not measured again)."""
    table = run.cells.copy()
    hit = table["h3"].isin(cells) & (table["operator"] == operator)
    table.loc[hit, "state"] = state
    return RunResults(folder=run.folder, meta=run.meta, gaps=run.gaps, cells=table, communes=run.communes)


def test_a_gap_nobody_measured_again_is_not_remeasured_not_closed():
    before = _run({("all", "any"): [CLOSING, KEPT]}, "2026-09")
    # Later: the CLOSING cells have no evidence at all (nobody drove there in October).
    after = _forget(_run({("all", "any"): [KEPT]}, "2026-10"), CLOSING)
    result = compare_runs(before, after)
    assert _status_of(result, CLOSING) == "not_remeasured"
    row = result.changes_of("not_remeasured").iloc[0]
    assert row["cells_not_remeasured"] == len(CLOSING) and row["cells_measured_covered"] == 0
    assert row["people_newly_covered"] == 0
    assert row["people_not_remeasured"] == pytest.approx(PEOPLE_PER_CELL * len(CLOSING))
    view = result.view()
    assert (view["closed"], view["not_remeasured"]) == (0, 1)
    assert view["people_newly_covered"] == 0
    assert view["people_not_remeasured"] == pytest.approx(PEOPLE_PER_CELL * len(CLOSING))


def test_closed_needs_most_cells_measured_covered_and_counts_only_those_people():
    from lomsong.analysis.compare import CLOSED_MIN_COVERED_SHARE

    before = _run({("all", "any"): [BIG]}, "2026-09")
    ring = [c for c in BIG if c not in SMALL]  # 12 of 19 cells: 63 % measured covered
    mostly = _forget(_run({("all", "any"): []}, "2026-10"), SMALL, state="insufficient")
    assert len(ring) / len(BIG) < CLOSED_MIN_COVERED_SHARE
    row = compare_runs(before, mostly).changes.iloc[0]
    assert row["status"] == "not_remeasured"
    assert row["people_newly_covered"] == pytest.approx(PEOPLE_PER_CELL * len(ring))
    assert row["share_measured_covered"] == pytest.approx(len(ring) / len(BIG))
    one_missing = _forget(_run({("all", "any"): []}, "2026-10"), [SMALL[0]])  # 18 of 19 covered
    row = compare_runs(before, one_missing).changes.iloc[0]
    assert row["status"] == "closed"
    assert row["people_newly_covered"] == pytest.approx(PEOPLE_PER_CELL * (len(BIG) - 1))


def test_cells_that_only_lost_their_evidence_do_not_shrink_a_gap():
    before = _run({("all", "any"): [BIG]}, "2026-09")
    # Later the gap is only its centre, because the outer ring was not measured: persisting.
    after = _forget(_run({("all", "any"): [SMALL]}, "2026-10"), [c for c in BIG if c not in SMALL])
    assert compare_runs(before, after).changes["status"].tolist() == ["persisting"]
    # Measured covered instead: it shrank.
    assert compare_runs(before, _run({("all", "any"): [SMALL]}, "b")).changes["status"].tolist() == ["shrunk"]


def test_grew_and_the_size_threshold():
    from lomsong.analysis.compare import SIZE_CHANGE_MIN_SHARE

    before = _run({("all", "any"): [SMALL]}, "a")
    assert compare_runs(before, _run({("all", "any"): [BIG]}, "b")).changes["status"].tolist() == ["grew"]
    # One more cell on a 19-cell gap is below the threshold: persisting.
    extra = [*BIG, next(c for c in _cluster(11.97, 107.66, 3) if c not in BIG)]
    assert 1 / len(BIG) < SIZE_CHANGE_MIN_SHARE
    result = compare_runs(_run({("all", "any"): [BIG]}, "a"), _run({("all", "any"): [extra]}, "b"))
    assert result.changes["status"].tolist() == ["persisting"]


def test_weak_cells_below_the_gap_size_are_a_shrunk_gap_not_a_closed_one():
    before = _run({("all", "any"): [SMALL]}, "a")
    after = _forget(_run({("all", "any"): []}, "b"), SMALL[:5], state="weak")
    row = compare_runs(before, after).changes.iloc[0]
    assert row["status"] == "shrunk" and row["people_newly_covered"] == pytest.approx(PEOPLE_PER_CELL * 2)
