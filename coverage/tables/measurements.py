"""The canonical tables that connect the layers: every reader produces them, the analysis reads them.

Each table is described once here (column, dtype, unit, meaning); the README's tables are generated
from the same lists. :func:`empty_measurements` and :func:`conform_measurements` give a frame with
exactly these columns and dtypes.
"""

from __future__ import annotations

import pandas as pd

#: Canonical measurement table: (column, pandas dtype, unit, meaning).
MEASUREMENT_SCHEMA: list[tuple[str, str, str, str]] = [
    ("time", "datetime64[ns, UTC]", "UTC", "when the sample was taken (phone local times are Asia/Ho_Chi_Minh)"),
    ("lon", "float64", "degree", "longitude, WGS84"),
    ("lat", "float64", "degree", "latitude, WGS84"),
    (
        "operator",
        "string",
        "",
        "canonical operator id: viettel, vinaphone, mobifone, vietnamobile, gmobile, else plmn:<MCCMNC>",
    ),
    ("plmn", "string", "", "MCC+MNC of the serving network, e.g. 45204"),
    ("technology", "string", "", "2G, 3G, 4G or 5G (missing for a no-service sample whose technology is unknown)"),
    ("signal_dbm", "float64", "dBm", "RSRP (4G), SS-RSRP (5G), RSCP (3G), RSSI (2G)"),
    ("quality_db", "float64", "dB", "RSRQ (4G/5G) or Ec/No (3G)"),
    ("sinr_db", "float64", "dB", "SINR (4G/5G)"),
    ("dl_kbps", "float64", "kbit/s", "download throughput"),
    ("ul_kbps", "float64", "kbit/s", "upload throughput"),
    ("latency_ms", "float64", "ms", "round-trip latency"),
    ("no_service", "bool", "", "the phone had no service here: evidence of a gap, never dropped"),
    ("device_id", "string", "", "pseudonymised device (sha256 prefix of the source's id or of the file)"),
    ("source", "string", "", "format name of the reader that produced the row (generic_csv, gnettrack, …)"),
    ("source_file", "string", "", "file name the row came from"),
    ("source_row", "int64", "", "1-based line number (data rows) in the source file"),
]
MEASUREMENT_COLUMNS = [name for name, *_ in MEASUREMENT_SCHEMA]
MEASUREMENT_DTYPES = {name: dtype for name, dtype, *_ in MEASUREMENT_SCHEMA}

#: Cells table (OpenCelliD / MLS exports): one row per cell with an estimated position.
CELL_SCHEMA: list[tuple[str, str, str, str]] = [
    ("radio", "string", "", "GSM, UMTS, LTE, NR"),
    ("technology", "string", "", "2G, 3G, 4G, 5G"),
    ("mcc", "int64", "", "mobile country code (452 Vietnam)"),
    ("mnc", "int64", "", "mobile network code"),
    ("operator", "string", "", "canonical operator id"),
    ("plmn", "string", "", "MCC+MNC"),
    ("area", "int64", "", "LAC / TAC"),
    ("cell", "int64", "", "cell id / ECI"),
    ("unit", "Int64", "", "PSC / PCI"),
    ("lon", "float64", "degree", "estimated cell longitude"),
    ("lat", "float64", "degree", "estimated cell latitude"),
    ("range_m", "float64", "m", "estimated cell radius"),
    ("samples", "int64", "", "observations behind the estimate"),
    ("changeable", "bool", "", "position estimated from observations (True) or exact (False)"),
    ("created", "datetime64[ns, UTC]", "UTC", "first seen"),
    ("updated", "datetime64[ns, UTC]", "UTC", "last updated"),
    ("average_signal_dbm", "float64", "dBm", "average signal, missing when not reported (0 in the source)"),
    ("source_file", "string", "", "file name"),
    ("source_row", "int64", "", "1-based line number"),
]
CELL_COLUMNS = [name for name, *_ in CELL_SCHEMA]

#: Speed tiles table (Ookla open data): one row per zoom-16 tile.
SPEED_TILE_SCHEMA: list[tuple[str, str, str, str]] = [
    ("quadkey", "string", "", "Web-Mercator zoom-16 quadkey"),
    ("lon", "float64", "degree", "tile centre longitude"),
    ("lat", "float64", "degree", "tile centre latitude"),
    ("avg_d_kbps", "float64", "kbit/s", "mean download speed"),
    ("avg_u_kbps", "float64", "kbit/s", "mean upload speed"),
    ("avg_lat_ms", "float64", "ms", "mean latency"),
    ("tests", "int64", "", "number of tests"),
    ("devices", "int64", "", "number of devices"),
    ("source_file", "string", "", "file name"),
    ("source_row", "int64", "", "1-based row"),
]
SPEED_TILE_COLUMNS = [name for name, *_ in SPEED_TILE_SCHEMA]


def conform_table(frame: pd.DataFrame, schema: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """Return ``frame`` with exactly the columns of ``schema``, in its order and typed.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of the table; a column of ``schema`` it lacks is all-missing (False for booleans).
    schema : list of (column, dtype, unit, meaning)
        One of this module's schemas, or some of its entries (a table of fewer columns).

    Returns
    -------
    pandas.DataFrame
        With a fresh index.
    """
    out = pd.DataFrame(index=frame.index)
    for name, dtype, *_ in schema:
        if name in frame.columns:
            column = frame[name]
        elif dtype == "bool":
            column = pd.Series(False, index=frame.index)
        elif dtype.startswith(("float", "datetime")):
            column = pd.Series(float("nan"), index=frame.index)
        else:
            # Nullable so that a missing optional column is all-NA, not an error.
            column = pd.Series(pd.NA, index=frame.index, dtype="Int64" if dtype == "int64" else "object")
        if dtype.startswith("datetime64"):
            out[name] = pd.to_datetime(column, utc=True).dt.as_unit("ns")
        elif dtype == "bool":
            out[name] = column.fillna(False).astype(bool)
        else:
            out[name] = column.astype(dtype)
    return out.reset_index(drop=True)


def conform_measurements(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical measurement columns, in order and typed."""
    return conform_table(frame, MEASUREMENT_SCHEMA)


def empty_measurements() -> pd.DataFrame:
    """Return an empty canonical measurement table."""
    return conform_measurements(pd.DataFrame({c: [] for c in MEASUREMENT_COLUMNS}))


def conform_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical cell-table columns."""
    return conform_table(frame, CELL_SCHEMA)


def conform_speed_tiles(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical speed-tile columns."""
    return conform_table(frame, SPEED_TILE_SCHEMA)
