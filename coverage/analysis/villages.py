"""Villages (thôn, bon, buôn): whose people live where, and the Ministry's two tiers.

Reading the village lists lives in :mod:`lomsong.reference.villages` (re-exported here). This
module is pure analysis on a finished classification:

- **Cells belong to villages.** Each populated cell's people, commune by commune, belong to the
  nearest village centre of the same commune within ``max_distance_m`` (default 2 km); beyond it
  they are *ngoài thôn* (village ``-1``).
- **Status at the centre, per operator** (``status_<operator>``: the state of the centre's cell
  in the operator's ``any`` view), ``all_state`` (the ``all`` view) and ``no_operator`` (True when
  the ``all`` view is weak at the centre: the centre lies in a vùng lõm sóng).
- **Công văn 1603/BTTTT-CVT (25/04/2024)**, per operator (``status_cv1603_<operator>``) and for
  all operators (``status_cv1603``): ``trang_song`` when the centre's cell is weak with evidence;
  ``lom_song`` when the centre is covered but a cell of the village holding at least
  ``min_people`` of its people is weak; ``co_song`` when the centre is covered and no such cell is
  weak; ``chua_du_du_lieu`` otherwise (the centre's cell has no or too little evidence). For all
  operators a cell is covered when one operator covers it, and weak only when every Vietnamese
  operator seen in the data is weak there with evidence (as in a confirmed gap).
- **People affected**: the village's people in weak cells of the ``all`` view, its households in
  the same proportion, and the ids of the all-view gaps holding them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.spatial import cKDTree

from lomsong.analysis.evidence import COVERED, STATES, WEAK
from lomsong.analysis.grid import Grid, cell_centres, cells_to_hex, index_points
from lomsong.errors import VillageError
from lomsong.operators import OPERATOR_IDS
from lomsong.reference.boundaries import METRIC_CRS
from lomsong.reference.villages import VILLAGE_COLUMNS, locate_villages, normalize_villages, read_villages

__all__ = [
    "CV1603_STATUSES",
    "OUTSIDE_VILLAGES",
    "VILLAGE_COLUMNS",
    "VillageError",
    "cell_villages",
    "gap_villages",
    "normalize_villages",
    "read_villages",
    "village_status",
]

#: The Ministry's tiers, in the order the provincial list counts them.
CV1603_STATUSES = ["trang_song", "lom_song", "co_song", "chua_du_du_lieu"]
#: Village index of people living farther than ``max_distance_m`` from every centre of their commune.
OUTSIDE_VILLAGES = -1
#: Default largest distance from a village centre at which a cell's people still belong to it.
MAX_DISTANCE_M = 2000.0
#: Default people a cell must hold for the village before its weak signal makes the village lõm sóng.
MIN_PEOPLE = 20


def cell_villages(
    grid: Grid,
    villages: gpd.GeoDataFrame,
    *,
    max_distance_m: float = MAX_DISTANCE_M,
) -> pd.DataFrame:
    """Give the people of every populated cell × commune to one village (or to none).

    Parameters
    ----------
    grid : Grid
        Province grid (its ``cell_communes`` hold the people per cell and commune).
    villages : geopandas.GeoDataFrame
        Located villages (``commune_code`` set, :func:`lomsong.reference.villages.locate_villages`).
    max_distance_m : float
        Largest distance from the cell's centre to the village centre (metres, UTM 48N).

    Returns
    -------
    pandas.DataFrame
        ``cell`` (grid position), ``commune_code``, ``population`` (people of the cell in that
        commune), ``village`` (row of ``villages``, :data:`OUTSIDE_VILLAGES` beyond the distance)
        and ``distance_m`` (to that centre; NaN outside).
    """
    if not np.isfinite(max_distance_m) or max_distance_m <= 0:
        raise VillageError(f"villages.max_distance_m must be a positive number of metres, got {max_distance_m!r}")
    pairs = grid.cell_communes
    pairs = pairs.loc[pairs["population"].to_numpy("float64") > 0, ["cell", "commune_code", "population"]]
    pairs = pairs.reset_index(drop=True)
    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    lon, lat = cell_centres(grid.cells[pairs["cell"].to_numpy()])
    cx, cy = to_metric.transform(lon, lat)
    vx, vy = to_metric.transform(villages["lon"].to_numpy("float64"), villages["lat"].to_numpy("float64"))
    village_codes = villages["commune_code"].astype("string").fillna("").to_numpy(str)
    codes = pd.Index(pd.unique(np.concatenate([pairs["commune_code"].astype(str).to_numpy(), village_codes])))
    # A third coordinate far apart per commune: the nearest centre is always one of the same commune.
    separation = 1e9
    cell_label = codes.get_indexer(pairs["commune_code"].astype(str).to_numpy()) * separation
    village_label = codes.get_indexer(village_codes) * separation
    village = np.full(len(pairs), OUTSIDE_VILLAGES, dtype="int64")
    distance = np.full(len(pairs), np.nan)
    if len(villages) and len(pairs):
        tree = cKDTree(np.column_stack([vx, vy, village_label]))
        found, nearest = tree.query(np.column_stack([cx, cy, cell_label]), distance_upper_bound=max_distance_m)
        hit = np.isfinite(found)
        village[hit] = nearest[hit]
        distance[hit] = found[hit]
    return pairs.assign(village=village, distance_m=distance)


def village_status(
    villages: gpd.GeoDataFrame,
    grid: Grid,
    views: pd.DataFrame,
    operators: list[str],
    state: np.ndarray,
    communes: gpd.GeoDataFrame,
    *,
    weak_entries: pd.DataFrame | None = None,
    max_distance_m: float = MAX_DISTANCE_M,
    min_people: float = MIN_PEOPLE,
) -> gpd.GeoDataFrame:
    """Give each village its state per operator at its centre, its CV 1603 tier and its people affected.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        Canonical village table (:func:`normalize_villages`).
    grid : Grid
        Province grid.
    views : pandas.DataFrame
        Views (from :func:`lomsong.analysis.aggregate.build_views`): ``view``, ``kind``,
        ``operator_code``.
    operators : list of str
        Operators present (index = operator code).
    state : numpy.ndarray
        ``(n_views, n_cells)`` state codes.
    communes : geopandas.GeoDataFrame
        Canonical commune table: a village's commune code and district, unless given, come from
        the polygon holding its centre, else from its commune name.
    weak_entries : pandas.DataFrame, optional
        ``view``, ``cell``, ``gap_id`` of every weak cell in a gap (from the gap finder): gives
        ``gap_ids``; empty without it.
    max_distance_m : float
        See :func:`cell_villages`.
    min_people : float
        People of the village a weak cell must hold to make a covered centre ``lom_song``.

    Returns
    -------
    geopandas.GeoDataFrame
        The villages with ``commune_code``, ``district_code``, ``district``, ``h3``, one
        ``status_<operator>`` and ``status_cv1603_<operator>`` per Vietnamese operator seen in
        the data, ``all_state``, ``no_operator``, ``status_cv1603``, ``people``, ``people_affected``,
        ``households_affected`` and ``gap_ids`` (``;``-joined all-view gap ids).
    """
    if min_people < 0:
        raise VillageError(f"villages.min_people must be ≥ 0, got {min_people!r}")
    out = locate_villages(villages, communes)
    cells = index_points(out["lon"].to_numpy(), out["lat"].to_numpy(), grid.resolution)
    position = grid.positions(cells)
    inside = position >= 0
    out["h3"] = pd.array(cells_to_hex(cells), dtype="string")
    labels = np.asarray(STATES, dtype=object)
    tiers = np.asarray(CV1603_STATUSES, dtype=object)

    belongs = cell_villages(grid, out, max_distance_m=max_distance_m)
    belongs = belongs[belongs["village"] >= 0]
    member_village = belongs["village"].to_numpy("int64")
    member_cell = belongs["cell"].to_numpy("int64")
    member_people = belongs["population"].to_numpy("float64")
    holds_people = member_people >= min_people
    out["people"] = np.bincount(member_village, weights=member_people, minlength=len(out))

    centre_position = np.where(inside, position, 0)

    def centre_state(view_code: int) -> np.ndarray:
        return np.where(inside, state[view_code, centre_position], 0)

    def tier(weak: np.ndarray, covered: np.ndarray) -> pd.Series:
        """CV 1603 tier from per-cell ``weak`` (with evidence) and ``covered`` flags of one view."""
        centre_weak = inside & weak[centre_position]
        centre_covered = inside & covered[centre_position]
        hamlet_weak = np.bincount(
            member_village, weights=(holds_people & weak[member_cell]).astype(float), minlength=len(out)
        ) > 0  # fmt: skip
        code = np.where(centre_weak, 0, np.where(centre_covered, np.where(hamlet_weak, 1, 2), 3))
        return pd.Series(tiers[code], index=out.index, dtype="string")

    any_views = views[views["kind"] == "operator"]
    national_views = []
    for view_code, operator_code in any_views[["view", "operator_code"]].to_numpy():  # loop over operators
        if operators[operator_code] in OPERATOR_IDS:
            national_views.append(int(view_code))
            out[f"status_{operators[operator_code]}"] = pd.Series(labels[centre_state(view_code)], index=out.index,
                                                                  dtype="string")  # fmt: skip
            out[f"status_cv1603_{operators[operator_code]}"] = tier(state[view_code] == WEAK,
                                                                    state[view_code] == COVERED)  # fmt: skip
    all_view = int(views.loc[views["kind"] == "all", "view"].iloc[0])
    out["all_state"] = pd.Series(labels[centre_state(all_view)], index=out.index, dtype="string")
    out["no_operator"] = (out["all_state"] == "weak").to_numpy(bool, na_value=False)
    # For all operators "no signal" needs every operator of the data weak with evidence there (as a
    # confirmed gap): one operator measured weak where another was never measured decides nothing.
    every_weak = (
        (state[national_views] == WEAK).all(axis=0) if national_views else np.zeros(state.shape[1], dtype=bool)
    )
    out["status_cv1603"] = tier(every_weak, state[all_view] == COVERED)

    weak_all = state[all_view, member_cell] == WEAK
    affected = np.bincount(member_village, weights=np.where(weak_all, member_people, 0.0), minlength=len(out))
    out["people_affected"] = affected
    households = out["households"].astype("Float64").to_numpy("float64", na_value=np.nan)
    share = np.divide(affected, out["people"].to_numpy(), out=np.zeros(len(out)), where=out["people"].to_numpy() > 0)
    out["households_affected"] = pd.array(np.round(households * share), dtype="Float64").astype("Int64")
    out["gap_ids"] = _village_gap_ids(weak_entries, all_view, member_village, member_cell, len(out))
    return out


def _village_gap_ids(weak_entries: pd.DataFrame | None, all_view: int, member_village: np.ndarray,
                     member_cell: np.ndarray, n_villages: int) -> pd.Series:  # fmt: skip
    """Return each village's all-view gap ids, ``;``-joined, the gap holding most of its people first."""
    empty = pd.Series([""] * n_villages, dtype="string")
    if weak_entries is None or weak_entries.empty:
        return empty
    in_all = weak_entries[weak_entries["view"].to_numpy() == all_view][["cell", "gap_id"]]
    members = pd.DataFrame({"village": member_village, "cell": member_cell}).merge(in_all, on="cell")
    if members.empty:
        return empty
    ordered = members.groupby(["village", "gap_id"], as_index=False).size().sort_values(
        ["village", "size", "gap_id"], ascending=[True, False, True]
    )
    joined = ordered.groupby("village")["gap_id"].agg(";".join)
    return pd.Series(joined.reindex(np.arange(n_villages)).fillna("").to_numpy(), dtype="string")


def gap_villages(
    gaps: pd.DataFrame,
    weak_entries: pd.DataFrame,
    belongs: pd.DataFrame,
    villages: pd.DataFrame,
) -> pd.Series:
    """Return each gap's villages with their people inside it: ``'Thôn 3 (420); Bon Bu Prăng (130)'``.

    Parameters
    ----------
    gaps : pandas.DataFrame
        Gap table (``gap_id``).
    weak_entries : pandas.DataFrame
        ``view``, ``cell``, ``gap_id`` of the gaps' cells.
    belongs : pandas.DataFrame
        :func:`cell_villages` output.
    villages : pandas.DataFrame
        The villages ``belongs`` refers to (``name``).

    Returns
    -------
    pandas.Series
        One string per gap (aligned with ``gaps``), villages by people inside the gap, most first,
        people rounded; empty when no village's people live in it.
    """
    inside = belongs[belongs["village"] >= 0][["cell", "village", "population"]]
    members = weak_entries[["cell", "gap_id"]].merge(inside, on="cell")
    if members.empty:
        return pd.Series([""] * len(gaps), index=gaps.index, dtype="string")
    people = members.groupby(["gap_id", "village"], as_index=False)["population"].sum()
    people = people[people["population"] >= 0.5].sort_values(["gap_id", "population"], ascending=[True, False])
    names = pd.Series(villages["name"].astype(str).to_numpy()[people["village"].to_numpy()], index=people.index)
    people["text"] = names + " (" + people["population"].round().astype("int64").astype(str) + ")"
    joined = people.groupby("gap_id")["text"].agg("; ".join)
    return pd.Series(gaps["gap_id"].map(joined).fillna("").to_numpy(), index=gaps.index, dtype="string")
