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
