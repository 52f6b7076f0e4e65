"""The H3 grid of the province: every cell, its communes and the people living in it.

H3 cell ids are kept as ``uint64`` arrays throughout the analysis; hexadecimal strings appear
only in outputs (:func:`cells_to_hex`).

The grid holds every cell that touches a commune polygon (H3 "intersects boundary" polyfill),
plus every cell holding a populated pixel of the population surface, so "no data" is explicit
everywhere and no person falls outside the grid.

People are counted per pixel, never per area: a cell's population is the sum of the population
pixels whose centre lies in it (so the cells conserve the raster total exactly), and each pixel's
people go to the commune that owns the pixel on the population raster's commune label grid
(:func:`coverage.population.commune_labels`, where overlapping boundaries are resolved once and
slivers hold nobody). Area shares, computed in UTM 48N by intersecting hexagons with communes,
say which communes a cell touches and how much of each.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import h3ronpy
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from h3ronpy.vector import (
    ContainmentMode,
    cells_to_coordinates,
    cells_to_wkb_polygons,
    coordinates_to_cells,
    wkb_to_cells,
)
from pyproj import Transformer

from coverage.boundaries import METRIC_CRS, STORAGE_CRS
from coverage.population import PopulationSurface, commune_labels

#: Marks an invalid or missing H3 index in uint64 arrays.
NO_CELL = np.uint64(0)


def index_points(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """Return the H3 cell of each point, vectorised (h3ronpy).

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Coordinates in degrees (WGS84).
    resolution : int
        H3 resolution.

    Returns
    -------
    numpy.ndarray
        ``uint64`` cell ids; :data:`NO_CELL` (0) where a coordinate is missing or out of range.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    cells = np.zeros(len(lon), dtype="uint64")
    if valid.any():
        cells[valid] = np.asarray(coordinates_to_cells(lat[valid], lon[valid], resolution), dtype="uint64")
    return cells


def cells_to_hex(cells: np.ndarray) -> np.ndarray:
    """Return H3 ids as hexadecimal strings (object array), the form used in every output."""
    cells = np.asarray(cells, dtype="uint64")
    if len(cells) == 0:
        return np.array([], dtype=object)
    return np.asarray(pa.array(h3ronpy.cells_to_string(cells)).to_pylist(), dtype=object)


def hex_to_cells(ids: np.ndarray | pd.Series | list[str]) -> np.ndarray:
    """Return hexadecimal H3 ids as ``uint64`` (inverse of :func:`cells_to_hex`)."""
    ids = pa.array(np.asarray(ids, dtype=object), type=pa.string())
    if len(ids) == 0:
        return np.array([], dtype="uint64")
    return np.asarray(h3ronpy.cells_parse(ids), dtype="uint64")


def cell_polygons(cells: np.ndarray) -> np.ndarray:
    """Return each cell's hexagon as a shapely Polygon in EPSG:4326, in the order given."""
    cells = np.asarray(cells, dtype="uint64")
    if len(cells) == 0:
        return np.array([], dtype=object)
    wkb = np.asarray(pa.array(cells_to_wkb_polygons(cells)).to_pylist(), dtype=object)
    return shapely.from_wkb(wkb)


def cell_centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(lon, lat)`` of each cell's centre, in degrees."""
    cells = np.asarray(cells, dtype="uint64")
    if len(cells) == 0:
        return np.array([]), np.array([])
    batch = pa.record_batch(cells_to_coordinates(cells))
    return batch.column("lng").to_numpy(), batch.column("lat").to_numpy()


def neighbour_pairs(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return every pair ``(i, j)`` of positions in ``cells`` whose cells are H3 neighbours.

    Parameters
    ----------
    cells : numpy.ndarray
        ``uint64`` cell ids, all of one resolution (duplicates not allowed).

    Returns
    -------
    tuple of numpy.ndarray
        Positions ``i`` and ``j`` (each pair appears in both directions).
    """
    cells = np.asarray(cells, dtype="uint64")
    if len(cells) == 0:
        return np.array([], dtype="int64"), np.array([], dtype="int64")
    disks = pa.array(h3ronpy.grid_disk(cells, 1))
    neighbours = np.asarray(disks.flatten(), dtype="uint64")
    origin = np.asarray(disks.value_parent_indices(), dtype="int64")
    order = np.argsort(cells, kind="stable")
    sorted_cells = cells[order]
    slot = np.clip(np.searchsorted(sorted_cells, neighbours), 0, len(cells) - 1)
    found = (sorted_cells[slot] == neighbours) & (neighbours != cells[origin])
    return origin[found], order[slot[found]]


@dataclass(frozen=True)
class Grid:
    """Every H3 cell of the province with its people and communes.

    Attributes
    ----------
    resolution : int
        H3 resolution.
    cells : numpy.ndarray
        Sorted ``uint64`` cell ids; a cell's position in this array is its index everywhere.
    population : numpy.ndarray
        People per cell (float64), from the population pixels whose centre lies in it.
    area_km2 : numpy.ndarray
        Area of each hexagon in UTM 48N (km²).
    cell_communes : pandas.DataFrame
        One row per (cell, commune) pair that shares area or people: ``cell`` (position),
        ``h3`` (uint64), ``commune_code``, ``area_share`` (share of the cell's area inside the
        commune), ``area_km2`` (that area), ``population`` (people of the cell counted in that
        commune).
    unassigned_population : float
        People on the surface that lie in no commune (0 for the census surface).
    """

    resolution: int
    cells: np.ndarray
    population: np.ndarray
    area_km2: np.ndarray
    cell_communes: pd.DataFrame
    unassigned_population: float = 0.0

    def positions(self, cells: np.ndarray) -> np.ndarray:
        """Return each cell's position in :attr:`cells`, -1 for cells outside the grid."""
        cells = np.asarray(cells, dtype="uint64")
        if len(self.cells) == 0:
            return np.full(len(cells), -1, dtype="int64")
        slot = np.clip(np.searchsorted(self.cells, cells), 0, len(self.cells) - 1)
        return np.where(self.cells[slot] == cells, slot, -1).astype("int64")


def province_cells(communes: gpd.GeoDataFrame, resolution: int) -> np.ndarray:
    """Return the sorted ``uint64`` ids of every cell touching a commune polygon."""
    wkb = shapely.to_wkb(communes.to_crs(STORAGE_CRS).geometry.values)
    cells = wkb_to_cells(wkb, resolution, containment_mode=ContainmentMode.IntersectsBoundary, flatten=True)
    return np.unique(np.asarray(cells, dtype="uint64"))


def _pixel_table(surface: PopulationSurface, communes: gpd.GeoDataFrame, resolution: int) -> pd.DataFrame:
    """Return the populated pixels as ``h3``, ``label`` (1-based commune row, 0 none), ``people``."""
    rows, cols = np.nonzero(surface.people > 0)
    people = surface.people[rows, cols].astype("float64")
    transform = surface.transform
    x = transform.c + (cols + 0.5) * transform.a + (rows + 0.5) * transform.b
    y = transform.f + (cols + 0.5) * transform.d + (rows + 0.5) * transform.e
    to_lonlat = Transformer.from_crs(surface.crs, STORAGE_CRS, always_xy=True)
    lon, lat = to_lonlat.transform(x, y)
    labels = commune_labels(communes, transform, surface.people.shape)[rows, cols]
    return pd.DataFrame({"h3": index_points(lon, lat, resolution), "label": labels, "people": people})


def _area_shares(cells: np.ndarray, communes: gpd.GeoDataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Intersect hexagons with communes in UTM 48N; return the pairs and each hexagon's area."""
    hexagons = gpd.GeoSeries(cell_polygons(cells), crs=STORAGE_CRS).to_crs(METRIC_CRS).values
    hexagons = np.asarray(hexagons, dtype=object)
    cell_area = shapely.area(hexagons)
    zones = np.asarray(communes.to_crs(METRIC_CRS).geometry.values, dtype=object)
    tree = shapely.STRtree(zones)
    cell_idx, zone_idx = tree.query(hexagons, predicate="intersects")
    # Most hexagons lie wholly inside one commune: skip the costly intersection for them.
    inside = shapely.contains_properly(zones[zone_idx], hexagons[cell_idx])
    area = np.where(inside, cell_area[cell_idx], 0.0)
    border = ~inside
    if border.any():
        area[border] = shapely.area(shapely.intersection(hexagons[cell_idx[border]], zones[zone_idx[border]]))
    pairs = pd.DataFrame(
        {
            "cell": cell_idx.astype("int64"),
            "label": (zone_idx + 1).astype("int64"),
            "area_km2": area / 1e6,
            "area_share": area / cell_area[cell_idx],
        }
    )
    return pairs[pairs["area_km2"] > 0], cell_area / 1e6


def build_grid(communes: gpd.GeoDataFrame, surface: PopulationSurface, resolution: int) -> Grid:
    """Build the province grid with per-cell people and commune shares.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table (its row order defines the population labels).
    surface : PopulationSurface
        Population surface.
    resolution : int
        H3 resolution.

    Returns
    -------
    Grid
    """
    communes = communes.reset_index(drop=True)
    pixels = _pixel_table(surface, communes, resolution)
    cells = np.union1d(province_cells(communes, resolution), pixels["h3"].to_numpy()[pixels["h3"].to_numpy() > 0])
    pairs, cell_area = _area_shares(cells, communes)

    slot = np.searchsorted(cells, pixels["h3"].to_numpy())
    pixels["cell"] = slot
    population = np.bincount(slot, weights=pixels["people"].to_numpy(), minlength=len(cells))

    # A populated pixel outside every commune polygon (a user's raster over the slivers) goes to
    # the commune holding most of its cell's area, so it is never lost from the commune totals.
    orphan = pixels["label"].to_numpy() == 0
    unassigned = 0.0
    if orphan.any():
        best = pairs.sort_values(["cell", "area_km2"], ascending=[True, False]).drop_duplicates("cell")
        mapped = pixels.loc[orphan, "cell"].map(best.set_index("cell")["label"])
        pixels.loc[orphan, "label"] = mapped.fillna(0).astype("int64").to_numpy()
        unassigned = float(pixels.loc[pixels["label"] == 0, "people"].sum())
    people = pixels[pixels["label"] > 0].groupby(["cell", "label"], sort=False)["people"].sum().rename("population")
    table = pairs.merge(people.reset_index(), on=["cell", "label"], how="outer")
    table = table.fillna({"area_km2": 0.0, "area_share": 0.0, "population": 0.0})
    codes = communes["commune_code"].astype(str).to_numpy()
    table["commune_code"] = codes[table["label"].to_numpy() - 1]
    table["h3"] = cells[table["cell"].to_numpy()]
    table = table.sort_values(["cell", "commune_code"]).reset_index(drop=True)
    table = table[["cell", "h3", "commune_code", "area_share", "area_km2", "population"]]
    return Grid(resolution, cells, population, cell_area, table, unassigned)
