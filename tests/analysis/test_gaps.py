"""Gap areas: invariants on a planted scenario and on a simulated (SYNTHETIC) run."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from lomsong.analysis.engine import analyse
from lomsong.reference.population import zonal_sums
from lomsong.settings import Config
from lomsong.testing import samples_in_cell

#: Two planted dead zones, far apart, each a disk of 19 cells (k = 2), ringed by covered cells.
CENTRES = [h3.latlng_to_cell(12.30, 107.90, 8), h3.latlng_to_cell(11.95, 107.55, 8)]


def planted_measurements() -> pd.DataFrame:
    frames = []
    for centre in CENTRES:
        for cell in h3.grid_disk(centre, 2):
            frames.append(samples_in_cell(cell, "viettel", "4G", -121.0, 6))
            frames.append(samples_in_cell(cell, "vinaphone", "3G", -108.0, 5, devices=3))
        for ring in (3, 4):
            for cell in h3.grid_ring(centre, ring):
                frames.append(samples_in_cell(cell, "viettel", "4G", -85.0, 6))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def planted(communes, population_surface):
    return analyse(planted_measurements(), communes, population_surface, Config())


def test_planted_zones_become_one_gap_each(planted, communes):
    gaps = planted.gaps[planted.gaps["operator"] == "all"]
    assert len(gaps) == 2
    for centre in CENTRES:
        lat, lon = h3.cell_to_latlng(centre)
        gap = gaps[gaps.contains(shapely.Point(lon, lat))].iloc[0]
        assert gap.n_cells == 19
        assert gap.evidence == "confirmed"
        assert gap.n_samples == 19 * 11
        members = set(planted.cells.loc[planted.cells["gap_id"] == gap.gap_id, "h3"])
        assert members == set(h3.grid_disk(centre, 2))
        holder = communes[communes.contains(shapely.Point(lon, lat))]["commune_code"]
        assert gap.commune_code in set(holder)


def test_every_weak_cell_lies_in_exactly_one_gap_of_its_view(planted):
    cells = planted.cells
    weak = (cells["state"] == "weak").to_numpy(bool)
    has_gap = cells["gap_id"].notna().to_numpy(bool)
    assert np.array_equal(weak, has_gap)
    counted = cells[weak].groupby("gap_id").size()
    gaps = planted.gaps.set_index("gap_id")
    assert gaps.index.is_unique
    assert counted.reindex(gaps.index).tolist() == gaps["n_cells"].tolist()
    view_of_cell = cells[weak].drop_duplicates("gap_id").set_index("gap_id")[["operator", "technology"]]
    assert (view_of_cell.reindex(gaps.index).to_numpy() == gaps[["operator", "technology"]].to_numpy()).all()


def test_gaps_are_connected_and_separate(planted):
    weak = planted.cells[planted.cells["state"] == "weak"]
    for (_operator, _technology), view in weak.groupby(["operator", "technology"]):
        owner = dict(zip(view["h3"], view["gap_id"], strict=True))
        for cell, gap_id in owner.items():
            for neighbour in h3.grid_ring(cell, 1):
                assert owner.get(neighbour, gap_id) == gap_id  # weak neighbours share the gap
        for gap_id, members in view.groupby("gap_id")["h3"]:
            polygon = planted.gaps.set_index("gap_id").geometry[gap_id]
            assert polygon.geom_type == "Polygon", gap_id  # one piece: the cells are connected
            assert len(members) >= 1


def test_gap_polygons_are_written_in_one_canonical_form(planted, tmp_path):
    """The same gaps always give the same vertices (byte-identical files run after run), exteriors CCW."""
    geometry = planted.gaps.geometry.to_numpy()
    canonical = shapely.orient_polygons(shapely.normalize(geometry), exterior_cw=False)
    assert shapely.equals_exact(geometry, canonical, tolerance=0).all()
    assert shapely.is_ccw(shapely.get_exterior_ring(shapely.get_parts(geometry))).all()  # RFC 7946
    # and in another process (where h3ronpy starts its rings elsewhere) the same WKB comes out
    import subprocess
    import sys

    script = (
        "import sys, pandas as pd; from lomsong.analysis.engine import analyse; from lomsong.settings import Config;"
        "from lomsong.testing import reference_communes, reference_population;"
        "m = pd.read_parquet(sys.argv[1]); a = analyse(m, reference_communes(), reference_population(), Config());"
        "open(sys.argv[2], 'wb').write(b''.join(a.gaps.geometry.to_wkb()))"
    )
    planted_measurements().to_parquet(tmp_path / "m.parquet")
    subprocess.run([sys.executable, "-c", script, tmp_path / "m.parquet", tmp_path / "wkb"], check=True)
    assert (tmp_path / "wkb").read_bytes() == b"".join(planted.gaps.geometry.to_wkb())


def test_gap_people_conserve_the_raster(planted, population_surface, communes):
    gaps = planted.gaps
    census = communes.set_index("commune_code")["population"].astype(float)
    for gap in gaps.itertuples():
        parts = [float(p) for p in gap.commune_population.split(";")]
        touched = gap.commune_codes.split(";")
        assert sum(parts) == pytest.approx(gap.population, abs=len(parts))  # parts are rounded
        assert gap.population <= census[touched].sum() + 1e-6
        assert parts == sorted(parts, reverse=True) and gap.commune_code == touched[0]
    # independent zonal sums over the gap polygons (pixel centres inside) give the same people
    sums = zonal_sums(population_surface, gpd.GeoDataFrame(geometry=gaps.geometry.values, crs=gaps.crs))
    assert np.allclose(sums, gaps["population"].to_numpy(), rtol=0.02)
    cells_people = planted.cells[planted.cells["gap_id"].notna()].groupby("gap_id")["population"].sum()
    assert np.allclose(cells_people.reindex(gaps["gap_id"]).to_numpy(), gaps["population"].to_numpy())


def test_ranks_follow_population_within_each_view(planted):
    for _, view in planted.gaps.groupby(["operator", "technology"]):
        ordered = view.sort_values("rank")
        assert ordered["rank"].tolist() == list(range(1, len(view) + 1))
        assert ordered["population"].is_monotonic_decreasing


def test_gap_geometry_area_and_centroid(planted):
    gaps = planted.gaps
    assert gaps.crs.to_epsg() == 4326
    assert gaps.geometry.is_valid.all()
    hexagon = h3.cell_area(CENTRES[0], "km^2")
    all_view = gaps[gaps["operator"] == "all"]
    assert np.allclose(all_view["area_km2"], 19 * hexagon, rtol=0.02)
    inside = shapely.contains_xy(gaps.geometry.values, gaps["centroid_lon"], gaps["centroid_lat"])
    assert inside.all()


def test_ids_are_stable_across_runs_and_row_order(planted, communes, population_surface):
    shuffled = planted_measurements().sample(frac=1.0, random_state=5).reset_index(drop=True)
    again = analyse(shuffled, communes, population_surface, Config())
    columns = ["gap_id", "rank", "population", "n_cells", "n_samples", "evidence", "commune_codes"]
    pd.testing.assert_frame_equal(
        planted.gaps[columns].reset_index(drop=True), again.gaps[columns].reset_index(drop=True)
    )
    assert all(
        gap_id.startswith(f"{op}-{tech}-")
        for gap_id, op, tech in planted.gaps[["gap_id", "operator", "technology"]].itertuples(index=False)
    )


def test_commune_summary_agrees_with_the_cells(planted, communes):
    summary = planted.communes
    views = planted.views
    assert len(summary) == len(communes) * len(views)
    all_view = summary[summary["operator"] == "all"].set_index("commune_code")
    weak_people = planted.cells.loc[
        (planted.cells["operator"] == "all") & (planted.cells["state"] == "weak"), "population"
    ].sum()
    assert all_view["people_in_gaps"].sum() == pytest.approx(weak_people)
    assert all_view["population"].sum() == pytest.approx(communes["population"].sum(), rel=1e-6)
    shares = all_view[["share_people_covered", "share_people_no_data"]].sum(axis=1) + (
        all_view["people_in_gaps"] / all_view["population"]
    )
    assert np.allclose(shares, 1.0)
    touched = all_view[all_view["n_gaps"] > 0]
    assert set(touched["largest_gap_id"]) <= set(planted.gaps["gap_id"])
    assert (touched["largest_gap_population"] <= touched["people_in_gaps"] + 1e-6).all()


def test_planted_dead_zone_is_found_in_a_simulated_run(communes, population_surface):
    from lomsong.simulate.demo import simulate

    commune = communes[communes["commune_code"] == "24616"].iloc[0]  # Xã Quảng Sơn, Huyện Đăk Glong
    centre = commune.geometry.representative_point()
    radius_km = 6.0
    simulation = simulate(
        communes, population_surface, n_points=80_000, seed=7, exclude_sites_within=[(centre.x, centre.y, radius_km)]
    )
    analysis = analyse(simulation.canonical(), communes, population_surface, Config())
    gaps = analysis.gaps[analysis.gaps["operator"] == "all"]
    metric = gaps.to_crs("EPSG:32648")
    disc = gpd.GeoSeries([centre], crs=4326).to_crs("EPSG:32648").iloc[0].buffer(radius_km * 1000)
    near = gaps[metric.intersects(disc).to_numpy()]
    assert len(near), "no all-view gap where the sites were removed"
    found = near.sort_values("population", ascending=False).iloc[0]
    assert found.commune_code == "24616"
    assert found.district == commune.district
    # it lies where the sites were removed, and its people are the people living inside it
    polygon = metric.geometry[(gaps["gap_id"] == found.gap_id).to_numpy()].iloc[0]
    assert polygon.intersection(disc.buffer(3000)).area >= 0.9 * polygon.area
    people = zonal_sums(population_surface, gpd.GeoDataFrame(geometry=[found.geometry], crs=4326))[0]
    assert found.population == pytest.approx(people, rel=0.02)
    assert found.population > 100


def test_gaps_and_commune_summary_carry_the_2025_unit_of_their_commune(planted, communes):
    from lomsong.reference.units import unit_mapping

    mapping = unit_mapping(communes).set_index("commune_code")
    for table in (planted.gaps, planted.communes):
        columns = list(table.columns)
        # Beside the 2019 commune, not instead of it.
        assert columns.index("unit_2025_code") == columns.index("commune") + 1
        assert columns.index("unit_2025") == columns.index("commune") + 2
        codes = table["commune_code"].astype(str)
        assert (table["unit_2025_code"].astype(str).to_numpy() == codes.map(mapping["unit_code"]).to_numpy()).all()
        assert (table["unit_2025"].astype(str).to_numpy() == codes.map(mapping["unit"]).to_numpy()).all()
    assert planted.communes["unit_2025_code"].nunique() == mapping["unit_code"].nunique()


def test_a_commune_layer_without_units_still_runs_with_the_unit_unknown(communes, population_surface):
    without = communes.drop(columns="unit_2025")
    result = analyse(planted_measurements(), without, population_surface, Config())
    assert len(result.gaps) and result.gaps["unit_2025_code"].isna().all()
    assert result.communes["unit_2025"].isna().all()
