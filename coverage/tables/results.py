"""A finished run's results folder: what ``lomsong run`` writes and the maps and the API read.

One run is one folder (default ``maps/``) holding ``run.json`` and the tables below. The
analysis writes them with :mod:`lomsong.products.tables`; :func:`load_run` reads them back for the maps
(:mod:`lomsong.products.maps.build`) and the API (``api/``), so neither recomputes anything.

Machine-readable tables (GeoParquet, exact dtypes) sit beside the human downloads (CSV, XLSX,
GeoJSON, GPKG, KML) that are made from them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from lomsong.errors import RunNotFoundError

#: File names inside a run folder.
RUN_JSON = "run.json"
GAPS_PARQUET = "gaps.parquet"
CELLS_PARQUET = "cells.parquet"
COMMUNE_SUMMARY_PARQUET = "communes.parquet"
VILLAGES_PARQUET = "villages.parquet"
CAMPAIGN_CSV = "campaign.csv"
CAMPAIGN_XLSX = "campaign.xlsx"
CLAIMS_PARQUET = "claims.parquet"
CHALLENGES_PARQUET = "challenges.parquet"
PREDICTED_GAPS_PARQUET = "predicted_gaps.parquet"
PREDICTED_GAPS_GEOJSON = "predicted_gaps.geojson"
SITES_PARQUET = "sites.parquet"

#: Views: operator ids plus ``all``; technologies plus ``any``.
ALL_OPERATORS = "all"
ANY_TECHNOLOGY = "any"

#: Gap table (one row per gap area and view), EPSG:4326: (column, meaning).
GAP_SCHEMA: list[tuple[str, str]] = [
    ("gap_id", "stable id: the same input gives the same id (view + hash of the gap's cells)"),
    ("operator", "view operator: viettel, vinaphone, mobifone, vietnamobile, gmobile or all"),
    ("technology", "view technology: 2G, 3G, 4G, 5G or any"),
    ("rank", "rank within the view by population, 1 = most people"),
    ("population", "people living in the gap (population raster, summed over its cells)"),
    ("area_km2", "area in km² (UTM 48N)"),
    ("n_cells", "number of H3 cells"),
    ("n_samples", "measurements in the gap's cells for the view"),
    ("n_devices", "distinct devices that measured there"),
    ("median_signal_dbm", "median signal level of those measurements (dBm)"),
    ("no_service_share", "share of those measurements that had no service"),
    (
        "evidence",
        "confirmed: most cells meet the evidence rule (and, in the all view, every operator seen in "
        "the data was tested inside the gap: 5 samples from 2 devices); else likely",
    ),
    ("commune_code", "GSO code of the commune holding most of the gap's people"),
    ("commune", "its name"),
    ("unit_2025_code", "code of that commune's 2025 unit of Lâm Đồng (old communes mapped whole)"),
    ("unit_2025", "name of that 2025 unit"),
    ("district_code", "its district's GSO code"),
    ("district", "its district"),
    ("commune_codes", "every commune the gap touches, ';'-joined, most people first"),
    ("communes", "their names, ';'-joined, same order"),
    ("commune_population", "people of each of those communes inside the gap, ';'-joined"),
    (
        "villages",
        "villages (thôn, bon, buôn) whose people live in the gap, most first, with those people: "
        "'Thôn 3 (420); Bon Bu Prăng (130)'; empty without a village layer",
    ),
    ("first_date", "first measurement date in the gap (YYYY-MM-DD)"),
    ("last_date", "last measurement date in the gap"),
    ("centroid_lon", "longitude of a point inside the gap"),
    ("centroid_lat", "latitude of a point inside the gap"),
    ("geometry", "Polygon or MultiPolygon, EPSG:4326"),
]
GAP_COLUMNS = [name for name, _ in GAP_SCHEMA]

#: Predicted gaps (``predicted_gaps.geojson``): connected predicted-weak cells without a measured
#: state, one row per area and view. Predictions, never evidence: (column, meaning).
PREDICTED_GAP_SCHEMA: list[tuple[str, str]] = [
    ("gap_id", "stable id: predicted-<operator>-<technology>-<hash of the cells>"),
    ("operator", "view operator"),
    ("technology", "view technology"),
    ("rank", "rank within the view by population, 1 = most people"),
    ("population", "people living in the area"),
    ("n_villages", "number of villages whose centre lies in the area"),
    ("area_km2", "area in km² (UTM 48N)"),
    ("n_cells", "number of H3 cells"),
    ("mean_p_covered", "mean probability of coverage over the area's cells"),
    ("commune_code", "GSO code of the commune holding most of the area's people"),
    ("commune", "its name"),
    ("district_code", "its district's GSO code"),
    ("district", "its district"),
    ("commune_codes", "every commune the area touches, ';'-joined, most people first"),
    ("communes", "their names, ';'-joined"),
    ("commune_population", "people of each of those communes inside the area, ';'-joined"),
    ("centroid_lon", "longitude of a point inside the area"),
    ("centroid_lat", "latitude of a point inside the area"),
    ("geometry", "Polygon or MultiPolygon, EPSG:4326"),
]
PREDICTED_GAP_COLUMNS = [name for name, _ in PREDICTED_GAP_SCHEMA]

#: Cells table (one row per H3 cell and view), EPSG:4326 polygons: (column, meaning).
CELL_STATE_SCHEMA: list[tuple[str, str]] = [
    ("h3", "H3 cell id (hex string)"),
    ("operator", "view operator (or all)"),
    ("technology", "view technology (or any)"),
    ("state", "no_data, insufficient, covered or weak"),
    ("n_samples", "measurements in the cell for the view"),
    ("n_devices", "distinct devices"),
    ("n_days", "distinct days"),
    ("first_date", "first measurement date"),
    ("last_date", "last measurement date"),
    ("median_signal_dbm", "median signal (dBm)"),
    ("p10_signal_dbm", "10th percentile signal (dBm)"),
    ("no_service_share", "share of no-service samples"),
    ("median_dl_kbps", "median download speed where present"),
    ("population", "people living in the cell"),
    ("samples_needed", "more samples needed to meet the evidence rule (0 when met)"),
    ("devices_needed", "more devices needed to meet the evidence rule (0 when met)"),
    ("gap_id", "the gap the cell belongs to in this view, empty when not weak"),
    (
        "claim_state",
        "the operator's claimed coverage against the measurements: verified, over_claim, unverified, "
        "under_claim or not_claimed; empty when the view's operator × technology has no claim map",
    ),
    ("predicted_claim_state", "the same from predicted states, when there are predictions (never evidence)"),
    ("predicted_signal_dbm", "radio map: predicted median signal (dBm), a prediction, never evidence"),
    ("predicted_sd_db", "radio map: standard deviation of that prediction (dB)"),
    ("p_covered", "radio map: probability that the cell is covered in this view"),
    ("predicted_state", "radio map: covered (p_covered >= 0.8), weak (<= 0.2), uncertain; empty without a model"),
    ("geometry", "the cell's hexagon, EPSG:4326"),
]
#: The radio map's columns of the cells table.
PREDICTION_COLUMNS = ["predicted_signal_dbm", "predicted_sd_db", "p_covered", "predicted_state"]

#: Commune summary (one row per commune and view): (column, meaning).
COMMUNE_SUMMARY_SCHEMA: list[tuple[str, str]] = [
    ("commune_code", "GSO code"),
    ("commune", "name"),
    ("unit_2025_code", "code of the 2025 unit of Lâm Đồng the commune was merged into (mapped whole)"),
    ("unit_2025", "name of that 2025 unit"),
    ("district_code", "district GSO code"),
    ("district", "district name"),
    ("operator", "view operator (or all)"),
    ("technology", "view technology (or any)"),
    ("population", "census population of the commune (people on the population surface)"),
    ("people_in_gaps", "people living in weak cells of the view"),
    ("share_people_covered", "share of the commune's people in covered cells"),
    ("share_people_no_data", "share of the commune's people in cells without enough evidence"),
    ("share_area_with_data", "share of the commune's area in cells with any measurement"),
    ("n_gaps", "gaps of the view touching the commune"),
    ("largest_gap_id", "the gap holding most of the commune's people"),
    ("largest_gap_population", "people of the commune inside that gap"),
    ("people_predicted_weak", "people in cells without a measured state that the radio map predicts weak"),
    ("people_uncertain", "people in cells without a measured state whose prediction is uncertain or missing"),
]


@dataclass
class RunResults:
    """Everything a finished run produced, loaded for presentation.

    Attributes
    ----------
    folder : Path
        The run folder.
    meta : dict
        Contents of ``run.json`` (inputs, configuration, counts, versions, timings, period,
        ``synthetic``).
    gaps : geopandas.GeoDataFrame
        Gap table (:data:`GAP_SCHEMA`).
    cells : geopandas.GeoDataFrame
        Cell states (:data:`CELL_STATE_SCHEMA`).
    communes : pandas.DataFrame
        Commune summary (:data:`COMMUNE_SUMMARY_SCHEMA`).
    villages : geopandas.GeoDataFrame or None
        Village statuses when a village layer was given.
    claims : pandas.DataFrame or None
        Claimed coverage against the measurements (:data:`lomsong.tables.claims.CLAIM_SUMMARY_SCHEMA`),
        when the run had claim maps.
    challenges : geopandas.GeoDataFrame or None
        Over-claim areas (:data:`lomsong.tables.claims.CHALLENGE_SCHEMA`), when the run had claim maps.
    """

    folder: Path
    meta: dict[str, Any]
    gaps: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    communes: pd.DataFrame
    villages: gpd.GeoDataFrame | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    claims: pd.DataFrame | None = None
    challenges: gpd.GeoDataFrame | None = None

    @property
    def synthetic(self) -> bool:
        """True when the measurements came from the simulator."""
        return bool(self.meta.get("synthetic", False))


#: The headline of a run (``run.json`` ``headline``): (key, meaning). The three people figures
#: are the parts of one denominator, the people living in the province's cells.
HEADLINE_SCHEMA: list[tuple[str, str]] = [
    ("population", "people living in the province's cells (the denominator of the shares)"),
    ("people_in_gaps", "people in vùng lõm sóng: cells no operator covers, measured weak with evidence"),
    ("people_covered", "people in cells measured covered by at least one operator"),
    ("people_without_evidence", "people in cells without enough measurements to say (no data or too few)"),
    ("share_in_gaps", "people_in_gaps / population"),
    ("share_covered", "people_covered / population"),
    ("share_without_evidence", "people_without_evidence / population"),
]


def headline_figures(counts: dict[str, Any]) -> dict[str, float]:
    """Return the run's headline with its denominators (:data:`HEADLINE_SCHEMA`) from its counts.

    Parameters
    ----------
    counts : dict
        ``run.json`` ``counts`` (``people_in_gaps_all``, ``people_covered_all``,
        ``people_without_evidence_all``; ``population_in_cells`` when present).

    Returns
    -------
    dict
        People in gaps, covered and without enough evidence, their sum as ``population`` (when
        ``population_in_cells`` is missing), and each as a share of it (NaN for no people).
    """
    parts = {
        "people_in_gaps": float(counts.get("people_in_gaps_all") or 0.0),
        "people_covered": float(counts.get("people_covered_all") or 0.0),
        "people_without_evidence": float(counts.get("people_without_evidence_all") or 0.0),
    }
    population = float(counts.get("population_in_cells") or sum(parts.values()))
    shares = {
        "share_" + key.removeprefix("people_"): (value / population if population > 0 else float("nan"))
        for key, value in parts.items()
    }
    return {"population": population, **parts, **shares}


def run_headline(run: RunResults) -> dict[str, float]:
    """Return ``run.json`` ``headline``, or compute it from the counts of an older run."""
    headline = run.meta.get("headline")
    if isinstance(headline, dict) and set(headline) >= {name for name, _ in HEADLINE_SCHEMA}:
        return {name: float(headline[name]) for name, _ in HEADLINE_SCHEMA}
    return headline_figures(run.meta.get("counts") or {})


def load_run(folder: str | Path, *, cell_technologies: Sequence[str] | None = None) -> RunResults:
    """Load a finished run's tables.

    Parameters
    ----------
    folder : str or Path
        Run folder written by ``lomsong run``.
    cell_technologies : sequence of str, optional
        Only the cells of these technologies (e.g. ``[ANY_TECHNOLOGY]``, all the maps draw): the
        others' geometries are not decoded.

    Returns
    -------
    RunResults

    Raises
    ------
    RunNotFoundError
        When the folder has no ``run.json``.
    """
    folder = Path(folder)
    meta_path = folder / RUN_JSON
    if not meta_path.exists():
        raise RunNotFoundError(f"{folder}: no finished run here (no {RUN_JSON}); run `lomsong run`")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    villages_path = folder / VILLAGES_PARQUET
    predicted_path = folder / PREDICTED_GAPS_PARQUET
    extras = {"predicted_gaps": gpd.read_parquet(predicted_path)} if predicted_path.exists() else {}
    if (folder / SITES_PARQUET).exists():
        extras["sites"] = pd.read_parquet(folder / SITES_PARQUET)
    return RunResults(
        folder=folder,
        meta=meta,
        gaps=gpd.read_parquet(folder / GAPS_PARQUET),
        cells=gpd.read_parquet(
            folder / CELLS_PARQUET,
            filters=None if cell_technologies is None else [("technology", "in", list(cell_technologies))],
        ),
        communes=pd.read_parquet(folder / COMMUNE_SUMMARY_PARQUET),
        villages=gpd.read_parquet(villages_path) if villages_path.exists() else None,
        claims=pd.read_parquet(folder / CLAIMS_PARQUET) if (folder / CLAIMS_PARQUET).exists() else None,
        challenges=gpd.read_parquet(folder / CHALLENGES_PARQUET) if (folder / CHALLENGES_PARQUET).exists() else None,
        extras=extras,
    )
