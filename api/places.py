"""Communes, districts and 2025 units of a run: what people type (a GSO code, a name with or without
diacritics and ``Xã``/``Huyện``) turned into the rows of the commune table.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lomsong._text import fold, fold_series

#: Administrative prefixes people may leave out of a name ("Đắk Mil" for "Thị trấn Đắk Mil").
_TYPE_PREFIXES = ("thi tran ", "thanh pho ", "thi xa ", "phuong ", "huyen ", "xa ", "tp. ", "tp ")

#: Columns of the 2025 unit when the run's tables carry them.
_UNIT_COLUMNS = ["unit_2025_code", "unit_2025"]

def bare_name(key: str) -> str:
    for prefix in _TYPE_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :].strip()
    return key

def bare_series(keys: pd.Series) -> pd.Series:
    pattern = "^(?:" + "|".join(p.replace(".", r"\.") for p in _TYPE_PREFIXES) + ")"
    return keys.str.replace(pattern, "", regex=True).str.strip()

@dataclass
class PlaceIndex:
    """Communes and districts of a run, to turn what people type into GSO codes.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per commune: codes, names, and their folded forms with and without the
        administrative prefix (``Xã``, ``Thị trấn``, ``Huyện`` …).
    """

    table: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> PlaceIndex:
        """Build the index from any table with commune and district codes and names."""
        columns = ["commune_code", "commune", "district_code", "district"]
        folded = ["key", "bare", "district_key", "district_bare", "unit_key", "unit_bare"]
        if frame.empty or not set(columns) <= set(frame.columns):
            return cls(pd.DataFrame(columns=[*columns, *_UNIT_COLUMNS, *folded]))
        table = frame[columns + [c for c in _UNIT_COLUMNS if c in frame.columns]]
        table = table.drop_duplicates("commune_code").reset_index(drop=True).astype("string")
        for column in _UNIT_COLUMNS:
            if column not in table:
                table[column] = pd.Series(pd.NA, index=table.index, dtype="string")
        table["key"] = fold_series(table["commune"]).fillna("")
        table["bare"] = bare_series(table["key"])
        table["district_key"] = fold_series(table["district"]).fillna("")
        table["district_bare"] = bare_series(table["district_key"])
        table["unit_key"] = fold_series(table["unit_2025"]).fillna("")
        table["unit_bare"] = bare_series(table["unit_key"])
        return cls(table)

    def communes(self, text: str) -> pd.DataFrame:
        """Rows of the communes a text names: its GSO code, or its name with or without prefix."""
        query = text.strip()
        key = fold(query)
        table = self.table
        hit = (table["commune_code"] == query) | (table["key"] == key) | (table["bare"] == bare_name(key))
        return table[hit.to_numpy(bool, na_value=False)]

    def districts(self, text: str) -> pd.DataFrame:
        """Rows (communes) of the districts a text names: code, or name with or without prefix."""
        query = text.strip()
        key = fold(query)
        table = self.table
        bare = table["district_bare"] == bare_name(key)
        hit = (table["district_code"] == query) | (table["district_key"] == key) | bare
        return table[hit.to_numpy(bool, na_value=False)]

    def units(self, text: str) -> pd.DataFrame:
        """Rows (old communes) of the 2025 unit a text names: code, or name with or without prefix."""
        query = text.strip()
        key = fold(query)
        table = self.table
        hit = (table["unit_2025_code"] == query) | (table["unit_key"] == key) | (table["unit_bare"] == bare_name(key))
        return table[hit.to_numpy(bool, na_value=False)]
