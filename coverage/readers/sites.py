"""Operators' site lists (CSV or XLSX): where each operator's base stations are, and what they carry.

Columns (header names are matched without case or accents): ``operator``, ``site_id``, ``lon``,
``lat``, ``technologies`` (``2G;4G``, also ``,`` ``/`` or spaces between; or ``has_2g`` …
``has_5g`` true/false columns), optional ``height_m`` and ``azimuth``. Other columns are
ignored. Validated like measurements, but a site list is small
and hand-made, so a bad row stops the read with a one-line :class:`lomsong.errors.SiteError`
naming the file, the row (as the spreadsheet numbers it, header = 1) and the field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lomsong._text import fold
from lomsong.errors import SiteError
from lomsong.operators import operator_from_name
from lomsong.settings import TECHNOLOGIES
from lomsong.tables.sites import SITE_COLUMNS

REQUIRED = ["operator", "site_id", "lon", "lat", "technologies"]
OPTIONAL = ["height_m", "azimuth"]
#: Vietnam's bounding box with a margin (sites across a border may serve the province).
VIETNAM_BOX = (101.0, 7.0, 110.5, 24.0)


def _table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", sep=None, engine="python")
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise SiteError(f"{path}: not a readable {suffix[1:].upper()} site list ({error})") from None
    raise SiteError(f"{path}: a site list must be .csv or .xlsx, got '{path.suffix}'")


def read_sites(path: str | Path) -> pd.DataFrame:
    """Read and validate an operators' site list.

    Parameters
    ----------
    path : str or Path
        CSV (UTF-8, header row, comma, semicolon or tab) or XLSX (first sheet).

    Returns
    -------
    pandas.DataFrame
        :data:`lomsong.tables.sites.SITE_COLUMNS`, ``source`` = ``site_list``.

    Raises
    ------
    SiteError
        Missing file or column, or a bad value (named by row and field).
    """
    path = Path(path)
    if not path.exists():
        raise SiteError(f"{path}: site list not found")
    raw = _table(path)
    raw.columns = [fold(str(c)).strip().replace(" ", "_") for c in raw.columns]
    flags = [f"has_{t.lower()}" for t in TECHNOLOGIES]
    if "technologies" not in raw.columns and all(f in raw.columns for f in flags):
        # The simulator's site file (has_2g … has_5g as True/False) is a site list too.
        on = np.column_stack([raw[f].astype(str).str.strip().str.lower().isin(["true", "1", "yes"]) for f in flags])
        names = np.array([f"{t};" for t in TECHNOLOGIES], dtype=object)
        raw["technologies"] = pd.Series(np.where(on, names, "").sum(axis=1), index=raw.index).str.rstrip(";")
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise SiteError(f"{path}: missing column(s) {', '.join(missing)}; a site list needs {', '.join(REQUIRED)}")
    if len(raw) == 0:
        raise SiteError(f"{path}: the site list has no rows")
    row_number = np.arange(len(raw)) + 2  # header is row 1

    def fail(bad: np.ndarray, field: str, why: str) -> None:
        first = int(np.flatnonzero(bad)[0])
        value = str(raw[field].iloc[first])[:40] if field in raw else ""
        more = f" (and {int(bad.sum()) - 1} more rows)" if bad.sum() > 1 else ""
        raise SiteError(f"{path}: row {row_number[first]}: {field} {value!r} {why}{more}")

    text = raw.apply(lambda column: column.astype(str).str.strip())
    operator = text["operator"].map(operator_from_name)
    fail_at = operator.isna().to_numpy()
    if fail_at.any():
        fail(fail_at, "operator", "is not a known operator (Viettel, VinaPhone/VNPT, MobiFone, Vietnamobile, Gmobile)")
    site_id = text["site_id"]
    if (site_id == "").any():
        fail((site_id == "").to_numpy(), "site_id", "is empty")
    coordinates = {}
    for field in ("lon", "lat"):
        values = pd.to_numeric(text[field].str.replace(",", ".", regex=False), errors="coerce").to_numpy("float64")
        if (~np.isfinite(values)).any():
            fail(~np.isfinite(values), field, "is not a number")
        coordinates[field] = values
    lon, lat = coordinates["lon"], coordinates["lat"]
    outside = (lon < VIETNAM_BOX[0]) | (lon > VIETNAM_BOX[2]) | (lat < VIETNAM_BOX[1]) | (lat > VIETNAM_BOX[3])
    if outside.any():
        fail(outside, "lon", "with its lat is outside Vietnam (are lon and lat swapped?)")
    tokens = text["technologies"].str.upper().str.replace(r"[,/ ]+", ";", regex=True).str.strip(";")
    parts = tokens.str.split(";").explode()
    unknown = ~parts.isin(TECHNOLOGIES)
    if unknown.any():
        bad_rows = np.zeros(len(raw), bool)
        bad_rows[np.unique(parts.index[unknown.to_numpy()]).astype(int)] = True
        fail(bad_rows, "technologies", f"must list technologies among {', '.join(TECHNOLOGIES)}")
    height = np.full(len(raw), np.nan)
    if "height_m" in raw:
        given = text["height_m"] != ""
        height = pd.to_numeric(text["height_m"].str.replace(",", ".", regex=False), errors="coerce").to_numpy("float64")
        bad = given.to_numpy() & ~((height > 0) & (height < 400))
        if bad.any():
            fail(bad, "height_m", "must be a height in metres between 0 and 400")
    azimuth = pd.Series(pd.NA, index=raw.index, dtype="string")
    if "azimuth" in raw:
        az = text["azimuth"].str.replace(r"[,/ ]+", ";", regex=True).str.strip(";")
        values = pd.to_numeric(az.str.split(";").explode().replace("", np.nan), errors="coerce")
        given = az.str.split(";").explode() != ""
        bad_values = given & ~((values >= 0) & (values <= 360))
        if bad_values.any():
            bad_rows = np.zeros(len(raw), bool)
            bad_rows[np.unique(values.index[bad_values.to_numpy()]).astype(int)] = True
            fail(bad_rows, "azimuth", "must be degrees 0-360, ';'-separated")
        azimuth = az.where(az != "").astype("string")
    duplicate = pd.DataFrame({"o": operator, "s": site_id}).duplicated().to_numpy()
    if duplicate.any():
        fail(duplicate, "site_id", "appears twice for the same operator")
    frame = pd.DataFrame(
        {
            "operator": operator.astype("string"),
            "site_id": site_id.astype("string"),
            "lon": lon.round(6),
            "lat": lat.round(6),
            "technologies": tokens.astype("string"),
            "height_m": height,
            "azimuth": azimuth,
            "source": "site_list",
            "source_row": pd.array(row_number.astype(str), dtype="string"),
        }
    )
    return frame[SITE_COLUMNS]


def read_candidates(path: str | Path) -> pd.DataFrame:
    """Read a user's candidate positions for ``lomsong plan`` (CSV or XLSX).

    Columns ``id``, ``lon``, ``lat``, optional ``note`` and ``cost``; a bad row stops the read with
    a :class:`lomsong.errors.SiteError` naming the file, the row and the field.

    Returns
    -------
    pandas.DataFrame
        ``candidate_id``, ``candidate_kind`` (``user``), ``lon``, ``lat``, ``note``, ``cost``,
        ``has_grid_power`` (unknown).
    """
    path = Path(path)
    if not path.exists():
        raise SiteError(f"{path}: candidate file not found")
    raw = _table(path)
    raw.columns = [fold(str(c)).strip().replace(" ", "_") for c in raw.columns]
    missing = [c for c in ("id", "lon", "lat") if c not in raw.columns]
    if missing:
        raise SiteError(f"{path}: missing column(s) {', '.join(missing)}; candidates need id, lon, lat")
    text = raw.apply(lambda column: column.astype(str).str.strip())
    row_number = np.arange(len(raw)) + 2
    values = {}
    for field in ("lon", "lat", "cost"):
        if field not in text:
            values[field] = np.full(len(raw), np.nan)
            continue
        given = text[field] != ""
        number = pd.to_numeric(text[field].str.replace(",", ".", regex=False), errors="coerce").to_numpy("float64")
        bad = (given.to_numpy() | (field != "cost")) & ~np.isfinite(number)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise SiteError(f"{path}: row {row_number[first]}: {field} {text[field].iloc[first]!r} is not a number")
        values[field] = number
    lon, lat = values["lon"], values["lat"]
    outside = (lon < VIETNAM_BOX[0]) | (lon > VIETNAM_BOX[2]) | (lat < VIETNAM_BOX[1]) | (lat > VIETNAM_BOX[3])
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise SiteError(f"{path}: row {row_number[first]}: lon/lat {lon[first]}, {lat[first]} is outside Vietnam")
    if (text["id"] == "").any() or text["id"].duplicated().any():
        first = int(np.flatnonzero((text["id"] == "") | text["id"].duplicated())[0])
        raise SiteError(f"{path}: row {row_number[first]}: id {text['id'].iloc[first]!r} is empty or repeated")
    return pd.DataFrame(
        {
            "candidate_id": text["id"].astype("string"),
            "candidate_kind": "user",
            "lon": lon,
            "lat": lat,
            "note": text["note"].astype("string") if "note" in text else pd.array([""] * len(raw), dtype="string"),
            "cost": values["cost"],
            "has_grid_power": pd.array([pd.NA] * len(raw), dtype="boolean"),
        }
    )
