"""Radio sites: the canonical table of known base-station positions the radio map starts from.

Two sources fill it: an operators' site list (:mod:`lomsong.readers.sites`, one row per site) and
OpenCelliD/MLS cells (:mod:`lomsong.readers.opencellid`, one row per cell). The radio map uses
one row per site × technology (:func:`site_technologies`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Site table (one row per site): (column, meaning).
SITE_SCHEMA: list[tuple[str, str]] = [
    ("operator", "canonical operator id (viettel, vinaphone, mobifone, vietnamobile, gmobile)"),
    ("site_id", "the operator's site id"),
    ("lon", "longitude (EPSG:4326)"),
    ("lat", "latitude (EPSG:4326)"),
    ("technologies", "technologies on air, ';'-joined (2G;4G)"),
    ("height_m", "antenna height above ground (m), empty when not given"),
    ("azimuth", "sector azimuths in degrees, ';'-joined, empty when not given"),
    ("source", "site_list (the operator's list) or opencellid (cell positions seen by phones)"),
    ("source_row", "data row in the source file (1-based)"),
]
SITE_COLUMNS = [name for name, _ in SITE_SCHEMA]


def empty_sites() -> pd.DataFrame:
    """Return an empty site table."""
    return pd.DataFrame(
        {c: pd.Series(dtype="float64" if c in ("lon", "lat", "height_m") else "string") for c in SITE_COLUMNS}
    )


def sites_from_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Turn OpenCelliD/MLS cells (``operator``, ``technology``, ``lon``, ``lat`` …) into site rows."""
    keep = cells["operator"].notna() & cells["technology"].notna() & cells["lon"].notna() & cells["lat"].notna()
    cells = cells.loc[keep]
    ids = (
        cells.get("area", pd.Series(0, index=cells.index)).astype("string")
        + "-"
        + cells.get("cell", pd.Series(0, index=cells.index)).astype("string")
    )
    return pd.DataFrame(
        {
            "operator": cells["operator"].astype("string").to_numpy(),
            "site_id": ids.to_numpy(),
            "lon": cells["lon"].to_numpy("float64"),
            "lat": cells["lat"].to_numpy("float64"),
            "technologies": cells["technology"].astype("string").to_numpy(),
            "height_m": np.nan,
            "azimuth": pd.array([pd.NA] * len(cells), dtype="string"),
            "source": "opencellid",
            "source_row": cells.get("source_row", pd.Series(np.arange(1, len(cells) + 1), index=cells.index))
            .astype("string")
            .to_numpy(),
        }
    )[SITE_COLUMNS]


def combine_sites(site_list: pd.DataFrame | None, cells: pd.DataFrame | None) -> pd.DataFrame:
    """Join an operators' site list and OpenCelliD sites; the list wins for the operators it names.

    OpenCelliD positions are averages of where phones saw each cell (pulled towards roads), so an
    operator's own list, when given, replaces them for that operator.
    """
    parts = []
    listed: set[str] = set()
    if site_list is not None and len(site_list):
        parts.append(site_list[SITE_COLUMNS])
        listed = set(site_list["operator"].dropna().astype(str))
    if cells is not None and len(cells):
        from_cells = cells if "technologies" in cells else sites_from_cells(cells)
        parts.append(from_cells.loc[~from_cells["operator"].astype(str).isin(listed), SITE_COLUMNS])
    if not parts:
        return empty_sites()
    return pd.concat(parts, ignore_index=True)


def site_technologies(sites: pd.DataFrame) -> pd.DataFrame:
    """One row per site × technology: ``operator``, ``technology``, ``site_id``, ``lon``, ``lat``
    (and ``height_m``, ``ground_m`` when the site table has them)."""
    if len(sites) == 0:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in ("operator", "technology", "site_id")}).assign(
            lon=pd.Series(dtype="float64"), lat=pd.Series(dtype="float64")
        )
    long = sites.assign(technology=sites["technologies"].astype("string").str.split(";")).explode("technology")
    long["technology"] = long["technology"].str.strip().str.upper()
    long = long.loc[long["technology"].notna() & (long["technology"] != "")]
    extra = [c for c in ("height_m", "ground_m") if c in long]
    return long[["operator", "technology", "site_id", "lon", "lat", *extra]].reset_index(drop=True)
