"""Claimed coverage against the measurements: a planted over-claim (SYNTHETIC measurements)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from lomsong.analysis.claims import NO_PREDICTION, claim_state
from lomsong.analysis.engine import analyse
from lomsong.analysis.evidence import COVERED, INSUFFICIENT, NO_DATA, WEAK
from lomsong.reference.boundaries import METRIC_CRS, STORAGE_CRS
from lomsong.settings import Config
from lomsong.tables.claims import (
    CLAIM_STATES,
    NOT_CLAIMED,
    OVER_CLAIM,
    UNDER_CLAIM,
    UNVERIFIED,
    VERIFIED,
)
from tests.support.scenes import planted_scene


@pytest.fixture(scope="module")
def planted(communes, population_surface):
    measurements, claims, truth = planted_scene()
    analysis = analyse(measurements, communes, population_surface, Config(), claims=claims)
    return analysis, claims, truth


def _area_km2(geometry: shapely.Geometry) -> float:
    return float(gpd.GeoSeries([geometry], crs=STORAGE_CRS).to_crs(METRIC_CRS).area.iloc[0]) / 1e6


def test_the_planted_over_claim_is_found_by_area(planted):
    analysis, _, truth = planted
    challenges = analysis.claims.challenges
    assert len(challenges) == 1
    found = shapely.union_all(challenges.geometry.values)
    overlap = _area_km2(found.intersection(truth))
    recall, precision = overlap / _area_km2(truth), overlap / _area_km2(found)
    assert recall >= 0.85 and precision >= 0.85, (recall, precision)
    row = challenges.iloc[0]
    assert (row["operator"], row["technology"]) == ("viettel", "4G")
    assert row["area_km2"] == pytest.approx(_area_km2(found), rel=1e-6)
    assert row["n_samples"] > 0 and row["n_devices"] >= 2 and row["median_signal_dbm"] < -110
    assert row["first_date"] <= row["last_date"]


def test_claimed_but_unmeasured_is_unverified_never_over_claim(planted):
    analysis, claims, _ = planted
    cells = analysis.cells[(analysis.cells["operator"] == "viettel") & (analysis.cells["technology"] == "4G")]
    centres = shapely.centroid(cells.geometry.values)
    far = shapely.contains_xy(claims.geometry.iloc[1], shapely.get_x(centres), shapely.get_y(centres))
    assert far.sum() > 5
    assert set(cells.loc[far, "claim_state"]) == {"unverified"}
    # and the other way round: every over_claim cell is weak with the evidence rule met
    over = cells[cells["claim_state"] == "over_claim"]
    assert (over["state"] == "weak").all() and (over["samples_needed"] == 0).all()
    assert set(cells.loc[cells["state"] == "covered", "claim_state"]) <= {"verified", "under_claim"}


def test_people_add_up_per_operator_view_and_commune(planted):
    analysis, _, _ = planted
    summary = analysis.claims.summary
    parts = summary[["verified_people", "over_claim_people", "unverified_people"]].sum(axis=1)
    np.testing.assert_allclose(parts, summary["claimed_people"], rtol=1e-12, atol=1e-9)
    areas = summary[["verified_km2", "over_claim_km2", "unverified_km2"]].sum(axis=1)
    np.testing.assert_allclose(areas, summary["claimed_km2"], rtol=1e-12, atol=1e-9)
    province = summary[summary["level"] == "province"].set_index(["operator", "technology"])
    for level in ("commune", "unit_2025"):  # communes, and the 2025 units, add up to the province
        places = summary[summary["level"] == level].groupby(["operator", "technology"])
        for column in ("claimed_people", "over_claim_people", "claimed_km2", "population"):
            np.testing.assert_allclose(places[column].sum().reindex(province.index), province[column], rtol=1e-9)
    # each commune row names its 2025 unit, and that unit's row holds the sum of its communes
    communes = summary[summary["level"] == "commune"]
    units = summary[summary["level"] == "unit_2025"].set_index(["operator", "technology", "unit_2025_code"])
    assert communes["unit_2025_code"].notna().all()
    by_unit = communes.groupby(["operator", "technology", "unit_2025_code"])["verified_people"].sum()
    np.testing.assert_allclose(by_unit.reindex(units.index), units["verified_people"], rtol=1e-9)
    # the province rows agree with the cells table
    cells = analysis.cells[(analysis.cells["operator"] == "viettel") & (analysis.cells["technology"] == "4G")]
    people = cells.groupby("claim_state")["population"].sum()
    row = province.loc[("viettel", "4G")]
    assert row["over_claim_people"] == pytest.approx(people.get("over_claim", 0.0))
    assert row["verified_people"] == pytest.approx(people.get("verified", 0.0))
    assert row["n_challenges"] == len(analysis.claims.challenges)


def test_views_without_a_claim_map_have_no_claim_state(planted):
    analysis, _, _ = planted
    cells = analysis.cells
    assert cells.loc[cells["operator"] == "all", "claim_state"].isna().all()
    assert cells.loc[cells["operator"] == "viettel", "claim_state"].notna().all()
    # Every run has a radio map now: a predicted claim state exists only where the view has a prediction
    # and a claim map.
    no_prediction = cells["predicted_state"].isna() | cells["claim_state"].isna()
    assert cells.loc[no_prediction, "predicted_claim_state"].isna().all()


def test_challenge_ids_are_stable(planted, communes, population_surface):
    analysis, claims, _ = planted
    measurements, _, _ = planted_scene()
    again = analyse(
        measurements.sample(frac=1.0, random_state=3), communes, population_surface, Config(), claims=claims
    )
    assert list(again.claims.challenges["challenge_id"]) == list(analysis.claims.challenges["challenge_id"])


def test_claim_state_table_of_cases():
    measured = np.array([COVERED, WEAK, INSUFFICIENT, NO_DATA, COVERED, WEAK, NO_DATA])
    claimed = np.array([True, True, True, True, False, False, False])
    expected = [VERIFIED, OVER_CLAIM, UNVERIFIED, UNVERIFIED, UNDER_CLAIM, NOT_CLAIMED, NOT_CLAIMED]
    assert claim_state(claimed, measured).tolist() == expected
    assert [CLAIM_STATES[c] for c in expected][:4] == ["verified", "over_claim", "unverified", "unverified"]


def test_predictions_are_reported_beside_and_never_make_an_over_claim(communes, population_surface):
    from lomsong.analysis.aggregate import cell_statistics, prepare_samples
    from lomsong.analysis.claims import analyse_claims
    from lomsong.analysis.engine import classify
    from lomsong.analysis.grid import build_grid

    measurements, claims, _ = planted_scene()
    config = Config()
    grid = build_grid(communes.reset_index(drop=True), population_surface, config.resolution)
    samples = prepare_samples(measurements, grid, config)
    statistics = cell_statistics(samples, len(grid.cells))
    classification = classify(statistics, len(grid.cells), samples.operators, config)
    predicted = np.full_like(classification.state, WEAK)  # a model that says weak everywhere …
    predicted[:, ::2] = NO_PREDICTION  # … and has nothing to say about every other cell
    result = analyse_claims(
        claims,
        grid,
        statistics,
        measured_state=classification.state,
        samples=samples,
        communes=communes,
        predicted_state=predicted,
    )
    unverified = result.state == UNVERIFIED
    assert unverified.any()
    assert (result.predicted_state[:, ::2] == NO_PREDICTION).all()
    measured_only = analyse_claims(
        claims, grid, statistics, measured_state=classification.state, samples=samples, communes=communes
    )
    np.testing.assert_array_equal(result.state, measured_only.state)
    predicted_cells = np.zeros_like(unverified)
    predicted_cells[:, 1::2] = True
    assert (result.predicted_state[unverified & predicted_cells] == OVER_CLAIM).all()
    assert result.challenges["challenge_id"].tolist() == measured_only.challenges["challenge_id"].tolist()


def test_claims_csv_never_holds_a_formula(planted, tmp_path):
    from lomsong.products.claims import write_claims_csv

    analysis, _, _ = planted
    summary = analysis.claims.summary.copy()
    hostile = '=HYPERLINK("http://example.invalid","x")'
    summary.loc[summary["level"] == "commune", "commune"] = hostile
    path = write_claims_csv(summary, tmp_path / "claims.csv", synthetic=True)
    table = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    communes = table.loc[table["level"] == "commune", "commune"]
    assert (communes == "'" + hostile).all()
    assert not table.drop(columns="commune").apply(lambda c: c.str.startswith("=", na=False)).any().any()
    assert set(table["synthetic"]) == {"True"}
