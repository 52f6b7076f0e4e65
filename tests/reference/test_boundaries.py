"""Commune boundaries: counts, formats, validation and the diacritic-insensitive lookup."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon

from lomsong.paths import census_path
from lomsong.reference.boundaries import (
    COMMUNE_COLUMNS,
    GADM_COLUMN_MAP,
    BoundaryError,
    area_km2,
    districts,
    find_communes,
    province,
    read_communes,
)


def test_reference_counts(communes):
    assert len(communes) == 71
    assert list(communes.columns[: len(COMMUNE_COLUMNS) - 1]) == COMMUNE_COLUMNS[:-1]
    assert communes.crs.to_epsg() == 4326
    per_district = communes.groupby("district_code").size().to_dict()
    assert per_district == {"660": 8, "661": 7, "662": 8, "663": 10, "664": 12, "665": 9, "666": 11, "667": 6}
    assert int(communes["population"].sum()) == 622_168
    assert communes["commune_type"].value_counts().to_dict() == {"Xã": 60, "Phường": 6, "Thị trấn": 5}


def test_population_matches_census_table(communes):
    census = pd.read_csv(census_path(), dtype={"commune_code": str})
    merged = communes.merge(census, on="commune_code", validate="one_to_one")
    assert (merged["population"].astype(int) == merged["pop2019_total"]).all()


def test_districts_and_province_are_dissolves(communes):
    dist = districts(communes)
    assert len(dist) == 8
    assert dist["n_communes"].sum() == 71
    assert int(dist["population"].sum()) == 622_168
    outline = province(communes)
    assert int(outline["population"].iloc[0]) == 622_168
    # The union is smaller than the sum only by the overlaps (reference README: about 11 km² of defects).
    total = area_km2(communes).sum()
    union = area_km2(outline).iloc[0]
    assert 6_400 < union < 6_600
    assert 0 <= total - union < 20


def test_reprojected_geopackage_loads_to_the_same_result(communes, tmp_path):
    path = tmp_path / "communes_utm.gpkg"
    communes.to_crs("EPSG:32648").to_file(path, layer="communes", driver="GPKG")
    again = read_communes(path)
    assert again.crs.to_epsg() == 4326
    pd.testing.assert_frame_equal(
        pd.DataFrame(again.drop(columns="geometry")), pd.DataFrame(communes.drop(columns="geometry")), check_dtype=False
    )
    shift = again.geometry.to_crs("EPSG:32648").hausdorff_distance(communes.geometry.to_crs("EPSG:32648"))
    assert shift.max() < 0.01  # metres


@pytest.mark.parametrize("suffix", ["shp.zip", "parquet"])
def test_other_formats_load(communes, tmp_path, suffix):
    if suffix == "parquet":
        path = tmp_path / "communes.parquet"
        communes.to_parquet(path)
    else:
        path = tmp_path / "communes.shp.zip"
        communes.to_file(path, driver="ESRI Shapefile", engine="pyogrio")
    again = read_communes(path)
    assert len(again) == 71
    assert int(again["population"].sum()) == 622_168


def test_column_mapping_for_gadm_layout(communes, tmp_path):
    gadm = communes.rename(columns={v: k for k, v in GADM_COLUMN_MAP.items()}).drop(columns="population")
    path = tmp_path / "gadm.geojson"
    gadm.to_file(path)
    loaded = read_communes(path, column_map=GADM_COLUMN_MAP)
    assert len(loaded) == 71
    assert loaded["population"].isna().all()


def _write(frame: gpd.GeoDataFrame, tmp_path, name="bad.geojson"):
    path = tmp_path / name
    frame.to_file(path)
    return path


def test_missing_column_is_named(communes, tmp_path):
    path = _write(communes.drop(columns=["district"]).head(3), tmp_path)
    with pytest.raises(BoundaryError, match=r"bad\.geojson: missing column\(s\) district"):
        read_communes(path)


def test_duplicate_codes_are_named(communes, tmp_path):
    frame = communes.head(3).copy()
    frame.loc[1, "commune_code"] = frame.loc[0, "commune_code"]
    path = _write(frame, tmp_path)
    with pytest.raises(BoundaryError, match=f"duplicate commune_code value\\(s\\): {frame.loc[0, 'commune_code']}"):
        read_communes(path)


def test_empty_geometry_is_named(communes, tmp_path):
    frame = communes.head(3).copy()
    frame.loc[2, "geometry"] = Polygon()
    path = _write(frame, tmp_path)
    with pytest.raises(BoundaryError, match=f"empty geometry for commune_code {frame.loc[2, 'commune_code']}"):
        read_communes(path)


def test_missing_file_and_unreadable_file(tmp_path):
    with pytest.raises(BoundaryError, match="not found"):
        read_communes(tmp_path / "nope.geojson")
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("this is not json")
    with pytest.raises(BoundaryError, match="garbage.geojson: cannot read"):
        read_communes(garbage)


def test_invalid_geometry_is_repaired_with_a_counted_warning(communes, tmp_path):
    frame = communes.head(2).copy()
    bowtie = Polygon([(107.0, 12.0), (107.1, 12.1), (107.1, 12.0), (107.0, 12.1), (107.0, 12.0)])
    frame.loc[0, "geometry"] = bowtie
    path = _write(frame, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = read_communes(path)
    messages = [str(w.message) for w in caught]
    assert any("repaired 1 invalid geometry" in m for m in messages), messages
    assert loaded.geometry.is_valid.all()
    assert loaded.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()


@pytest.mark.parametrize("query", ["dak mil", "Đăk Mil", "DAK MIL", "Đắk Mil", "đắk mil"])
def test_diacritic_insensitive_lookup(communes, query):
    found = find_communes(communes, query)
    assert found.iloc[0]["commune"] == "Thị trấn Đắk Mil"
    assert set(found["district"]) == {"Huyện Đắk Mil"}


def test_lookup_by_code_and_spelling_variants(communes):
    assert find_communes(communes, "24664")["commune"].iloc[0] == "Thị trấn Đắk Mil"
    assert find_communes(communes, "Đắk Glong")["district"].iloc[0] == "Huyện Đăk Glong"  # official spelling: Đăk
    assert find_communes(communes, "gia nghia")["district"].eq("Thành phố Gia Nghĩa").all()
    assert find_communes(communes, "zzz").empty


def test_names_are_nfc(communes):
    import unicodedata

    names = np.concatenate([communes["commune"].to_numpy(str), communes["district"].to_numpy(str)])
    assert all(unicodedata.is_normalized("NFC", n) for n in names)
