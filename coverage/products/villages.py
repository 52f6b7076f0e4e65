"""The provincial village list (``villages.xlsx``): the Ministry's two tiers per village and commune.

Sheets, Vietnamese first:

- **Danh sách thôn, bon** — one row per village: STT, Huyện, Xã, Thôn/Bon, Số hộ, Số dân, Điện
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
from lomsong.products.words import text

#: The Ministry's tiers, in the order the list counts them (codes of ``status_cv1603``).
CV1603_ORDER = ["trang_song", "lom_song", "co_song", "chua_du_du_lieu"]

#: Vietnamese labels of the centre's measured state (the list's older columns).
STATE_LABELS_VI = {
    "covered": "Có sóng",
    "weak": "Sóng yếu",
    "insufficient": "Chưa đủ dữ liệu",
    "no_data": "Chưa có dữ liệu",
}

LIST_SHEET = "Danh sách thôn, bon"
COUNT_SHEET = "Tổng hợp theo xã"
CHECK_SHEET = "Đối chiếu dân số"


def cv1603_label(codes: pd.Series, lang: str = "vi") -> np.ndarray:
    """Return the words of CV 1603 status codes (empty for a missing one)."""
    labels = {code: text(lang, f"cv1603_{code}") for code in CV1603_ORDER}
    return codes.astype("string").map(labels).fillna("").to_numpy(object)


def _whole(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").round().astype("Int64").to_numpy()


def village_report(villages_status: pd.DataFrame, operators: Sequence[str]) -> pd.DataFrame:
    """Return the village list in the shape of the provincial report, Vietnamese headers.

    Parameters
    ----------
    villages_status : pandas.DataFrame
        Output of :func:`lomsong.analysis.villages.village_status` (older runs without the CV 1603
        columns give empty cells there).
    operators : sequence of str
        Operators to show, one column each (those without a ``status_`` column are skipped).

    Returns
    -------
    pandas.DataFrame
        Sorted by district, commune and village.
    """
    table = pd.DataFrame(villages_status).sort_values(["district", "commune", "name"], na_position="last")
    power = table["has_grid_power"].astype("boolean")
    missing = pd.Series(pd.NA, index=table.index, dtype="string")
    report = pd.DataFrame(
        {
            "STT": np.arange(1, len(table) + 1),
            "Huyện": table["district"].astype("string").to_numpy(),
            "Xã": table["commune"].astype("string").to_numpy(),
            "Thôn/Bon": table["name"].astype("string").to_numpy(),
            "Số hộ": table["households"].astype("Int64").to_numpy(),
            "Số dân": table["population"].astype("Int64").to_numpy(),
            "Điện lưới": np.where(power.isna(), "", np.where(power.fillna(False), "Có", "Không")),
            "Tình trạng (CV 1603)": cv1603_label(table.get("status_cv1603", missing)),
        }
    )
    for operator in operators:
        column = f"status_cv1603_{operator}"
        if column in table:
            report[f"{display_name(operator)} (CV 1603)"] = cv1603_label(table[column])
    report["Số dân bị ảnh hưởng"] = _whole(table.get("people_affected", missing))
    report["Số hộ bị ảnh hưởng"] = _whole(table.get("households_affected", missing))
    gap_ids = table.get("gap_ids", missing).astype("string").fillna("")
    report["Vùng lõm sóng"] = gap_ids.str.replace(";", "; ").to_numpy()
    for operator in operators:
        column = f"status_{operator}"
        if column in table:
            report[f"{display_name(operator)}: sóng tại trung tâm"] = (
                table[column].map(STATE_LABELS_VI).fillna("").to_numpy()
            )
    report["Không nhà mạng nào"] = np.where(table["no_operator"].to_numpy(bool), "x", "")
    return report


def status_counts(villages_status: pd.DataFrame) -> pd.DataFrame:
    """Count the villages of each commune in each CV 1603 status (all operators), with a total row.

    Parameters
    ----------
    villages_status : pandas.DataFrame
        Output of :func:`lomsong.analysis.villages.village_status`.

    Returns
    -------
    pandas.DataFrame
        Huyện, Xã, Số thôn, one column per status, Số dân bị ảnh hưởng, Số hộ bị ảnh hưởng; the
        last row (``Toàn tỉnh``) sums them.
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
    out = pd.DataFrame(
        {
            "Huyện": villages.index.get_level_values(0),
            "Xã": villages.index.get_level_values(1),
            "Số thôn": villages.to_numpy(),
            **{text("vi", f"cv1603_{code}"): counts[code].to_numpy() for code in CV1603_ORDER},
            "Số dân bị ảnh hưởng": _whole(affected["people_affected"]),
            "Số hộ bị ảnh hưởng": _whole(affected["households_affected"]),
        }
    )
    total = {column: out[column].sum() for column in out.columns[2:]}
    out = pd.concat([out, pd.DataFrame([{"Huyện": "Toàn tỉnh", "Xã": "", **total}])], ignore_index=True)
    return out


def population_check(record: dict[str, Any] | None) -> pd.DataFrame | None:
    """Return the per-commune population check of ``run.json`` with Vietnamese headers (None without)."""
    if not record or not record.get("communes"):
        return None
    frame = pd.DataFrame(record["communes"])
    return pd.DataFrame(
        {
            "Mã xã": frame["commune_code"].astype(str),
            "Xã": frame["commune"].astype(str),
            "Dân số điều tra 2019": _whole(frame["census"]),
            "Tổng số dân của nguồn": _whole(frame["source_people"]),
            "Số mục của nguồn (thôn / nhà)": frame["n_items"].astype("Int64"),
            "Số dân dùng": _whole(frame["used"]),
            "Đặt theo nguồn": _whole(frame["placed"]),
            "Rải đều": _whole(frame["spread_evenly"]),
        }
    )
