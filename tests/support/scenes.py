"""Hand-made scenes shared by several test modules (SYNTHETIC): a planted over-claim, a real log moved
into the province, monthly runs beside an example run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from lomsong import paths
from lomsong.products.tables import CAMPAIGN_COLUMNS
from lomsong.reference.boundaries import METRIC_CRS, STORAGE_CRS
from lomsong.reference.units import add_unit_columns
from lomsong.tables import results
from lomsong.tables.claims import conform_claims
from lomsong.tables.measurements import conform_measurements
from lomsong.tables.periods import period_dir
from lomsong.tables.results import CELLS_PARQUET, RUN_JSON
from lomsong.testing import make_example_run, reference_communes

#: Claimed disk, a dead zone inside it (partly sticking out), and a claimed area nobody measured.
CLAIM_CENTRE = (107.90, 12.30)
DEAD_CENTRE = (107.93, 12.30)
FAR_CLAIM_CENTRE = (107.55, 11.95)


def metric_point(lon: float, lat: float) -> shapely.Point:
    return gpd.GeoSeries([shapely.Point(lon, lat)], crs=STORAGE_CRS).to_crs(METRIC_CRS).iloc[0]


def disk(lon: float, lat: float, radius_m: float) -> shapely.Geometry:
    """A disk in UTM 48N (metres), returned in EPSG:4326."""
    return gpd.GeoSeries([metric_point(lon, lat).buffer(radius_m, 64)], crs=METRIC_CRS).to_crs(STORAGE_CRS).iloc[0]


def planted_scene() -> tuple[pd.DataFrame, gpd.GeoDataFrame, shapely.Geometry]:
    """Measurements everywhere within 11 km of the claim centre: weak in a 4 km dead zone."""
    rng = np.random.default_rng(18)
    centre = metric_point(*CLAIM_CENTRE)
    n = 24_000
    radius = 11_000 * np.sqrt(rng.random(n))
    angle = rng.random(n) * 2 * np.pi
    points = gpd.GeoSeries(
        shapely.points(centre.x + radius * np.cos(angle), centre.y + radius * np.sin(angle)), crs=METRIC_CRS
    ).to_crs(STORAGE_CRS)
    dead = disk(*DEAD_CENTRE, 4_000)
    in_dead = shapely.contains_xy(dead, points.x.to_numpy(), points.y.to_numpy())
    measurements = conform_measurements(
        pd.DataFrame(
            {
                "time": pd.Timestamp("2026-10-01T03:00:00Z") + pd.to_timedelta(np.arange(n) % 2000, unit="min"),
                "lon": points.x.to_numpy(),
                "lat": points.y.to_numpy(),
                "operator": "viettel",
                "technology": "4G",
                "signal_dbm": np.where(in_dead, -122.0, -84.0) + rng.normal(0, 1.5, n),
                "no_service": False,
                "device_id": [f"phone-{i}" for i in rng.integers(0, 4, n)],
                "source": "synthetic",
                "source_file": "synthetic_claims_test.csv",
                "source_row": np.arange(1, n + 1),
            }
        )
    )
    claimed = disk(*CLAIM_CENTRE, 8_000)
    claims = conform_claims(
        gpd.GeoDataFrame(
            {
                "operator": ["viettel", "viettel"],
                "technology": ["4G", "4G"],
                "claim_date": ["2026-07-01", "2026-07-01"],
                "source_file": "synthetic_claim.geojson",
                "sha256": "0" * 64,
                "feature": [1, 2],
                "synthetic": True,
            },
            geometry=[claimed, disk(*FAR_CLAIM_CENTRE, 3_000)],
            crs=STORAGE_CRS,
        )
    )
    truth = dead.intersection(claimed)
    return measurements, claims, truth


#: PLMN and name G-NetTrack writes for each operator key of the tests.
NETWORKS = {"viettel": ("45204", "Viettel"), "vinaphone": ("45202", "VinaPhone")}


def sample_slice(lines: int, network: str = "viettel") -> bytes:
    """The first ``lines`` lines of the real G-NetTrack sample moved into Đắk Nông, as ``network``'s log.

    The real log was recorded around Dakar (14.67 N, 17.44 W), outside the province, where an
    upload has no usable row (422); shifted by a constant it keeps its trace, quirks and columns.
    A different file for each count.
    """
    source = paths.gnettrack_sample_path()
    header = source.read_text(encoding="utf-8").split("\n", 1)[0].split("\t")
    # the log's rows end with a tab its header does not have: name that last, empty field
    frame = pd.read_csv(
        source, sep="\t", skiprows=1, names=[*header, ""], nrows=lines - 1, dtype=str, keep_default_na=False
    )
    frame["Longitude"] = (frame["Longitude"].astype(float) + 125.1).round(6).astype(str)
    frame["Latitude"] = (frame["Latitude"].astype(float) - 2.665).round(6).astype(str)
    frame["Operator"], frame["Operatorname"] = NETWORKS[network]
    return frame.to_csv(sep="\t", index=False, lineterminator="\n").encode("utf-8")


MONTHS = ("2026-09", "2026-10")


def make_period_run(run_folder, name: str, keep_every: int) -> None:
    """A monthly run: the example run with its dates inside ``name`` and every ``keep_every``-th cell."""
    folder = period_dir(name, run_folder)
    make_example_run(reference_communes(), folder)
    cells = gpd.read_parquet(folder / CELLS_PARQUET).iloc[::keep_every].reset_index(drop=True)
    measured = cells["state"] != "no_data"
    cells["first_date"] = np.where(measured, f"{name}-03", None)
    cells["last_date"] = np.where(measured, f"{name}-20", None)
    cells.to_parquet(folder / CELLS_PARQUET, index=False)
    meta = json.loads((folder / RUN_JSON).read_text(encoding="utf-8"))
    meta.update(period=name, counts={"measurements": 1000 // keep_every, "gaps": 3})
    (folder / RUN_JSON).write_text(json.dumps(meta), encoding="utf-8")


@dataclass
class FakeAnalysis:
    """Hand-made tables that follow coverage/results.py, standing in for lomsong.analysis.engine.Analysis."""

    cells: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    communes: pd.DataFrame
    campaign: pd.DataFrame
    villages: gpd.GeoDataFrame | None = None


def _hexagon(cell: str) -> shapely.Polygon:
    return shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(cell)])


def make_fake_analysis(communes: gpd.GeoDataFrame) -> FakeAnalysis:
    """Three views; the all view has a ring-shaped gap (with a hole) and a two-part gap."""
    first, second = communes.iloc[0], communes.iloc[1]
    point = first.geometry.representative_point()
    centre = h3.latlng_to_cell(point.y, point.x, 8)
    ring = sorted(h3.grid_ring(centre, 1))
    far = sorted(h3.grid_ring(centre, 4))
    pair = [far[0], far[len(far) // 2]]  # not neighbours: a two-part gap
    all_cells = sorted(h3.grid_disk(centre, 4))
    views = [("all", "any"), ("viettel", "any"), ("viettel", "4G")]
    cell_rows, gap_rows = [], []
    for operator, technology in views:
        weak_groups = [ring, pair] if operator == "all" else [ring]
        for rank, group in enumerate(weak_groups, start=1):
            gap_id = f"{operator}-{technology}-{rank:04d}"
            geometry = shapely.union_all([_hexagon(c) for c in group])
            people = 1234.4 * len(group) + rank
            gap_rows.append(
                {
                    "gap_id": gap_id,
                    "operator": operator,
                    "technology": technology,
                    "rank": rank,
                    "population": people,
                    "area_km2": 0.737 * len(group),
                    "n_cells": len(group),
                    "n_samples": 40 * len(group),
                    "n_devices": 3,
                    "median_signal_dbm": -118.25,
                    "no_service_share": 0.4,
                    "evidence": "confirmed" if rank == 1 else "likely",
                    "commune_code": first.commune_code,
                    "commune": first.commune,
                    "district_code": first.district_code,
                    "district": first.district,
                    "commune_codes": f"{first.commune_code};{second.commune_code}",
                    "communes": f"{first.commune};{second.commune}",
                    "commune_population": f"{round(people) - 10};10",
                    "first_date": "2025-03-01",
                    "last_date": "2025-04-30",
                    "villages": "Thôn 1 (120); Bon Bu Prăng (40)",
                    "centroid_lon": geometry.representative_point().x,
                    "centroid_lat": geometry.representative_point().y,
                    "geometry": geometry,
                }
            )
            for cell in group:
                cell_rows.append((cell, operator, technology, "weak", gap_id))
        weak = {c for group in weak_groups for c in group}
        for cell in all_cells:
            if cell not in weak:
                cell_rows.append((cell, operator, technology, "covered" if cell == centre else "no_data", None))
    cells = pd.DataFrame(cell_rows, columns=["h3", "operator", "technology", "state", "gap_id"])
    n = len(cells)
    stats = {
        "n_samples": np.full(n, 7),
        "n_devices": np.full(n, 2),
        "n_days": np.full(n, 1),
        "first_date": "2025-03-01",
        "last_date": "2025-04-30",
        "median_signal_dbm": -112.0,
        "p10_signal_dbm": -120.0,
        "no_service_share": 0.2,
        "median_dl_kbps": np.nan,
        "population": np.full(n, 100.0),
        "samples_needed": np.zeros(n, int),
        "devices_needed": np.zeros(n, int),
        "claim_state": pd.Series(pd.NA, index=cells.index, dtype="string"),
        "predicted_claim_state": pd.Series(pd.NA, index=cells.index, dtype="string"),
        "predicted_signal_dbm": -105.0,
        "predicted_sd_db": 6.0,
        "p_covered": 0.8,
        "predicted_state": "covered",
    }
    cells = cells.assign(**stats)
    cells = gpd.GeoDataFrame(
        cells[[name for name, _ in results.CELL_STATE_SCHEMA if name != "geometry"]],
        geometry=[_hexagon(c) for c in cells["h3"]],
        crs="EPSG:4326",
    )
    gaps = add_unit_columns(gpd.GeoDataFrame(gap_rows, geometry="geometry", crs="EPSG:4326"), communes)
    gaps = gaps[results.GAP_COLUMNS]
    summary = pd.DataFrame(
        [
            {
                "commune_code": row.commune_code,
                "commune": row.commune,
                "district_code": row.district_code,
                "district": row.district,
                "operator": operator,
                "technology": technology,
                "population": float(row.population),
                "people_in_gaps": 1000.0,
                "share_people_covered": 0.5,
                "share_people_no_data": 0.25,
                "share_area_with_data": 0.1,
                "n_gaps": 1,
                "largest_gap_id": f"{operator}-{technology}-0001",
                "largest_gap_population": 990.0,
                "people_predicted_weak": 10.0,
                "people_uncertain": 20.0,
            }
            for row in communes.iloc[:2].itertuples()
            for operator, technology in views
        ]
    )
    summary = add_unit_columns(summary, communes)
    no_data = cells[cells["state"] == "no_data"].head(4)
    campaign = pd.DataFrame(
        {
            "commune_code": first.commune_code,
            "commune": first.commune,
            "district": first.district,
            "h3": no_data["h3"].to_numpy(),
            "lon": [h3.cell_to_latlng(c)[1] for c in no_data["h3"]],
            "lat": [h3.cell_to_latlng(c)[0] for c in no_data["h3"]],
            "population": [400.0, 300.0, 200.0, 100.0],
            "operator": no_data["operator"].to_numpy(),
            "technology": no_data["technology"].to_numpy(),
            "state": "no_data",
            "n_samples": 0,
            "n_devices": 0,
            "samples_needed": 5,
            "devices_needed": 2,
            "priority": [1, 2, 3, 4],
            "visit_order": [2, 1, 3, 4],
            "unit_2025_code": "24717",
            "unit_2025": "Xã Đức An",
            "p_covered": [0.5, 0.4, np.nan, 0.9],
            "predicted_state": ["uncertain", "uncertain", None, "covered"],
            "value": [200.0, 120.0, 100.0, 10.0],
            "expected_people_decided": 800.0,
            "operators_to_test": "viettel;mobifone",
            "district_code": first.district_code,
        }
    )
    return FakeAnalysis(cells=cells, gaps=gaps, communes=summary, campaign=campaign[CAMPAIGN_COLUMNS])
