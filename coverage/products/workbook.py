"""The one XLSX writer: every workbook people take to a meeting (gaps, villages, the report, API
downloads) is written here, so that they all read and print the same way.

What a sheet gets:

- Vietnamese headers from the glossary (:mod:`lomsong.products.words`); the machine names go on
  the legend sheet, beside each header and its meaning;
- number formats by what a column holds: whole people with thousands separators, shares as %,
  km² to 2 decimals, coordinates to 6, dates as real dates;
- a frozen header row, an autofilter, widths fitted to the content (capped);
- print set-up: A4 landscape, fitted to one page wide, the header row repeated on every page;
- the synthetic-data note on top when the data is simulated;
- text cells are always stored as text: a value such as ``=HYPERLINK(…)`` from an input file is
  never a formula.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from lomsong._text import safe_cell
from lomsong.products import words

#: Column kind → Excel number format.
NUMBER_FORMATS: dict[str, str] = {
    "people": "#,##0",
    "int": "#,##0",
    "share": "0.0%",
    "km2": "#,##0.00",
    "float1": "#,##0.0",
    "float": "#,##0.00",
    "signed": "+#,##0;-#,##0;0",
    "coord": "0.000000",
    "date": "DD/MM/YYYY",
}

#: Widest column (characters) and narrowest.
MAX_WIDTH, MIN_WIDTH = 50, 8

_PEOPLE = ("population", "people", "households")


def column_kind(name: str, values: pd.Series) -> str:
    """Return how to format a machine column, from its name and dtype.

    Parameters
    ----------
    name : str
        Machine column name.
    values : pandas.Series
        Its values.

    Returns
    -------
    str
        A key of :data:`NUMBER_FORMATS`, or ``text``.
    """
    if name.endswith("_date") or pd.api.types.is_datetime64_any_dtype(values):
        return "date"
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "text"
    if "share" in name:
        return "share"
    if name.endswith("_km2"):
        return "km2"
    if name in ("lon", "lat") or name.startswith("centroid_"):
        return "coord"
    if name.endswith("_dbm"):
        return "float1"
    if any(word in name for word in _PEOPLE) or name.startswith("n_") or pd.api.types.is_integer_dtype(values):
        return "people"
    return "float"


@dataclass
class Sheet:
    """One sheet of a workbook.

    Attributes
    ----------
    title : str
        Sheet name (cut to Excel's 31 characters; ``[]:*?/\\`` replaced).
    frame : pandas.DataFrame
        The rows, with machine column names (or already-readable headers with ``kinds``).
    kinds : dict
        Column → kind (:data:`NUMBER_FORMATS`), overriding :func:`column_kind`.
    headers : dict
        Column → header people read, overriding the glossary.
    intro : list of str
        Lines written above the table (after the synthetic note).
    """

    title: str
    frame: pd.DataFrame
    kinds: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    intro: list[str] = field(default_factory=list)


def sheet_title(text: str) -> str:
    """Return a valid Excel sheet name for ``text``."""
    for bad in "[]:*?/\\":
        text = text.replace(bad, " ")
    return text[:31]


def _cell_value(value: Any, kind: str) -> Any:
    """Return what a cell stores: Python scalars, dates as dates, None for missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if kind == "date":
        if isinstance(value, pd.Timestamp | dt.datetime):
            return value.date()
        if isinstance(value, str) and len(value) >= 10:
            try:
                return dt.date.fromisoformat(value[:10])
            except ValueError:
                return value
    if isinstance(value, list | tuple | np.ndarray):
        return "; ".join(str(v) for v in value)
    return value


#: Rows of a sheet its column widths look at.
_WIDTH_SAMPLE = 2000


def _text_lengths(values: pd.Series) -> np.ndarray:
    """Characters of each value written as text; -1 where missing.

    A float's text is its ``repr`` (what pandas writes), measured once per distinct value; an
    integer's is its decimal digits; anything else is measured as pandas' string of it.
    """
    missing = values.isna().to_numpy(bool)
    if values.dtype == np.float64:  # (a float32's repr as a float64 is longer than its text)
        floats = values.to_numpy("float64", na_value=np.nan)
        lengths = np.full(len(floats), -1, dtype="int64")
        distinct, where = np.unique(floats[~missing], return_inverse=True)
        lengths[~missing] = np.array([len(repr(value)) for value in distinct.tolist()], dtype="int64")[where]
        return lengths
    if pd.api.types.is_integer_dtype(values.dtype):
        texts = values.to_numpy("int64", na_value=0).astype(np.dtypes.StringDType())
    else:
        texts = values.astype("string").to_numpy(object, na_value="").astype(np.dtypes.StringDType())
    return np.where(missing, -1, np.strings.str_len(texts)).astype("int64")


def _longest_text(sample: pd.Series) -> int:
    """Characters of the longest value of ``sample`` written as text (0 when all are missing)."""
    return int(_text_lengths(sample).max(initial=0))


def _width(longest: int, header: str) -> int:
    """Characters needed to show a column's header (wrapped over two lines) and its longest value."""
    header_words = max((len(word) for word in header.split()), default=0)
    wanted = max(longest + 2, header_words + 2, math.ceil(len(header) / 2) + 2)
    return max(MIN_WIDTH, min(MAX_WIDTH, wanted))


def _unique_title(title: str, taken: set[str]) -> str:
    """A sheet name not yet in the workbook (Excel compares names case-insensitively)."""
    title = sheet_title(title).strip("'") or "Sheet"
    candidate, number = title, 1
    while candidate.casefold() in taken:
        suffix = str(number)
        candidate, number = title[: 31 - len(suffix)] + suffix, number + 1
    taken.add(candidate.casefold())
    return candidate


@dataclass
class _Layout:
    """A sheet as it will be written: its frame, columns, their kinds and headers, the lines above."""

    spec: Sheet
    plain: bool
    frame: pd.DataFrame
    columns: list[Any]
    kinds: dict[Any, str]
    heads: dict[Any, str]
    lines: list[str]

    @classmethod
    def of(cls, spec: Sheet, *, lang: str, synthetic_note: str, plain: bool = False) -> _Layout:
        frame = spec.frame.reset_index(drop=True)
        columns = list(frame.columns)
        kinds = {c: "text" if plain else (spec.kinds.get(c) or column_kind(str(c), frame[c])) for c in columns}
        heads = {c: spec.headers.get(c) or words.header(str(c), lang) for c in columns}
        lines = ([synthetic_note] if synthetic_note else []) + list(spec.intro)
        return cls(spec, plain, frame, columns, kinds, heads, lines)

    @property
    def header_row(self) -> int:
        """Zero-based row of the header: the intro lines sit above it."""
        return len(self.lines)

    def like(self) -> tuple[Any, ...]:
        """What sheets share to be rendered together: columns, kinds, dtypes, plainness."""
        return (
            tuple(self.columns),
            tuple(self.kinds.values()),
            tuple(map(str, self.frame.dtypes)),
            self.plain,
        )


def _tables(layouts: Sequence[_Layout], styles: Mapping[str, Any]) -> list[tuple[list[int], Any]]:
    """Each sheet's column widths and rows (:class:`lomsong.products._xlsx_rows.TableRows`).

    Sheets of like columns (a workbook's sheet per view or per unit) are rendered as one table and
    then cut: the cost of a column is paid once per workbook, not once per sheet.
    """
    from lomsong.products._xlsx_rows import column_cells, table_rows

    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, layout in enumerate(layouts):
        groups.setdefault(layout.like(), []).append(index)
    done: dict[int, tuple[list[int], Any]] = {}
    for members in groups.values():
        first = layouts[members[0]]
        frames = [layouts[i].frame for i in members]
        table = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        sizes = np.array([len(frame) for frame in frames])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        cells = [
            column_cells(
                table[column],
                date=first.kinds[column] == "date",
                number_format=styles.get(first.kinds[column]),
                text_format=styles["wrap"] if first.plain else None,
                date_format=styles["date"],
                safe=safe_cell,
                cell_value=lambda value, kind=first.kinds[column]: _cell_value(value, kind),
            )
            for column in first.columns
        ]
        # each sheet numbers its rows from the one below its header
        numbers = (
            np.arange(len(table))
            - np.repeat(starts, sizes)
            + np.repeat([layouts[i].header_row + 2 for i in members], sizes)
        )
        rows = table_rows(cells, numbers)
        lengths = [_text_lengths(table[column]) for column in first.columns]
        for index, start, size in zip(members, starts, sizes, strict=True):
            # the widths look at a sheet's first 2,000 rows, as many as anyone scrolls through
            sample = slice(start, start + min(size, _WIDTH_SAMPLE))
            widths = [
                _width(int(length[sample].max(initial=0)), layouts[index].heads[column])
                for column, length in zip(first.columns, lengths, strict=True)
            ]
            done[index] = (widths, rows.part(start, start + size))
    return [done[index] for index in range(len(layouts))]  # every sheet is in one group


def write_workbook(
    sheets: Sequence[Sheet],
    path: str | Path | IO[bytes],
    *,
    synthetic_note: str = "",
    legend: bool = True,
    lang: str = "vi",
) -> Path | IO[bytes]:
    """Write sheets to an XLSX file fit for a meeting (see the module docstring).

    Parameters
    ----------
    sheets : sequence of Sheet
        In order; put the summary first.
    path : str or Path or binary file
        Target file or buffer (written in place; callers that need atomicity write into a staging folder).
    synthetic_note : str, optional
        Written in red on top of every sheet when the data is simulated.
    legend : bool
        Add a last sheet 'Chú giải' listing each header, its machine name and its meaning.
    lang : str
        Language of the headers (``vi`` or ``en``).

    Returns
    -------
    Path
    """
    import xlsxwriter

    from lomsong.products._xlsx_rows import BulkWorksheet

    # XlsxWriter streams each sheet's rows to a temporary file (constant_memory), about twice as
    # fast as openpyxl's write-only mode; its guesses from strings are all off, and text cells are
    # written with write_string, so that no text from an input is ever a formula, a number or a link.
    workbook = xlsxwriter.Workbook(
        path,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": False,
        },
    )
    header_style = workbook.add_format({"bold": True, "bg_color": "#DCE6F2", "text_wrap": True, "valign": "top"})
    note_style = workbook.add_format({"bold": True, "font_color": "#9C0006", "bg_color": "#FFC7CE"})
    wrap_style = workbook.add_format({"text_wrap": True, "valign": "top"})
    number_styles = {kind: workbook.add_format({"num_format": code}) for kind, code in NUMBER_FORMATS.items()}
    layouts = [_Layout.of(spec, lang=lang, synthetic_note=synthetic_note) for spec in sheets]
    legend_rows: dict[str, tuple[str, str]] = {}
    for layout in layouts:
        for column in layout.columns:
            if str(column) in words.COLUMNS:
                legend_rows.setdefault(str(column), (layout.heads[column], words.meaning(str(column))))
    if legend and legend_rows:
        rows = pd.DataFrame(
            [(head, name, meaning) for name, (head, meaning) in legend_rows.items()],
            columns=["header", "machine_name", "meaning"],
        )
        headers = {
            "header": words.text(lang, "legend_header"),
            "machine_name": words.text(lang, "legend_machine_name"),
            "meaning": words.text(lang, "legend_meaning"),
        }
        legend_sheet = Sheet(words.text(lang, "legend_sheet"), rows, headers=headers)
        layouts.append(_Layout.of(legend_sheet, lang=lang, synthetic_note=synthetic_note, plain=True))
    styles = {**number_styles, "wrap": wrap_style}
    titles: set[str] = set()
    for layout, (widths, rows) in zip(layouts, _tables(layouts, styles), strict=True):
        sheet = workbook.add_worksheet(_unique_title(layout.spec.title, titles), worksheet_class=BulkWorksheet)
        columns, header_row, lines = layout.columns, layout.header_row, layout.lines
        for index, width in enumerate(widths):
            sheet.set_column(index, index, width)
        if columns:
            sheet.freeze_panes(header_row + 1, 0)
            sheet.autofilter(header_row, 0, header_row + max(len(layout.frame), 1), len(columns) - 1)
            sheet.repeat_rows(header_row)
        sheet.set_landscape()
        sheet.set_paper(9)  # A4
        sheet.fit_to_pages(1, 0)
        # intro lines and headers may carry names from the input (a unit, an operator): text, never a formula
        for row, line in enumerate(lines):
            sheet.write_string(row, 0, str(safe_cell(line)), note_style if line == synthetic_note else None)
        for index, column in enumerate(columns):
            sheet.write_string(header_row, index, str(safe_cell(layout.heads[column])), header_style)
        sheet.write_rows(header_row + 1, rows)
    workbook.close()
    return path if hasattr(path, "write") else Path(path)


def readable_values(frame: pd.DataFrame, lang: str = "vi") -> pd.DataFrame:
    """Return a copy with codes replaced by the words people read (operators, technology, states).

    Parameters
    ----------
    frame : pandas.DataFrame
        A table with some of ``operator``, ``technology``, ``state``, ``evidence``,
        ``operators_to_test``, ``has_grid_power``.
    lang : str
        ``vi`` or ``en``.

    Returns
    -------
    pandas.DataFrame
    """
    from lomsong.operators import display_name
    from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY

    out = frame.copy()
    if "operator" in out:
        names = out["operator"].astype(str)
        out["operator"] = np.where(
            names == ALL_OPERATORS, words.term("all_operators", lang), names.map(display_name).to_numpy(object)
        )
    if "technology" in out:
        out["technology"] = out["technology"].astype(str).replace({ANY_TECHNOLOGY: words.term("any_technology", lang)})
    if "state" in out:
        states = {s: words.term(f"state_{s}", lang) for s in ("no_data", "insufficient", "covered", "weak")}
        out["state"] = out["state"].astype(str).map(lambda s: states.get(s, s))
    if "evidence" in out:
        levels = {s: words.term(f"evidence_{s}", lang) for s in ("confirmed", "likely")}
        out["evidence"] = out["evidence"].astype(str).map(lambda s: levels.get(s, s))
    if "predicted_state" in out:
        guesses = {s: words.term(f"predicted_{s}", lang) for s in ("covered", "weak", "uncertain")}
        out["predicted_state"] = out["predicted_state"].astype("string").map(guesses.get, na_action="ignore")
    if "operators_to_test" in out:
        # few distinct lists: each is spelled out once
        codes, lists = pd.factorize(out["operators_to_test"].astype("string"))
        spelled = np.array([_spell_operators(text) for text in lists], dtype=object)
        out["operators_to_test"] = pd.Series(
            np.where(codes >= 0, spelled[np.maximum(codes, 0)] if len(spelled) else None, None), index=out.index
        ).astype("string")
    if "has_grid_power" in out:
        power = out["has_grid_power"].astype("boolean")
        yes, no = ("Có", "Không") if lang == "vi" else ("Yes", "No")
        out["has_grid_power"] = np.where(power.isna(), "", np.where(power.fillna(False), yes, no))
    return out


def _spell_operators(text: str) -> str:
    """``viettel;mobifone`` as people read it: ``Viettel; MobiFone``."""
    from lomsong.operators import display_name

    return "; ".join(display_name(op) for op in text.split(";") if op)


def frame_kinds(frame: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, str]:
    """Translate a report table's kinds (``text``, ``int``, ``float1``, ``share``, ``signed``) to sheet kinds."""
    return {column: {"int": "people"}.get(kind, kind) for column, kind in kinds.items() if column in frame.columns}
