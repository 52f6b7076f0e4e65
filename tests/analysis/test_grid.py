"""The H3 grid: every person is in exactly one cell and one commune; shares and neighbours are right."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from h3ronpy.vector import coordinates_to_cells

from lomsong.analysis.grid import (
    build_grid,
    cell_centres,
    cell_polygons,
    cells_to_hex,
    hex_to_cells,
    index_points,
    neighbour_pairs,
    province_cells,
)
from lomsong.reference.population import commune_labels


@pytest.fixture(scope="module")
def grid(communes, population_surface):
    return build_grid(communes, population_surface, 8)


def test_people_over_all_cells_equal_the_raster_total(grid, population_surface):
    assert grid.population.sum() == pytest.approx(population_surface.total, rel=1e-3)
    assert grid.cell_communes["population"].sum() == pytest.approx(population_surface.total, rel=1e-3)
    assert grid.unassigned_population == 0


def test_people_per_commune_equal_the_commune_raster_sums(grid, communes, population_surface):
    labels = commune_labels(communes, population_surface.transform, population_surface.people.shape)
    raster = np.bincount(labels.ravel(), weights=population_surface.people.ravel().astype("float64"))[1:]
    per_commune = grid.cell_communes.groupby("commune_code")["population"].sum()
    expected = dict(zip(communes["commune_code"], raster, strict=True))
    for code, people in expected.items():
        assert per_commune.get(code, 0.0) == pytest.approx(people, rel=1e-6, abs=1e-3)
    # The census surface gives each commune its census figure.
    census = communes.set_index("commune_code")["population"].astype(float)
    assert np.allclose(per_commune.reindex(census.index).to_numpy(), census.to_numpy(), rtol=1e-5)


def test_cell_people_equal_the_sum_of_their_commune_parts(grid):
    parts = grid.cell_communes.groupby("cell")["population"].sum()
    assert np.allclose(parts.reindex(range(len(grid.cells)), fill_value=0).to_numpy(), grid.population, atol=1e-6)


def test_every_populated_pixel_falls_in_a_grid_cell(grid, population_surface):
    rows, cols = np.nonzero(population_surface.people > 0)
    # a sample of pixel centres, converted independently with the scalar h3 library
    pick = np.random.default_rng(0).choice(len(rows), 300, replace=False)
    from pyproj import Transformer

    x, y = population_surface.transform @ (cols[pick] + 0.5, rows[pick] + 0.5)
    lon, lat = Transformer.from_crs(population_surface.crs, "EPSG:4326", always_xy=True).transform(x, y)
    expected = [h3.str_to_int(h3.latlng_to_cell(la, lo, 8)) for lo, la in zip(lon, lat, strict=True)]
    assert (grid.positions(np.asarray(expected, dtype="uint64")) >= 0).all()


def test_grid_covers_every_commune_and_holds_no_duplicates(grid, communes):
    assert np.array_equal(np.unique(grid.cells), grid.cells)
    touched = set(grid.cell_communes.loc[grid.cell_communes["area_km2"] > 0, "commune_code"])
    assert touched == set(communes["commune_code"])
    assert set(province_cells(communes, 8)) <= set(grid.cells)


def test_area_shares(grid, communes):
    shares = grid.cell_communes
    assert ((shares["area_share"] >= 0) & (shares["area_share"] <= 1 + 1e-9)).all()
    # Commune areas (UTM 48N) are recovered from the hexagon ∩ commune pieces.
    areas = shares.groupby("commune_code")["area_km2"].sum()
    expected = communes.set_index("commune_code").geometry.to_crs("EPSG:32648").area / 1e6
    assert np.allclose(areas.reindex(expected.index).to_numpy(), expected.to_numpy(), rtol=1e-6)
    # A hexagon's shares add up to about 1 inside the province (overlaps may push it a bit over).
    total = shares.groupby("cell")["area_share"].sum()
    assert total.median() == pytest.approx(1.0)
    geodesic = [h3.cell_area(h3.int_to_str(int(c)), "km^2") for c in grid.cells[:50]]
    assert np.allclose(grid.area_km2[:50], geodesic, rtol=0.01)


def test_index_points_matches_h3_and_marks_bad_coordinates():
    lon = np.array([107.7, 107.9, np.nan, 200.0])
    lat = np.array([12.0, 12.3, 12.0, 12.0])
    cells = index_points(lon, lat, 8)
    assert cells[0] == h3.str_to_int(h3.latlng_to_cell(12.0, 107.7, 8))
    assert cells[1] == h3.str_to_int(h3.latlng_to_cell(12.3, 107.9, 8))
    assert list(cells[2:]) == [0, 0]


@pytest.mark.parametrize("resolution", [7, 8, 9])
def test_lattice_indexer_equals_h3_even_on_hexagon_edges(resolution):
    """The fast path (>= 50,000 points) must give h3's cell for every point, edges and vertices included."""
    rng = np.random.default_rng(resolution)
    lon = rng.uniform(107.1, 108.2, 120_000)
    lat = rng.uniform(11.7, 12.9, 120_000)
    # points exactly on hexagon vertices and edge midpoints, and a hair inside/outside them
    some = [h3.latlng_to_cell(la, lo, resolution) for lo, la in zip(lon[:300], lat[:300], strict=True)]
    corners = np.array([vertex for cell in some for vertex in h3.cell_to_boundary(cell)])
    midpoints = (corners + np.roll(corners, -1, axis=0)) / 2
    edge = np.concatenate([corners, midpoints])
    nudged = np.concatenate([edge + d for d in (0.0, 1e-9, -1e-9, 1e-7, -1e-7)])
    lat = np.concatenate([lat, nudged[:, 0]])
    lon = np.concatenate([lon, nudged[:, 1]])
    cells = index_points(lon, lat, resolution)
    expected = np.asarray(coordinates_to_cells(lat, lon, resolution), dtype="uint64")
    assert len(lon) >= 50_000
    assert np.array_equal(cells, expected)


def test_hex_round_trip_centres_and_polygons(grid):
    sample = grid.cells[:5]
    text = cells_to_hex(sample)
    assert list(text) == [h3.int_to_str(int(c)) for c in sample]
    assert np.array_equal(hex_to_cells(text), sample)
    lon, lat = cell_centres(sample)
    polygons = cell_polygons(sample)
    assert shapely.contains_xy(polygons, lon, lat).all()


def test_neighbour_pairs_match_h3(grid):
    cells = grid.cells[:400]
    first, second = neighbour_pairs(cells)
    found = {(int(cells[i]), int(cells[j])) for i, j in zip(first, second, strict=True)}
    members = {int(c) for c in cells}
    expected = {
        (int(c), h3.str_to_int(n))
        for c in cells
        for n in h3.grid_ring(h3.int_to_str(int(c)), 1)
        if h3.str_to_int(n) in members
    }
    assert found == expected


def test_kept_grid_is_the_built_grid(communes, population_surface, tmp_path):
    """The pipeline keeps the grid between runs: loading it must give exactly what building gives."""
    from lomsong.analysis.grid import build_grid
    from lomsong.jobs.run import province_grid

    built, cached = province_grid(communes, population_surface, 8, ["a", "b"], cache_dir=tmp_path)
    assert not cached
    again, cached = province_grid(communes, population_surface, 8, ["a", "b"], cache_dir=tmp_path)
    assert cached
    fresh = build_grid(communes, population_surface, 8)
    for grid in (built, again):
        assert grid.resolution == fresh.resolution
        np.testing.assert_array_equal(grid.cells, fresh.cells)
        np.testing.assert_array_equal(grid.population, fresh.population)
        np.testing.assert_array_equal(grid.area_km2, fresh.area_km2)
        pd.testing.assert_frame_equal(
            grid.cell_communes.reset_index(drop=True), fresh.cell_communes.reset_index(drop=True), check_dtype=False
        )
    # other inputs (another boundary or population file) get another grid
    _, cached = province_grid(communes, population_surface, 8, ["a", "c"], cache_dir=tmp_path)
    assert not cached
