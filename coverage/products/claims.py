"""Products of the claims check: ``claims.csv``, ``challenges.geojson`` and the two XLSX sheets.

The tables come from :mod:`lomsong.analysis.claims` (schemas in :mod:`lomsong.tables.claims`). The
challenge list is what the department can send to an operator: each over-claimed area with its
people, area and the evidence (samples, phones, days, dates, median signal).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from lomsong.products.words import text
from lomsong.products.workbook import Sheet, readable_values
from lomsong.tables.claims import CHALLENGE_COLUMNS, CLAIM_SUMMARY_COLUMNS

CLAIMS_CSV = "claims.csv"
CHALLENGES_GEOJSON = "challenges.geojson"
STORAGE_CRS = "EPSG:4326"

#: Decimals of the human downloads (the Parquet tables keep full precision).
_ROUNDING = {"_people": 0, "population": 0, "_km2": 3, "share_": 3, "median_signal_dbm": 1, "no_service_share": 3}
#: A text cell starting with one of these would be a formula in a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_float_dtype(out[column]):
            continue
        for pattern, decimals in _ROUNDING.items():
            if column == pattern or column.endswith(pattern) or column.startswith(pattern):
                out[column] = out[column].round(decimals)
                if decimals == 0:
                    out[column] = out[column].astype("Int64")
                break
    return out


def no_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every text cell that a spreadsheet would run as a formula quoted (``'``)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            values = out[column].astype("string")
            risky = values.str.startswith(_FORMULA_START).fillna(False).to_numpy(bool)
            if risky.any():
                out[column] = values.mask(risky, "'" + values)
    return out


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Operators, then technologies (``any`` first); places province, 2025 units, communes; or by rank."""
    if frame.empty:
        return frame
    technology_rank = {"any": -1, "2G": 0, "3G": 1, "4G": 2, "5G": 3}
    keys = frame.assign(_tech=frame["technology"].astype(str).map(technology_rank).fillna(9))
    if "level" in frame:
        keys = keys.assign(_level=frame["level"].astype(str).map({"province": 0, "unit_2025": 1, "commune": 2}))
        within = ["_level", "unit_2025_code", "commune_code"]
    else:
        keys = keys.assign(_level=0)
        within = ["rank"]
    keys = keys.sort_values(["operator", "_tech", *within], kind="stable", na_position="first")
    return keys.drop(columns=["_tech", "_level"])


def write_claims_csv(summary: pd.DataFrame, path: str | Path, synthetic: bool = False) -> Path:
    """Write ``claims.csv``: per operator, technology and commune (and the province), UTF-8 with BOM.

    Parameters
    ----------
    summary : pandas.DataFrame
        :data:`lomsong.tables.claims.CLAIM_SUMMARY_SCHEMA`.
    path : str or Path
        Target file.
    synthetic : bool
        Value of the trailing ``synthetic`` column.

    Returns
    -------
    Path
    """
    frame = no_formulas(_rounded(_sorted(summary[CLAIM_SUMMARY_COLUMNS])))
    frame["synthetic"] = synthetic
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return Path(path)


def write_challenges_geojson(challenges: gpd.GeoDataFrame, path: str | Path, synthetic: bool = False) -> Path:
    """Write ``challenges.geojson`` (RFC 7946: EPSG:4326, 6 decimals, right-hand rule, bbox).

    Parameters
    ----------
    challenges : geopandas.GeoDataFrame
        :data:`lomsong.tables.claims.CHALLENGE_SCHEMA`.
    path : str or Path
        Target file.
    synthetic : bool
        Say in the collection's description that the data is simulated.

    Returns
    -------
    Path
    """
    path = Path(path)
    frame = challenges[CHALLENGE_COLUMNS]
    frame = frame if frame.crs is not None else frame.set_crs(STORAGE_CRS)
    frame = _sorted(frame.to_crs(STORAGE_CRS)).reset_index(drop=True)
    attributes = pd.DataFrame(frame.drop(columns="geometry"))
    attributes["synthetic"] = synthetic
    description = f"{text('vi', 'sheet_challenges')} / {text('en', 'sheet_challenges')} (lomsong)."
    if synthetic:
        description = f"{text('vi', 'claims_synthetic')} {text('en', 'claims_synthetic')} {description}"
    pyogrio.write_dataframe(
        gpd.GeoDataFrame(attributes, geometry=frame.geometry.values, crs=STORAGE_CRS),
        path,
        driver="GeoJSON",
        layer="challenges",
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "6", "WRITE_BBOX": "YES", "DESCRIPTION": description},
    )
    return path


def claim_sheets(summary: pd.DataFrame | None, challenges: gpd.GeoDataFrame | None, lang: str = "vi") -> list[Sheet]:
    """Return the XLSX sheets of the claims check (:class:`lomsong.products.workbook.Sheet`).

    'Đối chiếu khai báo' (the claims summary, province rows first) and 'Vùng khai báo vượt' (the
    challenges, largest first); headers come from the glossary, codes become words.
    """
    sheets: list[Sheet] = []
    if summary is not None:
        rows = _sorted(summary[CLAIM_SUMMARY_COLUMNS])
        rows = rows.assign(level=rows["level"].astype(str).map(lambda level: text(lang, f"level_{level}")))
        sheets.append(Sheet(text(lang, "sheet_claims"), readable_values(_rounded(rows), lang)))
    if challenges is not None:
        columns = [c for c in CHALLENGE_COLUMNS if c != "geometry"]
        rows = _sorted(pd.DataFrame(challenges[columns]))
        sheets.append(Sheet(text(lang, "sheet_challenges"), readable_values(_rounded(rows), lang)))
    return sheets


__all__ = [
    "CHALLENGES_GEOJSON",
    "CLAIMS_CSV",
    "claim_sheets",
    "no_formulas",
    "write_challenges_geojson",
    "write_claims_csv",
]
