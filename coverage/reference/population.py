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
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
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
    """

    people: np.ndarray
    transform: Affine
    crs: str

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
    return PopulationSurface(target.astype("float32"), transform, METRIC_CRS)


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
        return PopulationSurface(src.read(1).astype("float32"), src.transform, METRIC_CRS)


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
