"""Population surface: census totals are conserved, overlaps never double-count."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import from_origin

from lomsong import paths
from lomsong.reference.population import commune_labels, read_population_raster, zonal_sums


def test_raster_total_equals_census(population_surface):
    assert abs(population_surface.total - 622_168) / 622_168 < 0.001


def test_each_commune_raster_sum_equals_its_census(communes, population_surface):
    labels = commune_labels(communes, population_surface.transform, population_surface.people.shape)
    sums = np.bincount(labels.ravel(), weights=population_surface.people.ravel().astype("float64"))[1:]
    census = communes["population"].to_numpy("float64")
    assert np.all(np.abs(sums - census) / census < 0.01)


def test_cached_geotiff_is_100m_utm_deflate(population_surface):
    with rasterio.open(paths.population_raster_path()) as src:
        assert src.crs.to_epsg() == 32648
        assert src.res == (100.0, 100.0)
        assert src.compression.name.lower() == "deflate"


def test_overlapping_zones_are_summed_each_on_its_own(communes, population_surface):
    sums = zonal_sums(population_surface, communes)
    # Polygons overlap a little, so zonal sums may exceed the labels' per-commune totals slightly,
    # but never by more than the overlap can hold.
    assert abs(sums.sum() - 622_168) / 622_168 < 0.01


def test_user_raster_in_4326_is_reprojected_and_calibrated(communes, tmp_path):
    minx, miny, maxx, maxy = communes.total_bounds
    res = 0.001
    width, height = int((maxx - minx) / res) + 2, int((maxy - miny) / res) + 2
    rng = np.random.default_rng(1)
    data = rng.uniform(0, 5, size=(height, width)).astype("float32")
    data[:5, :5] = -99999  # nodata corner
    path = tmp_path / "worldpop_like.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(minx - res, maxy + res, res, res),
        nodata=-99999,
    ) as dst:
        dst.write(data, 1)
    valid = data[data >= 0].sum(dtype="float64")
    raw = read_population_raster(path, communes)
    assert abs(raw.total - valid) / valid < 0.01  # sum resampling conserves people
    calibrated = read_population_raster(path, communes, calibrate=True)
    labels = commune_labels(communes, calibrated.transform, calibrated.people.shape)
    sums = np.bincount(labels.ravel(), weights=calibrated.people.ravel().astype("float64"))[1:]
    census = communes["population"].to_numpy("float64")
    assert np.all(np.abs(sums - census) / census < 0.01)
