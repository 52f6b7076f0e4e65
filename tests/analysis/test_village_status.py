"""Village statuses by the Ministry's two tiers (CV 1603) on a handmade commune, and XLSX lists."""

from __future__ import annotations

import h3
import numpy as np
import openpyxl
import pandas as pd
import pytest

from lomsong.analysis.engine import analyse
from lomsong.analysis.grid import build_grid
from lomsong.analysis.villages import cell_villages
from lomsong.errors import VillageError
from lomsong.products.tables import write_villages_xlsx
from lomsong.products.villages import CHECK_SHEET, COUNT_SHEET, LIST_SHEET
from lomsong.reference.population import surface_record, village_surface
from lomsong.reference.villages import locate_villages, normalize_villages, read_villages
from lomsong.settings import Config, config_from_dict
from lomsong.testing import samples_in_cell
from tests.support.people_cases import lonlat, square_communes, villages_at

RESOLUTION = 8
VILLAGES = [
    # a covered centre with a dead hamlet next to it
    {"name": "Thôn Một", "commune": "Xã Thử 1", "x_km": 3, "y_km": 3, "population": 1000, "households": 250},
    # a dead centre
    {"name": "Bon Hai", "commune": "Xã Thử 1", "x_km": 9, "y_km": 3, "population": 600, "households": 150},
    # seen by one phone only
    {"name": "Buôn Ba", "commune": "Xã Thử 1", "x_km": 3, "y_km": 9, "population": 400, "households": 100},
    # nothing measured
    {"name": "Thôn Bốn", "commune": "Xã Thử 1", "x_km": 9, "y_km": 9, "population": 300, "households": None},
]


def centre_cell(name: str) -> str:
    row = next(r for r in VILLAGES if r["name"] == name)
    lon, lat = lonlat(row["x_km"], row["y_km"])
    return h3.latlng_to_cell(lat, lon, RESOLUTION)


def measured(cell: str, dbm: float, devices: int = 2) -> pd.DataFrame:
    return pd.concat(
        [samples_in_cell(cell, operator, "4G", dbm, 6, devices=devices) for operator in ("viettel", "vinaphone")],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def case():
    communes = square_communes([(0, 0, 12, 12)], [3000])
    villages = normalize_villages(villages_at(VILLAGES))
    surface = village_surface(communes, locate_villages(villages, communes))
    grid = build_grid(communes, surface, RESOLUTION)
    hamlet = h3.grid_ring(centre_cell("Thôn Một"), 1)[0]
    measurements = pd.concat(
        [
            measured(centre_cell("Thôn Một"), -80.0),
            measured(hamlet, -125.0),
            measured(centre_cell("Bon Hai"), -124.0),
            measured(centre_cell("Buôn Ba"), -85.0, devices=1),
            # only Viettel measured at this centre: weak for Viettel, undecided for all operators
            samples_in_cell(centre_cell("Thôn Bốn"), "viettel", "4G", -126.0, 6),
        ],
        ignore_index=True,
    )
    return communes, villages, surface, grid, hamlet, measurements


def run(case, **options):
    communes, villages, surface, grid, _, measurements = case
    return analyse(measurements, communes, surface, Config(**options), villages=villages, grid=grid)


def hamlet_people(case) -> float:
    communes, villages, _, grid, hamlet, _ = case
    belongs = cell_villages(grid, locate_villages(villages, communes))
    position = int(grid.positions(np.array([h3.str_to_int(hamlet)], dtype="uint64"))[0])
    row = belongs[(belongs["cell"] == position)]
    assert (row["village"] == 0).all()  # the hamlet's people belong to Thôn Một
    return float(row["population"].sum())


def test_each_tier_on_a_handmade_commune(case):
    people = hamlet_people(case)
    assert people > 40  # the hamlet holds people (precondition)
    result = run(case, village_min_people=20.0)
    villages = result.villages.set_index("name")
    assert villages["status_cv1603"].to_dict() == {
        "Thôn Một": "lom_song",
        "Bon Hai": "trang_song",
        "Buôn Ba": "chua_du_du_lieu",
        "Thôn Bốn": "chua_du_du_lieu",
    }
    assert villages.loc["Thôn Bốn", ["status_cv1603_viettel", "status_cv1603_vinaphone"]].tolist() == [
        "trang_song",
        "chua_du_du_lieu",
    ]
    for operator in ("viettel", "vinaphone"):
        assert villages.loc["Thôn Một", f"status_cv1603_{operator}"] == "lom_song"
        assert villages.loc["Bon Hai", f"status_cv1603_{operator}"] == "trang_song"
    # no_operator keeps its meaning: the centre lies in a vùng lõm sóng
    flagged = villages["no_operator"].to_dict()  # Thôn Bốn's centre is in a (likely) vùng lõm sóng
    assert flagged == {"Thôn Một": False, "Bon Hai": True, "Buôn Ba": False, "Thôn Bốn": True}


def test_a_dead_hamlet_with_fewer_people_than_min_people_leaves_the_village_covered(case):
    result = run(case, village_min_people=hamlet_people(case) + 1)
    assert result.villages.set_index("name").loc["Thôn Một", "status_cv1603"] == "co_song"


def test_people_and_households_affected_and_gap_ids(case):
    people = hamlet_people(case)
    result = run(case)
    villages = result.villages.set_index("name")
    one = villages.loc["Thôn Một"]
    assert one["people_affected"] == pytest.approx(people)
    assert one["households_affected"] == round(250 * people / one["people"])
    all_gaps = result.gaps[(result.gaps["operator"] == "all") & (result.gaps["technology"] == "any")]
    assert one["gap_ids"] in set(all_gaps["gap_id"])
    assert villages.loc["Buôn Ba", "gap_ids"] == "" and villages.loc["Buôn Ba", "people_affected"] == 0
    assert pd.isna(villages.loc["Thôn Bốn", "households_affected"])  # households unknown
    # each gap lists its villages with their people inside it
    listed = all_gaps.set_index("gap_id").loc[one["gap_ids"], "villages"]
    assert listed == f"Thôn Một ({people:.0f})"
    # the people of every village add up to the surface's people within reach of a centre
    assert villages["people"].sum() <= result.counts["population_in_cells"] + 1e-6


def test_people_beyond_max_distance_are_outside_villages(case):
    communes, villages, _, grid, _, _ = case
    near = cell_villages(grid, locate_villages(villages, communes), max_distance_m=500)
    far = cell_villages(grid, locate_villages(villages, communes), max_distance_m=20_000)
    assert (near["village"] == -1).any() and (far["village"] >= 0).all()
    assert (near.loc[near["village"] >= 0, "distance_m"] <= 500).all()
    assert near["population"].sum() == pytest.approx(far["population"].sum())


def test_villages_xlsx_is_the_provincial_list(case, tmp_path):
    communes, _, surface, _, _, _ = case
    result = run(case)
    path = write_villages_xlsx(
        result.villages, tmp_path / "villages.xlsx", ["viettel", "vinaphone"], synthetic=True,
        population=surface_record(surface, communes),
    )  # fmt: skip
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == [LIST_SHEET, COUNT_SHEET, CHECK_SHEET]

    def table(title: str, first: str) -> tuple[list, list[dict]]:
        """The sheet's lines above the table, and its rows by header (the header row starts with ``first``)."""
        values = list(workbook[title].iter_rows(values_only=True))
        at = next(i for i, row in enumerate(values) if row[0] == first)
        return values[:at], [dict(zip(values[at], row, strict=True)) for row in values[at + 1 :]]

    above, listing = table(LIST_SHEET, "STT")
    top = " ".join(str(row[0]) for row in above)
    assert "MÔ PHỎNG" in top and "Nguồn dân số" in top
    rows = {row["Thôn/Bon"]: row for row in listing}
    assert rows["Thôn Một"]["Tình trạng (CV 1603)"] == "Lõm sóng"
    assert rows["Bon Hai"]["Tình trạng (CV 1603)"] == "Trắng sóng"
    assert rows["Buôn Ba"]["Viettel (CV 1603)"] == "Chưa đủ dữ liệu"
    assert rows["Bon Hai"]["Số hộ bị ảnh hưởng"] > 0
    _, counts = table(COUNT_SHEET, "Huyện")
    commune = counts[0]
    assert (commune["Trắng sóng"], commune["Lõm sóng"], commune["Có sóng"], commune["Chưa đủ dữ liệu"]) == (1, 1, 0, 2)
    assert commune["Số thôn"] == 4 and counts[-1]["Huyện"] == "Toàn tỉnh"
    _, check = table(CHECK_SHEET, "Mã xã")
    assert check[0]["Dân số điều tra 2019"] == 3000 and check[0]["Số dân dùng"] == 3000


def test_village_options_come_from_toml_and_are_checked():
    config = config_from_dict({"villages": {"kernel_sigma_m": 250, "min_people": 10, "population_rule": "larger"}})
    assert (config.village_kernel_sigma_m, config.village_min_people, config.village_population_rule) == (
        250,
        10,
        "larger",
    )
    with pytest.raises(Exception, match="villages.max_distance_m"):
        config_from_dict({"villages": {"max_distance_m": -1}})
    with pytest.raises(Exception, match="unknown key villages.radius"):
        config_from_dict({"villages": {"radius": 3}})


# --- village lists in the shapes offices keep them -----------------------------------------------


def office_workbook(path, rows, *, title=True, total=True):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "DS thôn"
    if title:
        sheet.append(["DANH SÁCH THÔN, BON CHƯA CÓ SÓNG DI ĐỘNG"])
        sheet.append([])
    sheet.append(["STT", "Thôn/Bon", "Xã", "Kinh độ", "Vĩ độ", "Số hộ", "Số dân", "Điện lưới"])
    for i, row in enumerate(rows, start=1):
        sheet.append([i, *row])
    if total:
        sheet.append(["", "Tổng cộng", "", None, None, "=SUM(F4:F5)", None, None])
    workbook.save(path)
    return path


def test_xlsx_with_vietnamese_headers_title_and_total_rows(tmp_path):
    path = office_workbook(
        tmp_path / "thon.xlsx",
        [["Bon Bu Prăng", "Xã Quảng Sơn", 107.9, 12.3, 120, "1.250", "Có"],
         ["Thôn 3", "Xã Nhân Cơ", "107,6", 12.0, 200, 800, "không"]],
    )  # fmt: skip
    villages = read_villages(path)
    assert villages["name"].tolist() == ["Bon Bu Prăng", "Thôn 3"]
    assert villages["population"].tolist() == [1250, 800]  # a thousands separator is read as such
    assert villages["lon"].tolist() == pytest.approx([107.9, 107.6])
    assert villages["has_grid_power"].tolist() == [True, False]
    assert villages["source_row"].tolist() == [4, 5]  # the sheet's own row numbers


def test_csv_with_unaccented_vietnamese_headers(tmp_path):
    path = tmp_path / "thon.csv"
    header = "Ten thon,Xa,Kinh do,Vi do,So ho,So dan,Dien luoi"
    path.write_text(f"{header}\nThon 1,Xa Dak Ha,107.7,12.1,50,210,co\n", "utf-8")
    villages = read_villages(path)
    assert villages.loc[0, ["name", "commune", "households", "population"]].tolist() == ["Thon 1", "Xa Dak Ha", 50, 210]


def test_xlsx_errors_name_the_sheet_row_and_column(tmp_path):
    path = office_workbook(tmp_path / "bad.xlsx", [["Bon A", "Xã B", 107.9, "abc", 10, 40, "có"]], total=False)
    with pytest.raises(VillageError, match=r"bad.xlsx: sheet 'DS thôn': row 4, field lat \(column 'Vĩ độ'\)"):
        read_villages(path)
    path = office_workbook(tmp_path / "bad2.xlsx", [["Bon A", "Xã B", 107.9, 12.1, -1, 40, "có"]], total=False)
    with pytest.raises(VillageError, match=r"row 4, field households \(column 'Số hộ'\)"):
        read_villages(path)
    with pytest.raises(VillageError, match="no sheet 'Khác'"):
        read_villages(path, sheet="Khác")
    empty = openpyxl.Workbook()
    empty.active.append(["Tên", "Địa chỉ"])
    empty.save(tmp_path / "none.xlsx")
    with pytest.raises(VillageError, match="no header row with a village name, Kinh độ and Vĩ độ"):
        read_villages(tmp_path / "none.xlsx")
