"""Follow-up of committed sites: did the gaps around each one close in the months measured after it?

Pure: a commitment table and the stored periods' runs in, a follow-up table out
(:data:`lomsong.tables.commitments.FOLLOWUP_SCHEMA`).

For each commitment (operator, technology, position, planned month):

- **Baseline**: the last stored period *before* the planned month: the gaps as they were when the
  site was still to come. The operator's own view counts (``<operator>/any``: the people of that
  network without any signal of it).
- **Around the site**: the baseline gap cells whose centre lies in the site's predicted coverage
  when the site is one of the remedy plan's (its ``plan.geojson`` area), else within ``radius_m``
  of the position.
- **Each later period** (the planned month and after, as stored): what became of those cells,
  with the same rule as :mod:`lomsong.analysis.compare` for a gap that left the list: ``closed``
  when at least :data:`~lomsong.analysis.compare.CLOSED_MIN_COVERED_SHARE` of them are measured
  covered; ``not_remeasured`` when more of them lack evidence than are still measured weak (the
  period does not say); ``still_open`` otherwise. ``no_gap_before`` when the baseline had no gap
  cell around the site (or no period is stored before the planned month), ``not_measured_yet``
  when no period from the planned month on is stored. The comparison's own change statuses of the
  gaps involved (closed, shrunk, persisting, …) are listed beside.

A period's "covered" is evidence: a cell measured covered with enough samples and devices. Nothing
here counts a prediction as evidence; the plan's predicted people are shown as a prediction.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import shapely

from lomsong.analysis.compare import CLOSED_MIN_COVERED_SHARE, compare_runs
from lomsong.reference.boundaries import METRIC_CRS
from lomsong.tables.commitments import COMMITMENT_COLUMNS, FOLLOWUP_COLUMNS
from lomsong.tables.results import ANY_TECHNOLOGY, RunResults

#: A commitment is one site and technology.
KEY = ["commitment_id", "technology"]
#: Radius around a committed site that is not a plan site (m): a rural 4G mast's usual reach.
DEFAULT_RADIUS_M = 3000.0


def _cell_frame(run: RunResults, operator: str) -> pd.DataFrame:
    """The view's cells as ``h3`` (str), ``state``, ``gap_id``, ``population``, ``x``, ``y`` (UTM 48N)."""
    from pyproj import Transformer

    from lomsong.analysis.grid import cell_centres, hex_to_cells

    cells = run.cells
    mask = (cells["operator"].astype(str) == operator) & (cells["technology"].astype(str) == ANY_TECHNOLOGY)
    view = pd.DataFrame(cells.loc[mask.to_numpy(bool), ["h3", "state", "gap_id", "population"]]).reset_index(drop=True)
    view["h3"] = view["h3"].astype(str)
    view["gap_id"] = view["gap_id"].astype("string").fillna("")
    view["state"] = view["state"].astype("string").fillna("no_data")
    view["population"] = pd.to_numeric(view["population"], errors="coerce").fillna(0.0)
    lon, lat = cell_centres(hex_to_cells(view["h3"].to_numpy())) if len(view) else (np.zeros(0), np.zeros(0))
    x, y = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True).transform(lon, lat)
    view["lon"], view["lat"], view["x"], view["y"] = lon, lat, np.asarray(x), np.asarray(y)
    return view


def _baseline_and_later(planned: str, names: list[str]) -> tuple[str | None, list[str]]:
    before = [n for n in names if n < planned]
    return (before[-1] if before else None), [n for n in names if n >= planned]


def follow_up_commitments(
    commitments: pd.DataFrame,
    periods: Mapping[str, RunResults],
    *,
    areas: Mapping[str, shapely.Geometry] | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
) -> pd.DataFrame:
    """Follow each committed site up over the stored periods.

    Parameters
    ----------
    commitments : pandas.DataFrame
        :data:`~lomsong.tables.commitments.COMMITMENT_COLUMNS` with positions resolved (``lon``,
        ``lat`` set), optionally ``unit``, ``commune``, ``plan_people`` (passed through).
    periods : mapping
        Period name (``YYYY-MM``) → that month's run, every stored period up to the one reported.
    areas : mapping, optional
        ``commitment_id`` → the site's predicted coverage (EPSG:4326 polygon), for plan sites.
    radius_m : float
        Radius around the other sites (m).

    Returns
    -------
    pandas.DataFrame
        :data:`~lomsong.tables.commitments.FOLLOWUP_COLUMNS`: one row per commitment and later
        period (one ``not_measured_yet`` row when there is none), in the commitments' order.
    """
    from pyproj import Transformer

    names = sorted(periods)
    areas = dict(areas or {})
    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    cell_cache: dict[tuple[str, str], pd.DataFrame] = {}
    change_cache: dict[tuple[str, str], pd.DataFrame] = {}

    def cells_of(name: str, operator: str) -> pd.DataFrame:
        if (name, operator) not in cell_cache:
            cell_cache[(name, operator)] = _cell_frame(periods[name], operator)
        return cell_cache[(name, operator)]

    def changes_of(before: str, after: str) -> pd.DataFrame:
        if (before, after) not in change_cache:  # one comparison per pair of periods, shared by the sites
            comparison = compare_runs(periods[before], periods[after], before, after)
            change_cache[(before, after)] = pd.DataFrame(comparison.changes.drop(columns="geometry"))
        return change_cache[(before, after)]

    rows: list[dict] = []
    passed = [c for c in ("unit", "commune", "plan_people") if c in commitments]
    for commitment in commitments.to_dict("records"):  # one step per committed site (tens), cells vectorised
        base = {c: commitment.get(c) for c in COMMITMENT_COLUMNS} | {c: commitment.get(c) for c in passed}
        operator, planned = str(commitment["operator"]), str(commitment["planned_month"])
        baseline, later = _baseline_and_later(planned, names)
        area = areas.get(str(commitment["commitment_id"]))
        inside = np.zeros(0, dtype=bool)
        before = pd.DataFrame(columns=["h3", "gap_id", "population"])
        if baseline is not None:
            view = cells_of(baseline, operator)
            gap_cells = view[view["gap_id"] != ""]
            if area is not None and not area.is_empty:
                inside = shapely.contains_xy(area, gap_cells["lon"].to_numpy(), gap_cells["lat"].to_numpy())
            else:
                x, y = to_metric.transform(float(commitment["lon"]), float(commitment["lat"]))
                inside = np.hypot(gap_cells["x"].to_numpy() - x, gap_cells["y"].to_numpy() - y) <= radius_m
            before = gap_cells[inside]
        gap_ids = sorted(set(before["gap_id"]))
        common = base | {
            "baseline_period": baseline or "",
            "area": "predicted_coverage" if area is not None else "radius",
            "radius_m": np.nan if area is not None else float(radius_m),
            "gap_ids_before": ";".join(gap_ids),
            "gap_cells_before": int(len(before)),
            "gap_people_before": float(before["population"].sum()),
        }
        if not later:
            rows.append(common | {"period": "", "status": "not_measured_yet" if len(before) else "no_gap_before"})
            continue
        for name in later:  # one step per later stored month
            if not len(before):
                rows.append(common | {"period": name, "status": "no_gap_before"})
                continue
            after = cells_of(name, operator).set_index("h3")["state"]
            state = after.reindex(before["h3"].to_numpy()).fillna("no_data").to_numpy(dtype=object)
            covered, weak = state == "covered", state == "weak"
            n_covered, n_weak = int(covered.sum()), int(weak.sum())
            n_unmeasured = int(len(state) - n_covered - n_weak)
            if n_covered >= CLOSED_MIN_COVERED_SHARE * len(state):
                status = "closed"
            elif n_unmeasured > n_weak:
                status = "not_remeasured"
            else:
                status = "still_open"
            changes = changes_of(baseline, name)
            ids_before = changes["gap_ids_before"].astype(str).str.split(";")
            involved = ids_before.explode().isin(gap_ids).groupby(level=0).any()
            mine = changes[
                (changes["operator"].astype(str) == operator)
                & (changes["technology"].astype(str) == ANY_TECHNOLOGY)
                & involved.reindex(changes.index, fill_value=False)
            ]
            counts = mine["status"].value_counts()
            rows.append(
                common
                | {
                    "period": name,
                    "cells_measured_covered": n_covered,
                    "cells_still_weak": n_weak,
                    "cells_not_remeasured": n_unmeasured,
                    "people_newly_covered": float(before["population"].to_numpy()[covered].sum()),
                    "change_statuses": "; ".join(f"{s}: {n}" for s, n in counts.items()),
                    "status": status,
                }
            )
    out = pd.DataFrame(rows).reindex(columns=FOLLOWUP_COLUMNS)
    for column in ("gap_cells_before", "cells_measured_covered", "cells_still_weak", "cells_not_remeasured"):
        out[column] = pd.array(out[column], dtype="Int64")
    for column in ("lon", "lat", "radius_m", "gap_people_before", "people_newly_covered", "plan_people"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    text = [c for c in FOLLOWUP_COLUMNS if out[c].dtype == object]
    out[text] = out[text].astype("string")
    return out


def latest_status(followup: pd.DataFrame) -> pd.DataFrame:
    """One row per commitment: its latest period's row, with ``history`` (``2026-10: closed; …``)."""
    if followup.empty:
        return followup.assign(history=pd.Series(dtype="string"))
    history = (
        followup[followup["period"].fillna("") != ""]
        .assign(_h=lambda f: f["period"] + ": " + f["status"])
        .groupby(KEY, sort=False)["_h"]
        .agg("; ".join)
    )
    last = followup.groupby(KEY, sort=False).tail(1).set_index(KEY)
    last["history"] = history.reindex(last.index).fillna("").astype("string")
    return last.reset_index()[[*followup.columns, "history"]]


__all__ = ["DEFAULT_RADIUS_M", "follow_up_commitments", "latest_status"]
