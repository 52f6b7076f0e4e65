"""Writing the simulator's files atomically: the generic CSV, G-NetTrack logs, villages, sites, metadata."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong.simulate.parameters import GNETTRACK_COLUMNS, LOCAL_OFFSET, LOCAL_TZ
from lomsong.simulate.result import (
    SYNTHETIC_CELLNAME,
    SYNTHETIC_CSV_COMMENT,
    SimulationResult,
    generic_csv_name,
    gnettrack_name,
    metadata_name,
)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same folder, then rename (readers never see half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_generic_csv(result: SimulationResult, path: str | Path) -> Path:
    """Write the generic CSV (UTF-8, comma, header = canonical names, missing = empty).

    The first line is the comment :data:`SYNTHETIC_CSV_COMMENT`, so the file says it is simulated
    even once renamed.

    Parameters
    ----------
    result : SimulationResult
        From :func:`simulate`.
    path : str or Path
        Target file (written atomically).

    Returns
    -------
    Path
    """
    frame = result.measurements.copy()
    frame["no_service"] = np.where(frame["no_service"].to_numpy(bool), "true", "false")
    for column in ("signal_dbm", "dl_kbps", "ul_kbps", "latency_ms", "quality_db"):
        values = frame[column].to_numpy(float)
        finite = values[~np.isnan(values)]
        if np.array_equal(finite, np.round(finite)):  # whole numbers: write -95, not -95.0
            frame[column] = pd.array(np.round(values), dtype="Float64").astype("Int64")

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(SYNTHETIC_CSV_COMMENT + "\n")
            frame.to_csv(handle, index=False, lineterminator="\n")

    return _atomic_write(Path(path), write)


_GNETTRACK_OPERATOR_NAMES = {
    "viettel": "Viettel",
    "vinaphone": "VINAPHONE",
    "mobifone": "MOBIFONE",
    "vietnamobile": "Vietnamobile",
    "gmobile": "Gmobile",
}
_ARFCN = {"2G": "62", "3G": "10812", "4G": "1650", "5G": "-"}
_BAND = {"2G": "EGSM", "3G": "", "4G": "L3", "5G": ""}


def gnettrack_lines(rows: pd.DataFrame) -> list[str]:
    """Return the lines of one G-NetTrack Pro log (header first, CRLF not included).

    Quirks as in the real sample: tab-separated, 21 header names, each data row ending with an
    extra tab, ``-`` for missing values, ``YYYY.MM.DD_HH.MM.SS`` local time, ``Operator`` the PLMN;
    a no-service row has ``NetworkTech`` ``--``, ``Level`` -200, ``Operatorname`` ``NO_COVERAGE``
    and an empty ``Operator``.
    """
    n = len(rows)
    local = (rows["time_utc"].to_numpy("datetime64[ns]") + LOCAL_OFFSET).astype("datetime64[s]")
    text = np.datetime_as_string(local, unit="s")
    stamp = pd.Series(text).str.replace("-", ".", regex=False).str.replace("T", "_", regex=False)
    stamp = stamp.str.replace(":", ".", regex=False).to_numpy()
    tech = rows["technology"].to_numpy(str)
    service = tech != "--"
    site_number = pd.Series(rows["site_id"].to_numpy(str)).str.extract(r"(\d+)$")[0].fillna("0").astype(int).to_numpy()
    sector = rows["sector"].to_numpy()

    def num(values: np.ndarray, digits: int = 0) -> np.ndarray:
        values = np.asarray(values, float)
        formatted = np.char.mod(f"%.{digits}f", np.nan_to_num(values))
        return np.where(np.isnan(values), "-", formatted)

    is4 = np.isin(tech, ["4G", "5G"])
    is3 = tech == "3G"
    node = np.where(is4, (10_000 + site_number).astype(str), np.where(is3, (500 + site_number // 100).astype(str), ""))
    cell_id = np.where(is4, sector.astype(str), (site_number * 10 + sector).astype(str))
    lac = (6_700 + site_number // 50).astype(str)
    level = rows["level"].to_numpy(float)
    lte_rssi = np.where(is4 & (level > -300), num(level + 12.0), "-")
    psc = np.where(
        is4, ((site_number * 3 + sector) % 504).astype(str), np.where(is3, ((site_number * 7) % 512).astype(str), "0")
    )
    altitude = np.round(
        600 + 250 * np.abs(np.sin(rows["lon"].to_numpy() * 37.0 + rows["lat"].to_numpy() * 53.0))
    ).astype(int)
    columns = {
        "Timestamp": stamp,
        "Longitude": rows["lon"].map("{:.6f}".format).str.rstrip("0").str.rstrip(".").to_numpy(),
        "Latitude": rows["lat"].map("{:.6f}".format).str.rstrip("0").str.rstrip(".").to_numpy(),
        "Operatorname": np.where(service, rows["operator"].map(_GNETTRACK_OPERATOR_NAMES).to_numpy(str), "NO_COVERAGE"),
        "Operator": np.where(service, rows["plmn"].to_numpy(str), ""),
        "Cellname": np.full(n, SYNTHETIC_CELLNAME),  # the simulated mark inside the file
        "Node": np.where(service, node, ""),
        "CellID": np.where(service, cell_id, ""),
        "LAC": np.where(service, lac, ""),
        "NetworkTech": tech,
        "Level": num(level),
        "Qual": np.where(tech == "2G", "-", num(rows["qual"].to_numpy())),
        "SNR": num(rows["snr"].to_numpy(), 1),
        "CQI": np.full(n, "-"),
        "LTERSSI": lte_rssi,
        "ARFCN": np.where(service, pd.Series(tech).map(_ARFCN).fillna("").to_numpy(str), ""),
        "PSC": np.where(service, psc, ""),
        "Altitude": altitude.astype(str),
        "Distance": np.full(n, "-1"),
        "TA": np.full(n, ""),
        "BAND": np.where(service, pd.Series(tech).map(_BAND).fillna("").to_numpy(str), ""),
    }
    body = pd.DataFrame(columns)[GNETTRACK_COLUMNS].agg("\t".join, axis=1) + "\t"
    return ["\t".join(GNETTRACK_COLUMNS), *body.tolist()]


def write_gnettrack(result: SimulationResult, folder: str | Path) -> list[Path]:
    """Write one G-NetTrack Pro log per drive-test device (UTF-8, CRLF), atomically.

    Parameters
    ----------
    result : SimulationResult
        From :func:`simulate`.
    folder : str or Path
        Target folder.

    Returns
    -------
    list of Path
        The files written, one per device.
    """
    written = []
    for device, rows in result.gnettrack.groupby("device", sort=True):  # one file per device
        lines = gnettrack_lines(rows)

        def write(tmp: Path, lines: list[str] = lines) -> None:
            tmp.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))

        written.append(_atomic_write(Path(folder) / gnettrack_name(str(device)), write))
    return written


def write_villages(villages: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write the synthetic village layer as CSV (UTF-8) or GeoJSON, by the file's suffix.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        From :func:`make_villages` or ``SimulationResult.villages``.
    path : str or Path
        ``.csv`` or ``.geojson`` (written atomically).

    Returns
    -------
    Path
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".geojson", ".json"):
        raise ValueError(f"{path}: village layer must be .csv or .geojson")

    def write(tmp: Path) -> None:
        if suffix == ".csv":
            villages.drop(columns="geometry").to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
        else:
            tmp.write_text(villages.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")

    return _atomic_write(path, write)


def write_sites(sites: pd.DataFrame, path: str | Path) -> Path:
    """Write the synthetic sites (the simulator's ground truth) as CSV, atomically.

    Besides the simulator's own columns it has ``technologies`` (``2G;4G``), so the file is also an
    operators' site list that ``lomsong run --sites`` reads (:mod:`lomsong.readers.sites`).
    """
    frame = sites.copy()
    flags = frame[["has_2g", "has_3g", "has_4g", "has_5g"]].to_numpy(bool)
    names = np.array(["2G;", "3G;", "4G;", "5G;"], dtype=object)
    joined = pd.Series(np.where(flags, names, "").sum(axis=1), index=frame.index).str.rstrip(";")
    frame.insert(4, "technologies", joined)
    for column in ("active_from", "active_until"):
        frame[column] = frame[column].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%dT%H:%M:%S%z").fillna("")
    return _atomic_write(Path(path), lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))


def write_outputs(
    result: SimulationResult, folder: str | Path, formats: Iterable[str] = ("generic_csv", "gnettrack")
) -> list[Path]:
    """Write the measurement files and the sidecar metadata JSON into ``folder``.

    Parameters
    ----------
    result : SimulationResult
        From :func:`simulate`.
    folder : str or Path
        Target folder.
    formats : iterable of str
        ``generic_csv`` and/or ``gnettrack``.

    Returns
    -------
    list of Path
        Measurement files, then the metadata file (written last).
    """
    folder = Path(folder)
    formats = list(formats)
    unknown = set(formats) - {"generic_csv", "gnettrack"}
    if unknown:
        raise ValueError(f"unknown format(s): {', '.join(sorted(unknown))}")
    written = []
    if "generic_csv" in formats:
        written.append(write_generic_csv(result, folder / generic_csv_name(result.metadata)))
    if "gnettrack" in formats:
        written += write_gnettrack(result, folder)
    metadata = dict(result.metadata, files=[p.name for p in written])
    text = json.dumps(metadata, ensure_ascii=False, indent=2, default=str)
    written.append(_atomic_write(folder / metadata_name(result.metadata), lambda tmp: tmp.write_text(text, "utf-8")))
    return written
