"""Commitments in the monthly report: read the file, place each site, follow it up over the periods.

Orchestration over the reader (:mod:`lomsong.readers.commitments`), the remedy plan's files
(``<out>/plan/``: plan.csv, plan.geojson), the stored periods and the pure follow-up
(:mod:`lomsong.analysis.commitments`).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong.errors import CommitmentError
from lomsong.tables.results import RunResults

#: A committed position this close to a plan site of the same operator is that plan site (m).
SAME_SITE_M = 150.0


def _plan_sites(plan_dir: Path | None) -> tuple[pd.DataFrame, dict[str, object]]:
    """The plan's sites (``candidate_id``, ``operator``, ``technology``, ``lon``, ``lat``, people) and areas."""
    from lomsong.products.plan import PLAN_CSV, PLAN_GEOJSON

    if plan_dir is None or not (plan_dir / PLAN_CSV).exists():
        columns = ["candidate_id", "operator", "technology", "lon", "lat", "people_newly_covered"]
        return pd.DataFrame(columns=columns), {}
    plan = pd.read_csv(plan_dir / PLAN_CSV, dtype={"candidate_id": str, "operator": str}, encoding="utf-8-sig")
    plan["candidate_id"] = plan["candidate_id"].astype(str).str.removeprefix("'")
    areas: dict[str, object] = {}
    if (plan_dir / PLAN_GEOJSON).exists():
        layer = gpd.read_file(plan_dir / PLAN_GEOJSON)
        coverage = layer[layer["feature"].astype(str) == "predicted_coverage"]
        areas = dict(zip(coverage["candidate_id"].astype(str), coverage.geometry, strict=True))
    return plan, areas


def resolve_commitments(
    commitments: pd.DataFrame,
    *,
    source: str | Path,
    plan_dir: str | Path | None = None,
    sites: pd.DataFrame | None = None,
    communes: gpd.GeoDataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Give every commitment a position, its place (unit, commune) and, for plan sites, the plan's people.

    A row with only a site id takes the position of the plan site with that ``candidate_id`` or of
    the operator's site with that ``site_id`` in ``sites``; a row with a position that is a plan
    site of the same operator (within :data:`SAME_SITE_M`) is that plan site.

    Parameters
    ----------
    commitments : pandas.DataFrame
        :func:`lomsong.readers.commitments.read_commitments`.
    source : str or Path
        The file, for messages.
    plan_dir : path, optional
        A remedy plan's folder (``lomsong plan --out``).
    sites : pandas.DataFrame, optional
        Known sites (``operator``, ``site_id``, ``lon``, ``lat``), e.g. a run's ``sites.parquet``.
    communes : geopandas.GeoDataFrame, optional
        For the unit and commune of each site.

    Returns
    -------
    tuple
        The commitments with ``lon``, ``lat``, ``unit``, ``commune``, ``plan_people``; and the plan
        areas (predicted coverage) by ``commitment_id``.

    Raises
    ------
    CommitmentError
        A row whose site id is neither in the plan nor in the site list, naming the row.
    """
    from scipy.spatial import cKDTree

    from lomsong.analysis.radiomap import metric_xy
    from lomsong.jobs.plan import with_places

    plan, plan_areas = _plan_sites(Path(plan_dir) if plan_dir else None)
    out = commitments.copy()
    out["plan_people"] = np.nan
    by_id = plan.drop_duplicates("candidate_id").set_index("candidate_id")
    site_ids = out["site_id"].fillna("").astype(str)
    in_plan = site_ids.isin(by_id.index) & (site_ids != "")
    for column in ("lon", "lat"):
        from_plan = site_ids.map(by_id[column]) if len(by_id) else np.nan
        out[column] = out[column].where(~(in_plan & out[column].isna()), from_plan)
    if sites is not None and len(sites):
        known = pd.DataFrame(sites).drop_duplicates(["operator", "site_id"]).set_index(["operator", "site_id"])
        keys = pd.MultiIndex.from_arrays([out["operator"].astype(str), site_ids])
        for column in ("lon", "lat"):
            found = known[column].reindex(keys).to_numpy()
            out[column] = out[column].where(out[column].notna(), pd.Series(found, index=out.index))
    unresolved = out["lon"].isna() | out["lat"].isna()
    if unresolved.any():
        row = out[unresolved].iloc[0]
        more = f" (and {int(unresolved.sum()) - 1} more rows)" if unresolved.sum() > 1 else ""
        raise CommitmentError(
            f"{source}: row {row['source_row']}: site_id {row['site_id']!r} is neither a plan site nor a known "
            f"{row['operator']} site; give its lon and lat{more}"
        )
    # A plan site: by its id, or by its position for the same operator.
    matched = pd.Series(np.where(in_plan, site_ids, ""), index=out.index, dtype="string")
    if len(plan):
        tree = cKDTree(metric_xy(plan["lon"].to_numpy(float), plan["lat"].to_numpy(float)))
        distance, nearest = tree.query(metric_xy(out["lon"].to_numpy(float), out["lat"].to_numpy(float)))
        same_operator = plan["operator"].astype(str).to_numpy()[nearest] == out["operator"].astype(str).to_numpy()
        near = (distance <= SAME_SITE_M) & same_operator & (matched == "").to_numpy()
        matched[near] = plan["candidate_id"].astype(str).to_numpy()[nearest[near]]
        people = by_id["people_newly_covered"] if "people_newly_covered" in by_id else pd.Series(dtype=float)
        out["plan_people"] = matched.map(people).astype("float64")
    areas = {
        cid: plan_areas[site]
        for cid, site in zip(out["commitment_id"].astype(str), matched.fillna(""), strict=True)
        if site and site in plan_areas
    }
    if communes is not None:
        placed = with_places(out[["lon", "lat"]].astype(float), communes)
        out["unit"], out["commune"] = placed["unit"].to_numpy(), placed["commune"].to_numpy()
    else:
        out["unit"] = out["commune"] = pd.NA
    return out, areas


def commitments_followup(
    path: str | Path,
    period: str,
    *,
    out: str | Path | None = None,
    plan_dir: str | Path | None = None,
    communes: gpd.GeoDataFrame | None = None,
    radius_m: float | None = None,
    loaded: dict[str, RunResults] | None = None,
) -> pd.DataFrame:
    """Read a commitments file and follow each site up over the stored periods up to ``period``.

    Parameters
    ----------
    path : str or Path
        The commitments file (CSV/XLSX).
    period : str
        The month reported (``YYYY-MM``): later stored periods are not looked at.
    out : str or Path, optional
        Products folder holding ``periods/`` (default ``maps/``).
    plan_dir : str or Path, optional
        The remedy plan's folder (default ``<out>/plan/`` when it holds a plan).
    communes : geopandas.GeoDataFrame, optional
        For each site's unit and commune.
    radius_m : float, optional
        Radius around sites that are not plan sites (default
        :data:`lomsong.analysis.commitments.DEFAULT_RADIUS_M`).
    loaded : dict, optional
        Periods the caller has loaded already (name → run), not read again.

    Returns
    -------
    pandas.DataFrame
        :data:`lomsong.tables.commitments.FOLLOWUP_COLUMNS`.
    """
    from lomsong import paths
    from lomsong.analysis.commitments import DEFAULT_RADIUS_M, follow_up_commitments
    from lomsong.readers.commitments import read_commitments
    from lomsong.tables.periods import list_periods, load_period

    commitments = read_commitments(path)
    root = Path(out) if out is not None else paths.out_dir()
    plan_folder = Path(plan_dir) if plan_dir is not None else root / "plan"
    names = [p for p in list_periods(out) if p <= period]
    loaded = loaded or {}
    runs = {name: loaded.get(name) or load_period(name, out) for name in names}  # every month up to the report's
    sites = None
    for run in reversed(list(runs.values())):
        if run.extras.get("sites") is not None:
            sites = run.extras["sites"]
            break
    placed, areas = resolve_commitments(
        commitments, source=path, plan_dir=plan_folder, sites=sites, communes=communes
    )
    return follow_up_commitments(placed, runs, areas=areas, radius_m=radius_m or DEFAULT_RADIUS_M)
