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
