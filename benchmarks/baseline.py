"""The baseline a competent analyst writes first: GeoPandas points, ``sjoin`` to the communes, a
pandas group-by per H3 cell on string keys, and shapely unions of the weak hexagons.

It computes the same kind of result (per cell × operator × technology statistics, weak cells by
the same thresholds and evidence rule, gap polygons per view), not the full engine: it is the
yardstick the engine's speed is compared with (``benchmarks/run.py``).
"""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from coverage.settings import Config


def baseline_analysis(measurements: pd.DataFrame, communes: gpd.GeoDataFrame, config: Config) -> dict[str, int]:
    """Run the baseline on canonical measurements; return a few counts (so nothing is optimised away)."""
    frame = measurements.dropna(subset=["lon", "lat", "operator"]).copy()
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")
    joined = gpd.sjoin(points, communes[["commune_code", "geometry"]].to_crs("EPSG:4326"), predicate="within")
    # one h3 call per row, as the h3 documentation shows it
    to_cell = np.vectorize(lambda lat, lon: h3.latlng_to_cell(lat, lon, config.resolution), otypes=[object])
    joined["h3"] = to_cell(joined["lat"].to_numpy(), joined["lon"].to_numpy())
    threshold = joined["technology"].map(config.thresholds).astype("float64")
    joined["weak"] = joined["no_service"] | (joined["signal_dbm"] < threshold)
    joined["day"] = joined["time"].dt.tz_convert("Asia/Ho_Chi_Minh").dt.date
    keys = ["h3", "operator", "technology"]
    stats = joined.groupby(keys, dropna=False).agg(
        n_samples=("weak", "size"),
        n_weak=("weak", "sum"),
        n_devices=("device_id", "nunique"),
        n_days=("day", "nunique"),
        first_date=("day", "min"),
        last_date=("day", "max"),
        median_signal_dbm=("signal_dbm", "median"),
        p10_signal_dbm=("signal_dbm", lambda s: s.quantile(0.1)),
        median_dl_kbps=("dl_kbps", "median"),
    )
    enough = (stats["n_samples"] >= config.min_samples) & (stats["n_devices"] >= config.min_devices)
    weak = stats[enough & ((stats["n_samples"] - stats["n_weak"]) < config.covered_share * stats["n_samples"])]
    n_gaps = 0
    for _view, cells in weak.reset_index().groupby(["operator", "technology"], dropna=False)["h3"]:
        hexagons = [shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(c)]) for c in cells]
        union = shapely.union_all(hexagons)
        n_gaps += len(getattr(union, "geoms", [union]))
    return {"rows": int(len(joined)), "cells": int(len(stats)), "weak": int(len(weak)), "gaps": n_gaps}
