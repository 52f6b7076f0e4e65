"""The gap engine's entry point: measurements, communes and people in; cell states, gaps, commune
summary, measurement plan and village statuses out.

:func:`analyse` is pure (no files, no network): the exports (:mod:`lomsong.products.tables`), the maps and
the API all build on the :class:`Analysis` it returns. Stages: grid (cells, people, communes),
index, aggregate, classify, gaps, communes, campaign, villages. See the README section "Analysis"
for the method.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong.analysis.aggregate import STAT_COLUMNS, CellStatistics, Samples, cell_statistics, prepare_samples
from lomsong.analysis.claims import ClaimAnalysis, analyse_claims, cell_claim_columns
from lomsong.analysis.evidence import (
    COVERED,
    INSUFFICIENT,
    NO_DATA,
    STATES,
    WEAK,
    all_states,
    operator_states,
    shortfall,
    sufficient,
    technology_states,
)
from lomsong.analysis.gaps import find_gaps
from lomsong.analysis.grid import Grid, build_grid, cell_centres, cell_polygons, cells_to_hex
from lomsong.analysis.radiomap import (
    P_COVERED,
    P_WEAK,
    PREDICTED_STATES,
    RadioMap,
    metric_xy,
    predicted_gaps,
    province_radio_map,
)
from lomsong.operators import OPERATOR_IDS
from lomsong.reference.boundaries import STORAGE_CRS
from lomsong.reference.population import PopulationSurface, surface_record
from lomsong.reference.units import add_unit_columns
from lomsong.settings import Config
from lomsong.tables.measurements import conform_speed_tiles
from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY, CELL_STATE_SCHEMA, COMMUNE_SUMMARY_SCHEMA
from lomsong.tables.sites import site_technologies

CELL_STATE_COLUMNS = [name for name, _ in CELL_STATE_SCHEMA]
COMMUNE_SUMMARY_COLUMNS = [name for name, _ in COMMUNE_SUMMARY_SCHEMA]

#: Measurement plan columns (``campaign.csv``), with their meaning.
CAMPAIGN_SCHEMA: list[tuple[str, str]] = [
    ("commune_code", "GSO code of the commune holding most of the cell's people"),
    ("commune", "its name"),
    ("district_code", "district GSO code"),
    ("district", "district name"),
    ("priority", "rank within the commune by value (1 = most value; by people when there is no radio map)"),
    ("visit_order", "order of visit within the commune: days of CELLS_PER_DAY cells by value, each day a "
     "nearest-neighbour tour from the commune centre"),
    ("h3", "H3 cell id"),
    ("lon", "longitude of the cell centre"),
    ("lat", "latitude of the cell centre"),
    ("population", "people living in the cell"),
    ("operator", "view: all (the vùng lõm sóng view)"),
    ("technology", "view: any"),
    ("state", "no_data or insufficient"),
    ("n_samples", "measurements there so far (all operators)"),
    ("n_devices", "distinct devices so far"),
    ("samples_needed", "more samples needed with each listed operator"),
    ("devices_needed", "more devices needed with each listed operator"),
    ("p_covered", "radio map: probability the cell is covered (all view); empty without a prediction"),
    ("predicted_state", "radio map: covered, weak or uncertain; empty without a prediction"),
    ("value", "people × min(p_covered, 1 − p_covered): people whose answer one visit is likely to change "
     "(p_covered taken as 0.5 where there is no prediction)"),
    ("expected_people_decided", "the commune's people that one team-day (its first CELLS_PER_DAY cells) brings "
     "from no decision, measured or predicted, to a measured one"),
    ("unit_2025_code", "code of the 2025 unit holding that commune (empty without the 2025 mapping)"),
    ("unit_2025", "name of that 2025 unit"),
    ("operators_to_test", "operators without enough evidence there, ';'-joined"),
]
#: Cells one team measures in a day: a cell takes about 30 min (5+ samples from 2 phones of each
#: operator, walking the hexagon) plus travel on rural roads; 12 cells ≈ an 8-hour day.
CELLS_PER_DAY = 12
CAMPAIGN_COLUMNS = [name for name, _ in CAMPAIGN_SCHEMA]


@dataclass
class Analysis:
    """Everything the gap engine found.

    Attributes
    ----------
    cells : geopandas.GeoDataFrame
        :data:`lomsong.tables.results.CELL_STATE_SCHEMA`, one row per grid cell × view.
    gaps : geopandas.GeoDataFrame
        :data:`lomsong.tables.results.GAP_COLUMNS`, EPSG:4326.
    communes : pandas.DataFrame
        :data:`lomsong.tables.results.COMMUNE_SUMMARY_SCHEMA`, one row per commune × view.
    campaign : pandas.DataFrame
        Measurement plan (:data:`CAMPAIGN_SCHEMA`): populated cells of the ``all`` view whose
        state is ``no_data`` or ``insufficient``.
    villages : geopandas.GeoDataFrame or None
        Village statuses (see :func:`lomsong.analysis.villages.village_status`).
    cell_communes : pandas.DataFrame
        ``h3``, ``commune_code``, ``area_share``, ``area_km2``, ``population``.
    stats : pandas.DataFrame
        Statistics per ``h3`` × ``operator`` × ``technology`` (views with samples only), with
        ``n_weak`` and ``n_no_service``.
    counts : dict
        Numbers for ``run.json``.
    timings : dict
        Seconds per stage.
    views : pandas.DataFrame
        The views: ``operator``, ``technology``, ``kind`` (technology, operator, all).
    operators : list of str
        Operators seen in the province's data, canonical order.
    speed : pandas.DataFrame or None
        Speed tiles per cell (context only, see the README): ``h3``, ``tests``, ``devices``,
        ``avg_d_kbps``, ``slow``.
    claims : ClaimAnalysis or None
        Claimed coverage against the measurements, when claim maps were given
        (:mod:`lomsong.analysis.claims`).
    population : dict or None
        Where the people come from (:func:`lomsong.reference.population.surface_record`):
        ``source``, ``parameters``, ``total`` and the per-commune check; ``run.json`` ``population``.
    predicted_gaps : geopandas.GeoDataFrame or None
        Radio map: connected predicted-weak cells without a measured state
        (:data:`lomsong.tables.results.PREDICTED_GAP_COLUMNS`).
    prediction : dict
        Radio map method, fitted models and blocked cross-validation (``run.json`` ``prediction``).
    sites : pandas.DataFrame or None
        The known sites the radio map used (:data:`lomsong.tables.sites.SITE_COLUMNS`).
    """

    cells: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    communes: pd.DataFrame
    campaign: pd.DataFrame
    villages: gpd.GeoDataFrame | None
    cell_communes: pd.DataFrame
    stats: pd.DataFrame
    counts: dict
    timings: dict[str, float]
    views: pd.DataFrame = field(default_factory=pd.DataFrame)
    operators: list[str] = field(default_factory=list)
    speed: pd.DataFrame | None = None
    claims: ClaimAnalysis | None = None
    population: dict | None = None
    predicted_gaps: gpd.GeoDataFrame | None = None
    prediction: dict = field(default_factory=dict)
    sites: pd.DataFrame | None = None


@dataclass(frozen=True)
class Classification:
    """Dense ``(n_views, n_cells)`` arrays of counts, states and evidence still needed."""

    n_samples: np.ndarray
    n_devices: np.ndarray
    state: np.ndarray
    samples_needed: np.ndarray
    devices_needed: np.ndarray

    @property
    def meets_rule(self) -> np.ndarray:
        """True where the view's evidence rule is met (nothing more needed)."""
        return (self.samples_needed == 0) & (self.devices_needed == 0)


def classify(statistics: CellStatistics, n_cells: int, operators: list[str], config: Config) -> Classification:
    """Give every cell of every view its state and the evidence it still needs.

    Parameters
    ----------
    statistics : CellStatistics
        Per view × cell statistics.
    n_cells : int
        Grid cells.
    operators : list of str
        Operators present (index = operator code).
    config : Config
        Thresholds and evidence rule.

    Returns
    -------
    Classification
    """
    views = statistics.views
    shape = (len(views), n_cells)
    table = statistics.table
    dense = {}
    for column in ("n_samples", "n_devices", "n_weak"):
        values = np.zeros(shape, dtype="int64")
        values[table["view"].to_numpy(), table["cell"].to_numpy()] = table[column].to_numpy()
        dense[column] = values
    n, d, w = dense["n_samples"], dense["n_devices"], dense["n_weak"]
    state = np.zeros(shape, dtype="int8")
    kind = views["kind"].to_numpy(object)
    tech_rows = np.flatnonzero(kind == "technology")
    state[tech_rows] = technology_states(n[tech_rows], d[tech_rows], w[tech_rows], config)
    any_rows = views.loc[kind == "operator", ["view", "operator_code"]].to_numpy()
    for view_code, operator_code in any_rows:  # one loop step per operator
        own = tech_rows[views["operator_code"].to_numpy()[tech_rows] == operator_code]
        state[view_code] = operator_states(state[own], n[view_code], d[view_code], w[view_code], config)
    samples_needed, devices_needed = shortfall(n, d, config)

    all_row = int(np.flatnonzero(kind == "all")[0])
    national = np.isin(np.asarray(operators, dtype=object)[any_rows[:, 1]], OPERATOR_IDS) if len(any_rows) else []
    national_rows = any_rows[np.asarray(national, dtype=bool), 0] if len(any_rows) else np.array([], dtype="int64")
    state[all_row] = all_states(state[national_rows], n[all_row])
    if len(national_rows):
        # The all view is settled when every operator seen in the province has been tested there.
        all_samples = samples_needed[national_rows].max(axis=0)
        all_devices = devices_needed[national_rows].max(axis=0)
    else:
        all_samples, all_devices = samples_needed[all_row], devices_needed[all_row]
    covered = state[all_row] == COVERED
    samples_needed[all_row] = np.where(covered, 0, all_samples)
    devices_needed[all_row] = np.where(covered, 0, all_devices)
    return Classification(n, d, state, samples_needed, devices_needed)


def _cells_table(
    grid: Grid,
    statistics: CellStatistics,
    classification: Classification,
    weak_entries: pd.DataFrame,
    claims: ClaimAnalysis | None = None,
    radio: RadioMap | None = None,
) -> gpd.GeoDataFrame:
    """One row per view × cell with statistics, state, people, evidence needed and gap id."""
    views = statistics.views
    n_cells = len(grid.cells)
    n_views = len(views)
    view = np.repeat(np.arange(n_views, dtype="int64"), n_cells)
    cell = np.tile(np.arange(n_cells, dtype="int64"), n_views)
    key = view * n_cells + cell
    stats = statistics.table.set_index(statistics.key)[STAT_COLUMNS].reindex(key)
    hex_ids = cells_to_hex(grid.cells)
    polygons = cell_polygons(grid.cells)
    claim, predicted_claim = cell_claim_columns(claims, views, n_cells)
    gap_id = pd.Series(pd.NA, index=key, dtype="string")
    if len(weak_entries):
        gap_id.loc[weak_entries["view"].to_numpy() * n_cells + weak_entries["cell"].to_numpy()] = weak_entries[
            "gap_id"
        ].to_numpy()
    frame = pd.DataFrame(
        {
            "h3": pd.array(hex_ids[cell], dtype="string"),
            "operator": pd.array(views["operator"].to_numpy(object)[view], dtype="string"),
            "technology": pd.array(views["technology"].to_numpy(object)[view], dtype="string"),
            "state": pd.array(np.asarray(STATES, dtype=object)[classification.state.ravel()], dtype="string"),
            "n_samples": classification.n_samples.ravel(),
            "n_devices": classification.n_devices.ravel(),
            "n_days": stats["n_days"].fillna(0).to_numpy("int64"),
            "first_date": stats["first_date"].astype("string").to_numpy(),
            "last_date": stats["last_date"].astype("string").to_numpy(),
            "median_signal_dbm": stats["median_signal_dbm"].to_numpy("float64", na_value=np.nan),
            "p10_signal_dbm": stats["p10_signal_dbm"].to_numpy("float64", na_value=np.nan),
            "no_service_share": stats["no_service_share"].to_numpy("float64", na_value=np.nan),
            "median_dl_kbps": stats["median_dl_kbps"].to_numpy("float64", na_value=np.nan),
            "population": grid.population[cell],
            "samples_needed": classification.samples_needed.ravel(),
            "devices_needed": classification.devices_needed.ravel(),
            "gap_id": gap_id.to_numpy(),
            "claim_state": pd.array(claim, dtype="string"),
            "predicted_claim_state": pd.array(predicted_claim, dtype="string"),
            **_prediction_columns(radio, (n_views, n_cells)),
        }
    )
    return gpd.GeoDataFrame(frame, geometry=polygons[cell], crs=STORAGE_CRS)[CELL_STATE_COLUMNS]


def _prediction_columns(radio: RadioMap | None, shape: tuple[int, int]) -> dict[str, object]:
    """The radio map's four columns, flattened view-major like the cells table (empty without one)."""
    if radio is None:
        nan = np.full(shape[0] * shape[1], np.nan)
        return {
            "predicted_signal_dbm": nan,
            "predicted_sd_db": nan,
            "p_covered": nan,
            "predicted_state": pd.array([pd.NA] * len(nan), dtype="string"),
        }
    names = np.asarray([*PREDICTED_STATES, None], dtype=object)  # code -1 → None
    return {
        "predicted_signal_dbm": radio.signal_dbm.ravel().round(2),
        "predicted_sd_db": radio.sd_db.ravel().round(2),
        "p_covered": radio.p_covered.ravel().round(4),
        "predicted_state": pd.array(names[radio.state.ravel()], dtype="string"),
    }


def _stats_table(grid: Grid, statistics: CellStatistics) -> pd.DataFrame:
    """Statistics of the view × cells with samples, keyed by ``h3``, ``operator``, ``technology``."""
    table = statistics.table
    views = statistics.views
    out = pd.DataFrame(
        {
            "h3": pd.array(cells_to_hex(grid.cells[table["cell"].to_numpy()]), dtype="string"),
            "operator": pd.array(views["operator"].to_numpy(object)[table["view"].to_numpy()], dtype="string"),
            "technology": pd.array(views["technology"].to_numpy(object)[table["view"].to_numpy()], dtype="string"),
        }
    )
    return pd.concat([out, table[STAT_COLUMNS].reset_index(drop=True)], axis=1)


def commune_summary(
    grid: Grid,
    views: pd.DataFrame,
    classification: Classification,
    weak_entries: pd.DataFrame,
    communes: pd.DataFrame,
    predicted_state: np.ndarray | None = None,
) -> pd.DataFrame:
    """Summarise each commune in each view (:data:`lomsong.tables.results.COMMUNE_SUMMARY_SCHEMA`).

    People are counted by the pixels' own commune, areas by the hexagon ∩ commune areas.

    Parameters
    ----------
    grid : Grid
        Province grid.
    views : pandas.DataFrame
        Views.
    classification : Classification
        States per view × cell.
    weak_entries : pandas.DataFrame
        ``view``, ``cell``, ``gap_id`` of every weak cell.
    communes : pandas.DataFrame
        Canonical commune table.
    predicted_state : numpy.ndarray, optional
        ``(n_views, n_cells)`` radio-map state codes; counts the people of cells without a measured
        state that are predicted weak, and those whose prediction is uncertain or missing.

    Returns
    -------
    pandas.DataFrame
    """
    shares = grid.cell_communes
    n_views = len(views)
    n_pairs = len(shares)
    view = np.repeat(np.arange(n_views, dtype="int64"), n_pairs)
    cell = np.tile(shares["cell"].to_numpy("int64"), n_views)
    state = classification.state[view, cell]
    people = np.tile(shares["population"].to_numpy("float64"), n_views)
    area = np.tile(shares["area_km2"].to_numpy("float64"), n_views)
    long = pd.DataFrame(
        {
            "view": view,
            "commune_code": np.tile(shares["commune_code"].to_numpy(object), n_views),
            "people": people,
            "people_weak": np.where(state == WEAK, people, 0.0),
            "people_covered": np.where(state == COVERED, people, 0.0),
            "people_open": np.where((state == NO_DATA) | (state == INSUFFICIENT), people, 0.0),
            "area": area,
            "area_with_data": np.where(classification.n_samples[view, cell] > 0, area, 0.0),
        }
    )
    unmeasured = (state == NO_DATA) | (state == INSUFFICIENT)
    guess = predicted_state[view, cell] if predicted_state is not None else np.full(len(view), -1)
    long["people_predicted_weak"] = np.where(unmeasured & (guess == P_WEAK), people, 0.0)
    long["people_uncertain"] = np.where(unmeasured & (guess != P_WEAK) & (guess != P_COVERED), people, 0.0)
    summary = long.groupby(["view", "commune_code"], as_index=False).sum()

    touched = weak_entries.merge(shares[["cell", "commune_code", "population"]], on="cell")
    per_gap = touched.groupby(["view", "commune_code", "gap_id"], as_index=False)["population"].sum()
    n_gaps = per_gap.groupby(["view", "commune_code"]).size().rename("n_gaps")
    largest = (
        per_gap.sort_values(["view", "commune_code", "population", "gap_id"], ascending=[True, True, False, True])
        .drop_duplicates(["view", "commune_code"])
        .set_index(["view", "commune_code"])
        .rename(columns={"gap_id": "largest_gap_id", "population": "largest_gap_population"})
    )
    summary = summary.join(n_gaps, on=["view", "commune_code"]).join(largest, on=["view", "commune_code"])

    info = communes[["commune_code", "commune", "district_code", "district"]].astype({"commune_code": str})
    summary = summary.merge(info, on="commune_code", how="left")
    population = summary["people"].to_numpy("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        result = pd.DataFrame(
            {
                "commune_code": summary["commune_code"].astype("string"),
                "commune": summary["commune"].astype("string"),
                "district_code": summary["district_code"].astype("string"),
                "district": summary["district"].astype("string"),
                "operator": pd.array(views["operator"].to_numpy(object)[summary["view"]], dtype="string"),
                "technology": pd.array(views["technology"].to_numpy(object)[summary["view"]], dtype="string"),
                "population": population,
                "people_in_gaps": summary["people_weak"].to_numpy("float64"),
                "share_people_covered": np.where(population > 0, summary["people_covered"] / population, np.nan),
                "share_people_no_data": np.where(population > 0, summary["people_open"] / population, np.nan),
                "share_area_with_data": np.where(
                    summary["area"] > 0, summary["area_with_data"] / summary["area"], np.nan
                ),
                "n_gaps": summary["n_gaps"].fillna(0).astype("int64"),
                "largest_gap_id": summary["largest_gap_id"].astype("string"),
                "largest_gap_population": summary["largest_gap_population"].astype("float64"),
                "people_predicted_weak": summary["people_predicted_weak"].to_numpy("float64"),
                "people_uncertain": summary["people_uncertain"].to_numpy("float64"),
            }
        )
    result["_view"] = summary["view"].to_numpy()
    result = result.sort_values(["_view", "district_code", "commune_code"]).drop(columns="_view")
    return add_unit_columns(result.reset_index(drop=True), communes)[COMMUNE_SUMMARY_COLUMNS]


def measurement_plan(
    grid: Grid,
    views: pd.DataFrame,
    operators: list[str],
    classification: Classification,
    communes: pd.DataFrame,
    config: Config,
    radio: RadioMap | None = None,
) -> pd.DataFrame:
    """List the populated cells of the ``all`` view still lacking evidence, by commune, by value.

    Each cell is listed once, under the commune holding most of its people, with the operators
    still to test there. Its ``value`` is people × min(p_covered, 1 − p_covered) of the all view
    (the people whose answer one visit is likely to change; p = 0.5 without a prediction), its
    ``priority`` the rank by value within the commune, and ``visit_order`` a route: the cells are
    cut, by value, into days of :data:`CELLS_PER_DAY`, and each day is a nearest-neighbour tour
    from the commune centre. ``expected_people_decided`` is, per commune, the people of the first
    day's cells that have neither a measured nor a predicted decision today: assuming each visit
    meets the evidence rule for every operator, that day decides them by measurement.

    Returns
    -------
    pandas.DataFrame
        :data:`CAMPAIGN_COLUMNS`, sorted by district, commune and priority.
    """
    kind = views["kind"].to_numpy(object)
    all_row = int(np.flatnonzero(kind == "all")[0])
    state = classification.state[all_row]
    wanted = np.flatnonzero((grid.population > 0) & ((state == NO_DATA) | (state == INSUFFICIENT)))
    to_test = np.full(len(wanted), "", dtype=object)
    any_views = views[(views["kind"] == "operator")]
    for view_code, operator_code in any_views[["view", "operator_code"]].to_numpy():  # loop over operators
        name = operators[operator_code]
        if name not in OPERATOR_IDS:
            continue
        lacking = ~sufficient(
            classification.n_samples[view_code, wanted], classification.n_devices[view_code, wanted], config
        )
        to_test = np.where(lacking, np.where(to_test == "", name, to_test + ";" + name), to_test)
    shares = grid.cell_communes
    primary = (
        shares.sort_values(["cell", "population", "area_km2"], ascending=[True, False, False])
        .drop_duplicates("cell")
        .set_index("cell")["commune_code"]
    )
    lon, lat = cell_centres(grid.cells[wanted])
    plan = pd.DataFrame(
        {
            "commune_code": primary.reindex(wanted).to_numpy(object),
            "h3": cells_to_hex(grid.cells[wanted]),
            "lon": lon,
            "lat": lat,
            "population": grid.population[wanted],
            "operator": ALL_OPERATORS,
            "technology": ANY_TECHNOLOGY,
            "state": np.asarray(STATES, dtype=object)[state[wanted]],
            "n_samples": classification.n_samples[all_row, wanted],
            "n_devices": classification.n_devices[all_row, wanted],
            "samples_needed": classification.samples_needed[all_row, wanted],
            "devices_needed": classification.devices_needed[all_row, wanted],
            "operators_to_test": to_test,
        }
    )
    if radio is not None:
        p_all = radio.p_covered[all_row, wanted].round(4)
        names = np.asarray([*PREDICTED_STATES, None], dtype=object)
        plan["p_covered"] = p_all
        plan["predicted_state"] = names[radio.state[all_row, wanted]]
    else:
        p_all = np.full(len(wanted), np.nan)
        plan["p_covered"] = p_all
        plan["predicted_state"] = None
    chance = np.where(np.isfinite(p_all), np.minimum(p_all, 1.0 - p_all), 0.5)
    plan["value"] = (plan["population"] * chance).round(2)
    info = communes[["commune_code", "commune", "district_code", "district"]].astype({"commune_code": str})
    plan = plan.merge(info, on="commune_code", how="left")
    plan = plan.merge(_units_of(communes), on="commune_code", how="left")
    plan = plan.sort_values(["commune_code", "value", "population", "h3"], ascending=[True, False, False, True])
    plan["priority"] = (plan.groupby("commune_code", dropna=False).cumcount() + 1).astype("int64")
    plan["visit_order"] = _visit_order(plan, communes)
    undecided = ~plan["predicted_state"].isin(["covered", "weak"]).to_numpy()
    first_day = (plan["priority"] <= CELLS_PER_DAY).to_numpy()
    day_people = pd.Series(np.where(undecided & first_day, plan["population"], 0.0), index=plan.index)
    plan["expected_people_decided"] = day_people.groupby(plan["commune_code"], dropna=False).transform("sum").round(1)
    plan = plan.sort_values(["district_code", "commune_code", "visit_order"]).reset_index(drop=True)
    for column in (
        "commune_code",
        "commune",
        "district_code",
        "district",
        "h3",
        "operator",
        "technology",
        "state",
        "operators_to_test",
        "predicted_state",
        "unit_2025_code",
        "unit_2025",
    ):
        plan[column] = plan[column].astype("string")
    return plan[CAMPAIGN_COLUMNS]


def _units_of(communes: pd.DataFrame) -> pd.DataFrame:
    """``commune_code``, ``unit_2025_code``, ``unit_2025`` of each commune (as in the gap lists), empty if unmapped."""
    from lomsong.errors import UnitMappingError
    from lomsong.reference.units import unit_mapping

    try:
        mapping = unit_mapping(communes)[["commune_code", "unit_code", "unit"]]
    except UnitMappingError:
        mapping = pd.DataFrame({"commune_code": communes["commune_code"], "unit_code": pd.NA, "unit": pd.NA})
    mapping = mapping.rename(columns={"unit_code": "unit_2025_code", "unit": "unit_2025"})
    return mapping.astype({"commune_code": str})


def _commune_centres(communes: pd.DataFrame) -> pd.DataFrame:
    """``lon``, ``lat`` of a point inside each commune (its geometry's representative point)."""
    if "geometry" not in communes or len(communes) == 0:
        return pd.DataFrame(columns=["lon", "lat"], dtype="float64")
    points = gpd.GeoSeries(communes.geometry, crs=getattr(communes, "crs", None) or STORAGE_CRS)
    points = points.to_crs(STORAGE_CRS).representative_point()
    index = communes["commune_code"].astype(str)
    return pd.DataFrame({"lon": points.x.to_numpy(), "lat": points.y.to_numpy()}, index=index)


def _visit_order(plan: pd.DataFrame, communes: pd.DataFrame) -> np.ndarray:
    """Route order within each commune: days of CELLS_PER_DAY cells by value, each a nearest-neighbour tour.

    ``plan`` is sorted by commune then ``priority``. A tour is sequential by nature: the loop runs
    over the steps of each day (each step vectorised over the day's remaining cells).
    """
    order = np.zeros(len(plan), dtype="int64")
    if len(plan) == 0:
        return order
    xy = metric_xy(plan["lon"].to_numpy("float64"), plan["lat"].to_numpy("float64"))
    centres = _commune_centres(communes)
    codes = plan["commune_code"].astype(str).to_numpy(object)
    day = (plan["priority"].to_numpy("int64") - 1) // CELLS_PER_DAY
    group = pd.factorize(pd.Series(codes) + "#" + pd.Series(day).astype(str))[0]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    bounds = np.r_[starts, len(plan)]
    # every commune centre in metres at once: a lookup per commune × day cost the plan a second
    centre_of: dict[str, np.ndarray] = {}
    if len(centres):
        centre_xy = metric_xy(centres["lon"].to_numpy("float64"), centres["lat"].to_numpy("float64"))
        for code, point in zip(centres.index, centre_xy, strict=True):  # 71 communes
            centre_of.setdefault(code, point)  # a code twice: its first row, as .loc[[code]][0] took it
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):  # one loop step per commune × day
        members = np.arange(begin, end)
        code = codes[begin]
        here = centre_of[code] if code in centre_of else xy[members].mean(axis=0)
        left = list(members)
        position = day[begin] * CELLS_PER_DAY
        while left:  # at most CELLS_PER_DAY steps
            distance = np.hypot(*(xy[left] - here).T)
            nearest = left.pop(int(np.argmin(distance)))
            position += 1
            order[nearest] = position
            here = xy[nearest]
    return order


def speed_by_cell(speed_tiles: pd.DataFrame, grid: Grid, config: Config) -> pd.DataFrame:
    """Summarise speed tiles per cell (tests-weighted mean download), as context.

    Returns
    -------
    pandas.DataFrame
        ``h3``, ``tests``, ``devices``, ``avg_d_kbps``, ``slow`` (below the speed threshold).
    """
    tiles = conform_speed_tiles(speed_tiles)
    lon = tiles["lon"].to_numpy("float64", na_value=np.nan)
    lat = tiles["lat"].to_numpy("float64", na_value=np.nan)
    cell = grid.locate(lon, lat)
    keep = cell >= 0
    tests = tiles["tests"].fillna(0).to_numpy("float64")[keep]
    frame = pd.DataFrame(
        {
            "cell": cell[keep],
            "tests": tests,
            "devices": tiles["devices"].fillna(0).to_numpy("float64")[keep],
            "weighted": tiles["avg_d_kbps"].to_numpy("float64", na_value=np.nan)[keep] * tests,
        }
    )
    per = frame.groupby("cell", as_index=False).sum()
    average = np.where(per["tests"] > 0, per["weighted"] / per["tests"].where(per["tests"] > 0, 1), np.nan)
    return pd.DataFrame(
        {
            "h3": pd.array(cells_to_hex(grid.cells[per["cell"].to_numpy()]), dtype="string"),
            "tests": per["tests"].astype("int64"),
            "devices": per["devices"].astype("int64"),
            "avg_d_kbps": average,
            "slow": average < config.speed_threshold_kbps,
        }
    )


def _counts(
    samples: Samples,
    grid: Grid,
    views: pd.DataFrame,
    classification: Classification,
    gaps: gpd.GeoDataFrame,
    surface_total: float,
) -> dict:
    kind = views["kind"].to_numpy(object)
    all_row = int(np.flatnonzero(kind == "all")[0])
    all_gaps = gaps[(gaps["operator"] == ALL_OPERATORS).to_numpy(bool, na_value=False)]
    per_view = gaps.groupby(["operator", "technology"]).size()
    return {
        **samples.counts,
        "operators": list(samples.operators),
        "resolution": grid.resolution,
        "cells": int(len(grid.cells)),
        "cells_populated": int((grid.population > 0).sum()),
        "cells_with_data": int((classification.n_samples[all_row] > 0).sum()),
        "views": int(len(views)),
        "gaps": int(len(gaps)),
        "gaps_per_view": {f"{op}/{tech}": int(n) for (op, tech), n in per_view.items()},
        "gaps_all": int(len(all_gaps)),
        "gaps_all_confirmed": int((all_gaps["evidence"] == "confirmed").sum()),
        "people_in_gaps_all": float(all_gaps["population"].sum()),
        "people_covered_all": float(grid.population[classification.state[all_row] == COVERED].sum()),
        "people_without_evidence_all": float(
            grid.population[np.isin(classification.state[all_row], [NO_DATA, INSUFFICIENT])].sum()
        ),
        "population_total": float(surface_total),
        "population_in_cells": float(grid.population.sum()),
        "population_outside_communes": float(grid.unassigned_population),
    }


def _stage_timer(progress: Callable[[str], None] | None) -> Callable[[str, str], float]:
    """Return ``stage(name, message)``: report the message and return the start time."""
    say = progress or (lambda _message: None)

    def stage(name: str, message: str) -> float:
        say(message)
        return time.perf_counter()

    return stage


def ensure_grid(
    grid: Grid | None,
    communes: gpd.GeoDataFrame,
    surface: PopulationSurface,
    config: Config,
    timings: dict[str, float],
    stage: Callable[[str, str], float],
) -> Grid:
    """Return the given province grid after checking its resolution, or build one (timed)."""
    if grid is not None and grid.resolution != config.resolution:
        raise ValueError(f"grid: resolution {grid.resolution} given, the configuration asks for {config.resolution}")
    if grid is None:
        started = stage("grid", f"Building the H3 grid (resolution {config.resolution}) and counting people")
        grid = build_grid(communes, surface, config.resolution)
        timings["grid"] = time.perf_counter() - started
    return grid


def analyse(
    measurements: pd.DataFrame | Sequence[str | Path],
    communes: gpd.GeoDataFrame,
    surface: PopulationSurface,
    config: Config,
    villages: pd.DataFrame | gpd.GeoDataFrame | None = None,
    speed_tiles: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    grid: Grid | None = None,
    *,
    claims: gpd.GeoDataFrame | None = None,
    sites: pd.DataFrame | None = None,
    ground_at: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    cell_ids: np.ndarray | None = None,
) -> Analysis:
    """Run the gap engine.

    Parameters
    ----------
    measurements : pandas.DataFrame
        Canonical measurement table (:data:`lomsong.tables.measurements.MEASUREMENT_SCHEMA`).
    communes : geopandas.GeoDataFrame
        Canonical commune table (its row order must be the one the population surface was built
        with, as :func:`lomsong.reference.population.load_population` does).
    surface : PopulationSurface
        Population surface.
    config : Config
        Resolution, thresholds and evidence rule.
    villages : pandas.DataFrame or geopandas.GeoDataFrame, optional
        Village layer (see :func:`lomsong.analysis.villages.read_villages`).
    speed_tiles : pandas.DataFrame, optional
        Speed tiles (:data:`lomsong.tables.measurements.SPEED_TILE_SCHEMA`): summarised per cell as context;
        they have no operator, so they decide no state.
    progress : callable, optional
        Called with a short English message as each stage starts.
    grid : Grid, optional
        The province grid of these communes, surface and resolution, when the caller keeps one
        (:func:`lomsong.jobs.run.province_grid`); built here otherwise.
    claims : geopandas.GeoDataFrame, optional
        Claimed coverage, one map per operator × technology (:data:`lomsong.tables.claims.CLAIM_SCHEMA`):
        compared with the measurements (``Analysis.claims`` and the cells' ``claim_state``).
    sites : pandas.DataFrame, optional
        Known sites (:data:`lomsong.tables.sites.SITE_COLUMNS`: an operators' list and/or
        OpenCelliD cells) for the radio map's path-loss prior; without them the prior is constant.
    ground_at : callable, optional
        ``ground_at(lon, lat)`` → ground elevation (m) from a DEM: the radio map's terrain term.
    cell_ids : numpy.ndarray, optional
        Each measurement's H3 cell at ``config.resolution``, when known already (see
        :func:`~lomsong.analysis.aggregate.prepare_samples`): the run computes them while it reads.

    Returns
    -------
    Analysis
    """
    timings: dict[str, float] = {}
    stage = _stage_timer(progress)
    communes = communes.reset_index(drop=True)
    grid = ensure_grid(grid, communes, surface, config, timings, stage)

    started = stage("index", f"Indexing {len(measurements):,} measurements")
    samples = prepare_samples(measurements, grid, config, cell_ids=cell_ids)
    timings["index"] = time.perf_counter() - started

    started = stage("aggregate", "Aggregating per cell, operator and technology")
    statistics = cell_statistics(samples, len(grid.cells))
    timings["aggregate"] = time.perf_counter() - started

    return finish_analysis(
        grid, samples, statistics, communes, surface, config, villages, speed_tiles, timings, stage,
        claims=claims, sites=sites, ground_at=ground_at,
    )


def finish_analysis(
    grid: Grid,
    samples: Samples,
    statistics: CellStatistics,
    communes: gpd.GeoDataFrame,
    surface: PopulationSurface,
    config: Config,
    villages: pd.DataFrame | gpd.GeoDataFrame | None,
    speed_tiles: pd.DataFrame | None,
    timings: dict[str, float],
    stage: Callable[[str, str], float],
    *,
    claims: gpd.GeoDataFrame | None = None,
    sites: pd.DataFrame | None = None,
    ground_at: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Analysis:
    """Classify, find gaps and build the tables from per view × cell statistics (both engines).

    ``samples`` and the memberships of ``statistics`` need only hold the samples of weak cells
    (what the gap statistics read); ``samples.counts`` and ``samples.operators`` cover all data.
    ``sites`` (:data:`lomsong.tables.sites.SITE_COLUMNS`) feed the radio map's path-loss prior,
    ``ground_at`` (a DEM sampler) its terrain term.
    """
    from lomsong.analysis.villages import cell_villages, gap_villages, normalize_villages, village_status

    started = stage("classify", "Classifying cells (thresholds and evidence rule)")
    classification = classify(statistics, len(grid.cells), samples.operators, config)
    timings["classify"] = time.perf_counter() - started

    started = stage("gaps", "Merging weak cells into gap areas")
    views = statistics.views
    all_row = int(np.flatnonzero(views["kind"].to_numpy(object) == "all")[0])
    meets_rule = classification.meets_rule.copy()
    # An all-view cell has evidence of its own when its pooled samples meet the rule; whether every
    # operator was tested is decided over the whole gap (find_gaps), not cell by cell.
    meets_rule[all_row] = (classification.n_samples[all_row] >= config.min_samples) & (
        classification.n_devices[all_row] >= config.min_devices
    )
    national = np.flatnonzero(np.isin(np.asarray(samples.operators, dtype=object), OPERATOR_IDS))
    # The radio map needs the cells' states, not the gaps: it is fitted on a second thread while the
    # gaps are merged (both are mostly numpy, GEOS and h3ronpy work that lets go of the GIL).
    radio_thread = ThreadPoolExecutor(1)
    try:
        radio_future = radio_thread.submit(
            radio_map, grid, statistics, classification, meets_rule.copy(), samples.operators, sites, config, ground_at
        )
        gaps, weak_entries = find_gaps(
            grid,
            statistics,
            samples,
            classification.state,
            meets_rule,
            communes,
            required_operators=national,
            min_samples=config.min_samples,
            min_devices=config.min_devices,
        )
        timings["gaps"] = time.perf_counter() - started

        started = stage("radiomap", "Predicting the radio map (path loss + kriging) and cross-validating it")
        radio = radio_future.result()
    finally:
        radio_thread.shutdown()  # after a failure in the gaps too: the radio map's thread is not left behind
    normalised_villages = normalize_villages(villages) if villages is not None else None
    village_cells = (
        grid.locate(normalised_villages["lon"].to_numpy("float64"), normalised_villages["lat"].to_numpy("float64"))
        if normalised_villages is not None
        else None
    )
    predicted = predicted_gaps(grid, views, radio, classification.state, communes, village_cells=village_cells)
    timings["radiomap"] = time.perf_counter() - started

    claim_analysis = None
    if claims is not None and len(claims):
        started = stage("claims", f"Comparing {len(claims):,} claimed areas with the measurements")
        # The radio map's states in the evidence codes the claims compare with (reported apart, never evidence).
        guess = np.where(radio.state == P_COVERED, COVERED, np.where(radio.state == P_WEAK, WEAK, -1)).astype("int8")
        claim_analysis = analyse_claims(
            claims,
            grid,
            statistics,
            measured_state=classification.state,
            samples=samples,
            communes=communes,
            predicted_state=guess,
        )
        timings["claims"] = time.perf_counter() - started

    started = stage("tables", "Building cell, commune and measurement-plan tables")
    cells = _cells_table(grid, statistics, classification, weak_entries, claim_analysis, radio)
    summary = commune_summary(grid, statistics.views, classification, weak_entries, communes, radio.state)
    campaign = measurement_plan(grid, statistics.views, samples.operators, classification, communes, config, radio)
    timings["tables"] = time.perf_counter() - started

    village_table = None
    if villages is not None:
        started = stage("villages", f"Checking {len(villages):,} villages")
        village_table = village_status(
            normalize_villages(villages), grid, statistics.views, samples.operators, classification.state, communes,
            weak_entries=weak_entries, max_distance_m=config.village_max_distance_m,
            min_people=config.village_min_people,
        )  # fmt: skip
        # the 2025 unit beside the 2019 commune, as in the gap lists (districts were abolished)
        village_table = add_unit_columns(village_table, communes)
        gaps["villages"] = gap_villages(
            gaps, weak_entries, cell_villages(grid, village_table, max_distance_m=config.village_max_distance_m),
            village_table,
        )
        timings["villages"] = time.perf_counter() - started

    speed = speed_by_cell(speed_tiles, grid, config) if speed_tiles is not None else None
    cell_communes = grid.cell_communes.assign(h3=cells_to_hex(grid.cell_communes["h3"].to_numpy()))
    cell_communes = cell_communes[["h3", "commune_code", "area_share", "area_km2", "population"]]
    counts = _counts(samples, grid, statistics.views, classification, gaps, surface.total)
    if claim_analysis is not None:
        counts["claim_views"] = int(len(claim_analysis.views))
        counts["challenges"] = int(len(claim_analysis.challenges))
        counts["people_in_challenges"] = float(claim_analysis.challenges["population"].sum())
    counts.update(_prediction_counts(grid, statistics.views, classification, radio, predicted))
    return Analysis(
        cells=cells,
        gaps=gaps,
        communes=summary,
        campaign=campaign,
        villages=village_table,
        cell_communes=cell_communes.astype({"h3": "string", "commune_code": "string"}),
        stats=_stats_table(grid, statistics),
        counts=counts,
        timings=timings,
        views=statistics.views[["operator", "technology", "kind"]].copy(),
        operators=list(samples.operators),
        speed=speed,
        claims=claim_analysis,
        population=surface_record(surface, communes),
        predicted_gaps=predicted,
        prediction=radio.meta,
        sites=sites,
    )


def radio_map(
    grid: Grid,
    statistics: CellStatistics,
    classification: Classification,
    meets_rule: np.ndarray,
    operators: list[str],
    sites: pd.DataFrame | None,
    config: Config,
    ground_at: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> RadioMap:
    """Predict every view × cell (:func:`lomsong.analysis.radiomap.province_radio_map`) from the statistics.

    ``ground_at(lon, lat)`` (optional) returns the ground elevation in metres (a DEM): it adds the
    effective-height terrain term to the path-loss prior.
    """
    shape = classification.state.shape
    table = statistics.table
    view, cell = table["view"].to_numpy(), table["cell"].to_numpy()
    median = np.full(shape, np.nan)
    median[view, cell] = table["median_signal_dbm"].to_numpy("float64", na_value=np.nan)
    share = np.full(shape, np.nan)
    share[view, cell] = table["no_service_share"].to_numpy("float64", na_value=np.nan)
    lon, lat = cell_centres(grid.cells)
    long_sites = site_technologies(sites) if sites is not None else None
    cell_ground = None
    if ground_at is not None and long_sites is not None and len(long_sites):
        cell_ground = np.asarray(ground_at(lon, lat), dtype="float64")
        site_lon, site_lat = long_sites["lon"].to_numpy("float64"), long_sites["lat"].to_numpy("float64")
        long_sites = long_sites.assign(ground_m=np.asarray(ground_at(site_lon, site_lat), dtype="float64"))
    return province_radio_map(
        metric_xy(lon, lat),
        statistics.views,
        operators,
        median_signal_dbm=median,
        no_service_share=share,
        n_samples=classification.n_samples,
        measured_state=classification.state,
        meets_rule=meets_rule,
        sites=long_sites,
        config=config,
        cell_ground_m=cell_ground,
    )


def _prediction_counts(
    grid: Grid, views: pd.DataFrame, classification: Classification, radio: RadioMap, predicted: gpd.GeoDataFrame
) -> dict:
    """People of the all view by measured and predicted state, for ``run.json`` counts."""
    all_row = int(np.flatnonzero(views["kind"].to_numpy(object) == "all")[0])
    unmeasured = np.isin(classification.state[all_row], [NO_DATA, INSUFFICIENT])
    guess = radio.state[all_row]
    people = grid.population
    all_predicted = predicted[(predicted["operator"] == ALL_OPERATORS).to_numpy(bool, na_value=False)]
    return {
        "people_predicted_covered_all": float(people[unmeasured & (guess == P_COVERED)].sum()),
        "people_predicted_weak_all": float(people[unmeasured & (guess == P_WEAK)].sum()),
        "people_uncertain_all": float(people[unmeasured & (guess != P_COVERED) & (guess != P_WEAK)].sum()),
        "predicted_gaps": int(len(predicted)),
        "predicted_gaps_all": int(len(all_predicted)),
    }
