"""Writers of a run folder: every file opens, follows its standard and agrees with the gap table."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from openpyxl import load_workbook

from lomsong.products import tables as export
from lomsong.products import words
from lomsong.tables import results
from tests.support import ROOT
from tests.support.scenes import FakeAnalysis, make_fake_analysis


@pytest.fixture(scope="module")
def fake(communes) -> FakeAnalysis:
    return make_fake_analysis(communes)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, fake) -> Path:
    out = tmp_path_factory.mktemp("export") / "maps"
    export.write_run(fake, out, {"counts": {"gaps": len(fake.gaps)}}, synthetic=True)
    return out


def _signed_area(ring: list[list[float]]) -> float:
    coords = np.asarray(ring)
    x, y = coords[:, 0], coords[:, 1]
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def _ogrinfo(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True, text=True, check=False)


def test_run_folder_has_every_product_and_loads_back(run_folder, fake):
    meta = json.loads((run_folder / results.RUN_JSON).read_text(encoding="utf-8"))
    expected = {
        "gaps.geojson",
        "gaps.csv",
        "gaps.xlsx",
        "gaps.gpkg",
        "gaps.kml",
        "communes.csv",
        "cells.parquet",
        "campaign.csv",
        "gaps.parquet",
        "communes.parquet",
        "run.json",
    }
    assert expected <= set(meta["files"])
    assert all((run_folder / name).exists() for name in meta["files"])
    assert meta["synthetic"] is True
    loaded = results.load_run(run_folder)
    assert loaded.synthetic
    assert len(loaded.gaps) == len(fake.gaps)
    assert len(loaded.cells) == len(fake.cells)
    # the maps read the any-technology cells only: those rows, the same as filtered after reading
    some = results.load_run(run_folder, cell_technologies=[results.ANY_TECHNOLOGY]).cells
    wanted = loaded.cells[loaded.cells["technology"] == results.ANY_TECHNOLOGY].reset_index(drop=True)
    assert 0 < len(some) < len(loaded.cells)
    pd.testing.assert_frame_equal(some.reset_index(drop=True), wanted)
    assert loaded.gaps.crs.to_epsg() == 4326
    assert set(loaded.gaps["gap_id"]) == set(fake.gaps["gap_id"])
    assert loaded.villages is None
    # Nothing of the staging folder is left beside the run.
    assert [p.name for p in run_folder.parent.iterdir()] == [run_folder.name]


def test_geojson_follows_rfc7946(run_folder, fake):
    text = (run_folder / "gaps.geojson").read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["type"] == "FeatureCollection"
    assert "crs" not in document
    assert "MÔ PHỎNG" in document.get("description", "")
    assert len(document["features"]) == len(fake.gaps)
    holes = 0
    for feature in document["features"]:
        geometry = feature["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        for rings in polygons:
            exterior, *interiors = rings
            # lon first: Đắk Nông lies at about 107–108.5 °E, 11.7–12.9 °N.
            assert all(107 < lon < 109 and 11 < lat < 13.5 for lon, lat in exterior)
            assert _signed_area(exterior) > 0, "exterior ring must be counter-clockwise"
            for interior in interiors:
                holes += 1
                assert _signed_area(interior) < 0, "holes must be clockwise"
    assert holes >= 1, "the ring-shaped gap must keep its hole"
    decimals = re.findall(r"\d+\.(\d+)", text[text.index('"coordinates"') :])
    assert max(len(d) for d in decimals) <= 6
    properties = document["features"][0]["properties"]
    assert [c for c in results.GAP_COLUMNS if c != "geometry"] == list(properties)


@pytest.mark.parametrize("name", ["gaps.geojson", "gaps.gpkg"])
def test_ogrinfo_and_pyogrio_open_the_vector_files(run_folder, fake, name):
    completed = _ogrinfo(run_folder / name)
    assert completed.returncode == 0, completed.stderr
    assert "ERROR" not in completed.stderr and "Warning" not in completed.stderr, completed.stderr
    assert f"Feature Count: {len(fake.gaps)}" in completed.stdout
    frame = pyogrio.read_dataframe(run_folder / name)
    assert frame.crs.to_epsg() == 4326
    assert len(frame) == len(fake.gaps)
    assert sorted(frame["gap_id"]) == sorted(fake.gaps["gap_id"])
    # Same shapes as the gap table (6 decimals in GeoJSON: about 0.1 m).
    merged = frame.set_index("gap_id").geometry
    original = fake.gaps.set_index("gap_id").geometry
    distance = shapely.hausdorff_distance(merged.values, original.loc[merged.index].values)
    assert (distance < 1e-6).all()


def test_csv_matches_the_gap_table(run_folder):
    table = gpd.read_parquet(run_folder / "gaps.parquet")
    csv = pd.read_csv(run_folder / "gaps.csv", encoding="utf-8-sig", dtype={"commune_code": str})
    assert len(csv) == len(table)
    assert list(csv.columns) == [*[c for c in results.GAP_COLUMNS if c != "geometry"], "synthetic"]
    merged = csv.merge(pd.DataFrame(table.drop(columns="geometry")), on="gap_id", suffixes=("", "_table"))
    assert len(merged) == len(table)
    assert (merged["population"] == merged["population_table"].round()).all()
    assert (merged["commune"] == merged["commune_table"]).all()
    assert csv["synthetic"].all()
    assert csv["communes"].str.contains(";").all()
    # Lõm-sóng view first, ranked within each view.
    assert csv["operator"].iloc[0] == "all"
    for _, view in csv.groupby(["operator", "technology"]):
        assert list(view["rank"]) == sorted(view["rank"])
    inside = [
        shapely.contains_xy(table.set_index("gap_id").geometry[g], x, y)
        for g, x, y in csv[["gap_id", "centroid_lon", "centroid_lat"]].itertuples(index=False)
    ]
    assert all(inside)


def test_xlsx_has_vietnamese_sheets_per_view(run_folder, fake):
    workbook = load_workbook(run_folder / "gaps.xlsx", read_only=True)
    names = workbook.sheetnames
    assert names[0] == "Tổng hợp" and names[-1] == "Chú giải"
    assert names[1] == "Lõm sóng (mọi mạng)"
    assert {"Viettel", "Viettel 4G", "Tóm tắt xã"} <= set(names)
    assert "Kế hoạch đo" not in names  # the plan has its own workbook (campaign.xlsx)
    sheet = list(workbook["Lõm sóng (mọi mạng)"].values)
    assert "MÔ PHỎNG" in sheet[0][0]
    header = sheet[1]
    assert header[:5] == ("Mã vùng lõm", "Nhà mạng", "Công nghệ", "Hạng (theo số dân)", "Số dân")
    rows = sheet[2:]
    view = fake.gaps[fake.gaps["operator"] == "all"]
    assert len(rows) == len(view)
    assert {r[1] for r in rows} == {words.term("all_operators")}
    assert sum(r[4] for r in rows) == pytest.approx(view["population"].round().sum())
    legend = {r[1]: r[0] for r in list(workbook["Chú giải"].values)[2:]}
    # machine names live on the legend sheet, beside the one header the glossary gives them
    assert legend["evidence"] == "Mức độ tin cậy" and legend["gap_id"] == "Mã vùng lõm"


def test_workbooks_are_fit_for_a_meeting(run_folder, fake):
    """Formats, frozen header, filter, fitted widths and print set-up, read back with openpyxl."""
    workbook = load_workbook(run_folder / "gaps.xlsx")
    sheet = workbook["Lõm sóng (mọi mạng)"]
    header = [c.value for c in sheet[2]]
    assert sheet.freeze_panes == "A3" and sheet.auto_filter.ref.startswith("A2:")
    assert sheet.print_title_rows == "$2:$2"
    # one page wide: fitToWidth left out means 1 (its default in ECMA-376's CT_PageSetup), pages tall unbounded
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.fitToWidth in (None, 1)
    assert sheet.page_setup.fitToHeight == 0 and sheet.page_setup.paperSize == 9
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    first = sheet[3]
    formats = {header[i]: first[i].number_format for i in range(len(header))}
    assert formats["Số dân"] == "#,##0" and formats["Diện tích (km²)"] == "#,##0.00"
    assert formats["Tỷ lệ mẫu mất sóng"] == "0.0%" and formats["Kinh độ"] == "0.000000"
    assert formats["Ngày đo đầu tiên"] == "DD/MM/YYYY" and first[header.index("Ngày đo đầu tiên")].is_date
    widths = {header[i]: sheet.column_dimensions[first[i].column_letter].width for i in range(len(header))}
    longest = max(len(str(v)) for v in fake.gaps["communes"].map(lambda x: ";".join(x) if isinstance(x, list) else x))
    assert widths["Các xã liên quan"] >= min(longest, 48)
    assert all(8 <= w <= 50 for w in widths.values())
    summary = list(workbook["Tổng hợp"].values)
    assert "campaign.xlsx" in " ".join(str(row[0]) for row in summary[:4])  # where the plan went
    summary_header = next(row for row in summary if row and "Số vùng lõm" in row)
    assert {"Số vùng lõm", "Số dân trong vùng lõm"} <= set(summary_header)


def test_kml_has_a_placemark_per_gap_in_vietnamese(run_folder, fake):
    tree = ET.parse(run_folder / "gaps.kml")
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    placemarks = tree.getroot().findall(".//k:Placemark", ns)
    assert len(placemarks) == len(fake.gaps)
    names = [p.find("k:name", ns).text for p in placemarks]
    assert all("người" in n and "MÔ PHỎNG" in n for n in names)
    descriptions = [p.find("k:description", ns).text for p in placemarks]
    assert all("Mức bằng chứng" in d for d in descriptions)
    folders = [f.find("k:name", ns).text for f in tree.getroot().findall(".//k:Folder", ns)]
    assert folders[0].startswith("Vùng lõm sóng (mọi nhà mạng)")
    assert len(tree.getroot().findall(".//k:MultiGeometry", ns)) == 1
    completed = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", str(run_folder / "gaps.kml")], capture_output=True, text=True
    )
    assert completed.returncode == 0 and completed.stderr.strip() == "", completed.stderr
    assert sum(int(n) for n in re.findall(r"Feature Count: (\d+)", completed.stdout)) == len(fake.gaps)


def test_campaign_and_communes_csv(run_folder, fake):
    campaign = pd.read_csv(run_folder / "campaign.csv", encoding="utf-8-sig")
    assert list(campaign.columns) == [*export.CAMPAIGN_COLUMNS, "synthetic"]
    assert len(campaign) == len(fake.campaign)
    communes = pd.read_csv(run_folder / "communes.csv", encoding="utf-8-sig", dtype={"commune_code": str})
    assert list(communes.columns) == [*[n for n, _ in results.COMMUNE_SUMMARY_SCHEMA], "synthetic"]
    assert len(communes) == len(fake.communes)
    assert communes["operator"].iloc[0] == "all"


def test_new_run_replaces_old_and_keeps_foreign_files(tmp_path, fake):
    out = tmp_path / "maps"
    out.mkdir()
    (out / "README.md").write_text("kept", encoding="utf-8")
    export.write_run(fake, out, {}, synthetic=False)
    (out / "stale.html").write_text("x", encoding="utf-8")  # as if an earlier run wrote it …
    meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
    meta["files"].append("stale.html")  # … and listed it
    (out / "run.json").write_text(json.dumps(meta), encoding="utf-8")

    fewer = FakeAnalysis(fake.cells, fake.gaps.iloc[:1], fake.communes, fake.campaign)
    export.write_run(fewer, out, {}, synthetic=False)
    assert (out / "README.md").read_text(encoding="utf-8") == "kept"
    assert not (out / "stale.html").exists()
    assert len(results.load_run(out).gaps) == 1
    assert not results.load_run(out).synthetic
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps"]


def test_failed_write_leaves_the_previous_run(tmp_path, fake, monkeypatch):
    out = tmp_path / "maps"
    export.write_run(fake, out, {}, synthetic=False)
    before = sorted(p.name for p in out.iterdir())

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "write_gaps_kml", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export.write_run(fake.__class__(fake.cells, fake.gaps.iloc[:1], fake.communes, fake.campaign), out, {})
    assert sorted(p.name for p in out.iterdir()) == before
    assert len(results.load_run(out).gaps) == len(fake.gaps)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps"]


def test_finish_hook_sees_a_loadable_run_and_its_files_are_listed(tmp_path, fake):
    def finish(folder: Path) -> dict:
        loaded = results.load_run(folder)
        (folder / "communes").mkdir()
        (folder / "communes" / "x.html").write_text(str(len(loaded.gaps)), encoding="utf-8")
        return {"timings": {"maps": 0.5}}

    files = export.write_run(fake, tmp_path / "out", {"timings": {"analysis": 1.0}}, finish=finish)
    assert "communes/x.html" in files
    meta = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert meta["timings"]["maps"] == 0.5 and meta["timings"]["analysis"] == 1.0


def test_empty_gap_table_still_writes_valid_files(tmp_path, fake):
    empty = FakeAnalysis(fake.cells, fake.gaps.iloc[0:0], fake.communes, fake.campaign.iloc[0:0])
    export.write_run(empty, tmp_path / "out", {})
    for name in ("gaps.geojson", "gaps.gpkg"):
        completed = _ogrinfo(tmp_path / "out" / name)
        assert completed.returncode == 0, completed.stderr
    assert len(pd.read_csv(tmp_path / "out" / "gaps.csv")) == 0
    assert load_workbook(tmp_path / "out" / "gaps.xlsx").sheetnames[0] == "Tổng hợp"


def test_readme_outputs_section_is_generated_from_the_schemas():
    text = export.outputs_markdown()
    for name, _ in [*results.GAP_SCHEMA, *results.CELL_STATE_SCHEMA, *results.COMMUNE_SUMMARY_SCHEMA]:
        assert f"`{name}`" in text
    for name in export.CAMPAIGN_COLUMNS:
        assert f"`{name}`" in text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text in readme, "README outputs section is stale: run `python -m lomsong.products.tables`"


def test_campaign_workbook_has_a_sheet_per_unit_and_every_cell_once(run_folder, fake):
    """Teams take their unit's sheet: every planned cell is on exactly one, in the order of the visit."""
    workbook = load_workbook(run_folder / "campaign.xlsx", read_only=True)
    summary = list(workbook[workbook.sheetnames[0]].values)
    assert workbook.sheetnames[0] == "Tổng hợp" and workbook.sheetnames[-1] == "Chú giải"
    assert "MÔ PHỎNG" in summary[0][0]
    header = summary[2]
    assert header[:3] == ("Đơn vị (2025)", "Số xã (2019)", "Số ô cần đo")
    units, province = summary[3:-1], summary[-1]
    assert province[0] == "Toàn tỉnh"
    cells = header.index("Số ô cần đo")
    # cells and people add up: the province row is the sum of the units, and equals the plan
    assert province[cells] == sum(row[cells] for row in units) == len(fake.campaign)
    people = header.index("Số dân trong các ô")
    assert province[people] == pytest.approx(fake.campaign["population"].sum(), abs=len(units))
    listed = []
    for unit_row, name in zip(units, workbook.sheetnames[1:-1], strict=True):
        rows = list(workbook[name].values)
        head = next(r for r in rows if r and r[0] == words.header("visit_order"))
        body = rows[rows.index(head) + 1 :]
        assert len(body) == unit_row[cells]
        order = [head.index(words.header("visit_order")), head.index(words.header("commune_code"))]
        keys = [(r[order[1]], r[order[0]]) for r in body]
        assert keys == sorted(keys), "rows follow the visit, commune by commune"
        listed += [r[head.index(words.header("h3"))] for r in body]
    assert sorted(listed) == sorted(fake.campaign["h3"])
