"""`lomsong run` with an office's village workbook, as a person runs it: people where they live, the list."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from lomsong.simulate import demo as simulate
from lomsong.simulate import writers
from tests.support import ROOT


def lomsong(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "lomsong", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          check=False)  # fmt: skip


@pytest.fixture(scope="module")
def office_run(tmp_path_factory, communes, population_surface):
    """Simulated measurements and the simulator's villages re-typed as a Vietnamese workbook."""
    folder = tmp_path_factory.mktemp("people")
    result = simulate.simulate(communes, population_surface, n_points=3000, n_devices=40, n_gnettrack_devices=0)
    measurements = folder / "measurements"
    writers.write_outputs(result, measurements)
    book = Workbook()
    sheet = book.active
    sheet.title = "Danh sách"
    sheet.append(["DANH SÁCH THÔN, BON (DỮ LIỆU MÔ PHỎNG)"])
    sheet.append(["STT", "Thôn/Bon", "Xã", "Kinh độ", "Vĩ độ", "Số hộ", "Số dân", "Điện lưới"])
    villages = result.villages
    for i, row in enumerate(villages.itertuples(), start=1):  # a few hundred villages written by hand
        sheet.append([i, row.name, row.commune, row.lon, row.lat, int(row.households), int(row.population),
                      "Có" if row.has_grid_power else "Không"])  # fmt: skip
    workbook = folder / "synthetic_villages.xlsx"
    book.save(workbook)
    out = folder / "run"
    completed = lomsong(
        "run", "-m", str(measurements), "--villages", str(workbook), "--out", str(out), "--no-maps", "-q"
    )
    assert completed.returncode == 0, completed.stderr
    return out, villages, measurements


def test_run_records_the_village_surface_and_conserves_each_commune(office_run, communes):
    out, villages, _ = office_run
    meta = json.loads((out / "run.json").read_text("utf-8"))
    population = meta["population"]
    assert population["source"] == "villages" and population["parameters"]["sigma_m"] == 400
    check = pd.DataFrame(population["communes"]).set_index("commune_code")
    census = communes.set_index("commune_code")["population"].astype(float)
    assert (check["census"] - census.reindex(check.index)).abs().max() == 0
    assert (check["used"] - check["census"]).abs().max() < 1  # the rule keeps the census
    assert population["total"] == pytest.approx(census.sum(), rel=1e-6)
    assert meta["counts"]["population_in_cells"] == pytest.approx(census.sum(), rel=1e-4)


def test_run_writes_the_provincial_list_and_gap_villages(office_run):
    out, villages, _ = office_run
    book = load_workbook(out / "villages.xlsx", read_only=True)
    assert book.sheetnames == ["Danh sách thôn, bon", "Tổng hợp theo xã", "Đối chiếu dân số"]

    def table(title: str, first: str) -> list[dict]:
        values = list(book[title].values)
        at = next(i for i, row in enumerate(values) if row[0] == first)
        return [dict(zip(values[at], row, strict=True)) for row in values[at + 1 :]]

    rows = table("Danh sách thôn, bon", "STT")
    assert len(rows) == len(villages)
    assert {row["Tình trạng (CV 1603)"] for row in rows} <= {"Trắng sóng", "Lõm sóng", "Có sóng", "Chưa đủ dữ liệu"}
    total = table("Tổng hợp theo xã", "Huyện")[-1]
    assert total["Huyện"] == "Toàn tỉnh" and total["Số thôn"] == len(villages)
    assert sum(total[t] for t in ("Trắng sóng", "Lõm sóng", "Có sóng", "Chưa đủ dữ liệu")) == len(villages)
    gaps = pd.read_csv(out / "gaps.csv", encoding="utf-8-sig")
    assert "villages" in gaps.columns
    table = pd.read_parquet(out / "villages.parquet")
    for column in ("status_cv1603", "people_affected", "households_affected", "gap_ids", "no_operator"):
        assert column in table
    # every all-view gap id a village names is a gap of the run
    named = {g for ids in table["gap_ids"].dropna() for g in ids.split(";") if g}
    assert named <= set(gaps["gap_id"])


def test_a_source_without_its_input_is_a_one_line_error(office_run, tmp_path):
    _, _, measurements = office_run  # measurements given, so the missing --buildings is what stops the run
    completed = lomsong(
        "run",
        "-m",
        str(measurements),
        "--population-source",
        "buildings",
        "--out",
        str(tmp_path / "x"),
        "--no-maps",
        "-q",
    )
    assert completed.returncode != 0
    assert "population source buildings needs --buildings FILE" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_run_with_building_footprints(office_run, communes, tmp_path):
    import geopandas as gpd

    _, villages, measurements = office_run
    # one footprint of 80 m² at each village centre stands in for an open building data set
    points = gpd.GeoSeries(gpd.points_from_xy(villages["lon"], villages["lat"]), crs="EPSG:4326")
    footprints = gpd.GeoDataFrame(geometry=points.to_crs("EPSG:32648").buffer(5.0, quad_segs=2), crs="EPSG:32648")
    path = tmp_path / "buildings.fgb"
    footprints.to_crs("EPSG:4326").to_file(path, engine="pyogrio")
    out = tmp_path / "run"
    completed = lomsong("run", "-m", str(measurements), "--buildings", str(path), "--out", str(out), "--no-maps", "-q")
    assert completed.returncode == 0, completed.stderr
    meta = json.loads((out / "run.json").read_text("utf-8"))
    assert meta["population"]["source"] == "buildings"
    assert meta["population"]["parameters"]["buildings"] == len(villages)
    check = pd.DataFrame(meta["population"]["communes"])
    assert (check["used"] - check["census"]).abs().max() < 1
    assert "buildings" in {record["role"] for record in meta["inputs"]}


def test_villages_command_checks_a_list_before_the_run(tmp_path, communes):
    centre = communes[communes["commune"] == "Xã Quảng Sơn"].to_crs("EPSG:32648").representative_point()
    lon, lat = centre.to_crs("EPSG:4326").iloc[0].coords[0]
    path = tmp_path / "thon.csv"
    path.write_text(
        "Thôn/Bon,Xã,Kinh độ,Vĩ độ,Số dân\n"
        f"Thôn 1,Xã Quảng Sơn,{lon},{lat},3000\n"
        f"Bon 2,Xã Đắk Ha,{lon},{lat},100\n",  # named Đắk Ha, placed in Quảng Sơn
        encoding="utf-8",
    )
    completed = lomsong("villages", str(path))
    assert completed.returncode == 0, completed.stderr
    assert "2 villages in 1 of 71 communes, 3,100 people listed" in completed.stdout
    assert "1 village lies outside the commune named for it" in completed.stdout and "row 2: Bon 2" in completed.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("Thôn/Bon,Xã,Kinh độ,Vĩ độ,Số dân\nThôn 1,Xã Quảng Sơn,abc,12.0,10\n", encoding="utf-8")
    completed = lomsong("villages", str(bad))
    assert completed.returncode == 2
    assert "bad.csv: row 1, field lon (column 'Kinh độ'): 'abc' is not a lon" in completed.stderr
    assert "Traceback" not in completed.stderr
