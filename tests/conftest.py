"""Shared fixtures: the bundled reference data, loaded once per session."""

from __future__ import annotations

import pytest

from lomsong.testing import reference_communes, reference_population


@pytest.fixture(scope="session")
def communes():
    """The 71 bundled communes (canonical table). Do not modify in place."""
    return reference_communes().copy()


@pytest.fixture(scope="session")
def population_surface():
    """The census population surface (100 m, EPSG:32648)."""
    return reference_population()
