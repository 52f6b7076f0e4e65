"""Villages (thôn, bon, buôn): status per operator at the village centre, and the provincial list.

The national lõm-sóng list counts villages, each checked at its centre. A village layer is a CSV
or GeoJSON file with ``name``, ``commune``, ``lon``, ``lat``, ``households``, ``population`` and
``has_grid_power`` (GeoJSON may give the position as a Point instead of ``lon``/``lat``). Each
village gets the state of the H3 cell holding its centre in every operator's ``any`` view, and a
``no_operator`` flag: True when the ``all`` view is weak there, i.e. no operator covers the
village and at least one has enough evidence that its signal is weak. A village without enough
evidence is not flagged; its states say so.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong._text import fold_series, nfc
from lomsong.analysis.evidence import STATES
from lomsong.analysis.grid import Grid, cells_to_hex, index_points
from lomsong.errors import VillageError
from lomsong.operators import OPERATOR_IDS, display_name
from lomsong.reference.boundaries import STORAGE_CRS

VILLAGE_COLUMNS = ["name", "commune", "lon", "lat", "households", "population", "has_grid_power"]
_REQUIRED = ["name", "commune", "lon", "lat"]
_TRUE = {"1", "true", "yes", "y", "co", "x", "t"}
_FALSE = {"0", "false", "no", "n", "khong", "f", ""}

#: Vietnamese labels of the states in the provincial list.
STATE_LABELS_VI = {
    "covered": "Có sóng",
    "weak": "Sóng yếu",
    "insufficient": "Chưa đủ dữ liệu",
    "no_data": "Chưa có dữ liệu",
}



def read_villages(path: str | Path) -> gpd.GeoDataFrame:
    """Read a village layer (CSV or GeoJSON) and validate it.

    Parameters
    ----------
    path : str or Path
        CSV (UTF-8, header row) or GeoJSON of points.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`VILLAGE_COLUMNS` plus ``source_row`` (1-based data row), points in EPSG:4326.

    Raises
    ------
    VillageError
        Missing file or column, or a bad value (named by row and field).
    """
    path = Path(path)
    if not path.exists():
        raise VillageError(f"{path}: village file not found")
    if path.is_dir():
        raise VillageError(f"{path}: is a folder; --villages takes a .csv or .geojson file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        elif suffix in (".geojson", ".json"):
            layer = gpd.read_file(path, engine="pyogrio")
            if layer.crs is not None and layer.crs.to_epsg() != 4326:
                layer = layer.to_crs(STORAGE_CRS)
            frame = pd.DataFrame(layer.drop(columns="geometry"))
            points = layer.geometry
            is_point = (points.geom_type == "Point").to_numpy(bool)
            for axis, values in (("lon", points.x.where(is_point)), ("lat", points.y.where(is_point))):
                if axis not in frame:
                    frame[axis] = values.to_numpy()
                else:
                    frame[axis] = frame[axis].where(frame[axis].notna(), values)
        else:
            raise VillageError(f"{path}: villages must be a .csv or .geojson file, got '{path.suffix}'")
    except VillageError:
        raise
    except Exception as exc:  # pandas/pyogrio raise several types; all mean "cannot read"
        raise VillageError(f"{path}: cannot read the village layer: {exc}") from exc
    return normalize_villages(frame, source=str(path))


def _parse_bool(values: pd.Series, source: str, rows: pd.Series) -> pd.Series:
    text = fold_series(values.astype("string").fillna("")).str.strip()
    known = text.isin(_TRUE | _FALSE).to_numpy(bool, na_value=False)
    if not known.all():
        bad = int(np.flatnonzero(~known)[0])
        raise VillageError(
            f"{source}: row {rows.iloc[bad]}, field has_grid_power: '{values.iloc[bad]}' is not yes/no "
            "(use 1/0, true/false, có/không)"
        )
    return pd.Series(text.isin(_TRUE).to_numpy(bool, na_value=False), index=values.index).where(text != "", pd.NA)


def normalize_villages(frame: pd.DataFrame, source: str = "<villages>") -> gpd.GeoDataFrame:
    """Validate a village table and bring it to the canonical form.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Villages with at least ``name``, ``commune``, ``lon``, ``lat`` (a GeoDataFrame of points
        may omit ``lon``/``lat``).
    source : str
        Name used in error messages.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`VILLAGE_COLUMNS` + ``source_row`` + any other columns given, EPSG:4326 points.
    """
    frame = pd.DataFrame(frame).copy()
    if "geometry" in frame and ("lon" not in frame or "lat" not in frame):
        points = gpd.GeoSeries(frame["geometry"], crs=getattr(frame.get("geometry"), "crs", None))
        frame["lon"], frame["lat"] = points.x.to_numpy(), points.y.to_numpy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in _REQUIRED if c not in frame]
    if missing:
        raise VillageError(
            f"{source}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"
        )
    rows = frame["source_row"] if "source_row" in frame else pd.Series(np.arange(1, len(frame) + 1), index=frame.index)
    for column in ("name", "commune"):
        text = frame[column].astype("string").str.strip()
        empty = (text.isna() | (text == "")).to_numpy(bool)
        if empty.any():
            raise VillageError(f"{source}: row {rows.iloc[int(np.flatnonzero(empty)[0])]}, field {column}: empty")
        frame[column] = text.map(nfc).astype("string")
    for column, low, high in (("lon", -180, 180), ("lat", -90, 90)):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = (values.isna() | (values < low) | (values > high)).to_numpy(bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise VillageError(
                f"{source}: row {rows.iloc[i]}, field {column}: '{frame[column].iloc[i]}' is not a {column} in "
                f"{low} … {high}"
            )
        frame[column] = values.astype("float64")
    for column in ("households", "population"):
        if column not in frame:
            frame[column] = pd.NA
        raw = frame[column].astype("string").str.strip().replace("", pd.NA)
        values = pd.to_numeric(raw, errors="coerce")
        bad = ((raw.notna() & values.isna()) | (values < 0) | (values.notna() & (values % 1 != 0))).to_numpy(
            bool, na_value=False
        )
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise VillageError(
                f"{source}: row {rows.iloc[i]}, field {column}: '{frame[column].iloc[i]}' is not a whole number ≥ 0"
            )
        frame[column] = values.astype("Int64")
    if "has_grid_power" not in frame:
        frame["has_grid_power"] = pd.NA
    frame["has_grid_power"] = _parse_bool(frame["has_grid_power"], source, rows).astype("boolean")
    frame["source_row"] = rows.to_numpy("int64")
    # Other columns (village_id, commune_code, the simulator's synthetic flag …) travel along.
    extra = [c for c in frame.columns if c not in {*VILLAGE_COLUMNS, "source_row", "geometry"}]
    out = frame[[*VILLAGE_COLUMNS, "source_row", *extra]].reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(out["lon"], out["lat"]), crs=STORAGE_CRS)


def village_status(
    villages: gpd.GeoDataFrame,
    grid: Grid,
    views: pd.DataFrame,
    operators: list[str],
    state: np.ndarray,
    communes: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    """Give each village its state per operator at its centre, and the ``no_operator`` flag.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        Canonical village table (:func:`normalize_villages`).
    grid : Grid
        Province grid.
    views : pandas.DataFrame
        Views (from :func:`lomsong.analysis.aggregate.build_views`).
    operators : list of str
        Operators present (index = operator code).
    state : numpy.ndarray
        ``(n_views, n_cells)`` state codes.
    communes : geopandas.GeoDataFrame
        Canonical commune table: a village's commune code and district, unless given, come from
        the polygon holding its centre, else from its commune name.

    Returns
    -------
    geopandas.GeoDataFrame
        The villages with ``commune_code``, ``district_code``, ``district``, ``h3``, one
        ``status_<operator>`` column per Vietnamese operator seen in the data, ``all_state`` and
        ``no_operator``.
    """
    out = villages.copy()
    located = gpd.sjoin(
        out[["geometry"]], communes[["commune_code", "district_code", "district", "geometry"]], predicate="within"
    )
    located = located[~located.index.duplicated(keep="first")]
    by_name = communes.assign(_key=fold_series(communes["commune"])).drop_duplicates("_key").set_index("_key")
    named = by_name.reindex(fold_series(out["commune"]).to_numpy())
    for column in ("commune_code", "district_code", "district"):
        spatial = located[column].reindex(out.index)
        derived = spatial.where(spatial.notna(), pd.Series(named[column].to_numpy(), index=out.index))
        given = out[column].astype("string") if column in out else pd.Series(pd.NA, index=out.index, dtype="string")
        out[column] = given.where(given.notna() & (given != ""), derived.astype("string")).astype("string")

    cells = index_points(out["lon"].to_numpy(), out["lat"].to_numpy(), grid.resolution)
    position = grid.positions(cells)
    inside = position >= 0
    out["h3"] = pd.array(cells_to_hex(cells), dtype="string")
    labels = np.asarray(STATES, dtype=object)

    def states_of(view_code: int) -> pd.Series:
        codes = np.where(inside, state[view_code, np.where(inside, position, 0)], 0)
        return pd.Series(labels[codes], index=out.index, dtype="string")

    any_views = views[views["kind"] == "operator"]
    for view_code, operator_code in any_views[["view", "operator_code"]].to_numpy():  # loop over operators
        if operators[operator_code] in OPERATOR_IDS:
            out[f"status_{operators[operator_code]}"] = states_of(view_code)
    all_view = int(views.loc[views["kind"] == "all", "view"].iloc[0])
    out["all_state"] = states_of(all_view)
    out["no_operator"] = (out["all_state"] == "weak").to_numpy(bool, na_value=False)
    return out


def village_report(villages_status: pd.DataFrame, operators: list[str]) -> pd.DataFrame:
    """Return the village list in the shape of the provincial report, Vietnamese headers.

    Parameters
    ----------
    villages_status : pandas.DataFrame
        Output of :func:`village_status`.
    operators : list of str
        Operators to show, one column each (those without a ``status_`` column are skipped).

    Returns
    -------
    pandas.DataFrame
        STT, Huyện, Xã, Thôn/Bon, Số hộ, Số dân, Điện lưới, one column per operator, Không nhà
        mạng nào; sorted by district, commune and village.
    """
    table = pd.DataFrame(villages_status).sort_values(["district", "commune", "name"], na_position="last")
    power = table["has_grid_power"].astype("boolean")
    report = pd.DataFrame(
        {
            "STT": np.arange(1, len(table) + 1),
            "Huyện": table["district"].astype("string").to_numpy(),
            "Xã": table["commune"].astype("string").to_numpy(),
            "Thôn/Bon": table["name"].astype("string").to_numpy(),
            "Số hộ": table["households"].astype("Int64").to_numpy(),
            "Số dân": table["population"].astype("Int64").to_numpy(),
            "Điện lưới": np.where(power.isna(), "", np.where(power.fillna(False), "Có", "Không")),
        }
    )
    for operator in operators:
        column = f"status_{operator}"
        if column in table:
            report[display_name(operator)] = table[column].map(STATE_LABELS_VI).fillna("").to_numpy()
    report["Không nhà mạng nào"] = np.where(table["no_operator"].to_numpy(bool), "x", "")
    return report
