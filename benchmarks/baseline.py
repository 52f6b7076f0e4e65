"""The baseline a competent analyst writes first: GeoPandas points, ``sjoin`` to the communes, h3
per row, pandas group-bys on string keys, and shapely unions of the weak hexagons.

It computes the same kind of result as the engine — statistics per H3 cell for every operator ×
technology view, every operator's ``any`` view and the ``all`` view (Vietnamese operators), weak
cells by the same thresholds and evidence rule, gap polygons per view — with the idioms of the
GeoPandas/pandas/h3-py documentation and nothing deliberately slow (pandas' own group-by
quantiles, vectorised local days). It is the yardstick the engine's speed is compared with
(``benchmarks/run.py``); it does not reproduce the engine's finer rules (no-service samples of
unknown technology, speed-only samples, per-gap evidence), so it does slightly less work.
"""

from __future__ import annotations

import geopandas as gpd
import h3
import pandas as pd
import shapely

from lomsong.operators import OPERATOR_IDS
from lomsong.settings import Config


def baseline_analysis(measurements: pd.DataFrame, communes: gpd.GeoDataFrame, config: Config) -> dict[str, int]:
    """Run the baseline on canonical measurements; return a few counts (so nothing is optimised away)."""
    frame = measurements.dropna(subset=["lon", "lat", "operator"])
    points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")
    joined = gpd.sjoin(points, communes[["commune_code", "geometry"]].to_crs("EPSG:4326"), predicate="within")
    # one h3 call per row, as the h3-py documentation shows it
    joined["h3"] = [
        h3.latlng_to_cell(lat, lon, config.resolution)
        for lat, lon in zip(joined["lat"].to_numpy(), joined["lon"].to_numpy(), strict=True)
    ]
    threshold = joined["technology"].map(config.thresholds).astype("float64")
    no_service = joined["no_service"].to_numpy(bool)
    joined["weak"] = no_service | (joined["signal_dbm"] < threshold).to_numpy(bool, na_value=False)
    joined["day"] = joined["time"].dt.tz_convert("Asia/Ho_Chi_Minh").dt.normalize()
    usable = joined[no_service | joined["signal_dbm"].notna().to_numpy(bool)]
    # the three kinds of view: operator × technology, operator × any, all × any (Vietnamese operators)
    views = [
        usable.dropna(subset=["technology"]),
        usable.assign(technology="any"),
        usable[usable["operator"].isin(OPERATOR_IDS)].assign(operator="all", technology="any"),
    ]
    stats = pd.concat([_cell_statistics(view) for view in views])
    enough = (stats["n_samples"] >= config.min_samples) & (stats["n_devices"] >= config.min_devices)
    covered = (stats["n_samples"] - stats["n_weak"]) >= config.covered_share * stats["n_samples"]
    weak = stats[enough & ~covered]
    n_gaps = 0
    for _view, cells in weak.reset_index().groupby(["operator", "technology"])["h3"]:
        hexagons = [shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(c)]) for c in cells]
        union = shapely.union_all(hexagons)
        n_gaps += len(getattr(union, "geoms", [union]))
    return {"rows": int(len(joined)), "cells": int(len(stats)), "weak": int(len(weak)), "gaps": n_gaps}


def _cell_statistics(frame: pd.DataFrame) -> pd.DataFrame:
    """Per h3 × operator × technology statistics with pandas' group-by."""
    grouped = frame.groupby(["h3", "operator", "technology"], observed=True)
    stats = grouped.agg(
        n_samples=("weak", "size"),
        n_weak=("weak", "sum"),
        n_devices=("device_id", "nunique"),
        n_days=("day", "nunique"),
        first_date=("day", "min"),
        last_date=("day", "max"),
        median_signal_dbm=("signal_dbm", "median"),
        median_dl_kbps=("dl_kbps", "median"),
    )
    stats["p10_signal_dbm"] = grouped["signal_dbm"].quantile(0.1)
    return stats
