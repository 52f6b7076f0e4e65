"""Population surfaces from what a department has: villages, buildings; people conserved per commune."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from lomsong.errors import PopulationError
from lomsong.reference.boundaries import METRIC_CRS
from lomsong.reference.population import (
    VILLAGE_KERNEL_CUTOFF,
    buildings_surface,
    census_surface,
    commune_labels,
    read_buildings,
    surface_record,
    village_surface,
    zonal_sums,
)
from lomsong.reference.villages import locate_villages, normalize_villages
from tests.support.people_cases import ORIGIN_X, ORIGIN_Y, people_inside, square_communes, villages_at, zone


def commune_sums(surface, communes):
    labels = commune_labels(communes, surface.transform, surface.people.shape)
    weights = surface.people.ravel().astype("float64")
    return np.bincount(labels.ravel(), weights=weights, minlength=len(communes) + 1)[1:]


def located(communes, rows):
    return locate_villages(normalize_villages(villages_at(rows)), communes)


# --- the settlement-shaped case of the issue -----------------------------------------------------


@pytest.fixture(scope="module")
def settlement():
    """One 10 × 10 km commune of 6,000: a village of 5,000, a small one of 350, 650 scattered."""
    rng = np.random.default_rng(7)
    communes = square_communes([(0, 0, 10, 10)], [6000])
    big = rng.normal([3000.0, 3000.0], 300.0, size=(5000, 2))  # houses within about a km of the centre
    small = rng.normal([8000.0, 8000.0], 300.0, size=(350, 2))
    scattered = rng.uniform(0, 10_000.0, size=(650, 2))  # coffee farms and forest huts
    truth = np.vstack([big, small, scattered]) + [ORIGIN_X, ORIGIN_Y]
    villages = located(
        communes,
        [
            {"name": "Thôn Đông", "commune": "Xã Thử 1", "x_km": 3, "y_km": 3, "population": 5000, "households": 1200},
            {"name": "Bon Nhỏ", "commune": "Xã Thử 1", "x_km": 8, "y_km": 8, "population": 350, "households": 80},
        ],
    )
    side = np.sqrt(10.0)  # 10 km² over the big village, 28 km² of forest away from both villages
    zones = pd.concat(
        [zone(3 - side / 2, 3 - side / 2, 3 + side / 2, 3 + side / 2), zone(5.5, 0, 10, 28 / 4.5)], ignore_index=True
    )
    return communes, villages, truth, zones


def test_dead_zones_get_their_true_people_and_rank_as_the_people_say(settlement):
    communes, villages, truth, zones = settlement
    true_people = people_inside(truth[:, 0], truth[:, 1], zones)
    assert true_people[0] > 10 * true_people[1]  # the village zone holds far more people
    surface = village_surface(communes, villages)
    estimate = zonal_sums(surface, zones)
    assert np.all(np.abs(estimate - true_people) <= 0.25 * true_people), (estimate, true_people)
    assert np.argsort(-estimate).tolist() == np.argsort(-true_people).tolist()
    # The even spread ranks them by area, upside down: why the village surface exists.
    even = zonal_sums(census_surface(communes), zones)
    assert even[1] > even[0]


def test_village_surface_conserves_each_commune_by_the_rule():
    communes = square_communes([(0, 0, 5, 5), (5, 0, 10, 5)], [2000, 1000])
    rows = [
        {"name": "Thôn A", "commune": "Xã Thử 1", "x_km": 2, "y_km": 2, "population": 900},
        {"name": "Thôn B", "commune": "Xã Thử 1", "x_km": 4.9, "y_km": 2.5, "population": 600},  # by the border
        {"name": "Thôn C", "commune": "Xã Thử 2", "x_km": 7, "y_km": 2, "population": 1600},  # more than the census
        {"name": "Thôn D", "commune": "Xã Thử 2", "x_km": 8, "y_km": 4, "population": None},
    ]
    villages = located(communes, rows)
    census = communes["population"].to_numpy("float64")

    kept = village_surface(communes, villages, rule="census")
    assert commune_sums(kept, communes) == pytest.approx(census, rel=1e-6)
    check = kept.check.set_index("commune")
    assert check.loc["Xã Thử 1", ["census", "source_people", "used", "placed"]].tolist() == [2000, 1500, 2000, 1500]
    assert check.loc["Xã Thử 1", "spread_evenly"] == pytest.approx(500)
    assert check.loc["Xã Thử 2", ["source_people", "used", "placed"]].tolist() == pytest.approx([1600, 1000, 1000])

    larger = village_surface(communes, villages, rule="larger")
    assert commune_sums(larger, communes) == pytest.approx([2000, 1600], rel=1e-6)
    record = surface_record(larger)
    assert record["source"] == "villages" and record["parameters"]["rule"] == "larger"
    assert record["parameters"]["villages_without_population"] == 1
    assert [row["used"] for row in record["communes"]] == [2000, 1600]
    with pytest.raises(PopulationError, match="rule"):
        village_surface(communes, villages, rule="biggest")


def test_a_village_keeps_its_people_within_the_kernel_and_its_commune():
    communes = square_communes([(0, 0, 10, 10)], [1000])
    villages = located(communes, [{"name": "Thôn A", "commune": "Xã Thử 1", "x_km": 5, "y_km": 5, "population": 1000}])
    surface = village_surface(communes, villages, sigma_m=300)
    rows, cols = np.nonzero(surface.people > 1e-9)
    x = surface.transform.c + (cols + 0.5) * surface.transform.a
    y = surface.transform.f + (rows + 0.5) * surface.transform.e
    distance = np.hypot(x - (ORIGIN_X + 5000), y - (ORIGIN_Y + 5000))
    assert distance.max() <= VILLAGE_KERNEL_CUTOFF * 300 + 1
    assert surface.total == pytest.approx(1000, rel=1e-6)
    near = surface.people[rows, cols][distance < 300].sum() / surface.total
    assert 0.3 < near < 0.5  # a Gaussian holds 39 % within 1 σ


def test_buildings_share_the_census_by_footprint_area_or_count():
    communes = square_communes([(0, 0, 5, 5), (5, 0, 10, 5), (10, 0, 15, 5)], [1200, 800, 300])

    def square(x_km, y_km, side_m):
        x, y = ORIGIN_X + x_km * 1e3, ORIGIN_Y + y_km * 1e3
        return box(x, y, x + side_m, y + side_m)

    buildings = gpd.GeoSeries(
        [square(1, 1, 10), square(3, 3, np.sqrt(300))]  # 100 m² and 300 m²
        + [Point(ORIGIN_X + 6000 + 500 * i, ORIGIN_Y + 2000) for i in range(4)]  # points: one each
        + [square(30, 30, 20)],  # far outside every commune
        crs=METRIC_CRS,
    )
    surface = buildings_surface(communes, buildings)
    assert commune_sums(surface, communes) == pytest.approx([1200, 800, 300], rel=1e-6)
    people = np.sort(surface.people[surface.people > 300 / (25 * 100)].ravel())
    assert people[-2:] == pytest.approx([300, 900])  # 1:3 by area
    assert np.sort(people[people > 100])[:4] == pytest.approx([200, 200, 200, 200])  # 800 over 4 points
    check = surface.check.set_index("commune")
    assert check.loc["Xã Thử 3", "placed"] == 0 and check.loc["Xã Thử 3", "spread_evenly"] == 300
    assert surface.parameters["buildings_outside_communes"] == 1
    assert surface.parameters["communes_without_buildings"] == 1


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".fgb", ".parquet"])
def test_building_files_in_the_shapes_they_ship(tmp_path, suffix):
    footprints = gpd.GeoDataFrame(
        {"confidence": [0.8, 0.9]},
        geometry=[box(ORIGIN_X, ORIGIN_Y, ORIGIN_X + 10, ORIGIN_Y + 10), Point(ORIGIN_X + 50, ORIGIN_Y + 50)],
        crs=METRIC_CRS,
    ).to_crs("EPSG:4326")
    path = tmp_path / f"buildings{suffix}"
    if suffix == ".parquet":
        footprints.to_parquet(path)
    else:
        footprints.to_file(path, engine="pyogrio")
    read = read_buildings(path)
    assert len(read) == 2 and read.crs.to_string() == METRIC_CRS
    # only what lies by the communes is read from a country-wide file
    assert len(read_buildings(path, within=square_communes([(0, 0, 1, 1)], [10]))) == 2
    assert len(read_buildings(path, within=square_communes([(20, 20, 21, 21)], [10]))) == 0
    assert sorted(read.geom_type) == ["Point", "Polygon"]  # FlatGeobuf's index may reorder them
    assert read.area.max() == pytest.approx(100, rel=1e-3)


def test_bad_building_files_are_named(tmp_path):
    with pytest.raises(PopulationError, match="not found"):
        read_buildings(tmp_path / "none.gpkg")
    roads = tmp_path / "roads.geojson"
    gpd.GeoDataFrame(geometry=[LineString([(107.8, 12.3), (107.9, 12.4)])], crs="EPSG:4326").to_file(roads)
    with pytest.raises(PopulationError, match=r"roads.geojson: buildings must be polygons or points"):
        read_buildings(roads)
    broken = tmp_path / "broken.gpkg"
    broken.write_text("not a geopackage", encoding="utf-8")
    with pytest.raises(PopulationError, match="broken.gpkg: cannot read"):
        read_buildings(broken)


def test_the_gap_engine_ranks_the_settlement_dead_zones_by_their_people(settlement):
    """End to end: weak measurements over both zones; each gap's people within 25 % of the truth."""
    import h3
    import shapely
    from pyproj import Transformer

    from lomsong.analysis.engine import analyse
    from lomsong.settings import Config
    from lomsong.testing import samples_in_cell

    communes, villages, truth, zones = settlement
    surface = village_surface(communes, villages)
    cells = set()
    for polygon in zones.to_crs("EPSG:4326").geometry:  # two zones
        cells |= set(h3.geo_to_cells(polygon.__geo_interface__, 8))
    operators = ("viettel", "vinaphone")
    measurements = pd.concat(
        [samples_in_cell(cell, operator, "4G", -125.0, 6) for cell in sorted(cells) for operator in operators],
        ignore_index=True,
    )
    result = analyse(measurements, communes, surface, Config(), villages=villages)
    gaps = result.gaps[(result.gaps["operator"] == "all") & (result.gaps["technology"] == "any")]
    assert len(gaps) == 2
    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    metric = [shapely.transform(g, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])))
              for g in gaps.geometry]  # fmt: skip
    true_people = np.array([int(shapely.contains_xy(g, truth[:, 0], truth[:, 1]).sum()) for g in metric])
    estimate = gaps["population"].to_numpy("float64")
    assert np.all(np.abs(estimate - true_people) <= 0.25 * true_people), (estimate, true_people)
    assert gaps["rank"].tolist() == list(np.argsort(np.argsort(-true_people)) + 1)
    assert "Thôn Đông" in gaps.sort_values("rank").iloc[0]["villages"]
