"""Reading claimed-coverage maps in every format, bad files, and keeping them in the store."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from lomsong.errors import ReaderError
from lomsong.jobs.ingest import ingest_claims
from lomsong.readers.claims import read_claims
from lomsong.reference.boundaries import METRIC_CRS, STORAGE_CRS
from lomsong.tables.store import MeasurementStore

CLAIM_DATE = "2026-07-01"


def claim_polygons() -> gpd.GeoDataFrame:
    """Two claimed squares near Gia Nghĩa (5 km and 3 km sides), in UTM 48N."""
    centre = gpd.GeoSeries([shapely.Point(107.69, 12.0)], crs=STORAGE_CRS).to_crs(METRIC_CRS).iloc[0]
    squares = [shapely.box(centre.x, centre.y, centre.x + 5000, centre.y + 5000)]
    squares.append(shapely.box(centre.x - 9000, centre.y, centre.x - 6000, centre.y + 3000))
    return gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=squares, crs=METRIC_CRS)


def _area_km2(frame: gpd.GeoDataFrame) -> float:
    return float(frame.to_crs(METRIC_CRS).area.sum()) / 1e6


def write_format(kind: str, folder: Path) -> Path:
    frame = claim_polygons().to_crs(STORAGE_CRS)
    if kind == "geojson":
        path = folder / "viettel_4g.geojson"
        frame.assign(claim_date=CLAIM_DATE).to_file(path, driver="GeoJSON")
    elif kind == "kml":
        path = folder / "viettel_4g.kml"
        pyogrio.write_dataframe(frame, path, driver="KML")
    elif kind == "kmz":
        kml = folder / "doc.kml"
        pyogrio.write_dataframe(frame, kml, driver="KML")
        path = folder / "viettel_4g.kmz"
        with zipfile.ZipFile(path, "w") as archive:
            archive.write(kml, "doc.kml")
    elif kind == "shapefile":
        shp = folder / "shp"
        shp.mkdir()
        claim_polygons().to_file(shp / "claim.shp")  # UTM: the reader reprojects
        path = folder / "viettel_4g_shp.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for part in shp.iterdir():
                archive.write(part, part.name)
    elif kind == "gpkg":
        path = folder / "viettel_4g.gpkg"
        frame.to_file(path, driver="GPKG", layer="vung_phu_song")
    else:
        raise AssertionError(kind)
    return path


@pytest.mark.parametrize("kind", ["geojson", "kml", "kmz", "shapefile", "gpkg"])
def test_every_polygon_format_reads_the_same_claim(kind, tmp_path):
    path = write_format(kind, tmp_path)
    date = None if kind == "geojson" else CLAIM_DATE  # the GeoJSON carries its date itself
    reading = read_claims(path, operator="Viettel", technology="4G", claim_date=date)
    claims = reading.claims
    assert len(claims) == 2 and claims.crs.to_epsg() == 4326
    assert set(claims["operator"]) == {"viettel"} and set(claims["technology"]) == {"4G"}
    assert set(claims["claim_date"]) == {CLAIM_DATE}
    assert _area_km2(claims) == pytest.approx(34.0, rel=1e-3)
    assert reading.report.kind == "claims" and reading.report.accepted == 2
    assert reading.report.rows_read == reading.report.accepted + sum(reading.report.rejected.values())


def test_a_classified_geotiff_with_its_class_table(tmp_path):
    import rasterio
    from affine import Affine

    band = np.zeros((60, 80), dtype="uint8")
    band[10:30, 10:40] = 7  # 2 km × 3 km: 4G and 3G (class table)
    band[40:50, 50:70] = 3  # 1 km × 2 km: 3G only
    band[0:5, 0:5] = 255  # nodata
    path = tmp_path / "mobifone_claim.tif"
    transform = Affine(100, 0, 800_000, 0, -100, 1_330_000)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=80,
        height=60,
        count=1,
        dtype="uint8",
        crs=METRIC_CRS,
        transform=transform,
        nodata=255,
    ) as raster:
        raster.write(band, 1)
        raster.update_tags(TIFFTAG_DATETIME="2026:06:15 00:00:00")
    (tmp_path / "mobifone_claim.classes.csv").write_text("value,technology\n0,none\n3,3G\n7,4G;3G\n")
    claims = read_claims(path, operator="mobifone").claims
    by_tech = claims.set_index("technology")
    assert set(by_tech.index) == {"3G", "4G"}
    assert set(claims["claim_date"]) == {"2026-06-15"}
    assert _area_km2(gpd.GeoDataFrame(geometry=[by_tech.geometry["4G"]], crs=STORAGE_CRS)) == pytest.approx(
        6.0, rel=1e-3
    )
    assert _area_km2(gpd.GeoDataFrame(geometry=[by_tech.geometry["3G"]], crs=STORAGE_CRS)) == pytest.approx(
        8.0, rel=1e-3
    )
    only_4g = read_claims(path, operator="mobifone", technology="4G").claims
    assert list(only_4g["technology"]) == ["4G"]
    (tmp_path / "mobifone_claim.classes.csv").write_text("value,technology\n3,3G\n")
    with pytest.raises(ReaderError, match=r"mobifone_claim\.tif: feature 0: class 7: not in the class table"):
        read_claims(path, operator="mobifone")


def test_bad_claim_files_get_one_line_errors_naming_file_feature_and_field(tmp_path):
    frame = claim_polygons().to_crs(STORAGE_CRS)
    no_date = tmp_path / "no_date.geojson"
    frame.to_file(no_date, driver="GeoJSON")
    with pytest.raises(ReaderError, match=r"no_date\.geojson: feature 1: claim_date: missing; give --claim-date"):
        read_claims(no_date, operator="viettel", technology="4G")
    bad_tech = tmp_path / "bad_tech.geojson"
    frame.assign(technology=["4G", "6G"], claim_date=CLAIM_DATE).to_file(bad_tech, driver="GeoJSON")
    with pytest.raises(ReaderError, match=r"bad_tech\.geojson: feature 2: technology: expected one of 2G"):
        read_claims(bad_tech, operator="viettel")
    clash = tmp_path / "clash.geojson"
    frame.assign(operator="vinaphone", claim_date=CLAIM_DATE).to_file(clash, driver="GeoJSON")
    with pytest.raises(ReaderError, match=r"clash\.geojson: feature 1: operator: the file says 'vinaphone'"):
        read_claims(clash, operator="viettel", technology="4G")
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(107.7, 12.0)], crs=STORAGE_CRS).to_file(points, driver="GeoJSON")
    with pytest.raises(ReaderError, match=r"points\.geojson: feature 1: geometry: expected Polygon"):
        read_claims(points, operator="viettel", technology="4G", claim_date=CLAIM_DATE)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(ReaderError, match=r"notes\.txt: feature 0: expected a claimed-coverage map"):
        read_claims(text, operator="viettel", technology="4G", claim_date=CLAIM_DATE)


def test_claims_are_ledgered_and_the_latest_map_wins(tmp_path):
    store = MeasurementStore(tmp_path / "store")
    older = tmp_path / "viettel_4g_2026-01.geojson"
    newer = tmp_path / "viettel_4g_2026-07.geojson"
    frame = claim_polygons().to_crs(STORAGE_CRS)
    frame.assign(claim_date="2026-01-01").to_file(older, driver="GeoJSON")
    frame.iloc[:1].assign(claim_date="2026-07-01").to_file(newer, driver="GeoJSON")
    first = ingest_claims(store, [newer, older], operator="viettel", technology="4G")
    assert [r.error for r in first] == [None, None] and [r.accepted for r in first] == [1, 2]
    again = ingest_claims(store, [older], operator="viettel", technology="4G")
    assert again[0].duplicate_file
    ledger = store.files()
    assert list(ledger["kind"]) == ["claims", "claims"]
    latest = store.read_claims()
    assert set(latest["claim_date"]) == {"2026-07-01"} and len(latest) == 1
    assert len(store.read_claims(latest=False)) == 3
    assert store.read().empty  # claims are not measurements
    failed = ingest_claims(store, [tmp_path / "missing.geojson"], operator="viettel", technology="4G")
    assert "missing.geojson" in failed[0].error


def test_synthetic_demo_claims_over_claim_the_under_served_communes(communes, tmp_path):
    import pandas as pd

    from lomsong.simulate.claims import make_claims, write_claims
    from lomsong.simulate.parameters import UNDERSERVED_COMMUNES

    metric = communes.to_crs(METRIC_CRS)
    centre = metric.geometry.iloc[0].representative_point()
    sites = pd.DataFrame(
        {
            "operator": ["viettel", "vietnamobile", "viettel"],
            "x": [centre.x, centre.x, centre.x + 1000],
            "y": [centre.y, centre.y, centre.y],
            "has_4g": [True, True, False],
            "active_from": [None, None, None],
            "active_until": [None, None, None],
        }
    )
    claims = make_claims(sites, communes)
    assert set(claims["operator"]) == {"viettel", "vietnamobile"} and claims["synthetic"].all()
    by_operator = claims.set_index("operator").geometry
    underserved = communes[communes["commune_code"].isin(UNDERSERVED_COMMUNES)].representative_point()
    assert by_operator["viettel"].contains(underserved).all()  # the over-claim the demo shows
    assert not by_operator["vietnamobile"].intersects(underserved).any()
    written = write_claims(claims, tmp_path)
    assert all("synthetic" in p.name for p in written)
    again = read_claims(written[0])
    assert again.report.synthetic and set(again.claims["claim_date"]) == {"2026-07-01"}
