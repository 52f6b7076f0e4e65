"""Commitments: the sites operators committed to build (or share), and their follow-up.

A commitment says: *operator* will put *technology* on air at *site id* or *position* by
*planned month*. The department keeps them in a CSV or XLSX file
(:mod:`lomsong.readers.commitments`); the monthly report follows each one up: did the gaps around
the site close in the months measured after it was due (:mod:`lomsong.analysis.commitments`)?
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: One row per committed site: (column, meaning).
COMMITMENT_SCHEMA: list[tuple[str, str]] = [
    ("commitment_id", "row id: <operator>:<site_id>, or <operator>@<lon>,<lat> when the row gives no site id"),
    ("operator", "canonical operator id (viettel, vinaphone, mobifone, vietnamobile, gmobile)"),
    ("site_id", "the operator's site id, or a plan's candidate_id (empty when only a position is given)"),
    ("lon", "longitude (EPSG:4326); empty until resolved from the plan or the site list when only site_id is given"),
    ("lat", "latitude (EPSG:4326)"),
    ("technology", "technology the site puts on air: 2G, 3G, 4G or 5G"),
    ("planned_month", "month the site is due on air, YYYY-MM (Vietnam time)"),
    ("note", "free text (the file's own words)"),
    ("source_row", "row in the file as a spreadsheet numbers it (header = 1)"),
]
COMMITMENT_COLUMNS = [name for name, _ in COMMITMENT_SCHEMA]

#: Statuses of a committed site in a later measured period (see :mod:`lomsong.analysis.commitments`).
FOLLOWUP_STATUSES = ["closed", "still_open", "not_remeasured", "no_gap_before", "not_measured_yet"]

#: Follow-up: one row per commitment and measured period from its planned month on (or one row
#: ``not_measured_yet`` when no such period is stored): (column, meaning).
FOLLOWUP_SCHEMA: list[tuple[str, str]] = [
    *COMMITMENT_SCHEMA,
    ("unit", "2025 unit holding the site"),
    ("commune", "2019 commune holding the site"),
    ("plan_people", "people the remedy plan predicted this site would newly cover (empty: not a plan site)"),
    ("baseline_period", "the last stored period before the planned month (the gaps as they were)"),
    ("period", "the later measured period this row is about (empty: none stored yet)"),
    ("area", "where gaps count as 'around the site': predicted_coverage (a plan site) or radius"),
    ("radius_m", "the radius used when area = radius"),
    ("gap_ids_before", "the baseline gaps of the operator's view with a cell in the area, ';'-joined"),
    ("gap_cells_before", "baseline gap cells in the area"),
    ("gap_people_before", "people of those cells"),
    ("cells_measured_covered", "of them, cells measured covered in the period"),
    ("cells_still_weak", "of them, cells still measured weak in the period"),
    ("cells_not_remeasured", "of them, cells without enough evidence in the period"),
    ("people_newly_covered", "people of the cells measured covered in the period"),
    ("change_statuses", "analysis.compare's statuses of the gaps involved, e.g. 'closed: 1; shrunk: 1'"),
    ("status", "closed, still_open, not_remeasured, no_gap_before or not_measured_yet"),
]
FOLLOWUP_COLUMNS = [name for name, _ in FOLLOWUP_SCHEMA]


def commitment_ids(operator: pd.Series, site_id: pd.Series, lon: np.ndarray, lat: np.ndarray) -> pd.Series:
    """Return the row ids: ``<operator>:<site_id>``, or ``<operator>@<lon>,<lat>`` (5 decimals) without a site id."""
    site = site_id.astype("string").fillna("")
    where = pd.Series(
        [f"{x:.5f},{y:.5f}" for x, y in zip(lon, lat, strict=True)], index=operator.index, dtype="string"
    )
    return (operator.astype("string") + np.where(site != "", ":" + site, "@" + where)).astype("string")


def empty_commitments() -> pd.DataFrame:
    """Return an empty commitment table with the canonical dtypes."""
    return pd.DataFrame(
        {c: pd.Series(dtype="float64" if c in ("lon", "lat") else "string") for c in COMMITMENT_COLUMNS}
    )


def conform_commitments(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly :data:`COMMITMENT_COLUMNS` in their canonical dtypes."""
    out = pd.DataFrame(index=frame.index)
    for column in COMMITMENT_COLUMNS:
        values = frame[column] if column in frame else pd.Series(pd.NA, index=frame.index)
        out[column] = pd.to_numeric(values, errors="coerce").astype("float64") if column in ("lon", "lat") else (
            values.astype("string")
        )
    return out.reset_index(drop=True)
