"""The monthly report's claims section: the province figures of the run, in HTML, PDF and XLSX (SYNTHETIC)."""

from __future__ import annotations

import geopandas as gpd
import openpyxl
import pypdf
import pytest

from lomsong.jobs.monthly import build_period_report
from lomsong.jobs.run import run_analysis
from lomsong.reference.boundaries import STORAGE_CRS
from lomsong.tables.periods import load_period
from tests.support.report_html import parse_report
from tests.support.scenes import planted_scene


@pytest.fixture(scope="module")
def report(tmp_path_factory, communes):
    folder = tmp_path_factory.mktemp("claims-report")
    measurements, claims, _ = planted_scene()
    csv = folder / "synthetic_planted_measurements.csv"
    frame = measurements[["time", "lon", "lat", "operator", "technology", "signal_dbm", "no_service", "device_id"]]
    frame.assign(time=frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(csv, index=False)
    claim = folder / "synthetic_viettel_4g_claim.geojson"
    gpd.GeoDataFrame(
        {"operator": ["Viettel"] * 2, "technology": ["LTE"] * 2, "claim_date": ["2026-07-01"] * 2},
        geometry=claims.geometry.values,
        crs=STORAGE_CRS,
    ).to_file(claim, driver="GeoJSON")
    products = folder / "products"
    run_analysis(measurement_paths=[csv], claims=[claim], out=products, period="2026-10", progress=False, maps=False)
    files = build_period_report("2026-10", out=products, folder=folder / "report", communes=communes)
    return files, load_period("2026-10", products)


def test_claims_section_carries_the_province_rows(report):
    files, run = report
    parsed = parse_report(files.html)
    rows = parsed.tables["claims"]
    province = run.claims[run.claims["level"] == "province"]
    assert len(rows) == 1 + len(province)  # header + one row per operator × technology
    header = rows[0]
    assert header[0] == "Nhà mạng" and "Số dân: khai báo vượt" in header
    four_g = next(r for r in rows[1:] if r[1] == "4G")
    expected = province[province["technology"] == "4G"].iloc[0]
    column = header.index("Số dân: khai báo vượt")
    assert four_g[column] == f"{round(expected['over_claim_people']):,}".replace(",", ".")
    pdf_text = "".join(page.extract_text() for page in pypdf.PdfReader(files.pdf).pages)
    assert "Vùng phủ sóng nhà mạng khai báo so với số đo" in pdf_text
    workbook = openpyxl.load_workbook(files.xlsx, read_only=True)
    assert "Đối chiếu khai báo" in workbook.sheetnames
