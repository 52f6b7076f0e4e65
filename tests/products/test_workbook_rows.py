"""The workbook's rows written a column at a time are the ones XlsxWriter writes cell by cell.

The reference below is the workbook writer's former loop (one ``write_string``/``write_number``/…
per cell, widths measured per sheet): both write the same sheets, and every part of the two files
but the creation time must be the same bytes.
"""

from __future__ import annotations

import datetime as dt
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from lomsong._text import safe_cell
from lomsong.products import _xlsx_rows, workbook
from lomsong.products.workbook import Sheet, write_workbook

HOSTILE_TEXTS = [
    "=HYPERLINK(\"http://x\")", "+1", "-12.5", "@SUM(A1)", "\tcmd", "<b>bold</b> & co", " lead", "trail ",
    "ctrl\x01char", "_x0041_ literal", "Đắk Glong", "new\nline", "\u00a0nbsp", "", "x" * 20000, "a\u2003",
]  # fmt: skip


def _frame(rows: int, seed: int) -> pd.DataFrame:
    """Every kind of column a workbook meets, hostile strings and missing values included."""
    rng = np.random.default_rng(seed)
    texts = np.array(HOSTILE_TEXTS, dtype=object)[rng.integers(0, len(HOSTILE_TEXTS), rows)]
    floats = rng.normal(size=rows) * 10.0 ** rng.integers(-8, 20, rows)
    floats[rng.random(rows) < 0.2] = np.nan
    floats[:3] = [-0.0, 0.1 + 0.2, 1e16][: min(rows, 3)]
    mixed = [None, 3, 2.5, "text", True, np.nan, ["a", "b"], dt.date(2026, 1, 2), pd.NA, np.int64(7)]
    return pd.DataFrame(
        {
            "commune": texts,
            "population": rng.integers(-5, 10**7, rows),
            "people_in_gaps": pd.Series(rng.integers(0, 100, rows), dtype="Int64").where(rng.random(rows) > 0.3),
            "area_km2": floats,
            "share_people_covered": rng.random(rows),
            "first_date": pd.Series([f"2026-03-0{d}" for d in rng.integers(1, 9, rows)]).where(rng.random(rows) > 0.2),
            "seen": rng.random(rows) > 0.5,
            "flag": pd.Series(rng.random(rows) > 0.5, dtype="boolean").where(rng.random(rows) > 0.3),
            "operator": pd.Series(texts, dtype="string").where(rng.random(rows) > 0.1),
            "note": [mixed[i % len(mixed)] for i in range(rows)],
            "empty": [None] * rows,
        }
    )  # fmt: skip


def _old_longest_text(sample: pd.Series) -> int:
    if not len(sample) or not sample.notna().any():
        return 0
    dtype = sample.dtype
    if dtype == np.float64:
        values = sample.to_numpy("float64", na_value=np.nan)
        return max(len(repr(float(value))) for value in np.unique(values[~np.isnan(values)]))
    if pd.api.types.is_integer_dtype(dtype) and not sample.isna().any():
        values = sample.to_numpy("int64")
        return max(len(str(int(values.min()))), len(str(int(values.max()))))
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return int(sample.str.len().max())
    return int(sample.astype("string").str.len().max())


def _old_values(values: pd.Series, kind: str) -> list:
    if kind != "date" and pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        floats = values.to_numpy("float64", na_value=np.nan)
        finite = np.isfinite(floats)
        if pd.api.types.is_integer_dtype(values) and finite.all():
            return values.to_numpy("int64").tolist()
        cells = floats.astype(object)
        cells[~finite] = None
        return cells.tolist()
    return [workbook._cell_value(value, kind) for value in values.to_numpy(object)]


class _CellByCell:
    """What the former writer did with one sheet's table."""

    def __init__(self, layout, styles):
        self.layout, self.styles = layout, styles


def _cell_by_cell_tables(layouts, styles):
    out = []
    for layout in layouts:
        widths = []
        for column in layout.columns:
            head = layout.heads[column]
            longest = _old_longest_text(layout.frame[column].head(2000))
            words = max((len(word) for word in head.split()), default=0)
            widths.append(max(8, min(50, max(longest + 2, words + 2, math.ceil(len(head) / 2) + 2))))
        out.append((widths, _CellByCell(layout, styles)))
    return out


def _write_cell_by_cell(sheet, first_row, rows):
    layout, styles = rows.layout, rows.styles
    values = [_old_values(layout.frame[c], layout.kinds[c]) for c in layout.columns]
    formats = [styles.get(layout.kinds[c]) for c in layout.columns]
    text_style = styles["wrap"] if layout.plain else None
    for row, cells in enumerate(zip(*values, strict=True), start=first_row):
        for index, value in enumerate(cells):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(row, index, safe_cell(value), text_style)
            elif isinstance(value, bool):
                sheet.write_boolean(row, index, value)
            elif isinstance(value, int | float):
                sheet.write_number(row, index, value, formats[index])
            elif isinstance(value, dt.date):
                sheet.write_datetime(row, index, value, formats[index] or styles["date"])
            else:
                sheet.write_string(row, index, str(safe_cell(str(value))), text_style)


def _sheets() -> list[Sheet]:
    return [
        Sheet("Tổng hợp", _frame(7, 1), intro=["một dòng", "=hai dòng"]),
        Sheet("Viettel", _frame(40, 2)),  # like the next two: rendered together, cut apart
        Sheet("VinaPhone", _frame(0, 3)),
        Sheet("MobiFone", _frame(2500, 4)),
        Sheet("Khác", _frame(30, 5).astype({"population": "float64"}), kinds={"population": "people"}),
        Sheet("Trống", pd.DataFrame({"commune": [None, None], "empty": [np.nan, np.nan]})),
    ]


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name != "docProps/core.xml"}


@pytest.mark.parametrize("synthetic_note", ["", "DỮ LIỆU MÔ PHỎNG"])
def test_rows_by_column_are_the_bytes_xlsxwriter_writes_cell_by_cell(tmp_path, monkeypatch, synthetic_note):
    by_column = write_workbook(_sheets(), tmp_path / "by_column.xlsx", synthetic_note=synthetic_note)
    monkeypatch.setattr(workbook, "_tables", _cell_by_cell_tables)
    written = []
    monkeypatch.setattr(
        _xlsx_rows.BulkWorksheet, "write_rows", lambda *args: written.append(_write_cell_by_cell(*args))
    )
    by_cell = write_workbook(_sheets(), tmp_path / "by_cell.xlsx", synthetic_note=synthetic_note)
    assert len(written) == len(_sheets()) + 1  # the reference did write every sheet, the legend too
    expected, got = _parts(by_cell), _parts(by_column)
    assert list(got) == list(expected)
    for name in expected:
        assert got[name] == expected[name], name


def test_hostile_strings_read_back_as_the_same_text_never_a_formula(tmp_path):
    # (control characters are written as Excel's _xHHHH_ escapes, which openpyxl reads back as they are)
    texts = [text for text in HOSTILE_TEXTS if "_x" not in text and "\x01" not in text] + ["<r>raw</r>", "<r>x</r>"]
    path = write_workbook([Sheet("T", pd.DataFrame({"commune": texts}))], tmp_path / "t.xlsx", legend=False)
    sheet = load_workbook(path)["T"]
    read = [sheet.cell(row=row, column=1).value for row in range(2, len(texts) + 2)]
    assert {sheet.cell(row=row, column=1).data_type for row in range(2, len(texts) + 2)} == {"s"}
    for text, value in zip(texts, read, strict=True):
        # the empty string is no cell; a string that could start a formula gets its apostrophe
        assert (value or "") == (safe_cell(text) if len(text) <= 32767 else text[:32767])
    assert not any(isinstance(value, str) and value.startswith("=") for value in read)


def test_many_rows_of_numbers_keep_their_values_and_formats(tmp_path):
    frame = pd.DataFrame({"population": np.arange(-3, 5000), "share_x": np.linspace(0, 1, 5003)})
    path = write_workbook([Sheet("N", frame)], tmp_path / "n.xlsx", legend=False)
    sheet = load_workbook(path)["N"]
    assert sheet.max_row == len(frame) + 1
    assert [sheet.cell(row=r, column=1).value for r in (2, 5004)] == [-3, 4999]
    assert sheet.cell(row=3, column=2).value == pytest.approx(frame["share_x"][1])
    assert (sheet.cell(row=2, column=1).number_format, sheet.cell(row=2, column=2).number_format) == ("#,##0", "0.0%")
