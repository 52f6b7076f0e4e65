"""The remedy plan: greedy maximal coverage with the radio map's fitted model, on a known network.

SYNTHETIC: a plane of 800 m cells served by a known network; some sites are removed, which opens
gaps; the plan must find sites near the missing ones, and its estimate must match the truth.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from lomsong.analysis import plan as planning
from lomsong.analysis import radiomap as rm
from lomsong.simulate.radio import smooth_random_field

THRESHOLD = -110.0
INTERCEPT, SLOPE = -88.0, 35.0


def _level(distance_m: np.ndarray) -> np.ndarray:
    return INTERCEPT - SLOPE * np.log10(np.maximum(distance_m, 50.0) / 1000.0)


@pytest.fixture(scope="module")
def removed_network():
    rng = np.random.default_rng(21)
    n, spacing = 70, 800.0
    gx, gy = np.meshgrid(np.arange(n) * spacing, np.arange(n) * spacing)
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    lattice = np.arange(3000, 56000, 5000.0)  # an 11 × 11 network, 5 km apart: nearly everyone covered
    full = np.column_stack([g.ravel() for g in np.meshgrid(lattice, lattice)])
    full = full + rng.normal(0, 400, full.shape)
    # Three 2 × 2 blocks of sites taken off air: three holes of ~7 km.
    blocks = [(2, 2), (6, 7), (7, 2)]
    removed = np.array([(r + i) * len(lattice) + c + j for r, c in blocks for i in (0, 1) for j in (0, 1)])
    kept = np.delete(full, removed, axis=0)
    missing = np.array(
        [full[[(r + i) * len(lattice) + c + j for i in (0, 1) for j in (0, 1)]].mean(axis=0) for r, c in blocks]
    )
    shadow = smooth_random_field(rng, (n, n), 2.0, 4.0).ravel()
    distance, _ = cKDTree(kept).query(xy)
    truth = _level(distance) - shadow
    people = rng.lognormal(3.0, 1.0, len(xy))
    measured = rng.uniform(size=len(xy)) < 0.33
    observed = truth + rng.normal(0, 2.0, len(xy))
    prediction = rm.fit_and_predict(xy[measured], observed[measured], np.full(measured.sum(), 10), kept, xy)
    weak_people = np.where(truth < THRESHOLD, people, 0.0)  # the gaps, as a run finds them
    candidates = np.vstack([missing + rng.normal(0, 300, missing.shape), rng.uniform(0, 56000, (120, 2))])
    return xy, missing, shadow, people, weak_people, prediction, candidates


def _true_incidence(candidates, xy, shadow):
    """Coverage under the true network physics: the level from the candidate, with the true shadowing."""
    pairs = cKDTree(xy).sparse_distance_matrix(cKDTree(candidates), planning.MAX_RANGE_M, output_type="coo_matrix")
    own_distance, own_cell = cKDTree(xy).query(candidates)
    rows = np.concatenate([pairs.col, np.arange(len(candidates))])
    cols = np.concatenate([pairs.row, own_cell])
    distance = np.concatenate([pairs.data, own_distance])
    covered = _level(distance) - shadow[cols] >= THRESHOLD
    from scipy.sparse import csr_matrix

    matrix = csr_matrix((np.ones(covered.sum()), (rows[covered], cols[covered])), shape=(len(candidates), len(xy)))
    matrix.data[:] = 1.0
    return matrix


def test_plan_finds_the_missing_sites_and_its_estimate_matches_the_truth(removed_network):
    xy, missing, shadow, people, weak_people, prediction, candidates = removed_network
    variogram = prediction.model.variogram
    model = planning.SiteModel(
        prediction.model.path_loss.intercept_dbm,
        prediction.model.path_loss.slope_db,
        float(np.sqrt(variogram.sill + variogram.nugget)),
        THRESHOLD,
    )
    assert model.slope_db == pytest.approx(SLOPE, abs=6)
    incidence = planning.coverage_incidence(candidates, xy, model)
    chosen, gains = planning.greedy_sites(incidence, weak_people, 3)
    assert len(chosen) == 3
    assert np.all(np.diff(gains) <= 1e-9), "marginal people never increase down the list"
    distance_to_missing, _ = cKDTree(missing).query(candidates[chosen])
    assert np.all(distance_to_missing < 2500.0)
    truth = _true_incidence(candidates, xy, shadow)
    fresh = planning.newly_covered(truth, chosen)
    true_people = sum(weak_people[c].sum() for c in fresh)
    _, best_gains = planning.greedy_sites(truth, weak_people, 3)
    assert true_people >= 0.8 * best_gains.sum()
    assert abs(gains.sum() - true_people) <= 0.3 * true_people


def test_greedy_is_monotone_and_stops_when_nobody_is_left():
    from scipy.sparse import csr_matrix

    incidence = csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1], [1, 1, 1, 0]], dtype=float))
    people = np.array([10.0, 5.0, 20.0, 0.0])
    chosen, gains = planning.greedy_sites(incidence, people, 4)
    assert list(chosen) == [3]  # covers everyone at once; nobody left for a second site
    assert list(gains) == [35.0]
    fresh = planning.newly_covered(incidence, np.array([1, 0]))
    assert [sorted(f) for f in fresh] == [[1, 2], [0]]


def test_taller_mast_reaches_farther():
    model = planning.SiteModel(-90.0, 35.0, 6.0, THRESHOLD)
    distance = np.array([3000.0])
    assert model.level(distance, 60.0)[0] > model.level(distance, 30.0)[0] > model.level(distance, 15.0)[0]


def test_a_village_counts_as_resolved_only_if_it_was_trang_or_lom_song_for_that_operator():
    """Ten cells 1 km apart; three chosen sites; villages whose CV 1603 tier differs by operator."""
    import pandas as pd
    from scipy.sparse import csr_matrix

    cell_xy = np.column_stack([np.arange(10) * 1000.0, np.zeros(10)])
    weak = np.isin(np.arange(10), [0, 1, 2, 8, 9])
    people = np.full(10, 100.0)
    incidence = csr_matrix(
        (np.ones(6), ([0, 0, 1, 1, 1, 2], [0, 1, 2, 3, 4, 8])), shape=(3, 10)
    )  # site 0 covers cells 0-1, site 1 cells 2-4, site 2 only cell 8
    villages = pd.DataFrame(
        {
            "name": ["V1", "V3", "V2", "V5"],
            "population": [300.0, 200.0, 150.0, 250.0],
            "cell": [0, 2, 4, 9],
            "viettel": ["trang_song", "lom_song", "co_song", "trang_song"],
            "vinaphone": ["co_song", "chua_du_du_lieu", "co_song", "trang_song"],
        }
    )
    village_xy = cell_xy[villages["cell"]]
    chosen = np.array([0, 1, 2])
    fresh = planning.newly_covered(incidence, chosen)

    def resolved(operator):
        return planning.resolved_villages(
            fresh,
            village_cell=villages["cell"].to_numpy(),
            village_tier=villages[operator].to_numpy(object),
            village_xy=village_xy,
            cell_xy=cell_xy,
            weak=weak,
            people=people,
        )

    # Viettel: V1 (trắng sóng, cells 0-1) by site 0, V3 (lõm sóng, cell 2) by site 1; V2 was co_song;
    # V5 keeps a weak cell (9) that no site covers.
    assert resolved("viettel").tolist() == [0, 1, -1, -1]
    # VinaPhone: the same coverage resolves nothing but V5 … which still has cell 9 weak.
    assert resolved("vinaphone").tolist() == [-1, -1, -1, -1]

    measured = np.where(weak, people, 0.0)
    candidates = pd.DataFrame({"candidate_id": ["s0", "s1", "s2"], "lon": 0.0, "lat": 0.0})
    table, _ = planning.plan_table(
        candidates,
        chosen,
        incidence,
        measured_people=measured,
        predicted_people=np.zeros(10),
        village_cell=villages["cell"].to_numpy(),
        villages=villages.assign(tier=villages["viettel"], x=village_xy[:, 0], y=village_xy[:, 1]),
        cell_xy=cell_xy,
        weak=weak,
        people=people,
    )
    assert table["villages_resolved"].tolist() == ["V1", "V3", ""]
    # V2's centre was covered already: site 1 brings it nothing new; V5's centre (cell 9) is not covered
    assert table["village_names"].tolist() == ["V1 (300)", "V3 (200)", ""]
    assert table["villages_newly_covered"].tolist() == [1, 1, 0]
