"""The monthly report: figures equal the run tables, HTML parses, PDF has pages and Vietnamese text."""

from __future__ import annotations

import unicodedata

import openpyxl
import pandas as pd
import pypdf
import pytest
from typer.testing import CliRunner

from lomsong.cli import app
from lomsong.jobs.monthly import build_period_report
from lomsong.operators import display_name
from lomsong.products import words as i18n
from lomsong.products.report.model import SYNTHETIC_MARK
from lomsong.reference.units import UnitMappingError, parse_unit, summarise_units, unit_mapping
from lomsong.tables.periods import load_period
from lomsong.testing import simulated_period_pair
from tests.support.report_html import parse_report


def _all_view(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["operator"] == "all") & (frame["technology"] == "any")]


@pytest.fixture(scope="module")
def products():
    return simulated_period_pair()[0]


@pytest.fixture(scope="module")
def vietnamese(products, communes, tmp_path_factory):
    return build_period_report("2026-10", out=products, folder=tmp_path_factory.mktemp("vi"), communes=communes)


def test_headline_figures_equal_the_run_tables(products, vietnamese):
    run, before = load_period("2026-10", products), load_period("2026-09", products)
    page = parse_report(vietnamese.html)
    people = float(_all_view(run.gaps)["population"].sum())
    assert page.headlines["people_without_coverage"] == pytest.approx(people)
    assert people == pytest.approx(run.meta["counts"]["people_in_gaps_all"], rel=1e-6)  # the analysis' own count
    assert page.headlines["gaps_all"] == len(_all_view(run.gaps))
    assert page.headlines["villages_all"] == int(run.villages["no_operator"].sum())
    change = people - float(_all_view(before.gaps)["population"].sum())
    assert page.headlines["people_in_gaps_change"] == pytest.approx(change)
    # The number a person reads is the same figure, in Vietnamese notation.
    assert i18n.format_number(people, "vi") in "".join(page.text)


def test_operator_and_area_tables(products, vietnamese, communes):
    run = load_period("2026-10", products)
    page = parse_report(vietnamese.html)
    operators = page.tables["operators"]
    header, rows = operators[0], operators[1:]
    assert header[0] == "Nhà mạng" and rows[0][0] == "Tất cả nhà mạng"
    any_views = run.gaps[run.gaps["technology"] == "any"]
    # Every operator of the run has a row, also one without any gap (0).
    counts = any_views.groupby("operator").size()
    expected = {display_name(op): int(counts.get(op, 0)) for op in set(run.communes["operator"].astype(str))}
    assert {row[0]: row[1] for row in rows} == {name: i18n.format_number(n, "vi") for name, n in expected.items()}
    # Today's units by default: one row per new unit, plus the province.
    areas = page.tables["areas"]
    assert areas[1][0] == "Toàn tỉnh" and areas[1][2] == "622.168"
    assert len(areas) - 2 == unit_mapping(communes)["unit_code"].nunique() == 28
    top = page.tables["top_gaps"]
    assert 1 <= len(top) - 1 <= 10
    largest = _all_view(run.gaps)["population"].max()
    assert top[1][2] == i18n.format_number(largest, "vi")


def test_report_is_marked_synthetic_everywhere(vietnamese):
    html = vietnamese.html.read_text(encoding="utf-8")
    assert SYNTHETIC_MARK in html and 'id="synthetic"' in html
    assert "synthetic" in vietnamese.pdf.name and "synthetic" in vietnamese.xlsx.name
    book = openpyxl.load_workbook(vietnamese.xlsx, read_only=True)
    for sheet in book.worksheets:
        assert SYNTHETIC_MARK in str(next(sheet.iter_rows(max_row=1, values_only=True))[0])


def test_pdf_has_pages_and_vietnamese_text(vietnamese):
    reader = pypdf.PdfReader(vietnamese.pdf)
    assert len(reader.pages) >= 2
    text = unicodedata.normalize("NFC", "\n".join(page.extract_text() for page in reader.pages))
    for phrase in ("DỮ LIỆU MÔ PHỎNG", "Người dân chưa có sóng", "Xã Quảng Sơn", "Nguồn dữ liệu và phương pháp"):
        assert phrase in text, phrase
    # Every page carries the synthetic mark in its header.
    first_lines = [unicodedata.normalize("NFC", page.extract_text()) for page in reader.pages]
    assert all(SYNTHETIC_MARK in page for page in first_lines)


def test_xlsx_tables_keep_numbers(products, vietnamese):
    run = load_period("2026-10", products)
    # row 1: the synthetic note; row 2: the headers
    frame = pd.read_excel(vietnamese.xlsx, sheet_name="Vùng lõm lớn nhất", skiprows=1)
    assert frame["Số dân trong vùng lõm"].iloc[0] == pytest.approx(_all_view(run.gaps)["population"].max())
    summary = pd.read_excel(vietnamese.xlsx, sheet_name="Tổng hợp", skiprows=1, nrows=4)
    assert summary["Giá trị"].iloc[0] == pytest.approx(_all_view(run.gaps)["population"].sum())


def test_english_report_and_2025_units(products, communes, tmp_path):
    english = build_period_report("2026-10", out=products, lang="en", folder=tmp_path, communes=communes)
    page = parse_report(english.html)
    assert page.lang == "en" and page.tables["operators"][1][0] == "All operators"
    assert "Lâm Đồng province (former Đắk Nông area)" in english.html.read_text(encoding="utf-8")
    history = build_period_report("2026-10", out=products, units="2019", folder=tmp_path, communes=communes)
    html = history.html.read_text(encoding="utf-8")
    assert 'id="units-note"' not in html and "tỉnh Đắk Nông" in html and "Lâm Đồng" not in html.split("</h1>")[0]
    areas = parse_report(history.html).tables["areas"]
    assert areas[1][0] == "Toàn tỉnh"
    assert areas[1][1] == i18n.format_number(int(communes["population"].sum()), "vi") == "622.168"
    # The 2019 history: one row per commune and per district, plus the province.
    assert len(areas) - 1 == 1 + communes["district_code"].nunique() + len(communes)
    assert history.html != english.html


def test_report_defaults_to_todays_units_with_every_headline_over_its_denominator(products, vietnamese):
    html = vietnamese.html.read_text(encoding="utf-8")
    title = html.split("</h1>")[0]
    assert "tỉnh Lâm Đồng (địa bàn tỉnh Đắk Nông cũ)" in title
    assert 'id="units-note"' in html and "trọn vẹn" in html
    page = parse_report(vietnamese.html)
    parts = [page.headlines[k] for k in ("people_without_coverage", "people_covered", "people_without_evidence")]
    run = load_period("2026-10", products)
    population = float(_all_view(run.communes)["population"].sum())
    assert sum(parts) == pytest.approx(population, rel=1e-6)
    # The first paragraph names all three figures and their shares of the same population.
    first = html.split('<p id="denominator">')[1].split("</p>")[0]
    assert i18n.format_number(population, "vi") in first
    for value in parts:
        assert i18n.format_number(value, "vi") in first
        assert i18n.format_share(value / population, "vi") in first
    assert "chưa đủ số đo" in first


def test_every_old_commune_maps_to_exactly_one_new_unit(communes):
    mapping = unit_mapping(communes)
    assert len(mapping) == len(communes) and mapping["commune_code"].is_unique
    assert set(mapping["commune_code"]) == set(communes["commune_code"])
    assert mapping["unit_code"].str.fullmatch(r"\d{5}").all() and mapping["unit"].str.len().gt(3).all()
    assert (mapping.groupby("unit_code")["unit"].nunique() == 1).all()
    assert parse_unit("24717  Xã Đức An") == ("24717", "Xã Đức An")
    with pytest.raises(UnitMappingError, match="unit_2025"):
        unit_mapping(communes.drop(columns="unit_2025"))
    broken = communes.copy()
    broken.loc[0, "unit_2025"] = "Nam Gia Nghĩa"
    with pytest.raises(UnitMappingError, match=str(broken.loc[0, "commune_code"])):
        unit_mapping(broken)


def test_units_conserve_population_and_people_in_gaps(products, communes):
    run = load_period("2026-10", products)
    units = summarise_units(run.communes, unit_mapping(communes), run.gaps)
    for (operator, technology), old in run.communes.groupby(["operator", "technology"]):
        new = units[(units["operator"] == operator) & (units["technology"] == technology)]
        assert new["population"].sum() == pytest.approx(old["population"].sum())
        assert new["people_in_gaps"].sum() == pytest.approx(old["people_in_gaps"].sum())
        assert new["n_old_communes"].sum() == old["commune_code"].nunique()
    all_units = _all_view(units)
    # A gap is counted once per unit it touches, never more than the gaps of the view in total.
    assert all_units["n_gaps"].max() <= len(_all_view(run.gaps))


def test_cli_compare_and_report(products, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["compare", "2026-09", "2026-10", "--runs", str(products), "--out", str(tmp_path / "c")]
    )
    assert result.exit_code == 0, result.output
    assert "closed" in result.output and "New gaps" in result.output
    changes = pd.read_csv(tmp_path / "c" / "changes.csv")
    assert {"closed", "new"} <= set(changes.loc[changes["operator"] == "all", "status"])
    assert changes["synthetic"].all()
    assert (tmp_path / "c" / "changes.geojson").stat().st_size > 0
    result = runner.invoke(
        app, ["report", "--period", "2026-10", "--runs", str(products), "--out", str(tmp_path / "r"), "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    assert "PDF:" in result.output and list((tmp_path / "r").glob("*.pdf"))
    result = runner.invoke(app, ["report", "--period", "2031-01", "--runs", str(products)])
    assert result.exit_code == 2 and "2026-09, 2026-10" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["compare", "2026-10", "2026-09", "--runs", str(products)])
    assert result.exit_code == 2 and "earlier" in result.output


def test_change_paragraph_never_calls_an_unmeasured_gap_closed(products, vietnamese):
    from lomsong.analysis.compare import CLOSED_MIN_COVERED_SHARE
    from lomsong.jobs.monthly import compare_periods

    comparison = compare_periods("2026-09", "2026-10", products)
    view = comparison.view()
    html = " ".join(vietnamese.html.read_text(encoding="utf-8").split())
    unmeasured = comparison.changes_of("not_remeasured")
    people = i18n.format_number(float(unmeasured["people_not_remeasured"].sum()), "vi")
    assert f"{int(view['closed'])} vùng lõm đã được xoá (đo lại thấy có sóng)" in html
    assert f"{int(view['not_remeasured'])} vùng lõm chưa được đo lại ({people} người ở các ô chưa đo lại" in html
    assert (comparison.changes_of("closed")["share_measured_covered"] >= CLOSED_MIN_COVERED_SHARE).all()
    assert (unmeasured["people_newly_covered"] <= unmeasured["population_before"] + 1e-6).all()
