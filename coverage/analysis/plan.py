"""The remedy plan (phương án xử lý): which new or shared sites bring signal to the most people in gaps.

Pure functions: a finished run's cells of one view, the radio map's fitted path-loss model of that
view, and candidate positions in; an ordered list of sites out.

Coverage of a new site
    The same fitted prior as the radio map (:mod:`lomsong.analysis.radiomap`):
    ``level(d) = intercept - slope log10(d / 1 km)``, plus COST-231 Hata's antenna-height
    correction for a mast of ``antenna_m`` instead of the 30 m the prior assumes,
    ``(13.82 + 6.55 log10(d / 1 km)) log10(antenna_m / 30)``. A new site covers a cell when the
    chance its level there is at or above the threshold is at least ``covered_at`` (0.8), with the
    model's unexplained spread √(sill + nugget) as the uncertainty (no measurement near a new site
    narrows it). Plan and map agree: both use the same model.

People to bring in
    Per cell of the view: people in measured gaps (state ``weak``) and, apart, people in cells
    without a measured state that the radio map predicts ``weak``. Both count for the choice; the
    plan reports them apart.

Greedy maximal coverage
    Sites are chosen one at a time: each is the candidate whose newly covered cells hold the most
    people not yet covered by the sites already chosen. The objective is submodular, so the
    marginal people never increase down the list and the greedy choice is within 1 − 1/e of the
    best set of that size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree
from scipy.special import ndtri

#: Farthest a new site is evaluated (m): beyond, no plateau cell is served by one mast.
MAX_RANGE_M = 15_000.0
#: Antenna height of a new site unless told (m).
DEFAULT_ANTENNA_M = 30.0


@dataclass(frozen=True)
class SiteModel:
    """The view's fitted path loss, as the plan uses it."""

    intercept_dbm: float
    slope_db: float
    sd_db: float
    threshold_dbm: float

    @classmethod
    def from_run(cls, model: dict) -> SiteModel:
        """Build from ``run.json`` ``prediction.models["operator/technology"]``."""
        return cls(
            float(model["intercept_dbm"]),
            float(model["slope_db_per_decade"]),
            float(np.sqrt(model["sill_db2"] + model["nugget_db2"])),
            float(model["threshold_dbm"]),
        )

    def level(self, distance_m: np.ndarray, antenna_m: float = DEFAULT_ANTENNA_M) -> np.ndarray:
        """Predicted level (dBm) at the distances from a new site with an ``antenna_m`` mast."""
        log_d = np.log10(np.maximum(distance_m, 50.0) / 1000.0)
        height = (13.82 + 6.55 * log_d) * np.log10(antenna_m / DEFAULT_ANTENNA_M)
        return self.intercept_dbm - self.slope_db * log_d + height


def coverage_incidence(
    candidate_xy: np.ndarray,
    cell_xy: np.ndarray,
    model: SiteModel,
    *,
    antenna_m: float = DEFAULT_ANTENNA_M,
    covered_at: float = 0.8,
) -> csr_matrix:
    """Return the ``(n_candidates, n_cells)`` boolean matrix: would the candidate cover the cell?

    Pairs are found with a k-d tree within :data:`MAX_RANGE_M`; the level is evaluated per pair.
    """
    needed = model.threshold_dbm + float(ndtri(covered_at)) * model.sd_db
    tree = cKDTree(cell_xy)
    pairs = tree.sparse_distance_matrix(cKDTree(candidate_xy), MAX_RANGE_M, output_type="coo_matrix")
    distance = pairs.data
    # A candidate on a cell centre is at distance 0: sparse matrices drop zeros, so add them back.
    own_distance, own_cell = tree.query(candidate_xy, k=1)
    rows = np.concatenate([pairs.col, np.arange(len(candidate_xy))])
    cols = np.concatenate([pairs.row, own_cell])
    distance = np.concatenate([distance, own_distance])
    covered = model.level(distance, antenna_m) >= needed
    matrix = csr_matrix(
        (np.ones(int(covered.sum()), dtype="float64"), (rows[covered], cols[covered])),
        shape=(len(candidate_xy), len(cell_xy)),
    )
    matrix.data[:] = 1.0  # duplicates (the own cell found twice) count once
    return matrix


def greedy_sites(incidence: csr_matrix, people: np.ndarray, n_sites: int) -> tuple[np.ndarray, np.ndarray]:
    """Choose up to ``n_sites`` candidates by greedy maximal coverage of ``people``.

    Parameters
    ----------
    incidence : scipy.sparse.csr_matrix
        ``(n_candidates, n_cells)`` coverage (1 = covered).
    people : numpy.ndarray
        People to bring into coverage per cell (0 where nobody needs it).
    n_sites : int
        Sites to choose.

    Returns
    -------
    tuple of numpy.ndarray
        Chosen candidate positions in order, and the marginal people of each (stops early when no
        candidate adds anyone).
    """
    remaining = np.asarray(people, dtype="float64").copy()
    chosen: list[int] = []
    gains: list[float] = []
    for _ in range(int(n_sites)):  # one loop step per chosen site; each step is a sparse product
        gain = incidence @ remaining
        if len(chosen):
            gain[chosen] = -1.0
        best = int(np.argmax(gain)) if len(gain) else -1
        if best < 0 or gain[best] <= 0:
            break
        chosen.append(best)
        gains.append(float(gain[best]))
        remaining[incidence.indices[incidence.indptr[best] : incidence.indptr[best + 1]]] = 0.0
    return np.asarray(chosen, dtype="int64"), np.asarray(gains, dtype="float64")


def newly_covered(incidence: csr_matrix, chosen: np.ndarray) -> list[np.ndarray]:
    """The cells each chosen site covers that no earlier site of the list covers."""
    seen = np.zeros(incidence.shape[1], dtype=bool)
    out = []
    for site in chosen:  # one step per chosen site
        cells = incidence.indices[incidence.indptr[site] : incidence.indptr[site + 1]]
        fresh = cells[~seen[cells]]
        seen[cells] = True
        out.append(fresh)
    return out


#: The Ministry's tiers (CV 1603) a site can resolve: no signal at the centre, or a populated part without.
RESOLVABLE_TIERS = ("trang_song", "lom_song")


def resolved_villages(
    fresh: list[np.ndarray],
    *,
    village_cell: np.ndarray,
    village_tier: np.ndarray,
    village_xy: np.ndarray,
    cell_xy: np.ndarray,
    weak: np.ndarray,
    people: np.ndarray,
    max_distance_m: float | None = None,
    min_people: float | None = None,
) -> np.ndarray:
    """Which chosen site resolves each trắng/lõm sóng village (CV 1603), if any.

    A village is resolved when it was ``trang_song`` or ``lom_song`` for the network that builds and,
    with the sites chosen so far, none of its weak places is left: its centre's cell (trắng sóng)
    and every measured-weak cell holding at least ``min_people`` that belongs to it (nearest village
    centre within ``max_distance_m``, as :mod:`lomsong.analysis.villages` gives cells to villages)
    are covered by a chosen site. A village already ``co_song`` or ``chua_du_du_lieu`` is never
    "resolved": there was nothing measured to resolve.

    Parameters
    ----------
    fresh : list of numpy.ndarray
        Each chosen site's newly covered cell positions, in order (:func:`newly_covered`).
    village_cell : numpy.ndarray
        Position of each village centre's cell in the view (-1: not in the view).
    village_tier : numpy.ndarray
        Each village's CV 1603 tier for the network (``status_cv1603_<operator>``).
    village_xy, cell_xy : numpy.ndarray
        Metric positions (UTM 48N) of the village centres and the view's cell centres.
    weak : numpy.ndarray
        Cells measured weak in the view.
    people : numpy.ndarray
        People per cell.
    max_distance_m, min_people : float, optional
        As in :func:`lomsong.analysis.villages.village_status` (defaults: its constants).

    Returns
    -------
    numpy.ndarray
        Per village, the 0-based position in ``fresh`` of the site that resolves it; -1 if none does.
    """
    from lomsong.analysis.villages import MAX_DISTANCE_M, MIN_PEOPLE

    max_distance_m = MAX_DISTANCE_M if max_distance_m is None else max_distance_m
    min_people = MIN_PEOPLE if min_people is None else min_people
    n_villages = len(village_cell)
    out = np.full(n_villages, -1, dtype="int64")
    if n_villages == 0 or len(fresh) == 0:
        return out
    covered_by = np.full(len(cell_xy), np.inf)  # position of the first chosen site covering each cell
    for order, cells in enumerate(fresh):  # one step per chosen site
        covered_by[cells] = np.minimum(covered_by[cells], order)
    # The weak places of each village: its populated weak cells (nearest centre within reach) …
    places = np.flatnonzero(weak & (people >= min_people))
    owner = np.full(len(places), -1, dtype="int64")
    if len(places):
        distance, nearest = cKDTree(village_xy).query(cell_xy[places], distance_upper_bound=max_distance_m)
        owner = np.where(np.isfinite(distance), nearest, -1)
    # … and, for a trắng sóng village, its centre's cell
    tier = np.asarray(village_tier, dtype=object)
    centre = (tier == "trang_song") & (np.asarray(village_cell) >= 0)
    village_index = np.concatenate([owner[owner >= 0], np.flatnonzero(centre)])
    cell_index = np.concatenate([places[owner >= 0], np.asarray(village_cell)[centre]])
    last = np.full(n_villages, -np.inf)
    np.maximum.at(last, village_index, covered_by[cell_index])
    has_place = np.zeros(n_villages, dtype=bool)
    has_place[village_index] = True
    resolvable = np.isin(tier, RESOLVABLE_TIERS) & has_place & np.isfinite(last)
    out[resolvable] = last[resolvable].astype("int64")
    return out


def plan_table(
    candidates: pd.DataFrame,
    chosen: np.ndarray,
    incidence: csr_matrix,
    *,
    measured_people: np.ndarray,
    predicted_people: np.ndarray,
    village_cell: np.ndarray | None = None,
    villages: pd.DataFrame | None = None,
    cell_xy: np.ndarray | None = None,
    weak: np.ndarray | None = None,
    people: np.ndarray | None = None,
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The ordered plan: one row per chosen site with its marginal and cumulative people.

    Parameters
    ----------
    candidates : pandas.DataFrame
        ``candidate_id``, ``candidate_kind``, ``lon``, ``lat``, ``has_grid_power``, ``note``, ``cost``.
    chosen : numpy.ndarray
        Chosen candidate positions, in order (:func:`greedy_sites`).
    incidence : scipy.sparse.csr_matrix
        Coverage matrix.
    measured_people, predicted_people : numpy.ndarray
        People per cell in measured gaps and in predicted-weak unmeasured cells.
    village_cell, villages : optional
        Grid position of each village centre in the view (-1: outside it) and the villages
        (``name``, ``population``, ``tier``: the village's CV 1603 tier for the network that builds,
        ``x``, ``y``: metric centre).
    cell_xy, weak, people : numpy.ndarray, optional
        The view's metric cell centres, measured-weak cells and people per cell, for
        :func:`resolved_villages` (without them no village counts as resolved).

    Returns
    -------
    tuple
        The table and each site's newly covered cells.
    """
    fresh = newly_covered(incidence, chosen)
    measured = np.array([measured_people[c].sum() for c in fresh]) if len(fresh) else np.zeros(0)
    predicted = np.array([predicted_people[c].sum() for c in fresh]) if len(fresh) else np.zeros(0)
    rows = candidates.iloc[chosen].reset_index(drop=True).copy()
    rows.insert(0, "order", np.arange(1, len(chosen) + 1, dtype="int64"))
    rows["people_newly_covered_measured"] = measured.round(1)
    rows["people_newly_covered_predicted"] = predicted.round(1)
    rows["people_newly_covered"] = (measured + predicted).round(1)
    rows["cumulative_people"] = np.cumsum(measured + predicted).round(1)
    counts, names, resolved = [0] * len(chosen), [""] * len(chosen), [""] * len(chosen)
    if village_cell is not None and villages is not None and len(villages):
        village_cell = np.asarray(village_cell, dtype="int64")
        need = (measured_people + predicted_people) > 0
        in_view = village_cell >= 0
        # a village is newly covered when its centre's cell needed coverage and this site brings it
        first = np.full(len(measured_people), -1, dtype="int64")
        for order, cells in enumerate(fresh):  # one step per chosen site
            first[cells] = order
        newly = np.where(in_view & need[np.maximum(village_cell, 0)], first[np.maximum(village_cell, 0)], -1)
        by = np.full(len(villages), -1, dtype="int64")
        if cell_xy is not None and weak is not None and people is not None and "tier" in villages:
            by = resolved_villages(
                fresh,
                village_cell=village_cell,
                village_tier=villages["tier"].astype("string").fillna("").to_numpy(object),
                village_xy=villages[["x", "y"]].to_numpy(float),
                cell_xy=cell_xy,
                weak=np.asarray(weak, dtype=bool),
                people=np.asarray(people, dtype=float),
            )
        name, population = villages["name"].astype(str).to_numpy(), villages["population"].to_numpy(float)
        for order in range(len(chosen)):  # one step per chosen site
            here = np.flatnonzero(newly == order)
            counts[order] = len(here)
            names[order] = "; ".join(f"{name[i]} ({population[i]:.0f})" for i in here)
            resolved[order] = "; ".join(name[np.flatnonzero(by == order)])
    rows["villages_newly_covered"] = np.asarray(counts, dtype="int64")
    rows["village_names"] = names
    rows["villages_resolved"] = resolved
    return rows, fresh
