"""Village lists (thôn, bon, buôn) in the shapes offices keep them: CSV, GeoJSON and Excel.

A village layer gives each village's centre (nhà văn hóa, trung tâm thôn) with its people:
``name``, ``commune``, ``lon``, ``lat``, ``households``, ``population`` and ``has_grid_power``.
Headers may be English or Vietnamese, with or without diacritics (``Thôn/Bon``, ``Xã``,
``Kinh độ``, ``Vĩ độ``, ``Số hộ``, ``Số dân``, ``Điện lưới``; see :data:`HEADER_ALIASES`).
GeoJSON may give the position as a Point instead of ``lon``/``lat``. In a workbook the header
row may sit below a title (the first of the first :data:`HEADER_SEARCH_ROWS` rows naming a
village, a longitude and a latitude), and a closing ``Tổng cộng`` row without a position is
skipped. Errors name the file, the sheet, the row and the column as the file spells it.

:func:`locate_villages` gives every village its commune (code, district) from the polygon
holding its centre, else from its commune name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong._text import fold, fold_series, nfc
from lomsong.errors import VillageError
from lomsong.reference.boundaries import STORAGE_CRS

VILLAGE_COLUMNS = ["name", "commune", "lon", "lat", "households", "population", "has_grid_power"]
_REQUIRED = ["name", "commune", "lon", "lat"]
_TRUE = {"1", "true", "yes", "y", "co", "x", "t", "co dien"}
_FALSE = {"0", "false", "no", "n", "khong", "f", "", "chua", "chua co"}

#: Canonical column → headers understood (folded: lower case, no diacritics, no units in brackets).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "village", "thon", "bon", "buon", "thon/bon", "thon/buon", "thon/bon/buon", "ten thon",
             "ten thon/bon", "ten thon/bon/buon", "thon/bon/buon/to dan pho", "ten"),
    "commune": ("commune", "xa", "ten xa", "xa/phuong", "xa/phuong/thi tran", "xa/thi tran", "phuong"),
    "district": ("district", "huyen", "ten huyen", "huyen/thanh pho", "huyen/tp"),
    "commune_code": ("commune_code", "ma xa"),
    "district_code": ("district_code", "ma huyen"),
    "village_id": ("village_id", "ma thon"),
    "lon": ("lon", "lng", "long", "longitude", "kinh do", "x"),
    "lat": ("lat", "latitude", "vi do", "y"),
    "households": ("households", "so ho", "ho", "so ho dan", "tong so ho"),
    "population": ("population", "so dan", "dan so", "so nhan khau", "nhan khau", "so khau", "tong so dan"),
    "has_grid_power": ("has_grid_power", "grid_power", "grid power", "dien luoi", "co dien luoi", "dien luoi quoc gia"),
}  # fmt: skip
_ALIAS_TO_COLUMN = {alias: column for column, aliases in HEADER_ALIASES.items() for alias in aliases}
#: Rows of a sheet searched for the header row (offices put a title and a date above it).
HEADER_SEARCH_ROWS = 10
_BRACKETS = re.compile(r"\(.*?\)|\[.*?\]")
_SEPARATORS = re.compile(r"\s*[/,;]\s*")
_TOTAL_ROWS = {"tong", "tong cong", "cong", "total"}


def header_key(header: object) -> str:
    """Return the folded key of a header: ``'Thôn / Bon'`` → ``'thon/bon'``, ``'Kinh độ (°)'`` → ``'kinh do'``."""
    text = fold(_BRACKETS.sub(" ", str(header)))
    return _SEPARATORS.sub("/", text).strip(" :.*")


def canonical_headers(headers: list[object]) -> tuple[list[str], dict[str, str]]:
    """Map a file's headers to canonical names.

    Parameters
    ----------
    headers : list
        Headers as the file spells them.

    Returns
    -------
    tuple
        The new header list (unknown headers kept, folded to lower case) and canonical → original.
    """
    names: list[str] = []
    original: dict[str, str] = {}
    for header in headers:
        key = header_key(header)
        column = _ALIAS_TO_COLUMN.get(key, key.replace(" ", "_") if key else "")
        if column in original:  # a second "Xã" column (e.g. the code next to the name) stays extra
            column = f"{column}_{len(names)}"
        names.append(column)
        original[column] = str(header).strip()
    return names, original


def read_villages(path: str | Path, *, sheet: str | None = None) -> gpd.GeoDataFrame:
    """Read a village layer (CSV, GeoJSON or Excel) and validate it.

    Parameters
    ----------
    path : str or Path
        CSV (UTF-8, header row), GeoJSON of points, or an ``.xlsx`` workbook.
    sheet : str, optional
        Workbook sheet; default the first sheet with a village header row.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`VILLAGE_COLUMNS` plus ``source_row`` (1-based data row; the sheet's row number in
        a workbook) and any other columns given, points in EPSG:4326.

    Raises
    ------
    VillageError
        Missing file or column, or a bad value (named by sheet, row and column).
    """
    path = Path(path)
    if not path.exists():
        raise VillageError(f"{path}: village file not found")
    if path.is_dir():
        raise VillageError(f"{path}: is a folder; --villages takes a .csv, .geojson or .xlsx file")
    suffix = path.suffix.lower()
    source = str(path)
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        elif suffix in (".geojson", ".json"):
            frame = _geojson_frame(path)
        elif suffix in (".xlsx", ".xlsm"):
            frame, source = _workbook_frame(path, sheet)
        else:
            raise VillageError(f"{path}: villages must be a .csv, .geojson or .xlsx file, got '{path.suffix}'")
    except VillageError:
        raise
    except Exception as exc:  # pandas/pyogrio/openpyxl raise several types; all mean "cannot read"
        raise VillageError(f"{path}: cannot read the village layer: {exc}") from exc
    return normalize_villages(frame, source=source)


def _geojson_frame(path: Path) -> pd.DataFrame:
    layer = gpd.read_file(path, engine="pyogrio")
    if layer.crs is not None and layer.crs.to_epsg() != 4326:
        layer = layer.to_crs(STORAGE_CRS)
    frame = pd.DataFrame(layer.drop(columns="geometry"))
    names, _ = canonical_headers(list(frame.columns))
    frame.columns = names
    points = layer.geometry
    is_point = (points.geom_type == "Point").to_numpy(bool)
    for axis, values in (("lon", points.x.where(is_point)), ("lat", points.y.where(is_point))):
        if axis not in frame:
            frame[axis] = values.to_numpy()
        else:
            frame[axis] = frame[axis].where(frame[axis].notna(), values)
    return frame


def _cell_text(value: object) -> str:
    """Workbook cell → text: whole floats without '.0', missing as ''."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header_row(rows: list[list[str]]) -> tuple[int, list[str], dict[str, str]] | None:
    """Return the position, canonical names and originals of the first village header row."""
    for offset, header in enumerate(rows[:HEADER_SEARCH_ROWS]):
        names, original = canonical_headers(header)
        if {"name", "lon", "lat"} <= set(names):
            return offset, names, original
    return None


def _workbook_frame(path: Path, sheet: str | None) -> tuple[pd.DataFrame, str]:
    """Return the village rows of a workbook (``source_row`` = the sheet's row) and the source name."""
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise VillageError(f"{path}: no sheet '{sheet}'; sheets: {', '.join(workbook.sheetnames)}")
        for title in [sheet] if sheet is not None else workbook.sheetnames:
            rows = [[_cell_text(v) for v in row] for row in workbook[title].iter_rows(values_only=True)]
            found = _header_row(rows)
            if found is None:
                continue
            offset, names, original = found
            width = len(names)
            body = [row[:width] + [""] * (width - len(row)) for row in rows[offset + 1 :]]
            frame = pd.DataFrame(body, columns=names, dtype="string")
            frame = frame.loc[:, [n != "" for n in names]]
            frame["source_row"] = np.arange(offset + 2, offset + 2 + len(frame))
            empty = frame.drop(columns="source_row").fillna("").eq("").all(axis=1)
            total = fold_series(frame["name"].fillna("")).isin(_TOTAL_ROWS) & frame["lon"].fillna("").eq("")
            frame = frame[~(empty | total)].reset_index(drop=True)
            frame.attrs["headers"] = original
            return frame, f"{path}: sheet '{title}'"
        where = f"sheet '{sheet}'" if sheet is not None else "any sheet"
        raise VillageError(
            f"{path}: no header row with a village name, Kinh độ and Vĩ độ in the first {HEADER_SEARCH_ROWS} rows "
            f"of {where}"
        )
    finally:
        workbook.close()


def _parse_bool(values: pd.Series, where: Callable[[int, str], str]) -> pd.Series:
    text = fold_series(values.astype("string").fillna("")).str.strip()
    known = text.isin(_TRUE | _FALSE).to_numpy(bool, na_value=False)
    if not known.all():
        bad = int(np.flatnonzero(~known)[0])
        raise VillageError(
            f"{where(bad, 'has_grid_power')}: '{values.iloc[bad]}' is not yes/no (use 1/0, true/false, có/không)"
        )
    return pd.Series(text.isin(_TRUE).to_numpy(bool, na_value=False), index=values.index).where(text != "", pd.NA)


def normalize_villages(frame: pd.DataFrame, source: str = "<villages>") -> gpd.GeoDataFrame:
    """Validate a village table and bring it to the canonical form.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Villages with at least a name, a commune and a position (English or Vietnamese headers;
        a GeoDataFrame of points may omit ``lon``/``lat``).
    source : str
        Name used in error messages.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`VILLAGE_COLUMNS` + ``source_row`` + any other columns given, EPSG:4326 points.
    """
    headers = dict(frame.attrs.get("headers", {}))
    frame = pd.DataFrame(frame).copy()
    if "geometry" in frame and ("lon" not in frame or "lat" not in frame):
        points = gpd.GeoSeries(frame["geometry"], crs=getattr(frame.get("geometry"), "crs", None))
        frame["lon"], frame["lat"] = points.x.to_numpy(), points.y.to_numpy()
    names, original = canonical_headers(list(frame.columns))
    frame.columns = names
    headers = {**original, **headers}
    missing = [c for c in _REQUIRED if c not in frame]
    if missing:
        raise VillageError(
            f"{source}: missing column(s) {', '.join(missing)}; found {', '.join(headers.get(c, c) for c in names)}"
        )
    rows = frame["source_row"] if "source_row" in frame else pd.Series(np.arange(1, len(frame) + 1), index=frame.index)

    def where(position: int, column: str) -> str:
        given = headers.get(column, column)
        named = f"field {column}" + (f" (column '{given}')" if given != column else "")
        return f"{source}: row {rows.iloc[position]}, {named}"

    for column in ("name", "commune"):
        text = frame[column].astype("string").str.strip()
        empty = (text.isna() | (text == "")).to_numpy(bool)
        if empty.any():
            raise VillageError(f"{where(int(np.flatnonzero(empty)[0]), column)}: empty")
        frame[column] = text.map(nfc).astype("string")
    for column, low, high in (("lon", -180, 180), ("lat", -90, 90)):
        text = frame[column].astype("string").str.strip().str.replace(",", ".", regex=False)
        values = pd.to_numeric(text, errors="coerce")
        bad = (values.isna() | (values < low) | (values > high)).to_numpy(bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise VillageError(f"{where(i, column)}: '{frame[column].iloc[i]}' is not a {column} in {low} … {high}")
        frame[column] = values.astype("float64")
    for column in ("households", "population"):
        if column not in frame:
            frame[column] = pd.NA
        # Offices write 1.234 or 1,234 for a thousand and more: digit-group separators are dropped.
        raw = frame[column].astype("string").str.strip().str.replace(r"(?<=\d)[.,\s](?=\d{3}\b)", "", regex=True)
        raw = raw.replace("", pd.NA)
        values = pd.to_numeric(raw, errors="coerce")
        bad = ((raw.notna() & values.isna()) | (values < 0) | (values.notna() & (values % 1 != 0))).to_numpy(
            bool, na_value=False
        )
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise VillageError(f"{where(i, column)}: '{frame[column].iloc[i]}' is not a whole number ≥ 0")
        frame[column] = values.astype("Int64")
    if "has_grid_power" not in frame:
        frame["has_grid_power"] = pd.NA
    frame["has_grid_power"] = _parse_bool(frame["has_grid_power"], where).astype("boolean")
    frame["source_row"] = rows.to_numpy("int64")
    # Other columns (village_id, commune_code, the simulator's synthetic flag …) travel along.
    extra = [c for c in frame.columns if c not in {*VILLAGE_COLUMNS, "source_row", "geometry"} and c]
    out = frame[[*VILLAGE_COLUMNS, "source_row", *extra]].reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(out["lon"], out["lat"]), crs=STORAGE_CRS)


def locate_villages(villages: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Give each village its ``commune_code``, ``district_code`` and ``district``.

    A value the layer gives is kept; else it comes from the commune polygon holding the centre,
    else from the commune named (diacritics and case ignored).

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        Canonical village table (:func:`normalize_villages`).
    communes : geopandas.GeoDataFrame
        Canonical commune table.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with the three columns (string; missing where neither rule finds a commune).
    """
    out = villages.copy()
    located = gpd.sjoin(
        out[["geometry"]].to_crs(communes.crs),
        communes[["commune_code", "district_code", "district", "geometry"]],
        predicate="within",
    )
    located = located[~located.index.duplicated(keep="first")]
    by_name = communes.assign(_key=fold_series(communes["commune"])).drop_duplicates("_key").set_index("_key")
    named = by_name.reindex(fold_series(out["commune"]).to_numpy())
    for column in ("commune_code", "district_code", "district"):
        spatial = located[column].reindex(out.index)
        derived = spatial.where(spatial.notna(), pd.Series(named[column].to_numpy(), index=out.index))
        given = out[column].astype("string") if column in out else pd.Series(pd.NA, index=out.index, dtype="string")
        out[column] = given.where(given.notna() & (given != ""), derived.astype("string")).astype("string")
    return out
