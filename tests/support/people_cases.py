"""Handmade settlement-shaped provinces for the population and village tests (SYNTHETIC)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import box

from lomsong.reference.boundaries import METRIC_CRS, STORAGE_CRS

#: South-west corner of the handmade communes in UTM 48N (about 107.8 E, 12.3 N, in Đắk Nông).
ORIGIN_X, ORIGIN_Y = 800_000.0, 1_360_000.0
_TO_LONLAT = Transformer.from_crs(METRIC_CRS, STORAGE_CRS, always_xy=True)


def lonlat(x_km: float, y_km: float) -> tuple[float, float]:
    """Return lon, lat of a point given in km from the origin."""
    lon, lat = _TO_LONLAT.transform(ORIGIN_X + x_km * 1000.0, ORIGIN_Y + y_km * 1000.0)
    return float(lon), float(lat)


def square_communes(sizes_km: list[tuple[float, float, float, float]], census: list[int]) -> gpd.GeoDataFrame:
    """Return canonical communes that are boxes ``(x0, y0, x1, y1)`` in km from the origin."""
    n = len(sizes_km)
    polygons = [zone(*size).geometry.iloc[0] for size in sizes_km]
    frame = gpd.GeoDataFrame(
        {
            "commune_code": pd.array([f"9{i:04d}" for i in range(n)], dtype="string"),
            "commune": pd.array([f"Xã Thử {i + 1}" for i in range(n)], dtype="string"),
            "commune_type": pd.array(["Xã"] * n, dtype="string"),
            "district_code": pd.array(["999"] * n, dtype="string"),
            "district": pd.array(["Huyện Thử"] * n, dtype="string"),
            "province_code": pd.array(["67"] * n, dtype="string"),
            "population": pd.array(census, dtype="Int64"),
        },
        geometry=polygons,
        crs=METRIC_CRS,
    )
    return frame.to_crs(STORAGE_CRS)


def villages_at(rows: list[dict]) -> gpd.GeoDataFrame:
    """Return a village table from rows with ``x_km``/``y_km`` instead of lon/lat."""
    out = []
    for row in rows:
        lon, lat = lonlat(row["x_km"], row["y_km"])
        out.append({k: v for k, v in row.items() if k not in ("x_km", "y_km")} | {"lon": lon, "lat": lat})
    frame = pd.DataFrame(out)
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=STORAGE_CRS)


def zone(x0_km: float, y0_km: float, x1_km: float, y1_km: float) -> gpd.GeoDataFrame:
    """Return one rectangular zone (km from the origin) as a GeoDataFrame in UTM 48N."""
    geometry = box(ORIGIN_X + x0_km * 1e3, ORIGIN_Y + y0_km * 1e3, ORIGIN_X + x1_km * 1e3, ORIGIN_Y + y1_km * 1e3)
    return gpd.GeoDataFrame(geometry=[geometry], crs=METRIC_CRS)


def people_inside(x_m: np.ndarray, y_m: np.ndarray, zones: gpd.GeoDataFrame) -> np.ndarray:
    """Count the (metric) person positions inside each zone."""
    return np.array([int(shapely.contains_xy(z, x_m, y_m).sum()) for z in zones.geometry])
