"""The population surface: how many people live in each 100 m pixel.

Default surface (built from the 2019 census by commune)
-------------------------------------------------------
No public building-level population exists for Đắk Nông, so the default surface spreads each
commune's 2019 census population **evenly over the commune's area**: every 100 m pixel of UTM
48N (EPSG:32648) whose centre lies in a commune gets that commune's population divided by the
number of its pixels. This is a deliberate simplification (in reality people cluster along roads
and in villages); a better surface such as WorldPop can be loaded with
:func:`read_population_raster` and calibrated to the census.

The boundaries overlap and leave slivers (they were generalised to about 160 m): every pixel is
given to exactly one commune (the last drawn, in commune-code order) so overlaps are never counted
twice, and slivers, which belong to no commune, hold nobody. Each commune's raster total therefore
equals its census figure, and the raster total equals the province's 622,168 people.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.errors
from affine import Affine
from rasterio import features
from rasterio.warp import Resampling, reproject

from lomsong import paths
from lomsong.errors import PopulationError
from lomsong.reference.boundaries import METRIC_CRS

PIXEL_SIZE_M = 100.0


@dataclass(frozen=True)
class PopulationSurface:
    """People per pixel on a north-up grid.

    Attributes
    ----------
    people : numpy.ndarray
        2-D float array of persons per pixel (0 where nobody lives or outside the data).
    transform : affine.Affine
        Pixel-to-CRS transform.
    crs : str
        CRS of the grid (EPSG:32648 for the default surface).
    source : str
        Where the people come from (:data:`SOURCES`): ``even`` (census spread evenly),
        ``villages``, ``buildings``, ``raster``.
    parameters : dict
        The surface's settings as recorded in ``run.json`` (kernel, rule, file …).
    check : pandas.DataFrame or None
        Per commune: ``census``, the source's own figure and the people ``used`` (see
        :data:`CHECK_COLUMNS`); None for a surface read from disk.
    """

    people: np.ndarray
    transform: Affine
    crs: str
    source: str = "even"
    parameters: dict[str, Any] = field(default_factory=dict, compare=False)
    check: pd.DataFrame | None = field(default=None, compare=False)

    @property
    def total(self) -> float:
        """Total persons on the surface."""
        return float(self.people.sum(dtype="float64"))

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return x, y (in the surface CRS) and people of every populated pixel.

        Returns
        -------
        tuple of numpy.ndarray
            ``(x, y, people)``, one entry per pixel with people > 0.
        """
        rows, cols = np.nonzero(self.people > 0)
        xs, ys = rasterio.transform.xy(self.transform, rows, cols, offset="center")
        return np.asarray(xs), np.asarray(ys), self.people[rows, cols].astype("float64")


def _grid_for(communes: gpd.GeoDataFrame, pixel_size: float) -> tuple[Affine, int, int]:
    """Return a pixel-aligned grid covering the communes in the metric CRS."""
    minx, miny, maxx, maxy = communes.to_crs(METRIC_CRS).total_bounds
    minx = np.floor(minx / pixel_size) * pixel_size
    maxy = np.ceil(maxy / pixel_size) * pixel_size
    width = int(np.ceil((maxx - minx) / pixel_size))
    height = int(np.ceil((maxy - miny) / pixel_size))
    return Affine(pixel_size, 0, minx, 0, -pixel_size, maxy), width, height


def commune_labels(communes: gpd.GeoDataFrame, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise communes to a label grid: each pixel holds the 1-based row of one commune.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    transform : affine.Affine
        Grid transform in EPSG:32648.
    shape : tuple of int
        ``(height, width)``.

    Returns
    -------
    numpy.ndarray
        int32 labels, 0 where no commune's polygon holds the pixel centre.
    """
    metric = communes.to_crs(METRIC_CRS)
    shapes = zip(metric.geometry.values, range(1, len(metric) + 1), strict=True)
    labels = features.rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="int32")
    # A commune smaller than a pixel would vanish: give it the pixel under its centre.
    present = np.bincount(labels.ravel(), minlength=len(metric) + 1)[1:] > 0
    if not present.all():
        points = metric.geometry.values[~present].representative_point()
        rows, cols = rasterio.transform.rowcol(transform, points.x, points.y)
        labels[np.asarray(rows), np.asarray(cols)] = np.flatnonzero(~present) + 1
    return labels


def census_surface(communes: gpd.GeoDataFrame, pixel_size: float = PIXEL_SIZE_M) -> PopulationSurface:
    """Build the default population surface from the census population of each commune.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table with ``population``.
    pixel_size : float
        Pixel size in metres (default 100).

    Returns
    -------
    PopulationSurface
        People spread evenly over each commune's pixels (see the module docstring).
    """
    transform, width, height = _grid_for(communes, pixel_size)
    labels = commune_labels(communes, transform, (height, width))
    counts = np.bincount(labels.ravel(), minlength=len(communes) + 1).astype("float64")
    population = np.concatenate([[0.0], communes["population"].fillna(0).to_numpy("float64")])
    per_pixel = np.divide(population, counts, out=np.zeros_like(population), where=counts > 0)
    per_pixel[0] = 0.0
    return PopulationSurface(per_pixel[labels].astype("float32"), transform, METRIC_CRS)


def write_surface(surface: PopulationSurface, path: str | Path) -> Path:
    """Write a surface as a deflate-compressed float32 GeoTIFF, atomically.

    Parameters
    ----------
    surface : PopulationSurface
        The surface.
    path : str or Path
        Target file.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tif")
    os.close(fd)
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "height": surface.people.shape[0],
        "width": surface.people.shape[1],
        "crs": surface.crs,
        "transform": surface.transform,
        "compress": "deflate",
        "predictor": 3,
        "tiled": True,
        "nodata": None,
    }
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(surface.people.astype("float32"), 1)
        dst.update_tags(
            description="persons per 100 m pixel, 2019 census spread evenly over each commune",
            source="GSO 2019 Population and Housing Census by commune; lomsong.population",
        )
    os.replace(tmp, path)
    return path


def read_population_raster(
    path: str | Path,
    communes: gpd.GeoDataFrame | None = None,
    calibrate: bool = False,
    pixel_size: float = PIXEL_SIZE_M,
) -> PopulationSurface:
    """Load a population raster (e.g. WorldPop 100 m in EPSG:4326 with nodata).

    The raster is resampled by summing onto the project's 100 m UTM 48N grid so that people are
    conserved; nodata and negative values count as nobody.

    Parameters
    ----------
    path : str or Path
        Any raster GDAL reads, persons per pixel.
    communes : geopandas.GeoDataFrame, optional
        Needed to define the grid when reprojecting, and for ``calibrate``.
    calibrate : bool
        Scale the people of each commune so that its total equals its census population (the
        raster's pattern within the commune is kept).
    pixel_size : float
        Target pixel size in metres.

    Returns
    -------
    PopulationSurface
    """
    try:
        source = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        reason = str(exc).replace(f"'{path}' ", "").strip()
        raise PopulationError(f"{path}: not a population raster GDAL can read ({reason}); give a GeoTIFF") from None
    with source as src:
        data = src.read(1, masked=True).astype("float64").filled(0.0)
        data[~np.isfinite(data) | (data < 0)] = 0.0
        if communes is None:
            if src.crs is None or src.crs.to_string() != METRIC_CRS:
                raise ValueError(f"{path}: pass the communes to reproject this raster")
            return PopulationSurface(data.astype("float32"), src.transform, METRIC_CRS)
        transform, width, height = _grid_for(communes, pixel_size)
        target = np.zeros((height, width), dtype="float64")
        reproject(
            data,
            target,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs=METRIC_CRS,
            resampling=Resampling.sum,
        )
    if calibrate:
        labels = commune_labels(communes, transform, (height, width))
        sums = np.bincount(labels.ravel(), weights=target.ravel(), minlength=len(communes) + 1)
        census = np.concatenate([[0.0], communes["population"].fillna(0).to_numpy("float64")])
        factor = np.divide(census, sums, out=np.zeros_like(census), where=sums > 0)
        factor[0] = 0.0  # outside every commune: nobody counted
        target = target * factor[labels]
    return PopulationSurface(
        target.astype("float32"), transform, METRIC_CRS, source="raster",
        parameters={"file": Path(path).name, "calibrated": bool(calibrate)},
    )


def load_population(
    communes: gpd.GeoDataFrame,
    path: str | Path | None = None,
    calibrate: bool = False,
) -> PopulationSurface:
    """Return the population surface: a user's raster, or the census one (built on first use).

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    path : str or Path, optional
        A user's population raster; default the census surface cached in ``data/population/``.
    calibrate : bool
        With ``path``: scale to the census total of each commune.

    Returns
    -------
    PopulationSurface
    """
    if path is not None:
        return read_population_raster(path, communes, calibrate=calibrate)
    cached = paths.population_raster_path()
    if not cached.exists():
        write_surface(census_surface(communes), cached)
    with rasterio.open(cached) as src:
        return PopulationSurface(src.read(1).astype("float32"), src.transform, METRIC_CRS, source="even")


def zonal_sums(surface: PopulationSurface, zones: gpd.GeoDataFrame) -> np.ndarray:
    """Return the people of each zone: the sum of pixels whose centre lies in it.

    Parameters
    ----------
    surface : PopulationSurface
        The surface.
    zones : geopandas.GeoDataFrame
        Polygons (any CRS). Zones may overlap; each is summed on its own.

    Returns
    -------
    numpy.ndarray
        float64 sums, one per zone, in the order of ``zones``.
    """
    metric = zones.to_crs(surface.crs)
    sums = np.zeros(len(metric))
    for i, geometry in enumerate(metric.geometry.values):
        mask = features.geometry_mask(
            [geometry], out_shape=surface.people.shape, transform=surface.transform, invert=True
        )
        sums[i] = surface.people[mask].sum(dtype="float64")
    return sums


# ---------------------------------------------------------------------------------------------
# Surfaces from what a department has: its village list, building footprints
# ---------------------------------------------------------------------------------------------

#: Population sources (``lomsong run --population-source``).
SOURCES = ("villages", "buildings", "raster", "even")

#: Default spread of a village's people around its centre: a Gaussian with this σ (metres).
#: A thôn or bon of Đắk Nông holds a few hundred households whose houses line the roads for one
#: to two kilometres from the nhà văn hóa; σ = 400 m puts 39 % of the people within 400 m,
#: 86 % within 800 m and none beyond :data:`VILLAGE_KERNEL_CUTOFF` σ (1.2 km).
VILLAGE_KERNEL_SIGMA_M = 400.0
#: The kernel is cut at this many σ (and renormalised), so a village never reaches far hills.
VILLAGE_KERNEL_CUTOFF = 3.0
#: What decides a commune's people when its villages' sum and the census disagree:
#: ``census`` (default) keeps the census total, scaling the villages down when they hold more
#: and spreading the remainder evenly when they hold fewer; ``larger`` keeps the larger of the
#: two (village lists are newer than the 2019 census), spreading any census remainder evenly.
POPULATION_RULES = ("census", "larger")

#: Columns of a surface's per-commune check (``run.json`` ``population.communes``).
CHECK_COLUMNS = ["commune_code", "commune", "census", "source_people", "n_items", "used", "placed", "spread_evenly"]


def _labelled_pixels(communes: gpd.GeoDataFrame, pixel_size: float) -> tuple[Affine, np.ndarray, np.ndarray]:
    """Return the grid transform, the label grid and the census per label (index 0 = nobody)."""
    transform, width, height = _grid_for(communes, pixel_size)
    labels = commune_labels(communes, transform, (height, width))
    census = np.concatenate([[0.0], communes["population"].fillna(0).to_numpy("float64")])
    return transform, labels, census


def _spread_evenly(labels: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Return a grid giving each label's ``amount`` evenly to its pixels."""
    counts = np.bincount(labels.ravel(), minlength=len(amount)).astype("float64")
    per_pixel = np.divide(amount, counts, out=np.zeros_like(amount), where=counts > 0)
    per_pixel[0] = 0.0
    return per_pixel[labels]


def _check_frame(communes: gpd.GeoDataFrame, census: np.ndarray, source_people: np.ndarray,
                 n_items: np.ndarray, used: np.ndarray, placed: np.ndarray) -> pd.DataFrame:  # fmt: skip
    return pd.DataFrame(
        {
            "commune_code": communes["commune_code"].astype(str).to_numpy(),
            "commune": communes["commune"].astype(str).to_numpy(),
            "census": census[1:],
            "source_people": source_people[1:],
            "n_items": n_items[1:].astype("int64"),
            "used": used[1:],
            "placed": placed[1:],
            "spread_evenly": used[1:] - placed[1:],
        }
    )


def village_labels(villages: pd.DataFrame, communes: gpd.GeoDataFrame) -> np.ndarray:
    """Return each village's 1-based commune row (0: its commune is not in the table).

    Parameters
    ----------
    villages : pandas.DataFrame
        Villages with ``commune_code`` (see :func:`lomsong.reference.villages.locate_villages`).
    communes : geopandas.GeoDataFrame
        Canonical commune table, in the surface's row order.

    Returns
    -------
    numpy.ndarray
        int64 labels.
    """
    index = pd.Index(communes["commune_code"].astype(str).to_numpy())
    codes = villages["commune_code"].astype("string").fillna("").to_numpy(object)
    return (index.get_indexer(codes) + 1).astype("int64")


def village_surface(
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    *,
    sigma_m: float = VILLAGE_KERNEL_SIGMA_M,
    rule: str = "census",
    pixel_size: float = PIXEL_SIZE_M,
) -> PopulationSurface:
    """Place each commune's people around its villages' centres.

    Each village's people (its ``population``; scaled by the :data:`POPULATION_RULES` rule) are
    spread over the pixels of its own commune within ``VILLAGE_KERNEL_CUTOFF × sigma_m`` of its
    centre, weighted by a Gaussian of σ ``sigma_m`` and renormalised so the village keeps all its
    people. The commune's remainder (census minus what its villages hold), and the people of a
    village whose kernel finds no pixel of its commune, are spread evenly over the commune.
    Villages without a known population hold nobody of their own (their commune's remainder
    still reaches them); villages in no commune of the table are left out.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table with ``population`` (the census).
    villages : geopandas.GeoDataFrame
        Located villages (:func:`lomsong.reference.villages.locate_villages`), EPSG:4326 points.
    sigma_m : float
        Kernel σ in metres (default :data:`VILLAGE_KERNEL_SIGMA_M`).
    rule : {"census", "larger"}
        What decides a commune's total when the villages' sum and the census disagree.
    pixel_size : float
        Pixel size in metres.

    Returns
    -------
    PopulationSurface
        ``source="villages"``, with the per-commune :attr:`PopulationSurface.check`.

    Raises
    ------
    PopulationError
        Unknown rule or a σ that is not positive.
    """
    from pyproj import Transformer
    from scipy.spatial import cKDTree

    if rule not in POPULATION_RULES:
        raise PopulationError(f"population rule must be one of {', '.join(POPULATION_RULES)}, got {rule!r}")
    if not np.isfinite(sigma_m) or sigma_m <= 0:
        raise PopulationError(f"village kernel sigma must be a positive number of metres, got {sigma_m!r}")
    communes = communes.reset_index(drop=True)
    transform, labels, census = _labelled_pixels(communes, pixel_size)
    n_labels = len(census)
    label = village_labels(villages, communes)
    people = villages["population"].astype("Float64").fillna(0).to_numpy("float64")
    people = np.where(label > 0, people, 0.0)
    source_people = np.bincount(label, weights=people, minlength=n_labels)
    n_villages = np.bincount(label, minlength=n_labels)
    if rule == "census":
        used = census.copy()
        scale = np.divide(census, source_people, out=np.ones_like(census), where=source_people > census)
    else:
        used = np.maximum(census, source_people)
        scale = np.ones_like(census)
    used[0] = 0.0
    mass = people * scale[label]

    rows, cols = np.nonzero(labels > 0)
    pixel_label = labels[rows, cols]
    px = transform.c + (cols + 0.5) * transform.a
    py = transform.f + (rows + 0.5) * transform.e
    vx, vy = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True).transform(
        villages["lon"].to_numpy("float64"), villages["lat"].to_numpy("float64")
    )
    # A third coordinate far apart per commune keeps each kernel inside its own commune.
    separation = 1e9
    pixel_tree = cKDTree(np.column_stack([px, py, pixel_label * separation]))
    village_tree = cKDTree(np.column_stack([vx, vy, label * separation]))
    pairs = village_tree.sparse_distance_matrix(pixel_tree, VILLAGE_KERNEL_CUTOFF * sigma_m, output_type="ndarray")
    village_of, pixel_of, distance = pairs["i"], pairs["j"], pairs["v"]
    keep = label[village_of] > 0
    village_of, pixel_of, distance = village_of[keep], pixel_of[keep], distance[keep]
    weight = np.exp(-0.5 * (distance / sigma_m) ** 2)
    per_village = np.bincount(village_of, weights=weight, minlength=len(label))
    placed_mass = np.where(per_village > 0, mass, 0.0)
    share = weight / per_village[village_of]
    grid = np.zeros(labels.shape, dtype="float64")
    np.add.at(grid, (rows[pixel_of], cols[pixel_of]), placed_mass[village_of] * share)
    placed = np.bincount(label, weights=placed_mass, minlength=n_labels)
    placed[0] = 0.0
    grid += _spread_evenly(labels, np.maximum(used - placed, 0.0))
    check = _check_frame(communes, census, source_people, n_villages, used, placed)
    parameters = {
        "kernel": "gaussian",
        "sigma_m": float(sigma_m),
        "cutoff_m": float(VILLAGE_KERNEL_CUTOFF * sigma_m),
        "rule": rule,
        "villages": int(len(villages)),
        "villages_outside_communes": int((label == 0).sum()),
        "villages_without_population": int(villages["population"].isna().sum()),
    }
    return PopulationSurface(grid.astype("float32"), transform, METRIC_CRS, source="villages",
                             parameters=parameters, check=check)  # fmt: skip


def read_buildings(path: str | Path, *, within: gpd.GeoDataFrame | None = None) -> gpd.GeoSeries:
    """Read building footprints (GeoParquet, GPKG, GeoJSON or FlatGeobuf; polygons or points).

    Parameters
    ----------
    path : str or Path
        Footprints as the Google and Microsoft open building data sets ship them.
    within : geopandas.GeoDataFrame, optional
        Read only the footprints in the bounding box of these polygons (the communes), so a
        country-wide file is not read whole.

    Returns
    -------
    geopandas.GeoSeries
        The geometries in EPSG:32648.

    Raises
    ------
    PopulationError
        Missing or unreadable file, no CRS, or geometries that are neither polygons nor points.
    """
    path = Path(path)
    if not path.exists():
        raise PopulationError(f"{path}: building footprint file not found")
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            layer = gpd.read_parquet(path, columns=["geometry"])
            if within is not None and layer.crs is not None:
                minx, miny, maxx, maxy = _bounds_in(within, layer.crs)
                layer = layer.cx[minx:maxx, miny:maxy]
        else:
            import pyogrio

            bbox = None
            if within is not None:
                crs = pyogrio.read_info(path).get("crs")
                bbox = tuple(_bounds_in(within, crs)) if crs else None
            layer = gpd.read_file(path, engine="pyogrio", columns=[], bbox=bbox)
    except Exception as exc:  # pyarrow/pyogrio raise several types; all mean "cannot read"
        raise PopulationError(f"{path}: cannot read the building footprints: {exc}") from exc
    if layer.crs is None:
        raise PopulationError(f"{path}: the building footprints have no CRS")
    geometry = layer.geometry[~layer.geometry.is_empty & layer.geometry.notna()]
    kinds = set(geometry.geom_type.unique())
    if not kinds <= {"Polygon", "MultiPolygon", "Point", "MultiPoint"}:
        raise PopulationError(f"{path}: buildings must be polygons or points, found {', '.join(sorted(kinds))}")
    return geometry.to_crs(METRIC_CRS).reset_index(drop=True)


def _bounds_in(zones: gpd.GeoDataFrame, crs: Any) -> np.ndarray:
    """Return ``minx, miny, maxx, maxy`` of ``zones`` in ``crs``, widened by a few hundred metres."""
    from shapely.geometry import box

    metric = zones.to_crs(METRIC_CRS).total_bounds + np.array([-500.0, -500.0, 500.0, 500.0])
    return gpd.GeoSeries([box(*metric)], crs=METRIC_CRS).to_crs(crs).total_bounds


def buildings_surface(
    communes: gpd.GeoDataFrame,
    buildings: gpd.GeoSeries,
    *,
    pixel_size: float = PIXEL_SIZE_M,
    file_name: str | None = None,
) -> PopulationSurface:
    """Give each commune's census people to its buildings, in proportion to footprint area.

    A building counts where its centroid lies; a polygon weighs its area in m², a point weighs
    one (the point data sets carry no area). A commune without buildings keeps its census spread
    evenly; buildings outside every commune are left out. Each commune's total equals its census.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table with ``population``.
    buildings : geopandas.GeoSeries
        Footprints (:func:`read_buildings`), any CRS.
    pixel_size : float
        Pixel size in metres.
    file_name : str, optional
        Recorded in the surface's parameters.

    Returns
    -------
    PopulationSurface
        ``source="buildings"`` with the per-commune check (``n_items`` = buildings).
    """
    communes = communes.reset_index(drop=True)
    transform, labels, census = _labelled_pixels(communes, pixel_size)
    metric = buildings.to_crs(METRIC_CRS)
    is_polygon = metric.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy(bool)
    weight = np.where(is_polygon, metric.area.to_numpy("float64"), 1.0)
    centre = metric.centroid
    height, width = labels.shape
    cols = np.floor((centre.x.to_numpy() - transform.c) / transform.a).astype("int64")
    rows = np.floor((centre.y.to_numpy() - transform.f) / transform.e).astype("int64")
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    rows, cols, weight = rows[inside], cols[inside], weight[inside]
    building_label = labels[rows, cols]
    in_commune = building_label > 0
    rows, cols, weight = rows[in_commune], cols[in_commune], weight[in_commune]
    building_label = building_label[in_commune]
    n_labels = len(census)
    total_weight = np.bincount(building_label, weights=weight, minlength=n_labels)
    n_buildings = np.bincount(building_label, minlength=n_labels)
    people = census[building_label] * weight / np.where(total_weight > 0, total_weight, 1.0)[building_label]
    grid = np.zeros(labels.shape, dtype="float64")
    np.add.at(grid, (rows, cols), people)
    placed = np.where(total_weight > 0, census, 0.0)
    placed[0] = 0.0
    grid += _spread_evenly(labels, census - placed)
    used = census.copy()
    used[0] = 0.0
    check = _check_frame(communes, census, np.full(n_labels, np.nan), n_buildings, used, placed)
    parameters = {
        "file": file_name,
        "weight": "footprint area (m²); 1 per point",
        "buildings": int(len(buildings)),
        "buildings_outside_communes": int(len(buildings) - len(building_label)),
        "communes_without_buildings": int((n_buildings[1:] == 0).sum()),
    }
    return PopulationSurface(grid.astype("float32"), transform, METRIC_CRS, source="buildings",
                             parameters=parameters, check=check)  # fmt: skip


def even_check(surface: PopulationSurface, communes: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the per-commune check of any surface: the census beside the people it holds.

    Parameters
    ----------
    surface : PopulationSurface
        A surface on the communes' grid.
    communes : geopandas.GeoDataFrame
        Canonical commune table, the surface's row order.

    Returns
    -------
    pandas.DataFrame
        :data:`CHECK_COLUMNS`; ``used`` and ``placed`` are the people the surface holds.
    """
    communes = communes.reset_index(drop=True)
    labels = commune_labels(communes, surface.transform, surface.people.shape)
    held = np.bincount(labels.ravel(), weights=surface.people.ravel().astype("float64"), minlength=len(communes) + 1)
    census = np.concatenate([[0.0], communes["population"].fillna(0).to_numpy("float64")])
    return _check_frame(communes, census, np.full_like(census, np.nan), np.zeros(len(census)), held,
                        held if surface.source != "even" else np.zeros_like(held))  # fmt: skip


def surface_record(surface: PopulationSurface, communes: gpd.GeoDataFrame | None = None) -> dict[str, Any]:
    """Return the ``run.json`` ``population`` record: source, parameters, per-commune check.

    Parameters
    ----------
    surface : PopulationSurface
        The surface the run used.
    communes : geopandas.GeoDataFrame, optional
        Needed to compute the check of a surface that has none (read from disk).

    Returns
    -------
    dict
        ``source``, ``parameters``, ``total``, ``communes`` (records of :data:`CHECK_COLUMNS`,
        people rounded to 0.1).
    """
    check = surface.check
    if check is None and communes is not None:
        check = even_check(surface, communes)
    records = []
    if check is not None:
        rounded = check.copy()
        for column in ("census", "source_people", "used", "placed", "spread_evenly"):
            rounded[column] = rounded[column].astype("float64").round(1)
        records = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
                   for row in rounded.to_dict(orient="records")]  # fmt: skip
    return {
        "source": surface.source,
        "parameters": dict(surface.parameters),
        "total": round(surface.total, 1),
        "communes": records,
    }
