"""A sheet's data rows as XML, a column at a time: what XlsxWriter writes, without a Python call per cell.

XlsxWriter is the workbook writer (styles, sheet set-up, print set-up, the zip); in its
``constant_memory`` mode it streams each row's cells to a temporary file as ``<row>``/``<c>``
elements, through about ten Python calls per cell (8 µs): most of the time of a run's workbooks.
:class:`BulkWorksheet` writes the same elements for a whole table at once, built with numpy string
operations column by column, into that same stream, so that the file is the one XlsxWriter
would have written (tests/products/test_workbook_rows.py compares the sheets' XML with XlsxWriter's
own cell by cell writing, hostile strings included).

The cell rules are XlsxWriter's (3.x, ``constant_memory``, in-line strings):

- a number ``<c r="B7" s="3"><v>1234.5</v></c>``, its text ``f"{value:.16G}"``; a date is the
  number of its Excel serial day;
- a string ``<c r="B7" t="inlineStr"><is><t>…</t></is></c>``: control characters as ``_xHHHH_``
  (a literal ``_xHHHH_`` escaped as ``_x005F_xHHHH_``), ``& < >`` escaped, ``xml:space="preserve"``
  when it starts or ends with white space, cut to Excel's 32,767 UTF-16 units;
- a boolean ``<c r="B7" t="b"><v>1</v></c>``;
- rows without any cell are left out; a cell's style index is given to each format the first time
  a cell uses it, row by row, so styles.xml numbers them as XlsxWriter does.

One deliberate difference: XlsxWriter writes a string that starts with ``<r>`` and ends with
``</r>`` as raw rich-text XML; here it is text like any other (an input's name is never markup).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.dtypes import StringDType
from xlsxwriter.format import Format
from xlsxwriter.utility import _datetime_to_excel_datetime, _utf16_len, _utf16_truncate, xl_col_to_name
from xlsxwriter.worksheet import Worksheet
from xlsxwriter.xmlwriter import XMLwriter

_STRING = StringDType()
#: Cell kinds of :class:`ColumnCells`.
MISSING, NUMBER, TEXT, BOOLEAN, DATE = 0, 1, 2, 3, 4
#: Excel's longest cell text, in UTF-16 units; a string under half of it cannot exceed it.
_LONGEST = 32767
#: Texts needing XlsxWriter's rarer rules: control characters and a literal ``_xHHHH_``.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]|_x[0-9a-fA-F]{4}_")
_SPACE = re.compile(r"\s")


@dataclass
class ColumnCells:
    """One column's cells: what each row holds and its text in the sheet's XML.

    Attributes
    ----------
    kinds : numpy.ndarray
        Per row :data:`MISSING`, :data:`NUMBER`, :data:`TEXT`, :data:`BOOLEAN` or :data:`DATE`.
    text : numpy.ndarray
        Per row (StringDType): the number's (or the date's serial's) ``.16G`` text, the string's
        escaped ``<t>`` element, ``1``/``0``; empty where missing.
    number_format, text_format, date_format : xlsxwriter Format or None
        The style of the column's numbers, strings and dates.
    """

    kinds: np.ndarray
    text: np.ndarray
    number_format: Format | None = None
    text_format: Format | None = None
    date_format: Format | None = None


def number_texts(values: np.ndarray) -> np.ndarray:
    """``f"{value:.16G}"`` of each finite float, as XlsxWriter writes a number.

    Whole numbers below 10^16 are ``str`` of their integer (vectorised); the others are formatted
    once per distinct value.
    """
    values = np.asarray(values, dtype="float64")
    out = np.empty(len(values), dtype=_STRING)
    whole = (values == np.round(values)) & (np.abs(values) < 1e16) & ~((values == 0) & np.signbit(values))
    out[whole] = values[whole].astype("int64").astype(_STRING)
    if not whole.all():
        distinct, where = np.unique(values[~whole], return_inverse=True)
        out[~whole] = np.array([format(value, ".16G") for value in distinct.tolist()], dtype=_STRING)[where]
    return out


def _xml_text(value: str) -> str:
    """One string's ``<t>`` element by XlsxWriter's rules (the rare cases: see :func:`string_texts`)."""
    if len(value) > _LONGEST // 2 and _utf16_len(value) > _LONGEST:
        value = _utf16_truncate(value, _LONGEST)
    value = XMLwriter._escape_control_characters(value)
    preserve = ' xml:space="preserve"' if _SPACE.match(value[:1]) or _SPACE.match(value[-1:]) else ""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<t{preserve}>{value}</t>"


def string_texts(values: np.ndarray) -> np.ndarray:
    """The ``<t>`` element of each string (StringDType in, StringDType out), escaped as XlsxWriter does.

    The common case is vectorised (``& < >`` replaced); strings with control characters, a literal
    ``_xHHHH_``, white space at either end or more than 16,383 characters go through
    :func:`_xml_text` one by one.
    """
    values = np.asarray(values, dtype=_STRING)
    if not len(values):
        return values
    listed = values.tolist()
    # one search over all the strings at once (no pattern spans the line break between two)
    joined = "\n".join(listed)
    control = np.zeros(len(values), dtype=bool)
    if _CONTROL.search(joined):
        control = np.array([_CONTROL.search(value) is not None for value in listed], dtype=bool)
    edges = np.concatenate([np.strings.slice(values, 0, 1), np.strings.slice(values, -1, None)])
    spaces = np.array([char for char in np.unique(edges).tolist() if _SPACE.match(char)], dtype=_STRING)
    spaced = np.isin(edges, spaces)
    rare = control | (np.strings.str_len(values) > _LONGEST // 2) | spaced[: len(values)] | spaced[len(values) :]
    escaped = values
    for character, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        if character in joined:
            escaped = np.strings.replace(escaped, character, entity)
    out = "<t>" + escaped + "</t>"
    if rare.any():
        out[rare] = np.array([_xml_text(value) for value in values[rare].tolist()], dtype=_STRING)
    return out


def excel_serials(dates: Sequence[dt.date | dt.datetime]) -> np.ndarray:
    """Excel serial numbers of dates (1900 system), as XlsxWriter's ``write_datetime`` stores them."""
    return np.array([_datetime_to_excel_datetime(value, False, True) for value in dates], dtype="float64")


#: Stands for a format's style index in :class:`TableRows` until the sheet numbers it (a control
#: character: never in a cell's text, where XlsxWriter's rules write it as ``_x0001_``).
_SLOT = "\x01"


@dataclass
class TableRows:
    """A table's rows as ``<row>`` elements, built once for one or several sheets of like columns.

    Attributes
    ----------
    xml : numpy.ndarray
        Per row (StringDType) its ``<row>`` element, empty when the row has no cell; the style
        indexes are placeholders (``\x01<slot>\x01``), numbered when a sheet is written.
    kinds : numpy.ndarray
        Columns × rows: each cell's kind.
    formats : list of Format
        The format of each slot.
    uses : list of tuple
        ``(column, kind, slot)``: which cells use which format.
    """

    xml: np.ndarray
    kinds: np.ndarray
    formats: list[Format]
    uses: list[tuple[int, int, int]]

    def part(self, start: int, stop: int) -> TableRows:
        """The rows ``start:stop`` (one sheet's)."""
        return TableRows(self.xml[start:stop], self.kinds[:, start:stop], self.formats, self.uses)


def table_rows(columns: Sequence[ColumnCells], row_numbers: np.ndarray) -> TableRows:
    """Build the ``<row>`` elements of a table, one :class:`ColumnCells` per column from column A on.

    Parameters
    ----------
    columns : sequence of ColumnCells
        All of the same length.
    row_numbers : numpy.ndarray
        Each row's number in its sheet (one-based, as Excel shows it).

    Returns
    -------
    TableRows
    """
    numbers = np.asarray(row_numbers).astype(_STRING)
    kinds = np.vstack([column.kinds for column in columns]) if columns else np.zeros((0, len(numbers)), "int8")
    formats: list[Format] = []
    uses: list[tuple[int, int, int]] = []
    body = np.full(len(numbers), "", dtype=_STRING)
    for index, column in enumerate(columns):
        letter = xl_col_to_name(index)
        cells = np.full(len(numbers), "", dtype=_STRING)
        for kind, cell_format, start, end in (
            (NUMBER, column.number_format, "><v>", "</v></c>"),
            (TEXT, column.text_format, ' t="inlineStr"><is>', "</is></c>"),
            (BOOLEAN, None, ' t="b"><v>', "</v></c>"),
            (DATE, column.date_format, "><v>", "</v></c>"),
        ):
            rows = column.kinds == kind
            if not rows.any():
                continue
            style = ""
            if cell_format is not None:
                slot = next((i for i, known in enumerate(formats) if known is cell_format), len(formats))
                if slot == len(formats):
                    formats.append(cell_format)
                uses.append((index, kind, slot))
                style = f' s="{_SLOT}{slot}{_SLOT}"'
            cells[rows] = f'<c r="{letter}' + numbers[rows] + f'"{style}{start}' + column.text[rows] + end
        body = body + cells
    filled = (kinds != MISSING).any(axis=0)
    xml = np.full(len(numbers), "", dtype=_STRING)
    xml[filled] = '<row r="' + numbers[filled] + '">' + body[filled] + "</row>"
    return TableRows(xml, kinds, formats, uses)


class BulkWorksheet(Worksheet):
    """An XlsxWriter worksheet that also takes a table's data rows at once (:meth:`write_rows`).

    Give it to ``Workbook.add_worksheet(name, worksheet_class=BulkWorksheet)`` of a workbook in
    ``constant_memory`` mode. The header and any rows above the table are written first, with the
    usual ``write_string``; the table's rows (:func:`table_rows`) then go out at once.
    """

    def _initialize(self, init_data: dict) -> None:
        super()._initialize(init_data)
        if self.constant_memory:
            # the rows stream to memory, not to XlsxWriter's temporary file: removing a file that
            # held a sheet's rows cost ~4 ms of system time on the ext4 of the benchmark machine
            self.row_data_fh.close()
            os.unlink(self.row_data_filename)
            self.row_data_fh = self.fh = io.StringIO()

    def _opt_close(self) -> None:
        """Keep the in-memory rows (XlsxWriter closes its temporary file between sheets)."""

    def _opt_reopen(self) -> None:
        """The in-memory rows were never closed."""
        self.fh = self.row_data_fh

    def _write_optimized_sheet_data(self) -> None:
        """Write ``<sheetData>`` from the in-memory rows (XlsxWriter's, without its temporary file)."""
        if self.dim_rowmin is None:
            self._xml_empty_tag("sheetData")
            return
        self._xml_start_tag("sheetData")
        self.fh.write(self.row_data_fh.getvalue())
        self.row_data_fh.close()
        self._xml_end_tag("sheetData")

    def write_rows(self, first_row: int, rows: TableRows) -> int:
        """Write a table's rows from ``first_row`` (zero-based) on; every row above is written already.

        Parameters
        ----------
        first_row : int
            Row of the table's first line: ``rows`` were numbered from ``first_row + 1`` on.
        rows : TableRows
            The sheet's rows.

        Returns
        -------
        int
            The rows written (those with at least one cell).
        """
        if not self.constant_memory:
            raise ValueError("BulkWorksheet.write_rows needs a workbook in constant_memory mode")
        filled = np.flatnonzero(np.strings.str_len(rows.xml) > 0)
        if not len(filled):
            return 0
        self._write_single_row(first_row)  # the header row (and any row above) goes out first
        text = "".join(rows.xml[filled].tolist())
        for slot, index in self._style_indexes(rows).items():
            text = text.replace(f"{_SLOT}{slot}{_SLOT}", str(index))
        last = first_row + int(filled[-1])
        self._check_dimensions(last, 0)
        self.fh.write(text)
        self.previous_row = last + 1  # nothing left in XlsxWriter's row buffer to flush over them
        return len(filled)

    @staticmethod
    def _style_indexes(rows: TableRows) -> dict[int, int]:
        """Each slot's style index; new formats numbered in the order XlsxWriter meets them (by row, then column)."""
        first_use = []
        for column, kind, slot in rows.uses:
            if rows.formats[slot].xf_index is None:
                where = np.flatnonzero(rows.kinds[column] == kind)
                if len(where):
                    first_use.append((int(where[0]), column, slot))
        # a format of the group that this sheet does not use stays unnumbered, as XlsxWriter leaves it
        indexes = {slot: form.xf_index for slot, form in enumerate(rows.formats) if form.xf_index is not None}
        for _, _, slot in sorted(first_use):
            indexes[slot] = rows.formats[slot]._get_xf_index()
        return indexes


def column_cells(
    values: pd.Series,
    *,
    date: bool,
    number_format: Format | None,
    text_format: Format | None,
    date_format: Format | None,
    safe: Callable[[object], object],
    cell_value: Callable[[object], object],
) -> ColumnCells:
    """Classify and render one column the way the workbook writes its cells.

    Parameters
    ----------
    values : pandas.Series
        The column.
    date : bool
        Whether the column holds dates (kind ``date``).
    number_format, text_format, date_format : Format or None
        Styles of its numbers, strings and dates.
    safe : callable
        :func:`lomsong._text.safe_cell`, applied to every string (never a formula).
    cell_value : callable
        ``cell_value(value)``: what a cell of an unusual column stores (dates, mixed objects).

    Returns
    -------
    ColumnCells
    """
    n = len(values)
    kinds = np.zeros(n, dtype="int8")
    text = np.full(n, "", dtype=_STRING)
    dtype = values.dtype
    if not date and pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        floats = values.to_numpy("float64", na_value=np.nan)
        finite = np.isfinite(floats)
        kinds[finite] = NUMBER
        text[finite] = number_texts(floats[finite])
        return ColumnCells(kinds, text, number_format, text_format, number_format or date_format)
    objects = values.to_numpy(object)
    if not date and pd.api.types.infer_dtype(objects, skipna=True) in ("string", "empty"):
        present = ~pd.isna(objects)
        strings = _safe_strings(objects[present], safe)
        kinds[present] = TEXT
        text[present] = string_texts(strings)
        return ColumnCells(kinds, text, number_format, text_format, number_format or date_format)
    # dates, booleans and mixed columns: one value at a time, as few as these columns are
    cells = [cell_value(value) for value in objects]
    kinds = np.array([_kind(cell) for cell in cells], dtype="int8")
    for kind in (NUMBER, DATE, BOOLEAN, TEXT):
        where = np.flatnonzero(kinds == kind)
        if not len(where):
            continue
        chosen = [cells[i] for i in where]
        if kind == NUMBER:
            text[where] = number_texts(np.array(chosen, dtype="float64"))
        elif kind == DATE:
            text[where] = number_texts(excel_serials(chosen))
        elif kind == BOOLEAN:
            text[where] = np.where(np.array(chosen, dtype=bool), "1", "0").astype(_STRING)
        else:
            text[where] = string_texts(np.array([str(safe(str(cell))) for cell in chosen], dtype=_STRING))
    return ColumnCells(kinds, text, number_format, text_format, number_format or date_format)


def _kind(cell: object) -> int:
    """The kind of one stored cell value, tested in the workbook's order (a bool is not a number)."""
    if cell is None:
        return MISSING
    if isinstance(cell, str):
        return TEXT
    if isinstance(cell, bool):
        return BOOLEAN
    if isinstance(cell, int | float):
        return NUMBER
    if isinstance(cell, dt.date):
        return DATE
    return TEXT


def _safe_strings(strings: np.ndarray, safe: Callable[[object], object]) -> np.ndarray:
    """Strings with :func:`lomsong._text.safe_cell` applied to those that could start a formula."""
    from lomsong._text import FORMULA_STARTS

    out = np.asarray(strings, dtype=_STRING)
    risky = np.isin(np.strings.slice(out, 0, 1), list(FORMULA_STARTS))
    if risky.any():
        out[risky] = np.array([safe(value) for value in out[risky].tolist()], dtype=_STRING)
    return out
