"""The measurement plan as the community digital teams (Tổ công nghệ số cộng đồng) take it out.

``campaign.csv`` lists every populated cell still lacking evidence, province-wide (2,245 rows on
the demo). A team works in one 2025 unit, so ``campaign.xlsx`` gives a summary sheet (per unit:
communes, cells, team-days, people in those cells, the people the first day decides) and one
sheet per unit, rows in the order of the visit (commune, then ``visit_order``) with what a team
needs there (:data:`TEAM_COLUMNS`), each printable on its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lomsong.products.words import text
from lomsong.products.workbook import Sheet, readable_values, sheet_title

#: What a team reads on its unit's sheet, in this order: where to go next and what to measure there.
TEAM_COLUMNS = [
    "visit_order", "commune", "h3", "lat", "lon", "population", "operators_to_test", "samples_needed",
    "devices_needed", "state", "predicted_state", "p_covered", "value", "priority", "commune_code",
]  # fmt: skip


def _unit_of(plan: pd.DataFrame, lang: str) -> pd.Series:
    """The 2025 unit of each row; the 2019 commune where the run had no 2025 mapping."""
    unit = plan.get("unit_2025", pd.Series(pd.NA, index=plan.index)).astype("string")
    commune = plan["commune"].astype("string").fillna(text(lang, "campaign_no_unit"))
    return unit.fillna(commune).where(unit.fillna("") != "", commune)


def campaign_summary(plan: pd.DataFrame, *, cells_per_day: int, lang: str = "vi") -> pd.DataFrame:
    """Per unit: communes, cells to measure, team-days, people in those cells, people decided on day one.

    Parameters
    ----------
    plan : pandas.DataFrame
        The measurement plan (:data:`lomsong.products.tables.CAMPAIGN_COLUMNS`).
    cells_per_day : int
        Cells one team measures in a day (:data:`lomsong.analysis.engine.CELLS_PER_DAY`).
    lang : {"vi", "en"}
        Language of the headers.

    Returns
    -------
    pandas.DataFrame
        One row per unit, the most people first, then a total row; readable headers.
    """
    unit = _unit_of(plan, lang)
    communes = plan["commune_code"].astype("string")
    # each commune's team-days are counted apart: a team does not cross communes within a day
    per_commune = (
        plan.assign(_unit=unit)
        .groupby(["_unit", "commune_code"], dropna=False)
        .agg(
            cells=("h3", "size"),
            people=("population", "sum"),
            decided=("expected_people_decided", "first"),
        )
    )
    per_commune["days"] = np.ceil(per_commune["cells"].to_numpy() / cells_per_day).astype("int64")
    per_unit = per_commune.groupby(level="_unit").agg(
        cells=("cells", "sum"), days=("days", "sum"), people=("people", "sum"), decided=("decided", "sum")
    )
    per_unit["communes"] = communes.groupby(unit.to_numpy()).nunique()
    per_unit = per_unit.sort_values(["people", "cells"], ascending=False)
    total = per_unit.sum(numeric_only=True).to_frame().T
    total.index = [text(lang, "campaign_total")]
    table = pd.concat([per_unit, total])
    headers = {
        "communes": text(lang, "campaign_communes"),
        "cells": text(lang, "campaign_cells"),
        "days": text(lang, "campaign_team_days", cells=cells_per_day),
        "people": text(lang, "campaign_people"),
        "decided": text(lang, "campaign_decided"),
    }
    out = table[list(headers)].round().astype("Int64").rename(columns=headers)
    out.insert(0, text(lang, "campaign_unit"), out.index.astype(str))
    return out.reset_index(drop=True)


def campaign_sheets(plan: pd.DataFrame, *, cells_per_day: int, lang: str = "vi") -> list[Sheet]:
    """The summary sheet and one sheet per unit, each in the order a team visits.

    Parameters
    ----------
    plan : pandas.DataFrame
        The tidy measurement plan (machine column names).
    cells_per_day : int
        Cells one team measures in a day.
    lang : {"vi", "en"}
        Language of headers and sheet names.

    Returns
    -------
    list of Sheet
    """
    summary = campaign_summary(plan, cells_per_day=cells_per_day, lang=lang)
    kinds = {name: "people" for name in summary.columns[1:]}
    intro = [text(lang, "campaign_intro", cells=cells_per_day)]
    sheets = [Sheet(text(lang, "summary_sheet"), summary, kinds=kinds, headers={c: c for c in summary.columns},
                    intro=intro)]  # fmt: skip
    unit = _unit_of(plan, lang)
    order = summary[text(lang, "campaign_unit")].iloc[:-1]  # the units, most people first
    # one sort and one translation for the whole plan, then a slice per unit: each unit's rows in
    # visit order (commune, then visit_order), as a team walks them
    rank = pd.Index(order).get_indexer(unit.to_numpy(object))
    rows = plan.assign(_rank=rank).sort_values(["_rank", "commune_code", "visit_order"], kind="stable")
    rank = rows["_rank"].to_numpy()
    rows = readable_values(rows[[c for c in TEAM_COLUMNS if c in rows.columns]].reset_index(drop=True), lang)
    bounds = np.searchsorted(rank, np.arange(len(order) + 1))
    used: set[str] = {sheets[0].title}
    for number_of_unit, name in enumerate(order):
        title = sheet_title(str(name))
        for number in range(2, 100):  # two long names cut to the same 31 characters
            if title not in used:
                break
            title = sheet_title(f"{str(name)[:27]} ({number})")
        used.add(title)
        unit_rows = rows.iloc[bounds[number_of_unit] : bounds[number_of_unit + 1]].reset_index(drop=True)
        sheets.append(Sheet(title, unit_rows, intro=[str(name)]))
    return sheets
