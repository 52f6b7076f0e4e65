"""The H3 grid of the province: every cell, its communes and the people living in it.

H3 cell ids are kept as ``uint64`` arrays throughout the analysis; hexadecimal strings appear
only in outputs (:func:`cells_to_hex`).

The grid holds every cell that touches a commune polygon (H3 "intersects boundary" polyfill),
plus every cell holding a populated pixel of the population surface, so "no data" is explicit
everywhere and no person falls outside the grid.

People are counted per pixel, never per area: a cell's population is the sum of the population
pixels whose centre lies in it (so the cells conserve the raster total exactly), and each pixel's
people go to the commune that owns the pixel on the population raster's commune label grid
(:func:`lomsong.reference.population.commune_labels`, where overlapping boundaries are resolved once and
slivers hold nobody). Area shares, computed in UTM 48N by intersecting hexagons with communes,
say which communes a cell touches and how much of each.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import geopandas as gpd
import h3
import h3ronpy
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from h3ronpy.vector import (
    ContainmentMode,
    cells_to_coordinates,
    cells_to_wkb_polygons,
    coordinates_to_cells,
    wkb_to_cells,
)
from pyproj import Transformer

from lomsong.reference.boundaries import METRIC_CRS, STORAGE_CRS
from lomsong.reference.population import PopulationSurface, commune_labels

#: Marks an invalid or missing H3 index in uint64 arrays.
NO_CELL = np.uint64(0)


#: Points per block of the lattice indexer (bounds its temporary arrays; blocks run on threads):
#: 1.87 M points of the 240-log benchmark took 0.14 s in blocks of 2**19, 0.23 s in one of 2**21.
_BLOCK = 1 << 19
#: A point closer than this to a hexagon edge (in lattice units, ~1 cm at resolution 8) is indexed
#: by h3ronpy itself rather than trusted to the plane lattice.
_EDGE_MARGIN = 1e-5
#: A lattice key is accepted only if its H3 cell's centre projects within this of the lattice point.
_CENTRE_TOLERANCE = 1e-6
#: Largest dense lattice lookup table (entries); beyond it the keys are numbered by sorting.
_DENSE_KEYS = 20_000_000
_SQRT3_2 = np.sqrt(3.0) / 2.0


def _unit_vectors(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Return ``(3, n)`` unit vectors of points given in degrees."""
    lat = np.radians(lat_deg)
    lon = np.radians(lon_deg)
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)])


@lru_cache(maxsize=1)
def _icosahedron() -> tuple[np.ndarray, np.ndarray, float]:
    """Return H3's icosahedron: face centres ``(20, 3)``, one vertex per face ``(20, 3)``, face radius.

    Derived from the 12 resolution-0 pentagons (centred on the icosahedron's vertices), not from
    tables: a face is three mutually adjacent vertices, its centre their normalised sum.
    """
    pentagons = np.array([h3.str_to_int(cell) for cell in h3.get_pentagons(0)], dtype="uint64")
    lon, lat = cell_centres(pentagons)
    vertices = _unit_vectors(lat, lon).T
    adjacent = vertices @ vertices.T > 0.4  # neighbours on the icosahedron: cos 63.4° = 0.447
    faces = [
        (a, b, c)
        for a in range(12)
        for b in range(a + 1, 12)
        for c in range(b + 1, 12)
        if adjacent[a, b] and adjacent[b, c] and adjacent[a, c]
    ]
    corners = np.array(faces)
    centres = vertices[corners].sum(axis=1)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    radius = float(np.arccos(np.clip((centres * vertices[corners[:, 0]]).sum(axis=1), -1, 1)).max())
    return centres, vertices[corners[:, 0]], radius


@dataclass(frozen=True)
class _FacePlane:
    """The hexagonal lattice of one resolution on one icosahedron face, in its gnomonic plane."""

    centre: np.ndarray
    axis_x: np.ndarray
    axis_y: np.ndarray
    matrix: np.ndarray  # plane (x, y) -> lattice-aligned cartesian units (scale and rotation)
    offset: np.ndarray  # lattice-aligned position of the face's own origin cell

    def plane_xy(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lattice-aligned cartesian coordinates of ``(3, n)`` unit vectors."""
        depth = self.centre @ vectors
        gx = (self.axis_x @ vectors) / depth
        gy = (self.axis_y @ vectors) / depth
        x = self.matrix[0, 0] * gx + self.matrix[0, 1] * gy - self.offset[0]
        y = self.matrix[1, 0] * gx + self.matrix[1, 1] * gy - self.offset[1]
        return x, y

    def lattice(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest lattice point ``(p, q)`` of each ``(3, n)`` vector and its distance margin to an edge."""
        x, y = self.plane_xy(vectors)
        q_float = y / _SQRT3_2
        p_float = x - q_float / 2
        p0 = np.floor(p_float)
        q0 = np.floor(q_float)
        # Squared distances to the four corners of the lattice rhombus holding the point.
        fx = x - (p0 + q0 / 2)
        fy = y - q0 * _SQRT3_2
        d00 = fx**2 + fy**2
        d10 = (fx - 1) ** 2 + fy**2
        d01 = (fx - 0.5) ** 2 + (fy - _SQRT3_2) ** 2
        d11 = (fx - 1.5) ** 2 + (fy - _SQRT3_2) ** 2
        low_a, high_a = np.minimum(d00, d10), np.maximum(d00, d10)
        low_b, high_b = np.minimum(d01, d11), np.maximum(d01, d11)
        nearest = np.minimum(low_a, low_b)
        second = np.minimum(np.maximum(low_a, low_b), np.minimum(high_a, high_b))
        # distance to the bisector with the runner-up (corners are at most sqrt(3) apart)
        margin = (second - nearest) / (2 * np.sqrt(3.0))
        in_a = low_a <= low_b
        p = p0 + np.where(in_a, d10 < d00, d11 < d01)
        q = q0 + ~in_a
        return p.astype("int64"), q.astype("int64"), margin


@lru_cache(maxsize=64)
def _face_plane(face: int, resolution: int) -> _FacePlane:
    """Calibrate a face's lattice on H3 itself: the cell at the face centre and its six neighbours."""
    centres, vertices, _ = _icosahedron()
    centre = centres[face]
    axis_x = vertices[face] - (vertices[face] @ centre) * centre
    axis_x /= np.linalg.norm(axis_x)
    axis_y = np.cross(centre, axis_x)
    lat = np.degrees(np.arcsin(centre[2]))
    lon = np.degrees(np.arctan2(centre[1], centre[0]))
    origin = np.asarray(coordinates_to_cells(np.array([lat]), np.array([lon]), resolution), dtype="uint64")
    disk = np.asarray(pa.array(h3ronpy.grid_disk(origin, 1)).flatten(), dtype="uint64")
    disk = np.concatenate([origin, disk[disk != origin[0]]])
    disk_lon, disk_lat = cell_centres(disk)
    vectors = _unit_vectors(disk_lat, disk_lon)
    depth = centre @ vectors
    gx, gy = (axis_x @ vectors) / depth, (axis_y @ vectors) / depth
    dx, dy = gx[1:] - gx[0], gy[1:] - gy[0]
    scale = 1.0 / np.hypot(dx, dy).mean()
    # lattice directions repeat every 60°: rotate the neighbour directions onto 0°, 60°, …
    rotation = float(np.angle(np.exp(6j * np.arctan2(dy, dx)).mean()) / 6)
    cos_r, sin_r = np.cos(-rotation) * scale, np.sin(-rotation) * scale
    matrix = np.array([[cos_r, -sin_r], [sin_r, cos_r]])
    return _FacePlane(centre, axis_x, axis_y, matrix, matrix @ np.array([gx[0], gy[0]]))


def _candidate_faces(vectors: np.ndarray) -> np.ndarray:
    """Faces that can be the closest face of some of these points (a cone test around their mean)."""
    centres, _, radius = _icosahedron()
    middle = vectors.mean(axis=1)
    middle /= np.linalg.norm(middle)
    spread = float(np.arccos(np.clip((middle @ vectors).min(), -1, 1)))
    reach = np.arccos(np.clip(centres @ middle, -1, 1))
    return np.flatnonzero(reach <= radius + spread + 1e-9)


def _lattice_keys(lon: np.ndarray, lat: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(face, p, q)`` per point (``(3, n)``) and a flag for points h3ronpy must index itself."""
    n = len(lon)
    keys = np.zeros((3, n), dtype="int64")
    exact = np.zeros(n, dtype=bool)

    def block(start: int) -> None:
        stop = min(n, start + _BLOCK)
        face, p, q, trust = _block_keys(lon[start:stop], lat[start:stop], resolution)
        keys[0, start:stop], keys[1, start:stop], keys[2, start:stop] = face, p, q
        exact[start:stop] = ~trust

    starts = range(0, n, _BLOCK)
    if len(starts) > 1:  # numpy releases the GIL: blocks run on every core
        with ThreadPoolExecutor(max_workers=min(len(starts), os.cpu_count() or 1)) as pool:
            list(pool.map(block, starts))
    else:
        for start in starts:
            block(start)
    return keys, exact


def _block_keys(
    lon: np.ndarray, lat: np.ndarray, resolution: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closest face, lattice ``p``, ``q`` and "safely inside its hexagon" of a block of points."""
    centres, _, _ = _icosahedron()
    vectors = _unit_vectors(lat, lon)
    candidates = _candidate_faces(vectors)
    # closest and runner-up face, one candidate at a time (few faces, vectorised over points)
    top = np.full(len(lon), -np.inf)
    runner_up = np.full(len(lon), -np.inf)
    best = np.zeros(len(lon), dtype="int64")
    for face in candidates:
        closeness = centres[face] @ vectors
        runner_up = np.maximum(runner_up, np.minimum(top, closeness))
        better = closeness > top
        best[better] = face
        top = np.maximum(top, closeness)
    tie = top - runner_up < 1e-12  # nearly equidistant from two faces: let H3 decide
    p = np.zeros(len(lon), dtype="int64")
    q = np.zeros(len(lon), dtype="int64")
    margin = np.zeros(len(lon))
    if best.min() == best.max():
        p, q, margin = _face_plane(int(best[0]), resolution).lattice(vectors)
    else:
        for face in np.unique(best):
            here = np.flatnonzero(best == face)
            p[here], q[here], margin[here] = _face_plane(int(face), resolution).lattice(vectors[:, here])
    return best, p, q, (margin >= _EDGE_MARGIN) & ~tie


def index_points(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """Return the H3 cell of each point, vectorised and exact.

    H3 cells of one resolution are the hexagons of a plane lattice on each icosahedron face
    (gnomonic projection). Each point is rounded to its lattice hexagon with numpy; the H3 id of
    each distinct hexagon is then asked of h3ronpy once (through one of its points) and checked:
    the cell's centre must project onto that lattice point. Points within ~1 cm of a hexagon edge,
    near a face edge, or of a hexagon failing the check, are indexed by h3ronpy point by point.
    So the result equals ``h3ronpy.coordinates_to_cells`` everywhere, several times faster.

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
    return _index(lon, lat, resolution, None)


def _index(lon: np.ndarray, lat: np.ndarray, resolution: int, grid: Grid | None) -> np.ndarray:
    """H3 cells of points (``grid`` None), or their positions in ``grid`` (-1 outside it).

    With a grid, each distinct lattice hexagon is looked up in the grid once, instead of every
    point's cell being searched among the grid's cells.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    missing = NO_CELL if grid is None else -1
    out = np.full(len(lon), missing, dtype="uint64" if grid is None else "int64")

    def exact_values(lat_: np.ndarray, lon_: np.ndarray) -> np.ndarray:
        cells = np.asarray(coordinates_to_cells(lat_, lon_, resolution), dtype="uint64")
        return cells if grid is None else grid.positions(cells)

    where = np.flatnonzero(valid)
    if len(where) == 0:
        return out
    if len(where) < 50_000:  # small inputs: the calibration is not worth it
        out[where] = exact_values(lat[where], lon[where])
        return out
    keys, exact = _lattice_keys(lon[where], lat[where], resolution)
    found = _key_cells(keys, exact, lon[where], lat[where], resolution, grid)
    if found is None:
        out[where] = exact_values(lat[where], lon[where])
        return out
    key_values, failed = found
    slow = exact | failed
    if slow.any():
        key_values[slow] = exact_values(lat[where][slow], lon[where][slow])
    out[where] = key_values
    return out


def _key_cells(
    keys: np.ndarray, exact: np.ndarray, lon: np.ndarray, lat: np.ndarray, resolution: int, grid: Grid | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Map each point's lattice key to its H3 cell, or to its position in ``grid`` when given.

    Returns the values and a flag where the key failed its check (the point needs h3ronpy), or
    None when the keys are too spread out for a dense lookup table.
    """
    lows = keys.min(axis=1)
    spans = keys.max(axis=1) - lows + 1
    if np.prod(spans.astype("float64")) > _DENSE_KEYS:
        return None  # points spread over a continent: h3ronpy alone is as fast
    flat = ((keys[0] - lows[0]) * spans[1] + (keys[1] - lows[1])) * spans[2] + (keys[2] - lows[2])
    size = int(np.prod(spans))
    trusted = np.flatnonzero(~exact)
    # one representative point per key: the first trusted point with that key
    representative = np.full(size, -1, dtype="int64")
    representative[flat[trusted][::-1]] = trusted[::-1]
    used = np.flatnonzero(representative >= 0)
    picks = representative[used]
    found = np.asarray(coordinates_to_cells(lat[picks], lon[picks], resolution), dtype="uint64")
    # check: each found cell's centre must fall on the same lattice point as its representative
    centre_lon, centre_lat = cell_centres(found)
    centre_keys, _ = _lattice_keys(centre_lon, centre_lat, resolution)
    vectors = _unit_vectors(centre_lat, centre_lon)
    agree = (centre_keys == keys[:, picks]).all(axis=0)
    for face in np.unique(keys[0, picks]):
        on_face = keys[0, picks] == face
        x, y = _face_plane(int(face), resolution).plane_xy(vectors[:, on_face])
        p, q = keys[1, picks][on_face], keys[2, picks][on_face]
        agree[on_face] &= np.hypot(x - (p + q / 2), y - q * _SQRT3_2) < _CENTRE_TOLERANCE
    checked = np.zeros(size, dtype=bool)
    checked[used[agree]] = True
    if grid is None:
        table = np.zeros(size, dtype="uint64")
        table[used[agree]] = found[agree]
    else:
        table = np.full(size, -1, dtype="int64")
        table[used[agree]] = grid.positions(found[agree])
    return table[flat], ~checked[flat]


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
        People on the surface that lie in no commune, or in cells touching no commune (a user's
        raster over the neighbouring provinces); 0 for the census surface.
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

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Return the position in :attr:`cells` of the cell holding each point, -1 outside the grid.

        Same as ``positions(index_points(lon, lat, resolution))``, without a search per point.
        """
        return _index(lon, lat, self.resolution, self)


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
    pixel_cells = pixels["h3"].to_numpy()
    inside = pixels["label"].to_numpy() > 0
    cells = np.union1d(province_cells(communes, resolution), pixel_cells[(pixel_cells > 0) & inside])
    # A user's raster covers the whole bounding box: people in cells that touch no commune live in
    # the neighbouring provinces and are left out (counted as unassigned), not added to the grid.
    known = np.isin(pixel_cells, cells)
    beyond = float(pixels.loc[~known, "people"].sum())
    pixels = pixels[known].reset_index(drop=True)
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
        pixels["label"] = pixels["label"].astype("int64")
        pixels.loc[orphan, "label"] = mapped.fillna(0).astype("int64").to_numpy()
        unassigned = float(pixels.loc[pixels["label"] == 0, "people"].sum())
    unassigned += beyond
    people = pixels[pixels["label"] > 0].groupby(["cell", "label"], sort=False)["people"].sum().rename("population")
    table = pairs.merge(people.reset_index(), on=["cell", "label"], how="outer")
    table = table.fillna({"area_km2": 0.0, "area_share": 0.0, "population": 0.0})
    codes = communes["commune_code"].astype(str).to_numpy()
    table["commune_code"] = codes[table["label"].to_numpy() - 1]
    table["h3"] = cells[table["cell"].to_numpy()]
    table = table.sort_values(["cell", "commune_code"]).reset_index(drop=True)
    table = table[["cell", "h3", "commune_code", "area_share", "area_km2", "population"]]
    return Grid(resolution, cells, population, cell_area, table, unassigned)


def save_grid(grid: Grid, folder: str | os.PathLike) -> None:
    """Write a grid to ``folder`` (two Parquet files), replacing any grid there atomically.

    The grid depends only on the boundaries, the population surface and the resolution, so the
    pipeline keeps it between runs (:func:`lomsong.jobs.run.province_grid`).

    Parameters
    ----------
    grid : Grid
        The grid.
    folder : path
        Target folder; written beside itself and renamed into place.
    """
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    cells = pa.table(
        {"h3": grid.cells, "population": grid.population, "area_km2": grid.area_km2},
        metadata={"resolution": str(grid.resolution), "unassigned_population": repr(grid.unassigned_population)},
    )
    pq.write_table(cells, staging / "cells.parquet")
    grid.cell_communes.to_parquet(staging / "cell_communes.parquet", index=False)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)


def load_grid(folder: str | os.PathLike) -> Grid:
    """Read a grid written by :func:`save_grid`.

    Parameters
    ----------
    folder : path
        Folder holding ``cells.parquet`` and ``cell_communes.parquet``.

    Returns
    -------
    Grid
    """
    from pathlib import Path

    folder = Path(folder)
    table = pq.read_table(folder / "cells.parquet")
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    return Grid(
        resolution=int(meta["resolution"]),
        cells=table.column("h3").to_numpy().astype("uint64"),
        population=table.column("population").to_numpy().astype("float64"),
        area_km2=table.column("area_km2").to_numpy().astype("float64"),
        cell_communes=pd.read_parquet(folder / "cell_communes.parquet"),
        unassigned_population=float(meta["unassigned_population"]),
    )
