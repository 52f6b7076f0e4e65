"""Villages: reading and validating the layer, status per operator at the centre, the report."""

from __future__ import annotations

import json

import h3
import pandas as pd
import pytest

from lomsong.analysis.engine import analyse
from lomsong.errors import VillageError
from lomsong.products.villages import village_report
from lomsong.reference.units import unit_mapping
from lomsong.reference.villages import normalize_villages, read_villages
from lomsong.settings import Config
from lomsong.testing import reference_communes, samples_in_cell

WEAK_CELL = h3.latlng_to_cell(12.30, 107.90, 8)
COVERED_CELL = h3.latlng_to_cell(12.00, 107.60, 8)


def village_rows():
    (weak_lat, weak_lon), (covered_lat, covered_lon) = h3.cell_to_latlng(WEAK_CELL), h3.cell_to_latlng(COVERED_CELL)
    return [
        {
            "name": "Bon Bu Prăng",
            "commune": "Xã Quảng Sơn",
            "lon": weak_lon,
            "lat": weak_lat,
            "households": 120,
            "population": 480,
            "has_grid_power": "không",
        },
        {
            "name": "Thôn 3",
            "commune": "Xã Nhân Cơ",
            "lon": covered_lon,
            "lat": covered_lat,
            "households": 200,
            "population": 800,
            "has_grid_power": "có",
        },
        {
            "name": "Buôn Nui",
            "commune": "Xã Quảng Sơn",
            "lon": 107.75,
            "lat": 12.45,
            "households": "",
            "population": "",
            "has_grid_power": "",
        },
    ]


def test_read_csv_and_geojson(tmp_path):
    csv = tmp_path / "villages.csv"
    pd.DataFrame(village_rows()).to_csv(csv, index=False)
    from_csv = read_villages(csv)
    assert from_csv["households"].tolist()[:2] == [120, 200] and pd.isna(from_csv["households"].iloc[2])
    assert from_csv["has_grid_power"].tolist()[:2] == [False, True] and pd.isna(from_csv["has_grid_power"].iloc[2])
    assert from_csv.crs.to_epsg() == 4326

    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": {k: (None if v == "" else v) for k, v in r.items() if k not in ("lon", "lat")},
        }
        for r in village_rows()
    ]
    geojson = tmp_path / "villages.geojson"
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    from_geojson = read_villages(geojson)
    assert from_geojson["name"].tolist() == from_csv["name"].tolist()
    assert from_geojson["lon"].to_numpy() == pytest.approx(from_csv["lon"].to_numpy())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lat": "abc"}, "row 2, field lat"),
        ({"households": "-3"}, "row 2, field households"),
        ({"has_grid_power": "maybe"}, "row 2, field has_grid_power"),
        ({"name": ""}, "row 2, field name: empty"),
    ],
)
def test_bad_values_are_named_by_file_row_and_field(tmp_path, change, message):
    rows = village_rows()
    rows[1].update(change)
    path = tmp_path / "bad.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(VillageError, match=message) as error:
        read_villages(path)
    assert str(path) in str(error.value)


def test_missing_columns_and_files(tmp_path):
    path = tmp_path / "v.csv"
    pd.DataFrame(village_rows()).drop(columns="lon").to_csv(path, index=False)
    with pytest.raises(VillageError, match="missing column.*lon"):
        read_villages(path)
    with pytest.raises(VillageError, match="not found"):
        read_villages(tmp_path / "none.csv")
    text = tmp_path / "villages.txt"
    text.write_text("name,commune\n", encoding="utf-8")
    with pytest.raises(VillageError, match=r"\.csv, \.geojson or \.xlsx"):
        read_villages(text)


@pytest.fixture(scope="module")
def analysis(communes, population_surface):
    measurements = pd.concat(
        [
            samples_in_cell(WEAK_CELL, "viettel", "4G", -121.0, 6),
            samples_in_cell(WEAK_CELL, "vinaphone", "4G", -119.0, 6),
            samples_in_cell(COVERED_CELL, "viettel", "4G", -80.0, 6),
            samples_in_cell(COVERED_CELL, "vinaphone", "4G", -125.0, 6),
        ],
        ignore_index=True,
    )
    villages = normalize_villages(pd.DataFrame(village_rows()))
    return analyse(measurements, communes, population_surface, Config(), villages=villages)


def test_village_status_per_operator_and_no_operator_flag(analysis, communes):
    villages = analysis.villages.set_index("name")
    assert villages.loc["Bon Bu Prăng", ["status_viettel", "status_vinaphone", "all_state"]].tolist() == [
        "weak",
        "weak",
        "weak",
    ]
    assert bool(villages.loc["Bon Bu Prăng", "no_operator"])
    assert villages.loc["Thôn 3", ["status_viettel", "status_vinaphone"]].tolist() == ["covered", "weak"]
    assert not villages.loc["Thôn 3", "no_operator"]
    # without evidence a village is not flagged, its states say why
    assert villages.loc["Buôn Nui", "status_viettel"] == "no_data"
    assert not villages.loc["Buôn Nui", "no_operator"]
    assert villages.loc["Bon Bu Prăng", "h3"] == WEAK_CELL
    # district comes from the commune polygon holding the centre
    holder = communes[communes.contains(villages.loc["Bon Bu Prăng", "geometry"])].iloc[0]
    assert villages.loc["Bon Bu Prăng", "district"] == holder["district"]


def test_village_report_has_the_provincial_shape(analysis):
    report = village_report(analysis.villages, ["viettel", "vinaphone", "mobifone"])
    columns = list(report.columns)
    assert columns[:9] == [
        "STT", "Huyện", "Xã", "Đơn vị mới (2025)", "Thôn/Bon", "Số hộ", "Số dân", "Điện lưới", "Tình trạng (CV 1603)"
    ]  # fmt: skip
    # the 2025 unit is the one the official mapping gives the village's 2019 commune
    mapping = unit_mapping(reference_communes()).set_index("commune_code")["unit"]
    expected_units = analysis.villages.sort_values(["district", "commune", "name"])["commune_code"].map(mapping)
    assert report["Đơn vị mới (2025)"].tolist() == expected_units.tolist()
    assert report["Đơn vị mới (2025)"].notna().all()
    for expected in ("Viettel (CV 1603)", "VinaPhone (VNPT) (CV 1603)", "Số dân bị ảnh hưởng", "Số hộ bị ảnh hưởng",
                     "Vùng lõm sóng", "Viettel: sóng tại trung tâm", "Không nhà mạng nào"):  # fmt: skip
        assert expected in columns
    assert "MobiFone (CV 1603)" not in columns  # no MobiFone data in this run
    assert report["STT"].tolist() == [1, 2, 3]
    row = report.set_index("Thôn/Bon").loc["Bon Bu Prăng"]
    viettel_centre, vinaphone_centre = "Viettel: sóng tại trung tâm", "VinaPhone (VNPT): sóng tại trung tâm"
    assert (row[viettel_centre], row["Điện lưới"], row["Không nhà mạng nào"]) == ("Sóng yếu", "Không", "x")
    assert (row["Tình trạng (CV 1603)"], row["Viettel (CV 1603)"]) == ("Trắng sóng", "Trắng sóng")
    other = report.set_index("Thôn/Bon").loc["Thôn 3"]
    assert (other[viettel_centre], other[vinaphone_centre]) == ("Có sóng", "Sóng yếu")
    assert (other["Viettel (CV 1603)"], other["VinaPhone (VNPT) (CV 1603)"]) == ("Có sóng", "Trắng sóng")
    assert report.set_index("Thôn/Bon").loc["Buôn Nui", "Tình trạng (CV 1603)"] == "Chưa đủ dữ liệu"


def test_simulated_villages_keep_their_synthetic_label(communes, population_surface):
    from lomsong.simulate.geography import make_villages

    villages = normalize_villages(make_villages(communes, population_surface))
    assert villages["synthetic"].all()
    assert villages["population"].sum() > 0
