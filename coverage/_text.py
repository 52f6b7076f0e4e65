"""Text helpers for Vietnamese names: NFC normalisation and diacritic-insensitive folding."""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

_SPACES = re.compile(r"\s+")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "ʼ": "'"})


def nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC with apostrophes unified and spaces collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", str(text)).translate(_APOSTROPHES)).strip()


def fold(text: str) -> str:
    """Return a diacritic-insensitive, case-insensitive key for a Vietnamese name.

    ``Đắk Mil``, ``Đăk Mil``, ``DAK MIL`` and ``dak mil`` all fold to ``dak mil``; đ folds to d.

    Parameters
    ----------
    text : str
        Any name.

    Returns
    -------
    str
        Lower-case ASCII-ish key with marks removed and spaces collapsed.
    """
    decomposed = unicodedata.normalize("NFD", nfc(text).replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", stripped.casefold()).strip()


def fold_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`fold` over a string Series (missing values stay missing)."""
    return values.astype("string").map(fold, na_action="ignore")


#: First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a
#: formula or a command; OWASP's list for CSV injection, plus the line breaks some programs trim.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]|[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """Return ``value`` so that no spreadsheet reads it as a formula (text is never a formula).

    A text starting with ``=``, ``+``, ``-``, ``@`` (or a tab, a line break, or their full-width
    forms) gets a leading apostrophe, which Excel and LibreOffice show as text and never evaluate;
    a plain signed number (``-12.5``) or a lone sign is left alone, as are non-text values.

    Parameters
    ----------
    value : object
        A cell value about to be written to CSV, XLSX or KML.

    Returns
    -------
    object
        The value, neutralised when it is text that would start a formula.

    Examples
    --------
    >>> safe_cell('=HYPERLINK("http://evil.example")')
    '\\'=HYPERLINK("http://evil.example")'
    >>> safe_cell("-12.5"), safe_cell(3)
    ('-12.5', 3)
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` whose text cells are :func:`safe_cell`-neutralised, column by column.

    Only text (object or string) columns are looked at, with vectorised string operations; numbers,
    dates and missing values pass through unchanged.
    """
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if not (column.dtype == object or isinstance(column.dtype, pd.StringDtype)):
            continue
        text = column.astype("string") if column.dtype != object else column
        # non-text values in an object column give NA here and stay as they are
        is_text = text.map(type, na_action="ignore").eq(str) if column.dtype == object else text.notna()
        starts = text.str[:1].isin(FORMULA_STARTS).fillna(False).astype(bool) & is_text.fillna(False).astype(bool)
        if not starts.any():
            continue
        risky = text[starts].astype(str)
        risky = risky[~risky.str.fullmatch(_PLAIN_NUMBER.pattern)]
        if len(risky):
            out[name] = column.astype(object)
            out.loc[risky.index, name] = "'" + risky
    return out
