"""Digital elevation models (GeoTIFF): ground height for the radio map's terrain term.

Any single-band GeoTIFF with a CRS works (SRTM or Copernicus GLO-30 in EPSG:4326, or a projected
DEM). :func:`dem_sampler` reads the band once and returns a vectorised ``ground_at(lon, lat)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lomsong.errors import ReferenceDataError


def dem_sampler(path: str | Path) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Return ``ground_at(lon, lat)`` → elevation (m, NaN outside the DEM or on nodata).

    Parameters
    ----------
    path : str or Path
        A single-band GeoTIFF with a CRS.

    Raises
    ------
    ReferenceDataError
        Missing or unreadable file, no CRS.
    """
    import rasterio
    from pyproj import Transformer

    path = Path(path)
    if not path.exists():
        raise ReferenceDataError(f"{path}: DEM not found")
    try:
        with rasterio.open(path) as source:
            if source.crs is None:
                raise ReferenceDataError(f"{path}: the DEM has no CRS; give a GeoTIFF with its coordinate system")
            band = source.read(1, masked=True).astype("float64").filled(np.nan)
            inverse = ~source.transform
            transformer = Transformer.from_crs("EPSG:4326", source.crs, always_xy=True)
    except rasterio.errors.RasterioError as error:
        raise ReferenceDataError(f"{path}: not a readable GeoTIFF DEM ({error})") from None
    rows, cols = band.shape

    def ground_at(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))
        col, row = inverse @ (np.asarray(x), np.asarray(y))
        col, row = np.floor(col).astype("int64"), np.floor(row).astype("int64")
        inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        out = np.full(len(np.atleast_1d(x)), np.nan)
        out[inside] = band[row[inside], col[inside]]
        return out

    return ground_at
