"""Claimed coverage against the measurements: a claim state per cell and view, figures, challenges.

Pure: claim polygons, the grid and the measured cell states in; arrays and tables out.

Claimed cells
    A cell is claimed in an operator × technology view when its centre lies inside one of the
    operator's claimed polygons for that technology (H3 "contains centroid"); in the operator's
    ``any`` view when it is claimed for any technology.

Claim states (:data:`lomsong.tables.claims.CLAIM_STATES`), from the measured state of the same view
    ``verified``: claimed, measured ``covered``; ``over_claim``: claimed, measured ``weak`` (which
    already means: enough samples from enough phones, see :mod:`lomsong.analysis.evidence`);
    ``unverified``: claimed, ``no_data`` or ``insufficient``; ``under_claim``: not claimed, measured
    ``covered``; ``not_claimed`` otherwise. A view whose operator × technology has no claim map
    has no claim state. So, per view, the claimed people are exactly verified + over-claimed +
    unverified people.

Predictions
    When the caller has predicted states (``covered`` / ``weak``, anything else uncertain), the
    claim state they would give is reported beside, as ``predicted_claim_state``. It never changes
    ``claim_state``: a prediction is not evidence, so an unmeasured claim stays ``unverified``.

Challenges
    Over-claim cells of one operator × technology that are H3 neighbours form one challenge (the
    same connected components as gaps). Its id hashes its sorted cells, so the same cells give the
    same id; its evidence is that view's measurements inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from h3ronpy.vector import ContainmentMode, wkb_to_cells

from lomsong.analysis.aggregate import CellStatistics, Samples, group_statistics
from lomsong.analysis.evidence import COVERED, WEAK
from lomsong.analysis.gaps import gap_members, merge_areas
from lomsong.analysis.grid import Grid
from lomsong.reference.boundaries import STORAGE_CRS
from lomsong.settings import TECHNOLOGIES
from lomsong.tables.claims import (
    CHALLENGE_COLUMNS,
    CLAIM_STATES,
    CLAIM_SUMMARY_COLUMNS,
    NOT_CLAIMED,
    OVER_CLAIM,
    UNDER_CLAIM,
    UNVERIFIED,
    VERIFIED,
)

ANY_TECHNOLOGY = "any"
#: Marks "no predicted state" in a predicted-state array.
NO_PREDICTION = -1


@dataclass
class ClaimAnalysis:
    """Claims compared with the measurements.

    Attributes
    ----------
    views : pandas.DataFrame
        One row per claim view: ``operator``, ``technology`` (or ``any``), ``claim_date``,
        ``measured_view`` (row of the analysis' views, -1 when nothing was measured there).
    claimed : numpy.ndarray
        ``(n_claim_views, n_cells)`` True where the cell is claimed.
    state : numpy.ndarray
        ``(n_claim_views, n_cells)`` claim state codes (:data:`lomsong.tables.claims.CLAIM_STATES`).
    predicted_state : numpy.ndarray or None
        The same from predicted states (-1 where there is no prediction), when given.
    summary : pandas.DataFrame
        :data:`lomsong.tables.claims.CLAIM_SUMMARY_COLUMNS`.
    challenges : geopandas.GeoDataFrame
        :data:`lomsong.tables.claims.CHALLENGE_COLUMNS`, EPSG:4326.
    """

    views: pd.DataFrame
    claimed: np.ndarray
    state: np.ndarray
    predicted_state: np.ndarray | None
    summary: pd.DataFrame
    challenges: gpd.GeoDataFrame


def claimed_cells(claims: gpd.GeoDataFrame, grid: Grid) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the claim views and which grid cells each claims.

    Parameters
    ----------
    claims : geopandas.GeoDataFrame
        Claim rows (:data:`lomsong.tables.claims.CLAIM_SCHEMA`), one map per operator × technology
        (see :func:`lomsong.tables.claims.latest_claims`).
    grid : Grid
        Province grid.

    Returns
    -------
    tuple
        Views (``operator``, ``technology``, ``claim_date``; each operator's technologies in
        :data:`lomsong.settings.TECHNOLOGIES` order, then its ``any``) and a ``(n_views, n_cells)``
        boolean array.
    """
    claims = claims.to_crs(STORAGE_CRS)
    keys = claims[["operator", "technology"]].astype(str).drop_duplicates()
    keys = keys.assign(_rank=keys["technology"].map({t: i for i, t in enumerate(TECHNOLOGIES)}))
    keys = keys.sort_values(["operator", "_rank"]).drop(columns="_rank")
    rows: list[dict] = []
    masks: list[np.ndarray] = []
    for operator, group in keys.groupby("operator", sort=False):  # a loop over operators and technologies
        own = []
        for technology in group["technology"]:
            polygons = claims[(claims["operator"] == operator) & (claims["technology"] == technology)]
            wkb = shapely.to_wkb(polygons.geometry.values)
            cells = wkb_to_cells(wkb, grid.resolution, containment_mode=ContainmentMode.ContainsCentroid, flatten=True)
            position = grid.positions(np.unique(np.asarray(cells, dtype="uint64")))
            mask = np.zeros(len(grid.cells), dtype=bool)
            mask[position[position >= 0]] = True
            dates = ";".join(sorted(polygons["claim_date"].astype(str).unique()))
            rows.append({"operator": operator, "technology": technology, "claim_date": dates})
            masks.append(mask)
            own.append(len(rows) - 1)
        dates = ";".join(sorted({d for i in own for d in rows[i]["claim_date"].split(";")}))
        rows.append({"operator": operator, "technology": ANY_TECHNOLOGY, "claim_date": dates})
        masks.append(np.logical_or.reduce([masks[i] for i in own]))
    views = pd.DataFrame(rows, columns=["operator", "technology", "claim_date"])
    claimed = np.vstack(masks) if masks else np.zeros((0, len(grid.cells)), dtype=bool)
    return views, claimed


def claim_state(claimed: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Return claim state codes from claimed flags and measured (or predicted) state codes.

    Parameters
    ----------
    claimed : numpy.ndarray
        Boolean, any shape.
    measured : numpy.ndarray
        State codes of :data:`lomsong.analysis.evidence.STATES` (same shape); for predictions,
        ``covered`` and ``weak`` decide and any other code is "not enough to say".

    Returns
    -------
    numpy.ndarray
        int8 codes of :data:`lomsong.tables.claims.CLAIM_STATES`.
    """
    covered = measured == COVERED
    weak = measured == WEAK
    inside = np.where(covered, VERIFIED, np.where(weak, OVER_CLAIM, UNVERIFIED))
    outside = np.where(covered, UNDER_CLAIM, NOT_CLAIMED)
    return np.where(claimed, inside, outside).astype("int8")


def _measured_rows(claim_views: pd.DataFrame, views: pd.DataFrame) -> np.ndarray:
    """Row of the analysis' views holding each claim view's measured states, -1 when none."""
    index = pd.MultiIndex.from_arrays([views["operator"].astype(str), views["technology"].astype(str)])
    wanted = pd.MultiIndex.from_arrays([claim_views["operator"].astype(str), claim_views["technology"].astype(str)])
    return index.get_indexer(wanted).astype("int64")


def claim_summary(
    claim_views: pd.DataFrame,
    state: np.ndarray,
    grid: Grid,
    *,
    communes: pd.DataFrame,
    challenges: gpd.GeoDataFrame,
) -> pd.DataFrame:
    """Claimed, verified, over-claimed, unverified and under-claimed people and km² per place.

    Places: the province, each 2025 unit (when the commune table carries them) and each 2019
    commune. People are counted by the population pixels' own commune, areas by the hexagon ∩
    commune areas (as the commune summary does), so the commune rows, and the unit rows, add up to
    the province rows.

    Parameters
    ----------
    claim_views : pandas.DataFrame
        Claim views.
    state : numpy.ndarray
        ``(n_claim_views, n_cells)`` claim state codes.
    grid : Grid
        Province grid.
    communes : pandas.DataFrame
        Canonical commune table.
    challenges : geopandas.GeoDataFrame
        The challenges (for ``n_challenges``).

    Returns
    -------
    pandas.DataFrame
        :data:`lomsong.tables.claims.CLAIM_SUMMARY_COLUMNS`: per claim view, the province row first,
        then the units, then the communes.
    """
    shares = grid.cell_communes
    codes, commune_index = np.unique(shares["commune_code"].astype(str).to_numpy(), return_inverse=True)
    n_views, n_communes, n_states = len(claim_views), len(codes), len(CLAIM_STATES)
    cell = shares["cell"].to_numpy("int64")
    # one (view, commune, state) bin per share row and view: views × shares entries, no per-cell loop
    view = np.repeat(np.arange(n_views), len(shares))
    bins = (view * n_communes + np.tile(commune_index, n_views)) * n_states + state[:, cell].ravel().astype("int64")
    size = n_views * n_communes * n_states
    people = np.bincount(bins, weights=np.tile(shares["population"].to_numpy("float64"), n_views), minlength=size)
    area = np.bincount(bins, weights=np.tile(shares["area_km2"].to_numpy("float64"), n_views), minlength=size)
    people = people.reshape(n_views, n_communes, n_states)
    area = area.reshape(n_views, n_communes, n_states)
    commune_people = np.bincount(commune_index, weights=shares["population"].to_numpy("float64"), minlength=n_communes)

    # places: the province, the 2025 units (each 2019 commune lies in exactly one), the communes
    info = communes[["commune_code", "commune", "district_code", "district"]].astype(str).set_index("commune_code")
    info = info.reindex(codes)
    units = _units_of(communes, codes)
    unit_codes, unit_of_commune = np.unique(units["unit_2025_code"].fillna("").to_numpy(str), return_inverse=True)
    has_units = bool(units["unit_2025_code"].notna().all()) and n_communes > 0
    n_units = len(unit_codes) if has_units else 0
    place_of_commune = 1 + n_units + np.arange(n_communes)

    def by_place(values: np.ndarray) -> np.ndarray:
        """(views, communes, …) → (views, places, …): province, units, communes."""
        parts = [values.sum(axis=1, keepdims=True)]
        if n_units:
            grouped = np.zeros((values.shape[0], n_units, *values.shape[2:]))
            np.add.at(grouped, (slice(None), unit_of_commune), values)
            parts.append(grouped)
        return np.concatenate([*parts, values], axis=1)

    people, area = by_place(people), by_place(area)
    population = by_place(commune_people[None, :])[0]
    n_rows = 1 + n_units + n_communes
    claimed_states = [VERIFIED, OVER_CLAIM, UNVERIFIED]

    touched = np.zeros((n_views, n_rows), dtype="int64")
    if len(challenges):
        keys = pd.MultiIndex.from_arrays([claim_views["operator"], claim_views["technology"]])
        listed = challenges[["challenge_id", "operator", "technology", "commune_codes"]].astype(str)
        listed = listed.assign(code=listed["commune_codes"].str.split(";")).explode("code")
        listed_view = keys.get_indexer(pd.MultiIndex.from_arrays([listed["operator"], listed["technology"]]))
        listed_commune = np.searchsorted(codes, listed["code"].to_numpy(str))
        np.add.at(touched, (listed_view, place_of_commune[listed_commune]), 1)
        if n_units:  # a challenge over two communes of one unit counts once for the unit
            pairs = pd.DataFrame(
                {"id": listed["challenge_id"].to_numpy(), "view": listed_view, "unit": unit_of_commune[listed_commune]}
            ).drop_duplicates()
            np.add.at(touched, (pairs["view"].to_numpy(), 1 + pairs["unit"].to_numpy()), 1)
        challenge_view = keys.get_indexer(
            pd.MultiIndex.from_arrays([challenges["operator"].astype(str), challenges["technology"].astype(str)])
        )
        touched[:, 0] = np.bincount(challenge_view, minlength=n_views)

    claimed_people = people[:, :, claimed_states].sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        share_verified = np.where(claimed_people > 0, people[:, :, VERIFIED] / claimed_people, np.nan)
    none_units = [None] * n_units
    unit_names = units.drop_duplicates("unit_2025_code").set_index("unit_2025_code")["unit_2025"]

    def place_column(province: object, unit_values: list, commune_values: np.ndarray) -> np.ndarray:
        return np.tile(np.asarray([province, *unit_values, *commune_values], dtype=object), n_views)

    unit_list = list(unit_codes) if n_units else []
    frame = pd.DataFrame(
        {
            "operator": np.repeat(claim_views["operator"].to_numpy(object), n_rows),
            "technology": np.repeat(claim_views["technology"].to_numpy(object), n_rows),
            "claim_date": np.repeat(claim_views["claim_date"].to_numpy(object), n_rows),
            "level": place_column("province", ["unit_2025"] * n_units, np.full(n_communes, "commune", dtype=object)),
            "unit_2025_code": place_column(None, unit_list, units["unit_2025_code"].to_numpy(object)),
            "unit_2025": place_column(
                None, [unit_names.get(u) for u in unit_list], units["unit_2025"].to_numpy(object)
            ),
            "commune_code": place_column(None, none_units, codes.astype(object)),
            "commune": place_column(None, none_units, info["commune"].to_numpy(object)),
            "district_code": place_column(None, none_units, info["district_code"].to_numpy(object)),
            "district": place_column(None, none_units, info["district"].to_numpy(object)),
            "population": np.tile(population, n_views),
            "claimed_km2": area[:, :, claimed_states].sum(axis=2).ravel(),
            "claimed_people": claimed_people.ravel(),
            "verified_people": people[:, :, VERIFIED].ravel(),
            "verified_km2": area[:, :, VERIFIED].ravel(),
            "over_claim_people": people[:, :, OVER_CLAIM].ravel(),
            "over_claim_km2": area[:, :, OVER_CLAIM].ravel(),
            "unverified_people": people[:, :, UNVERIFIED].ravel(),
            "unverified_km2": area[:, :, UNVERIFIED].ravel(),
            "under_claim_people": people[:, :, UNDER_CLAIM].ravel(),
            "under_claim_km2": area[:, :, UNDER_CLAIM].ravel(),
            "share_claimed_people_verified": share_verified.ravel(),
            "n_challenges": touched.ravel(),
        }
    )
    for column in (
        "operator",
        "technology",
        "claim_date",
        "level",
        "unit_2025_code",
        "unit_2025",
        "commune_code",
        "commune",
        "district_code",
        "district",
    ):
        frame[column] = frame[column].astype("string")
    return frame[CLAIM_SUMMARY_COLUMNS]


def _units_of(communes: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """The 2025 unit (code, name) of each 2019 commune code; missing when the table has no units."""
    from lomsong.errors import UnitMappingError
    from lomsong.reference.units import unit_mapping

    empty = pd.DataFrame({"unit_2025_code": [None] * len(codes), "unit_2025": [None] * len(codes)})
    try:
        mapping = unit_mapping(communes)
    except UnitMappingError:  # a user's boundaries without the 2025 field: communes only
        return empty
    mapping = mapping.astype({"commune_code": str}).set_index("commune_code")
    found = mapping.reindex(codes)
    return pd.DataFrame(
        {"unit_2025_code": found["unit_code"].to_numpy(object), "unit_2025": found["unit"].to_numpy(object)}
    )


def find_challenges(
    claim_views: pd.DataFrame,
    state: np.ndarray,
    grid: Grid,
    *,
    statistics: CellStatistics,
    samples: Samples,
    communes: pd.DataFrame,
) -> gpd.GeoDataFrame:
    """Merge connected over-claim cells of each claimed operator × technology into challenges.

    Parameters
    ----------
    claim_views : pandas.DataFrame
        Claim views with ``measured_view``.
    state : numpy.ndarray
        ``(n_claim_views, n_cells)`` claim state codes.
    grid : Grid
        Province grid.
    statistics : CellStatistics
        The analysis' views and statistics.
    samples : Samples
        Coded samples (at least those of weak cells).
    communes : pandas.DataFrame
        Canonical commune table.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`lomsong.tables.claims.CHALLENGE_COLUMNS`, sorted by operator, technology, rank.
    """
    technology_view = (claim_views["technology"] != ANY_TECHNOLOGY).to_numpy()
    over = (state == OVER_CLAIM) & technology_view[:, None]
    view, cell = np.nonzero(over)
    view, cell = view.astype("int64"), cell.astype("int64")
    if len(view) == 0:
        empty = gpd.GeoDataFrame({c: [] for c in CHALLENGE_COLUMNS[:-1]}, geometry=[], crs=STORAGE_CRS)
        return empty[CHALLENGE_COLUMNS]
    areas = merge_areas(view, cell, grid, claim_views, communes)
    label, n, first_of = areas.label, areas.count, areas.view
    operator, technology = areas.columns["operator"], areas.columns["technology"]
    measured_view = claim_views["measured_view"].to_numpy("int64")[view]
    member, sample = gap_members(samples, statistics.views, len(grid.cells), measured_view, cell, label)
    stats = group_statistics(member, sample, samples, n)
    frame = gpd.GeoDataFrame(
        {
            "challenge_id": operator + "-" + technology + "-oc-" + areas.hashes,
            "claim_date": claim_views["claim_date"].to_numpy(object)[first_of],
            "rank": 0,
            **areas.columns,
            "n_samples": stats["n_samples"].to_numpy("int64"),
            "n_devices": stats["n_devices"].to_numpy("int64"),
            "n_days": stats["n_days"].to_numpy("int64"),
            "first_date": stats["first_date"].to_numpy(object),
            "last_date": stats["last_date"].to_numpy(object),
            "median_signal_dbm": stats["median_signal_dbm"].to_numpy("float64"),
            "no_service_share": stats["no_service_share"].to_numpy("float64"),
            "_view": first_of,
        },
        geometry=areas.geometry,
        crs=STORAGE_CRS,
    )
    frame = frame.sort_values(["_view", "population", "challenge_id"], ascending=[True, False, True], kind="stable")
    frame["rank"] = (frame.groupby("_view").cumcount() + 1).astype("int64")
    for column in CHALLENGE_COLUMNS:
        if column in ("rank", "population", "area_km2", "n_cells", "n_samples", "n_devices", "n_days", "geometry"):
            continue
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    return frame.drop(columns="_view").reset_index(drop=True)[CHALLENGE_COLUMNS]


def analyse_claims(
    claims: gpd.GeoDataFrame,
    grid: Grid,
    statistics: CellStatistics,
    *,
    measured_state: np.ndarray,
    samples: Samples,
    communes: pd.DataFrame,
    predicted_state: np.ndarray | None = None,
) -> ClaimAnalysis:
    """Compare claimed coverage with the measurements.

    Parameters
    ----------
    claims : geopandas.GeoDataFrame
        Claim rows, one map per operator × technology.
    grid : Grid
        Province grid.
    statistics : CellStatistics
        The analysis' views and statistics.
    measured_state : numpy.ndarray
        ``(n_views, n_cells)`` measured state codes of the analysis' views.
    samples : Samples
        Coded samples (at least those of weak cells).
    communes : pandas.DataFrame
        Canonical commune table.
    predicted_state : numpy.ndarray, optional
        ``(n_views, n_cells)`` predicted state codes of the analysis' views
        (:data:`lomsong.analysis.evidence.STATES` codes; -1 or any code other than covered and weak
        where the prediction is uncertain or missing). Reported beside, never used as evidence.

    Returns
    -------
    ClaimAnalysis
    """
    claim_views, claimed = claimed_cells(claims, grid)
    rows = _measured_rows(claim_views, statistics.views)
    claim_views["measured_view"] = rows
    n_cells = len(grid.cells)
    measured = np.zeros((len(claim_views), n_cells), dtype="int8")  # NO_DATA where nothing was measured
    seen = rows >= 0
    measured[seen] = measured_state[rows[seen]]
    state = claim_state(claimed, measured)
    predicted = None
    if predicted_state is not None:
        from_model = np.full((len(claim_views), n_cells), NO_PREDICTION, dtype="int8")
        from_model[seen] = predicted_state[rows[seen]]
        predicted = np.where(from_model == NO_PREDICTION, NO_PREDICTION, claim_state(claimed, from_model)).astype(
            "int8"
        )
    challenges = find_challenges(claim_views, state, grid, statistics=statistics, samples=samples, communes=communes)
    summary = claim_summary(claim_views, state, grid, communes=communes, challenges=challenges)
    return ClaimAnalysis(claim_views, claimed, state, predicted, summary, challenges)


def cell_claim_columns(
    analysis: ClaimAnalysis | None, views: pd.DataFrame, n_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``claim_state`` and ``predicted_claim_state`` for the cells table (views × cells order).

    Views without a claim map, and cells without a prediction, get missing values.
    """
    n = len(views) * n_cells
    names = np.asarray(CLAIM_STATES, dtype=object)
    claim = np.full((len(views), n_cells), None, dtype=object)
    predicted = np.full((len(views), n_cells), None, dtype=object)
    if analysis is not None and len(analysis.views):
        index = pd.MultiIndex.from_arrays([analysis.views["operator"], analysis.views["technology"]])
        wanted = index.get_indexer(
            pd.MultiIndex.from_arrays([views["operator"].astype(str), views["technology"].astype(str)])
        )
        has = wanted >= 0
        claim[has] = names[analysis.state[wanted[has]]]
        if analysis.predicted_state is not None:
            codes = analysis.predicted_state[wanted[has]]
            predicted[has] = np.where(codes >= 0, names[np.maximum(codes, 0)], None)
    return claim.reshape(n), predicted.reshape(n)
