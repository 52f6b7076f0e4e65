"""Hostile names in every CSV, XLSX and KML writer: no text cell is ever a formula."""

from __future__ import annotations

import csv
import html
import xml.etree.ElementTree as ET

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest

from lomsong._text import FORMULA_STARTS, safe_cell, safe_cells
from lomsong.products import tables as export
from lomsong.products.report.model import prepare_report
from lomsong.products.report.render import render_html, render_xlsx
from lomsong.tables import results as res
from lomsong.testing import make_example_run
from tests.hostile.corpus import FORMULA_NAMES, MARKUP_NAMES, rename_hostile


def _is_risky(text: str) -> bool:
    return text.startswith(FORMULA_STARTS) and safe_cell(text) != text


@pytest.fixture(scope="module")
def hostile_run(communes, tmp_path_factory):
    """A run whose village, commune and gap names are formulas and markup."""
    folder = tmp_path_factory.mktemp("formula-run")
    make_example_run(communes, folder)
    villages = gpd.read_parquet(folder / res.VILLAGES_PARQUET).assign(district="Đắk Mil", commune_code="24664")
    rename_hostile(villages, ["name", "commune", "district"]).to_parquet(folder / res.VILLAGES_PARQUET, index=False)
    gaps = gpd.read_parquet(folder / res.GAPS_PARQUET)
    rename_hostile(gaps, ["commune", "district", "communes"]).to_parquet(folder / res.GAPS_PARQUET, index=False)
    summary = pd.read_parquet(folder / res.COMMUNE_SUMMARY_PARQUET)
    rename_hostile(summary, ["commune", "district"]).to_parquet(folder / res.COMMUNE_SUMMARY_PARQUET, index=False)
    return res.load_run(folder)


def _workbook_cells(path):
    workbook = openpyxl.load_workbook(path)  # formulas stay formulas (data_only=False)
    return [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]


def _assert_no_formula(path):
    cells = _workbook_cells(path)
    formulas = [c.coordinate for c in cells if c.data_type == "f"]
    assert formulas == [], f"{path.name}: formula cells {formulas[:5]}"
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not [t for t in texts if _is_risky(t)]
    return texts


def test_safe_cell_neutralises_formulas_and_keeps_numbers_and_plain_text():
    for name in FORMULA_NAMES:
        assert safe_cell(name) == "'" + name
    for plain in ["-12.5", "+84", "-", "Thôn 1", "Bon Bu Đắk", "", "gap=1"]:
        assert safe_cell(plain) == plain
    assert safe_cell(3) == 3 and safe_cell(None) is None
    frame = pd.DataFrame(
        {
            "name": FORMULA_NAMES + ["ok"],
            "n": range(len(FORMULA_NAMES) + 1),
            "mixed": [1, "=x", None, 2.5, "-1", "@", "y"],
        }
    )
    out = safe_cells(frame)
    assert out["name"].tolist() == ["'" + n for n in FORMULA_NAMES] + ["ok"]
    assert out["n"].tolist() == frame["n"].tolist()
    assert out["mixed"].tolist()[:2] == [1, "'=x"] and out["mixed"].tolist()[3:5] == [2.5, "-1"]
    assert frame["name"].iloc[0] == FORMULA_NAMES[0], "the input is not changed"


def test_run_workbooks_store_no_formula(hostile_run, tmp_path):
    operators = ["viettel", "vinaphone"]
    villages_xlsx = export.write_villages_xlsx(hostile_run.villages, tmp_path / "villages.xlsx", operators)
    texts = _assert_no_formula(villages_xlsx)
    assert "'" + FORMULA_NAMES[0] in texts, "the name is kept, as text"
    gaps_xlsx = export.write_gaps_xlsx(hostile_run.gaps, tmp_path / "gaps.xlsx", communes=hostile_run.communes)
    _assert_no_formula(gaps_xlsx)


def test_campaign_workbook_takes_hostile_unit_names_as_text_and_valid_sheet_names(communes, tmp_path):
    from tests.support.scenes import make_fake_analysis

    campaign = make_fake_analysis(communes).campaign.iloc[:1]
    campaign = pd.concat([campaign] * 3, ignore_index=True)
    # units whose names are formulas, or hold the characters Excel refuses in a sheet name
    campaign["unit_2025"] = [FORMULA_NAMES[0], "Xã [A]: B/C?*\\" + "x" * 40, "Xã [A]: B/C?*\\" + "x" * 41]
    campaign["h3"] = campaign["h3"] + campaign.index.astype(str)  # three distinct rows
    path = export.write_campaign_xlsx(campaign, tmp_path / "campaign.xlsx")
    texts = _assert_no_formula(path)
    assert "'" + FORMULA_NAMES[0] in texts, "the unit's name is kept, as text"
    names = openpyxl.load_workbook(path, read_only=True).sheetnames
    assert len(names) == len(set(names)) == 5  # summary, three units (two cut alike), legend
    assert not [n for n in names if set(n) & set("[]:*?/\\") or len(n) > 31]


def test_run_csv_files_start_no_cell_with_a_formula(hostile_run, tmp_path):
    paths = [
        export.write_gaps_csv(hostile_run.gaps, tmp_path / "gaps.csv"),
        export.write_table_csv(hostile_run.communes, [n for n, _ in res.COMMUNE_SUMMARY_SCHEMA], tmp_path / "c.csv"),
    ]
    for path in paths:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        assert not [c for c in cells if _is_risky(c)], path.name
        assert any(c.startswith("'=") for c in cells)


def test_kml_names_and_descriptions_carry_no_formula_and_no_markup(hostile_run, tmp_path):
    path = export.write_gaps_kml(hostile_run.gaps, tmp_path / "gaps.kml")
    tree = ET.parse(path)
    names = [e.text or "" for e in tree.iter() if e.tag.endswith("}name")]
    descriptions = [e.text or "" for e in tree.iter() if e.tag.endswith("}description")]
    assert not [t for t in names + descriptions if _is_risky(t)]
    # Google Earth renders a description as HTML: a name in it is escaped (a <name> is plain text)
    hostile_in_gaps = set(hostile_run.gaps["commune"]) & set(MARKUP_NAMES)
    assert hostile_in_gaps
    for name in hostile_in_gaps:
        assert not any(name in t for t in descriptions)
        assert any(html.escape(name) in t for t in descriptions)


def test_report_workbook_and_page_carry_no_formula_and_no_markup(hostile_run, communes, tmp_path):
    report = prepare_report(hostile_run, "2024-03", communes=communes)
    path = render_xlsx(report, tmp_path / "report.xlsx")
    _assert_no_formula(path)
    page = render_html(report, {})
    for name in MARKUP_NAMES:
        assert name not in page
