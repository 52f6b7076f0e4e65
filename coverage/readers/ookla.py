"""Ookla Speedtest open data, performance tiles: parquet (WKT ``tile``/``tiles`` or only the quadkey),
zipped shapefile, or GeoJSON. One row per Web-Mercator zoom-16 tile; speeds only (no signal, no operator).

The quadkey alone determines the tile, so the tile centre is always decoded from it
(:func:`quadkey_to_tile`, vectorised bit operations); the geometry column is not needed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from lomsong.readers._parse import check_zip
from lomsong.readers.base import Parsed, Reader, ReaderError

#: Ookla fields kept (canonical speed-tile names).
FIELDS = ["quadkey", "avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices"]


def quadkey_to_tile(quadkeys: pd.Series | np.ndarray) -> pd.DataFrame:
    """Decode quadkeys into tile indices, bounds and centre.

    Parameters
    ----------
    quadkeys : pandas.Series or numpy.ndarray
        Quadkey strings of one zoom level (digits 0–3). Invalid ones give NaN.

    Returns
    -------
    pandas.DataFrame
        ``x``, ``y``, ``zoom``, ``lon_min``, ``lat_min``, ``lon_max``, ``lat_max``, ``lon``, ``lat``
        (tile centre, in Web-Mercator), one row per quadkey.
    """
    text = pd.Series(quadkeys, dtype="string").fillna("")
    valid = text.str.fullmatch(r"[0-3]+").to_numpy(bool, na_value=False)
    zoom = int(text[valid].str.len().max()) if valid.any() else 0
    valid &= (text.str.len() == zoom).to_numpy(bool, na_value=False)
    padded = text.where(valid, "0" * zoom).to_numpy(str).astype(f"S{max(zoom, 1)}")
    digits = padded.view(np.uint8).reshape(len(text), max(zoom, 1)).astype(np.int64) - ord("0")
    weights = np.left_shift(1, np.arange(zoom - 1, -1, -1, dtype=np.int64)) if zoom else np.ones(1, np.int64)
    x = ((digits & 1) * weights).sum(axis=1).astype(float)
    y = (((digits >> 1) & 1) * weights).sum(axis=1).astype(float)
    n = float(2**zoom)

    def lon_of(tx: np.ndarray) -> np.ndarray:
        return tx / n * 360.0 - 180.0

    def lat_of(ty: np.ndarray) -> np.ndarray:
        return np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * ty / n))))

    frame = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "zoom": zoom,
            "lon_min": lon_of(x),
            "lat_min": lat_of(y + 1),
            "lon_max": lon_of(x + 1),
            "lat_max": lat_of(y),
            "lon": lon_of(x + 0.5),
            "lat": lat_of(y + 0.5),
        }
    )
    frame.loc[~valid] = np.nan
    return frame


def sniff(path: Path, head: bytes) -> bool:
    """Parquet, zip or JSON holding a ``quadkey`` field."""
    if head[:4] == b"PAR1":
        import pyarrow.parquet as pq

        try:
            return "quadkey" in pq.read_schema(path).names
        except Exception:  # noqa: BLE001  not a readable parquet: not ours
            return False
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.lower().endswith(".shp") for name in archive.namelist())
        except zipfile.BadZipFile:
            return False
    if head.lstrip()[:1] == b"{":
        return b'"quadkey"' in head
    return False


def _read_table(path: Path) -> pd.DataFrame:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic[:2] == b"PK":
        check_zip(path)  # GDAL would expand a zip bomb's members unbounded
    try:
        if magic == b"PAR1":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            return pd.read_parquet(path, columns=[c for c in FIELDS if c in names])
        import pyogrio

        source = f"/vsizip/{path}" if magic[:2] == b"PK" else str(path)
        return pyogrio.read_dataframe(source, read_geometry=False)
    except Exception as exc:  # noqa: BLE001  pyarrow/GDAL raise many types; all mean "cannot read"
        raise ReaderError(
            f"{path}: line 1: expected Ookla tiles (parquet, zipped shapefile or GeoJSON): {exc}"
        ) from exc


def parse(path: Path, operator: str | None = None, source_name: str | None = None, sha256: str | None = None) -> Parsed:
    """Parse an Ookla tile file into the parsed speed-tile frame."""
    table = _read_table(path)
    # shapefile DBF field names may come back in another case
    table = table.rename(columns={c: c.lower() for c in table.columns})
    if "quadkey" not in table.columns:
        raise ReaderError(f"{path}: line 1: expected a quadkey field; found {', '.join(map(str, table.columns))}")
    out = pd.DataFrame({"quadkey": table["quadkey"].astype("string").str.strip()})
    for name in FIELDS[1:]:
        out[name] = pd.to_numeric(table[name], errors="coerce") if name in table.columns else np.nan
    tiles = quadkey_to_tile(out["quadkey"])
    out["lon"], out["lat"] = tiles["lon"].to_numpy(), tiles["lat"].to_numpy()
    out["tests"] = out["tests"].fillna(0).astype("int64")
    out["devices"] = out["devices"].fillna(0).astype("int64")
    out["source_row"] = np.arange(1, len(out) + 1, dtype=np.int64)
    return Parsed(frame=out, kind="speed_tiles", columns={c: c for c in FIELDS if c in table.columns})


READER = Reader(
    name="ookla",
    description="Ookla open-data performance tiles (parquet, zipped shapefile, GeoJSON)",
    kind="speed_tiles",
    sniff=sniff,
    parse=parse,
)
