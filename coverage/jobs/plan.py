"""``lomsong plan``: the remedy plan from a finished run (see :mod:`lomsong.analysis.plan`).

Reads the run folder (cells, villages, sites and the radio map's fitted models in ``run.json``),
builds the candidates, chooses the sites and writes ``plan.csv``, ``plan.xlsx`` and
``plan.geojson``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong import paths
from lomsong.errors import RunError
from lomsong.operators import OPERATOR_IDS

#: Candidate kinds, in the order they are offered.
CANDIDATE_KINDS = ("village", "commune_centre", "shared_site", "user")
#: A village is a candidate when its centre is this close to a cell people need covered (m).
NEAR_GAP_M = 2000.0


@dataclass
class PlanSummary:
    """What :func:`run_plan` wrote."""

    out: Path
    files: list[str]
    plan: pd.DataFrame
    operator: str
    technology: str
    people_in_scope_measured: float
    people_in_scope_predicted: float


def _candidates(
    results,
    communes: gpd.GeoDataFrame,
    operator: str,
    need_xy: np.ndarray,
    candidates_file: str | Path | None,
) -> pd.DataFrame:
    from scipy.spatial import cKDTree

    from lomsong.analysis.radiomap import metric_xy

    if candidates_file is not None:
        from lomsong.readers.sites import read_candidates

        return read_candidates(candidates_file)
    parts = []
    villages = results.villages
    if villages is not None and len(villages) and len(need_xy):
        xy = metric_xy(villages["lon"].to_numpy(float), villages["lat"].to_numpy(float))
        distance, _ = cKDTree(need_xy).query(xy)
        near = distance <= NEAR_GAP_M
        chosen = villages.loc[near]
        power = chosen["has_grid_power"].astype("boolean") if "has_grid_power" in chosen else pd.NA
        parts.append(
            pd.DataFrame(
                {
                    "candidate_id": "village:" + chosen["name"].astype(str) + "@" + chosen["commune"].astype(str),
                    "candidate_kind": "village",
                    "lon": chosen["lon"].to_numpy(float),
                    "lat": chosen["lat"].to_numpy(float),
                    "note": np.where(power.fillna(False).to_numpy(bool), "", "cần kéo điện lưới (needs grid power)"),
                    "cost": np.nan,
                    "has_grid_power": power,
                }
            )
        )
    centres = communes.to_crs("EPSG:32648").representative_point().to_crs("EPSG:4326")
    parts.append(
        pd.DataFrame(
            {
                "candidate_id": "commune:" + communes["commune_code"].astype(str),
                "candidate_kind": "commune_centre",
                "lon": centres.x.to_numpy(),
                "lat": centres.y.to_numpy(),
                "note": "trung tâm xã (commune centre)",
                "cost": np.nan,
                "has_grid_power": True,
            }
        )
    )
    sites = results.extras.get("sites")
    if sites is not None and len(sites):
        others = sites[sites["operator"].astype(str) != operator].drop_duplicates(["operator", "site_id"])
        parts.append(
            pd.DataFrame(
                {
                    "candidate_id": "shared:" + others["operator"].astype(str) + ":" + others["site_id"].astype(str),
                    "candidate_kind": "shared_site",
                    "lon": others["lon"].to_numpy(float),
                    "lat": others["lat"].to_numpy(float),
                    "note": "dùng chung hạ tầng của " + others["operator"].astype(str) + " (infrastructure sharing)",
                    "cost": np.nan,
                    "has_grid_power": True,
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["has_grid_power"] = frame["has_grid_power"].astype("boolean")
    return frame.drop_duplicates("candidate_id").reset_index(drop=True)


def run_plan(
    run: str | Path | None = None,
    out: str | Path | None = None,
    *,
    operator: str = "viettel",
    technology: str = "4G",
    n_sites: int = 10,
    candidates: str | Path | None = None,
    antenna_m: float = 30.0,
    boundaries: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> PlanSummary:
    """Propose ``n_sites`` new or shared sites for one operator and technology from a finished run.

    Parameters
    ----------
    run : path, optional
        The run folder (default ``maps/``); it must have the radio map's model for the view.
    out : path, optional
        Where to write the plan files (default: ``<run>/plan/``).
    operator, technology : str
        The network that builds: its fitted model predicts the new sites' coverage, and the people
        counted are those in its own gaps (``<operator>/any`` view); ``--operator all`` counts the
        vùng lõm sóng view and uses Viettel's model.
    n_sites : int
        Sites to propose.
    candidates : path, optional
        User candidates (CSV/XLSX ``id, lon, lat[, note, cost]``) instead of the defaults.
    antenna_m : float
        Antenna height of a new site (m).
    boundaries : path, optional
        Commune boundaries (default: bundled).
    progress : callable, optional
        Called with short messages.

    Returns
    -------
    PlanSummary

    Raises
    ------
    RunError
        No run, no radio-map model for the view, bad options.
    """
    from lomsong.analysis.grid import cell_centres, hex_to_cells
    from lomsong.analysis.plan import SiteModel, coverage_incidence, greedy_sites, plan_table
    from lomsong.analysis.radiomap import metric_xy
    from lomsong.products.plan import write_plan
    from lomsong.reference.boundaries import read_communes
    from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY, load_run

    say = progress or (lambda _message: None)
    if n_sites < 1:
        raise RunError(f"--sites must be at least 1, got {n_sites}")
    if not 5.0 <= antenna_m <= 150.0:
        raise RunError(f"--antenna-m must be between 5 and 150 m, got {antenna_m}")
    run_dir = Path(run) if run else paths.out_dir()
    results = load_run(run_dir)
    model_operator = "viettel" if operator == ALL_OPERATORS else operator
    if model_operator not in OPERATOR_IDS:
        raise RunError(f"unknown operator {operator!r}; use one of {', '.join([*OPERATOR_IDS, ALL_OPERATORS])}")
    key = f"{model_operator}/{technology}"
    models = results.meta.get("prediction", {}).get("models", {})
    if key not in models:
        raise RunError(
            f"{run_dir}: the run has no radio-map model for {key}; models: {', '.join(models) or 'none'} "
            "(rerun `lomsong run --sites FILE`)"
        )
    model = SiteModel.from_run(models[key])
    covered_at = float(results.meta.get("prediction", {}).get("covered_p", 0.8))
    say(f"model {key}: {model.intercept_dbm:.1f} dBm at 1 km, {model.slope_db:.1f} dB/decade, sd {model.sd_db:.1f} dB")

    cells = results.cells
    view = cells[(cells["operator"].astype(str) == operator) & (cells["technology"].astype(str) == ANY_TECHNOLOGY)]
    if view.empty:
        raise RunError(f"{run_dir}: the run has no {operator}/any view")
    view = view.reset_index(drop=True)
    people = view["population"].to_numpy("float64")
    state = view["state"].astype(str).to_numpy(object)
    guess = view["predicted_state"].astype("string").fillna("").to_numpy(object)
    measured_people = np.where(state == "weak", people, 0.0)
    open_cell = np.isin(state, ["no_data", "insufficient"])
    predicted_people = np.where(open_cell & (guess == "weak"), people, 0.0)
    cell_ids = hex_to_cells(view["h3"].astype(str).to_numpy())
    lon, lat = cell_centres(cell_ids)
    cell_xy = metric_xy(lon, lat)
    need = (measured_people + predicted_people) > 0

    communes = read_communes(Path(boundaries) if boundaries else paths.boundaries_path())
    table = _candidates(results, communes, model_operator, cell_xy[need], candidates)
    say(f"{len(table):,} candidates, {int(need.sum()):,} cells with people to bring into coverage")
    candidate_xy = metric_xy(table["lon"].to_numpy(float), table["lat"].to_numpy(float))
    incidence = coverage_incidence(candidate_xy, cell_xy, model, antenna_m=antenna_m, covered_at=covered_at)
    chosen, _ = greedy_sites(incidence, measured_people + predicted_people, n_sites)

    villages = results.villages
    village_cell = None
    if villages is not None and len(villages):
        # "resolved" follows the Ministry's tiers for the network that builds (CV 1603), never the
        # bare state of the centre's cell: a village counts only if it was trắng or lõm sóng for it
        tier_column = "status_cv1603" if operator == ALL_OPERATORS else f"status_cv1603_{operator}"
        tier = villages[tier_column] if tier_column in villages else pd.Series(pd.NA, index=villages.index)
        if tier_column not in villages:
            say(f"the run's villages have no {tier_column}: no village is counted as resolved")
        x, y = metric_xy(villages["lon"].to_numpy(float), villages["lat"].to_numpy(float)).T
        villages = villages.assign(tier=tier.astype("string"), x=x, y=y)
        index = pd.Index(view["h3"].astype(str))
        if "h3" in villages:
            village_cell = index.get_indexer(villages["h3"].astype(str))
        else:  # a village layer without its cells: the centre's cell in the view
            from lomsong.analysis.grid import cells_to_hex, index_points

            centre = cells_to_hex(index_points(villages["lon"].to_numpy(float), villages["lat"].to_numpy(float),
                                               int(_resolution(cell_ids))))
            village_cell = index.get_indexer(centre)
    plan, fresh = plan_table(
        table,
        chosen,
        incidence,
        measured_people=measured_people,
        predicted_people=predicted_people,
        village_cell=village_cell,
        villages=villages,
        cell_xy=cell_xy,
        weak=state == "weak",
        people=people,
    )
    plan = with_places(plan, communes)
    plan.insert(plan.columns.get_loc("candidate_id"), "operator", model_operator)
    plan.insert(plan.columns.get_loc("candidate_id"), "technology", technology)
    out_dir = Path(out) if out else run_dir / "plan"
    site_cells = [incidence.indices[incidence.indptr[s] : incidence.indptr[s + 1]] for s in chosen]
    files = write_plan(
        plan,
        out_dir,
        cells=cell_ids,
        site_cells=site_cells,
        new_cells=fresh,
        synthetic=results.synthetic,
        meta={"run": str(run_dir), "model": models[key], "antenna_m": antenna_m, "covered_p": covered_at},
    )
    return PlanSummary(
        out=out_dir,
        files=files,
        plan=plan,
        operator=operator,
        technology=technology,
        people_in_scope_measured=float(measured_people.sum()),
        people_in_scope_predicted=float(predicted_people.sum()),
    )


def _resolution(cells: np.ndarray) -> int:
    import h3

    return h3.get_resolution(h3.int_to_str(int(cells[0]))) if len(cells) else 8


def with_places(plan: pd.DataFrame, communes: gpd.GeoDataFrame) -> pd.DataFrame:
    """Add the commune, district and 2025 unit holding each site."""
    from lomsong.errors import UnitMappingError
    from lomsong.reference.units import unit_mapping

    points = gpd.GeoDataFrame(plan, geometry=gpd.points_from_xy(plan["lon"], plan["lat"]), crs="EPSG:4326")
    joined = gpd.sjoin(
        points,
        communes.to_crs("EPSG:4326")[["commune_code", "commune", "district", "geometry"]],
        how="left",
        predicate="within",
    )
    joined = joined[~joined.index.duplicated()]
    out = plan.copy()
    for column in ("commune_code", "commune", "district"):
        out[column] = joined[column].reindex(out.index).astype("string")
    try:
        mapping = unit_mapping(communes).set_index("commune_code")
        out["unit"] = out["commune_code"].map(mapping["unit"]).astype("string")
    except UnitMappingError:  # boundaries without 2025 units: the column stays empty
        out["unit"] = pd.array([pd.NA] * len(out), dtype="string")
    return out
