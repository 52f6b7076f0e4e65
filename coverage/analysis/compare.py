"""Change between two runs (two periods): which gaps closed, opened, shrank, grew or stayed.

Gaps are matched by their cells, not by their ids (a gap's id changes as soon as one of its
cells does): within one view (operator × technology), a gap of the earlier run and a gap of the
later run are linked when they share at least one H3 cell. The connected groups of linked gaps
are the *changes*; one change can hold several gaps on either side when gaps split or merged.

A gap is only said to have closed when the later period *measured* its cells covered: a cell
that left the gaps because nobody measured it again is not remeasured, not covered. Each earlier
gap cell is therefore put in one of three outcomes in the later run: still in a gap of the view,
**measured covered** (state ``covered``, i.e. with enough evidence), or **without evidence**
(``no_data``/``insufficient``, or absent from the later cell table); a weak cell outside any
gap counts as weak.

============== ==========================================================================
status         meaning (thresholds are the module constants named in brackets)
============== ==========================================================================
closed         no later gap shares a cell, and at least ``CLOSED_MIN_COVERED_SHARE`` (two
               thirds) of the earlier cells are measured covered in the later period
not_remeasured no later gap shares a cell, but fewer than ``CLOSED_MIN_COVERED_SHARE`` of the
               earlier cells are measured covered and more of them lack evidence than are
               still measured weak: the later period does not say whether it closed
shrunk         the later side has fewer cells by at least ``SIZE_CHANGE_MIN_SHARE`` (10 %) of
               the earlier cells, counting only cells measured covered or still weak (cells
               that merely lost their evidence do not shrink a gap); also a gap whose cells
               are still measured weak but no longer form a gap of the minimum size
grew           the later side has more cells by at least ``SIZE_CHANGE_MIN_SHARE`` (10 %)
new            the later gap(s) share no cell with any earlier gap
persisting     linked, and neither shrunk nor grew by the threshold
============== ==========================================================================

People newly covered count only the people of cells that were weak and are measured covered now.

Everything here is pure: tables in, tables out (see :func:`compare_runs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY, RunResults

VIEW = ["operator", "technology"]
STATUSES = ["closed", "not_remeasured", "new", "shrunk", "grew", "persisting"]

#: Share of an unlinked earlier gap's cells that must be measured covered later for ``closed``.
CLOSED_MIN_COVERED_SHARE = 2 / 3
#: Relative change in a linked gap's measured cells that counts as ``shrunk`` or ``grew``.
SIZE_CHANGE_MIN_SHARE = 0.1

#: Change table (one row per group of linked gaps and view), EPSG:4326: (column, meaning).
CHANGE_SCHEMA: list[tuple[str, str]] = [
    ("change_id", "id of the change within the comparison: view + first gap id"),
    ("operator", "view operator (or all)"),
    ("technology", "view technology (or any)"),
    ("status", "closed, not_remeasured, new, shrunk, grew or persisting (see the module's thresholds)"),
    ("gap_ids_before", "ids of the earlier gaps in the group, ';'-joined"),
    ("gap_ids_after", "ids of the later gaps in the group, ';'-joined"),
    ("n_gaps_before", "number of earlier gaps (more than one: gaps merged)"),
    ("n_gaps_after", "number of later gaps (more than one: a gap split)"),
    ("n_cells_before", "H3 cells of the earlier gaps"),
    ("n_cells_after", "H3 cells of the later gaps"),
    ("cells_closed", "cells in an earlier gap and in no later gap of the view"),
    ("cells_measured_covered", "of cells_closed: cells measured covered in the later period"),
    ("cells_not_remeasured", "of cells_closed: cells without enough evidence in the later period"),
    ("share_measured_covered", "cells_measured_covered / n_cells_before (0 for a new group)"),
    ("cells_opened", "cells in a later gap and in no earlier gap of the view"),
    ("population_before", "people in the earlier gaps"),
    ("population_after", "people in the later gaps"),
    ("population_change", "population_after - population_before"),
    ("people_newly_covered", "people in the group's cells that were weak and are measured covered now"),
    ("people_not_remeasured", "people in the group's earlier gap cells without enough evidence now"),
    ("area_km2_before", "area of the earlier gaps, km²"),
    ("area_km2_after", "area of the later gaps, km²"),
    ("commune_code", "commune of the group's most populated gap (the later one when there is one)"),
    ("commune", "its name"),
    ("unit_2025_code", "that commune's 2025 unit of Lâm Đồng (mapped whole; empty for runs without units)"),
    ("unit_2025", "its name"),
    ("district", "its district"),
    ("geometry", "the later gaps (the earlier ones when there is no later gap), EPSG:4326"),
]
CHANGE_COLUMNS = [name for name, _ in CHANGE_SCHEMA]

#: Summary table (one row per view): (column, meaning).
CHANGE_SUMMARY_SCHEMA: list[tuple[str, str]] = [
    ("operator", "view operator (or all)"),
    ("technology", "view technology (or any)"),
    ("gaps_before", "gaps in the earlier run"),
    ("gaps_after", "gaps in the later run"),
    *[(status, f"groups of gaps that are {status}") for status in STATUSES],
    ("people_in_gaps_before", "people in the gaps of the earlier run"),
    ("people_in_gaps_after", "people in the gaps of the later run"),
    ("people_newly_covered", "people in cells that were weak and are measured covered now"),
    ("people_newly_weak", "people in cells that were covered and are now weak"),
    ("people_not_remeasured", "people in cells that were in a gap and have no evidence now (not measured again)"),
]
CHANGE_SUMMARY_COLUMNS = [name for name, _ in CHANGE_SUMMARY_SCHEMA]

#: Village change table: (column, meaning) on top of the village's own columns.
VILLAGE_CHANGE_COLUMNS = ["change", "on_list_before", "on_list_after"]


@dataclass
class Comparison:
    """The change between two runs.

    Attributes
    ----------
    before, after : str
        Names of the runs compared (period names when comparing periods).
    summary : pandas.DataFrame
        One row per view (:data:`CHANGE_SUMMARY_SCHEMA`).
    changes : geopandas.GeoDataFrame
        One row per group of linked gaps and view (:data:`CHANGE_SCHEMA`).
    villages : pandas.DataFrame
        Villages that joined (``change == "joined"``) or left (``"left"``) the list of villages
        no operator serves; empty when the runs have no village layer.
    synthetic : bool
        True when either run was made from simulated measurements.
    """

    before: str
    after: str
    summary: pd.DataFrame
    changes: gpd.GeoDataFrame
    villages: pd.DataFrame = field(default_factory=pd.DataFrame)
    synthetic: bool = False

    def view(self, operator: str = ALL_OPERATORS, technology: str = ANY_TECHNOLOGY) -> pd.Series:
        """Return the summary row of one view (zeros when the view is in neither run)."""
        rows = self.summary[(self.summary["operator"] == operator) & (self.summary["technology"] == technology)]
        if rows.empty:
            return pd.Series(
                {
                    c: (operator if c == "operator" else technology if c == "technology" else 0)
                    for c in CHANGE_SUMMARY_COLUMNS
                }
            )
        return rows.iloc[0]

    def changes_of(self, status: str, operator: str = ALL_OPERATORS, technology: str = ANY_TECHNOLOGY):
        """Return the change rows of one status in one view, most people first."""
        rows = self.changes[
            (self.changes["status"] == status)
            & (self.changes["operator"] == operator)
            & (self.changes["technology"] == technology)
        ]
        population = np.maximum(rows["population_before"], rows["population_after"])
        return rows.assign(_p=population).sort_values("_p", ascending=False).drop(columns="_p")


def _gap_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Return the (view, h3, gap_id, population) rows of cells that belong to a gap."""
    gap_id = cells["gap_id"].astype("string")
    member = (gap_id.notna() & (gap_id.str.len() > 0)).to_numpy(bool, na_value=False)
    out = cells.loc[member, [*VIEW, "h3", "gap_id", "population"]]
    out = pd.DataFrame(out).reset_index(drop=True)
    out["gap_id"] = out["gap_id"].astype(str)
    out["h3"] = out["h3"].astype(str)
    return out


def _join_ids(values: pd.Series) -> str:
    return ";".join(sorted(v for v in values if isinstance(v, str) and v))


def compare_gaps(
    before_gaps: gpd.GeoDataFrame,
    before_cells: pd.DataFrame,
    after_gaps: gpd.GeoDataFrame,
    after_cells: pd.DataFrame,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Match the gaps of two runs by their cells and classify each group.

    Parameters
    ----------
    before_gaps, after_gaps : geopandas.GeoDataFrame
        Gap tables (:data:`lomsong.tables.results.GAP_SCHEMA`) of the earlier and the later run.
    before_cells, after_cells : pandas.DataFrame
        Cell-state tables (:data:`lomsong.tables.results.CELL_STATE_SCHEMA`) of the same runs; only
        ``operator, technology, h3, state, population, gap_id`` are used.

    Returns
    -------
    changes : geopandas.GeoDataFrame
        :data:`CHANGE_SCHEMA`.
    summary : pandas.DataFrame
        :data:`CHANGE_SUMMARY_SCHEMA`.
    """
    cells_b, cells_a = _gap_cells(before_cells), _gap_cells(after_cells)
    # Nodes of the link graph: every gap of either run, keyed by side and view (ids are only
    # unique within a run and view).
    nodes = pd.concat(
        [
            pd.DataFrame(before_gaps[[*VIEW, "gap_id"]]).assign(side="before"),
            pd.DataFrame(after_gaps[[*VIEW, "gap_id"]]).assign(side="after"),
        ],
        ignore_index=True,
    )
    nodes["gap_id"] = nodes["gap_id"].astype(str)
    nodes["key"] = nodes["side"] + "|" + nodes["operator"].astype(str) + "|" + nodes["technology"].astype(str)
    nodes["key"] = nodes["key"] + "|" + nodes["gap_id"]
    node_index = pd.Series(np.arange(len(nodes)), index=nodes["key"].to_numpy())
    if node_index.index.has_duplicates:
        raise ValueError("gap tables: duplicate gap_id within a view")

    def keys(frame: pd.DataFrame, side: str) -> pd.Series:
        return (
            side + "|" + frame["operator"].astype(str) + "|" + frame["technology"].astype(str) + "|" + frame["gap_id"]
        )

    cell_pairs = cells_b.merge(cells_a, on=[*VIEW, "h3"], how="outer", suffixes=("_b", "_a"), indicator=True)
    both = cell_pairs[cell_pairs["_merge"] == "both"]
    src = node_index.reindex(keys(both.rename(columns={"gap_id_b": "gap_id"}), "before")).to_numpy()
    dst = node_index.reindex(keys(both.rename(columns={"gap_id_a": "gap_id"}), "after")).to_numpy()
    valid = ~(pd.isna(src) | pd.isna(dst))
    src, dst = src[valid].astype(int), dst[valid].astype(int)
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    nodes["group"] = labels

    gaps = pd.concat(
        [pd.DataFrame(before_gaps).assign(side="before"), pd.DataFrame(after_gaps).assign(side="after")],
        ignore_index=True,
    )
    gaps["group"] = labels
    gaps["gap_id"] = gaps["gap_id"].astype(str)
    before_rows, after_rows = gaps[gaps["side"] == "before"], gaps[gaps["side"] == "after"]

    def per_group(rows: pd.DataFrame, suffix: str) -> pd.DataFrame:
        return rows.groupby("group").agg(
            **{
                f"gap_ids_{suffix}": ("gap_id", _join_ids),
                f"n_gaps_{suffix}": ("gap_id", "size"),
                f"n_cells_{suffix}": ("n_cells", "sum"),
                f"population_{suffix}": ("population", "sum"),
                f"area_km2_{suffix}": ("area_km2", "sum"),
            }
        )

    groups = gaps.groupby("group")[VIEW].first()
    groups = groups.join(per_group(before_rows, "before")).join(per_group(after_rows, "after"))

    # Cells that left or joined the gaps of each view, credited to their group.
    cell_group_b = node_index.reindex(keys(cell_pairs.rename(columns={"gap_id_b": "gap_id"}), "before")).to_numpy()
    cell_group_a = node_index.reindex(keys(cell_pairs.rename(columns={"gap_id_a": "gap_id"}), "after")).to_numpy()
    node_of_cell = np.where(pd.isna(cell_group_b), cell_group_a, cell_group_b)
    known = ~pd.isna(node_of_cell)
    # What became of each earlier gap cell that is in no later gap: its state in the later run
    # (absent from the later cell table = no evidence).
    left = (cell_pairs["_merge"] == "left_only").to_numpy()
    later_state = cell_pairs[[*VIEW, "h3"]].merge(
        pd.DataFrame(after_cells[[*VIEW, "h3", "state"]]).astype({"h3": str}), on=[*VIEW, "h3"], how="left"
    )["state"]
    later_state = later_state.astype("string").fillna("no_data").to_numpy(dtype=object)
    measured_covered = left & (later_state == "covered")
    still_weak = left & (later_state == "weak")
    cell_people = pd.to_numeric(cell_pairs["population_b"], errors="coerce").fillna(0.0).to_numpy(float)
    moved = pd.DataFrame(
        {
            "group": labels[node_of_cell[known].astype(int)],
            "closed": left[known],
            "opened": (cell_pairs["_merge"] == "right_only").to_numpy()[known],
            "covered": measured_covered[known],
            "weak": still_weak[known],
            "unmeasured": (left & ~measured_covered & ~still_weak)[known],
        }
    )
    moved["people_covered"] = np.where(moved["covered"], cell_people[known], 0.0)
    moved["people_unmeasured"] = np.where(moved["unmeasured"], cell_people[known], 0.0)
    moved_counts = moved.groupby("group")[
        ["closed", "opened", "covered", "weak", "unmeasured", "people_covered", "people_unmeasured"]
    ].sum()
    groups["cells_closed"] = moved_counts["closed"].reindex(groups.index).fillna(0).astype(int)
    groups["cells_opened"] = moved_counts["opened"].reindex(groups.index).fillna(0).astype(int)
    groups["cells_measured_covered"] = moved_counts["covered"].reindex(groups.index).fillna(0).astype(int)
    groups["cells_not_remeasured"] = moved_counts["unmeasured"].reindex(groups.index).fillna(0).astype(int)
    cells_still_weak = moved_counts["weak"].reindex(groups.index).fillna(0).astype(int)
    groups["people_newly_covered"] = moved_counts["people_covered"].reindex(groups.index).fillna(0.0)
    groups["people_not_remeasured"] = moved_counts["people_unmeasured"].reindex(groups.index).fillna(0.0)

    for column in ("n_gaps", "n_cells"):
        for suffix in ("before", "after"):
            groups[f"{column}_{suffix}"] = groups[f"{column}_{suffix}"].fillna(0).astype(int)
    for column in ("population", "area_km2"):
        for suffix in ("before", "after"):
            groups[f"{column}_{suffix}"] = groups[f"{column}_{suffix}"].astype(float).fillna(0.0)
    for suffix in ("before", "after"):
        groups[f"gap_ids_{suffix}"] = groups[f"gap_ids_{suffix}"].fillna("")
    groups["population_change"] = groups["population_after"] - groups["population_before"]

    has_before, has_after = groups["n_gaps_before"] > 0, groups["n_gaps_after"] > 0
    earlier_cells = groups["n_cells_before"].where(groups["n_cells_before"] > 0).astype(float)
    groups["share_measured_covered"] = (groups["cells_measured_covered"] / earlier_cells).fillna(0.0)
    # A linked gap changes size by what was measured: cells that merely lost their evidence
    # neither shrink it nor keep it.
    measured_net = groups["cells_opened"] - (groups["cells_closed"] - groups["cells_not_remeasured"])
    relative = (measured_net / earlier_cells).fillna(0.0)
    groups["status"] = np.select(
        [
            ~has_before,
            ~has_after & (groups["share_measured_covered"] >= CLOSED_MIN_COVERED_SHARE),
            ~has_after & (cells_still_weak > groups["cells_not_remeasured"]),
            ~has_after,
            relative <= -SIZE_CHANGE_MIN_SHARE,
            relative >= SIZE_CHANGE_MIN_SHARE,
        ],
        ["new", "closed", "shrunk", "not_remeasured", "shrunk", "grew"],
        default="persisting",
    )

    # Location and shape: the later side when there is one (that is where the gap is now).
    shown = gaps[gaps["side"] == np.where(has_after.reindex(gaps["group"]).to_numpy(), "after", "before")]
    lead = shown.sort_values("population", ascending=False).drop_duplicates("group").set_index("group")
    for column in ("commune_code", "commune", "unit_2025_code", "unit_2025", "district"):
        groups[column] = lead[column].reindex(groups.index) if column in lead else pd.NA
    groups["change_id"] = (
        groups["operator"].astype(str)
        + "/"
        + groups["technology"].astype(str)
        + "/"
        + lead["gap_id"].reindex(groups.index).astype(str)
    )
    crs = after_gaps.crs or before_gaps.crs or "EPSG:4326"
    shapes = gpd.GeoDataFrame(shown[["group"]], geometry=list(shown.geometry), crs=crs).dissolve(by="group")
    changes = gpd.GeoDataFrame(groups, geometry=shapes.geometry.reindex(groups.index).to_numpy(), crs=crs)
    status_order = {s: i for i, s in enumerate(STATUSES)}
    changes = changes.assign(
        _order=changes["status"].map(status_order),
        _people=np.maximum(groups["population_before"], groups["population_after"]),
    ).sort_values([*VIEW, "_order", "_people"], ascending=[True, True, True, False])
    changes = changes[CHANGE_COLUMNS].reset_index(drop=True)

    summary = _summary(changes, before_gaps, after_gaps, before_cells, after_cells)
    return changes, summary


def _summary(
    changes: pd.DataFrame,
    before_gaps: pd.DataFrame,
    after_gaps: pd.DataFrame,
    before_cells: pd.DataFrame,
    after_cells: pd.DataFrame,
) -> pd.DataFrame:
    """Per view: gap counts, groups per status and people whose coverage changed."""
    views = pd.concat([before_gaps[VIEW], after_gaps[VIEW], before_cells[VIEW], after_cells[VIEW]]).drop_duplicates()
    summary = pd.DataFrame(views).astype(str).set_index(VIEW)
    summary["gaps_before"] = before_gaps.groupby(VIEW).size()
    summary["gaps_after"] = after_gaps.groupby(VIEW).size()
    counts = pd.crosstab([changes["operator"], changes["technology"]], changes["status"])
    for status in STATUSES:
        summary[status] = counts.get(status, 0)
    summary["people_in_gaps_before"] = before_gaps.groupby(VIEW)["population"].sum()
    summary["people_in_gaps_after"] = after_gaps.groupby(VIEW)["population"].sum()

    states = before_cells[[*VIEW, "h3", "state", "gap_id"]].merge(
        after_cells[[*VIEW, "h3", "state", "gap_id", "population"]],
        on=[*VIEW, "h3"],
        how="outer",
        suffixes=("_b", "_a"),
    )
    # Population comes from the same surface in both runs; fall back to the earlier run's cells
    # when a cell is missing from the later table.
    population = states["population"].astype(float)
    if population.isna().any():
        earlier = before_cells[[*VIEW, "h3", "population"]].rename(columns={"population": "_pb"})
        population = population.fillna(states[[*VIEW, "h3"]].merge(earlier, how="left")["_pb"].astype(float))
    states["population"] = population.fillna(0.0)
    was_weak = (states["state_b"] == "weak").to_numpy(bool, na_value=False)
    is_weak = (states["state_a"] == "weak").to_numpy(bool, na_value=False)
    was_covered = (states["state_b"] == "covered").to_numpy(bool, na_value=False)
    is_covered = (states["state_a"] == "covered").to_numpy(bool, na_value=False)
    in_gap_b = (states["gap_id_b"].astype("string").str.len() > 0).to_numpy(bool, na_value=False)
    in_gap_a = (states["gap_id_a"].astype("string").str.len() > 0).to_numpy(bool, na_value=False)
    people = {
        "people_newly_covered": was_weak & is_covered,
        "people_newly_weak": was_covered & is_weak,
        "people_not_remeasured": in_gap_b & ~in_gap_a & ~is_covered & ~is_weak,
    }
    for column, mask in people.items():
        summary[column] = states.loc[mask].groupby(VIEW)["population"].sum()
    summary = summary.reset_index()
    integer_columns = ["gaps_before", "gaps_after", *STATUSES]
    summary[integer_columns] = summary[integer_columns].fillna(0).astype(int)
    float_columns = [c for c in CHANGE_SUMMARY_COLUMNS if c.startswith("people_")]
    summary[float_columns] = summary[float_columns].astype(float).fillna(0.0)
    # The all-operators view first, then operators, `any` technology first within each.
    order = summary["operator"].ne(ALL_OPERATORS).astype(int) * 10 + summary["technology"].ne(ANY_TECHNOLOGY)
    summary = summary.assign(_o=order).sort_values(["_o", "operator", "technology"]).drop(columns="_o")
    return summary[CHANGE_SUMMARY_COLUMNS].reset_index(drop=True)


#: Column of the village table saying no operator serves the village (the national list).
VILLAGE_LIST_FLAG = "no_operator"


def village_key_columns(villages: pd.DataFrame) -> list[str]:
    """Return the columns that identify a village across runs.

    ``village_id`` when the table has it, else the commune code with the village name.
    """
    if "village_id" in villages:
        return ["village_id"]
    name = next((c for c in ("village", "name", "thon") if c in villages), None)
    commune = next((c for c in ("commune_code", "commune") if c in villages), None)
    if name is None:
        raise ValueError(f"village table: no village_id or name column (columns: {list(villages.columns)})")
    return [c for c in (commune, name) if c is not None]


def compare_villages(
    before: pd.DataFrame | None, after: pd.DataFrame | None, flag: str = VILLAGE_LIST_FLAG
) -> pd.DataFrame:
    """Return the villages that joined or left the list (villages no operator serves).

    Parameters
    ----------
    before, after : pandas.DataFrame or None
        Village status tables of the two runs.
    flag : str
        Boolean column that puts a village on the list.

    Returns
    -------
    pandas.DataFrame
        The later run's village columns (the earlier one's for a village that is gone), without
        geometry, plus ``change`` (``joined`` or ``left``), ``on_list_before``, ``on_list_after``.
        Empty when either run has no village table.
    """
    if before is None or after is None or flag not in before or flag not in after:
        return pd.DataFrame(columns=VILLAGE_CHANGE_COLUMNS)
    key = village_key_columns(after)
    left_table = pd.DataFrame(before.drop(columns=["geometry"], errors="ignore"))
    right_table = pd.DataFrame(after.drop(columns=["geometry"], errors="ignore"))
    if len(key) > 1:
        # Two villages of one commune can share a name ("Thôn 1"): tell them apart by their order
        # in the village layer, which both runs read from the same file.
        left_table["occurrence"] = left_table.groupby(key).cumcount()
        right_table["occurrence"] = right_table.groupby(key).cumcount()
        key = [*key, "occurrence"]
    merged = right_table.merge(
        left_table[[*key, flag]].rename(columns={flag: "on_list_before"}), on=key, how="outer", indicator=True
    )
    missing_after = merged["_merge"] == "right_only"
    if missing_after.any():
        # A village only the earlier run knew: show its earlier attributes.
        earlier = left_table.set_index(key)
        fill = earlier.reindex(
            pd.MultiIndex.from_frame(merged.loc[missing_after, key])
            if len(key) > 1
            else merged.loc[missing_after, key[0]]
        )
        for column in right_table.columns:
            if column not in key and column != flag and column in earlier:
                merged.loc[missing_after, column] = fill[column].to_numpy()
    merged["on_list_before"] = merged["on_list_before"].astype("boolean").fillna(False).astype(bool)
    merged["on_list_after"] = merged[flag].astype("boolean").fillna(False).astype(bool)
    merged["change"] = np.select(
        [merged["on_list_after"] & ~merged["on_list_before"], ~merged["on_list_after"] & merged["on_list_before"]],
        ["joined", "left"],
        default="",
    )
    changed = merged[merged["change"] != ""].drop(columns=["_merge", flag, "occurrence"], errors="ignore")
    key = [c for c in key if c != "occurrence"]
    columns = [*VILLAGE_CHANGE_COLUMNS, *[c for c in changed.columns if c not in VILLAGE_CHANGE_COLUMNS]]
    return changed[columns].sort_values(["change", *key]).reset_index(drop=True)


def run_name(run: RunResults) -> str:
    """Return a run's period name (``run.json`` ``period`` when it is a name), else its folder name."""
    period = run.meta.get("period")
    if isinstance(period, str) and period:
        return period
    if isinstance(period, dict) and isinstance(period.get("name"), str):
        return period["name"]
    return run.folder.name


def compare_runs(
    before: RunResults, after: RunResults, before_name: str | None = None, after_name: str | None = None
) -> Comparison:
    """Compare two finished runs.

    Parameters
    ----------
    before, after : lomsong.tables.results.RunResults
        The earlier and the later run (e.g. two periods' runs).
    before_name, after_name : str, optional
        Names to show (default: each run's ``period`` in ``run.json``, else its folder name).

    Returns
    -------
    Comparison
    """
    changes, summary = compare_gaps(before.gaps, before.cells, after.gaps, after.cells)
    return Comparison(
        before=before_name or run_name(before),
        after=after_name or run_name(after),
        summary=summary,
        changes=changes,
        villages=compare_villages(before.villages, after.villages),
        synthetic=before.synthetic or after.synthetic,
    )
