"""cells.parquet with each hexagon encoded once holds the table geopandas writes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import shapely

from lomsong.products import tables as export
from lomsong.tables import results
from tests.support.scenes import make_fake_analysis


def _shared(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The cells as the analysis makes them: every view's row of a cell holds the same hexagon object."""
    codes, _ = pd.factorize(cells["h3"])
    _, first = np.unique(codes, return_index=True)
    geometry = np.asarray(cells.geometry.values)[first][codes]
    return gpd.GeoDataFrame(pd.DataFrame(cells.drop(columns="geometry")), geometry=geometry, crs=cells.crs)


def test_shared_hexagons_give_the_same_file_contents(communes, tmp_path):
    cells = _shared(make_fake_analysis(communes).cells)
    assert cells["h3"].duplicated().any()  # several views per cell: something to share
    plain = export.write_geoparquet(cells, tmp_path / "plain.parquet")
    shared = export.write_geoparquet(cells, tmp_path / "shared.parquet", shared_geometry="h3")
    a, b = pq.read_table(plain), pq.read_table(shared)
    assert a.schema.equals(b.schema, check_metadata=True)
    assert a.equals(b)
    back = gpd.read_parquet(shared)
    assert back.crs == cells.crs
    assert shapely.equals_exact(back.geometry.values, cells.geometry.values, tolerance=0).all()
    # the maps' reading (one technology) still filters the file
    run = tmp_path / "run"
    run.mkdir()
    export.write_geoparquet(cells, run / results.CELLS_PARQUET, shared_geometry="h3")
    only = gpd.read_parquet(run / results.CELLS_PARQUET, filters=[("technology", "in", [results.ANY_TECHNOLOGY])])
    assert len(only) == int((cells["technology"] == results.ANY_TECHNOLOGY).sum())


def test_geometries_that_only_look_alike_are_written_one_by_one(communes, tmp_path):
    cells = _shared(make_fake_analysis(communes).cells)
    copies = cells.copy()
    copies["geometry"] = shapely.from_wkb(shapely.to_wkb(cells.geometry.values))  # equal, not the same objects
    moved = copies.copy()
    moved.loc[moved.index[-1], "geometry"] = shapely.affinity.translate(moved.geometry.iloc[-1], 0.01)
    for frame in (copies, moved):
        written = export.write_geoparquet(frame, tmp_path / "cells.parquet", shared_geometry="h3")
        assert shapely.equals_exact(gpd.read_parquet(written).geometry.values, frame.geometry.values, 0).all()
