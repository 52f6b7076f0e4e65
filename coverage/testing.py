"""Public test helpers, shared by the test suite and the docs (like ``geopandas.testing``)."""

from __future__ import annotations

from functools import cache

import geopandas as gpd

from coverage import paths
from coverage.boundaries import read_communes
from coverage.population import PopulationSurface, load_population
from coverage.referencedata import install_reference_data


@cache
def reference_communes() -> gpd.GeoDataFrame:
    """Return the bundled communes, installing the reference data first if needed."""
    if not paths.boundaries_path().exists():
        install_reference_data()
    return read_communes()


@cache
def reference_population() -> PopulationSurface:
    """Return the census population surface of the bundled communes."""
    return load_population(reference_communes())
