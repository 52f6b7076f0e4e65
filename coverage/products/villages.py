"""The provincial village list (``villages.xlsx``): the Ministry's two tiers per village and commune.

Sheets, Vietnamese first:

- **Danh sách thôn, bon** — one row per village: STT, Huyện, Xã, Đơn vị mới (2025), Thôn/Bon, Số hộ, Số dân, Điện
  lưới, the CV 1603 status for all operators (Trắng sóng / Lõm sóng / Có sóng / Chưa đủ dữ
  liệu) and per operator, Số dân bị ảnh hưởng, Số hộ bị ảnh hưởng, Vùng lõm sóng (gap ids), and
  the centre's measured state per operator as before.
- **Tổng hợp theo xã** — per commune the count of villages in each status, and a province row.
- **Đối chiếu dân số** — per commune the census, the source's figure and the people used
  (``run.json`` ``population.communes``), when the run recorded it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lomsong.operators import display_name
from lomsong.products.words import header as column_header
from lomsong.products.words import text

#: The Ministry's tiers, in the order the list counts them (codes of ``status_cv1603``).
CV1603_ORDER = ["trang_song", "lom_song", "co_song", "chua_du_du_lieu"]

_CENTRE_STATES = ("covered", "weak", "insufficient", "no_data")


def _w(key: str, lang: str = "vi", **values: object) -> str:
    return text(lang, key, **values)


LIST_SHEET = _w("vl_sheet_list")
COUNT_SHEET = _w("vl_sheet_counts")
CHECK_SHEET = _w("vl_sheet_check")


def cv1603_label(codes: pd.Series, lang: str = "vi") -> np.ndarray:
    """Return the words of CV 1603 status codes (empty for a missing one)."""
    labels = {code: text(lang, f"cv1603_{code}") for code in CV1603_ORDER}
    return codes.astype("string").map(labels).fillna("").to_numpy(object)


def _whole(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").round().astype("Int64").to_numpy()


def village_report(villages_status: pd.DataFrame, operators: Sequence[str], lang: str = "vi") -> pd.DataFrame:
    """Return the village list in the shape of the provincial report, headers in ``lang``.

    Parameters
    ----------
    villages_status : pandas.DataFrame
        Output of :func:`lomsong.analysis.villages.village_status` (older runs without the CV 1603
        columns give empty cells there).
    operators : sequence of str
        Operators to show, one column each (those without a ``status_`` column are skipped).
    lang : {"vi", "en"}
        Language of the headers and values.

    Returns
    -------
    pandas.DataFrame
        Sorted by district, commune and village.
    """
    table = pd.DataFrame(villages_status).sort_values(["district", "commune", "name"], na_position="last")
    power = table["has_grid_power"].astype("boolean")
    missing = pd.Series(pd.NA, index=table.index, dtype="string")
    yes, no = _w("grid_power_yes", lang), _w("grid_power_no", lang)
    report = pd.DataFrame(
        {
            _w("vl_stt", lang): np.arange(1, len(table) + 1),
            _w("vl_district", lang): table["district"].astype("string").to_numpy(),
            _w("vl_commune", lang): table["commune"].astype("string").to_numpy(),
            column_header("unit_2025", lang): table.get("unit_2025", missing).astype("string").to_numpy(),
            _w("vl_village", lang): table["name"].astype("string").to_numpy(),
            _w("households", lang): table["households"].astype("Int64").to_numpy(),
            _w("village_people", lang): table["population"].astype("Int64").to_numpy(),
            _w("grid_power", lang): np.where(power.isna(), "", np.where(power.fillna(False), yes, no)),
            _w("vl_status", lang): cv1603_label(table.get("status_cv1603", missing), lang),
        }
    )
    for operator in operators:
        column = f"status_cv1603_{operator}"
        if column in table:
            report[_w("vl_status_operator", lang, operator=display_name(operator))] = cv1603_label(table[column], lang)
    report[_w("people_affected", lang)] = _whole(table.get("people_affected", missing))
    report[_w("households_affected", lang)] = _whole(table.get("households_affected", missing))
    gap_ids = table.get("gap_ids", missing).astype("string").fillna("")
    report[_w("vl_gaps", lang)] = gap_ids.str.replace(";", "; ").to_numpy()
    states = {state: _w(f"vl_state_{state}", lang) for state in _CENTRE_STATES}
    for operator in operators:
        column = f"status_{operator}"
        if column in table:
            header = _w("vl_centre_operator", lang, operator=display_name(operator))
            report[header] = table[column].map(states).fillna("").to_numpy()
    report[_w("vl_no_operator", lang)] = np.where(table["no_operator"].to_numpy(bool), "x", "")
    return report


def status_counts(villages_status: pd.DataFrame, lang: str = "vi") -> pd.DataFrame:
    """Count the villages of each commune in each CV 1603 status (all operators), with a total row.

    Parameters
    ----------
    villages_status : pandas.DataFrame
        Output of :func:`lomsong.analysis.villages.village_status`.
    lang : {"vi", "en"}
        Language of the headers.

    Returns
    -------
    pandas.DataFrame
        District, commune, villages, one column per status, people and households affected; the
        last row (the province) sums them.
    """
    table = pd.DataFrame(villages_status)
    status = table.get("status_cv1603", pd.Series(pd.NA, index=table.index)).astype("string")
    keys = [table["district"].astype("string").fillna(""), table["commune"].astype("string").fillna("")]
    counts = pd.crosstab(keys, status).reindex(columns=CV1603_ORDER, fill_value=0)
    villages = table.groupby(keys).size()
    affected = table.groupby(keys)[["people_affected", "households_affected"]].sum(min_count=1) if (
        "people_affected" in table
    ) else pd.DataFrame(index=villages.index, columns=["people_affected", "households_affected"])  # fmt: skip
    counts = counts.reindex(villages.index, fill_value=0)
    district, commune = _w("vl_district", lang), _w("vl_commune", lang)
    out = pd.DataFrame(
        {
            district: villages.index.get_level_values(0),
            commune: villages.index.get_level_values(1),
            _w("vl_villages", lang): villages.to_numpy(),
            **{text(lang, f"cv1603_{code}"): counts[code].to_numpy() for code in CV1603_ORDER},
            _w("people_affected", lang): _whole(affected["people_affected"]),
            _w("households_affected", lang): _whole(affected["households_affected"]),
        }
    )
    total = {column: out[column].sum() for column in out.columns[2:]}
    return pd.concat([out, pd.DataFrame([{district: _w("vl_province", lang), commune: "", **total}])],
                     ignore_index=True)  # fmt: skip


def population_check(record: dict[str, Any] | None, lang: str = "vi") -> pd.DataFrame | None:
    """Return the per-commune population check of ``run.json`` with headers in ``lang`` (None without)."""
    if not record or not record.get("communes"):
        return None
    frame = pd.DataFrame(record["communes"])
    return pd.DataFrame(
        {
            _w("vl_commune_code", lang): frame["commune_code"].astype(str),
            _w("vl_commune", lang): frame["commune"].astype(str),
            _w("vl_census", lang): _whole(frame["census"]),
            _w("vl_source_people", lang): _whole(frame["source_people"]),
            _w("vl_items", lang): frame["n_items"].astype("Int64"),
            _w("vl_used", lang): _whole(frame["used"]),
            _w("vl_placed", lang): _whole(frame["placed"]),
            _w("vl_spread", lang): _whole(frame["spread_evenly"]),
        }
    )
