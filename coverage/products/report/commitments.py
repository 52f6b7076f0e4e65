"""The monthly report's section on committed sites: where each is, and whether the gaps around it closed.

:func:`commitments_section` turns the follow-up (:func:`lomsong.analysis.commitments.follow_up_commitments`)
into a :class:`CommitmentSection` the report renders three ways: the HTML partial
``templates/commitments.html.j2``, :func:`pdf_story` (reportlab flowables) and :func:`xlsx_sheets`
(one sheet, every period's row). Every word comes from :mod:`lomsong.products.words`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lomsong.operators import display_name
from lomsong.products import words
from lomsong.products.workbook import Sheet, readable_values

#: The report table's columns (machine names, headers from :data:`lomsong.products.words.COLUMNS`).
SECTION_KEYS = [
    "operator",
    "technology",
    "site_id",
    "planned_month",
    "lon",
    "lat",
    "unit",
    "commune",
    "plan_people",
    "baseline_period",
    "gap_people_before",
    "period",
    "commitment_status",
    "people_newly_covered",
    "history",
]
#: The columns of the PDF (an A4 page) and their shares of the page's width.
PDF_KEYS = [
    "operator",
    "technology",
    "site_id",
    "planned_month",
    "unit",
    "plan_people",
    "gap_people_before",
    "commitment_status",
    "people_newly_covered",
    "history",
]
PDF_WIDTHS = [0.09, 0.05, 0.12, 0.07, 0.16, 0.08, 0.08, 0.12, 0.08, 0.15]
_KINDS = {"plan_people": "int", "gap_people_before": "int", "people_newly_covered": "int"}
_KINDS |= {"lon": "coord", "lat": "coord"}


@dataclass
class CommitmentSection:
    """What the report shows of the committed sites; shaped like the report's own tables.

    Attributes
    ----------
    title, intro : str
        Heading and the paragraph saying how to read the table.
    frame : pandas.DataFrame
        One row per commitment (its latest period), headers in the reader's language.
    keys : list of str
        Machine names of the columns, same order.
    statuses : list of str
        Each row's machine status (``closed`` …), for the HTML ``data-status``.
    followup : pandas.DataFrame
        Every period's row (:data:`lomsong.tables.commitments.FOLLOWUP_COLUMNS`), for the XLSX.
    lang : str
    """

    title: str
    intro: str
    frame: pd.DataFrame
    keys: list[str]
    statuses: list[str]
    followup: pd.DataFrame
    lang: str
    emphasis: list[bool] = field(default_factory=list)

    def formatted(self, lang: str | None = None) -> list[list[str]]:
        """Display strings, row by row (numbers in the reader's style, missing as –)."""
        lang = lang or self.lang
        kinds = [_KINDS.get(key, "text") for key in self.keys]
        return [
            [_display(value, kind, lang) for value, kind in zip(row, kinds, strict=True)]
            for row in self.frame.itertuples(index=False)  # one row per committed site
        ]

    def rows(self) -> list[list[str]]:
        """Display strings in the section's language."""
        return self.formatted(self.lang)

    def numeric(self) -> list[bool]:
        """Which columns are numbers (right-aligned)."""
        return [_KINDS.get(key, "text") != "text" for key in self.keys]

    def narrow(self) -> CommitmentSection:
        """The section with the columns an A4 page holds (the place in one column; no coordinates)."""
        headers = dict(zip(self.keys, self.frame.columns, strict=True))
        frame = self.frame.copy()
        unit, commune = frame[headers["unit"]].astype(str), frame[headers["commune"]].astype(str)
        frame[headers["unit"]] = np.where(commune != "", unit + " (" + commune + ")", unit)
        keys = [k for k in PDF_KEYS if k in headers]
        return CommitmentSection(
            self.title, self.intro, frame[[headers[k] for k in keys]], keys, self.statuses, self.followup, self.lang
        )


def _display(value: Any, kind: str, lang: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "–"
    if kind == "int":
        return words.format_number(round(float(value)), lang)
    if kind == "coord":
        return f"{float(value):.5f}"
    return str(value)


def status_word(status: str, lang: str) -> str:
    """The words people read for a follow-up status."""
    return words.text(lang, f"commitment_{status}")


def commitments_section(followup: pd.DataFrame, lang: str = "vi") -> CommitmentSection:
    """Build the section from the follow-up table (every period's row; the latest is shown).

    Parameters
    ----------
    followup : pandas.DataFrame
        :func:`lomsong.analysis.commitments.follow_up_commitments`.
    lang : str
        ``vi`` or ``en``.
    """
    from lomsong.analysis.commitments import latest_status

    latest = latest_status(followup)
    statuses = latest["status"].astype(str).tolist()
    frame = pd.DataFrame(
        {
            "operator": latest["operator"].astype(str).map(display_name),
            "technology": latest["technology"].astype(str),
            "site_id": latest["site_id"].fillna("").astype(str),
            "planned_month": latest["planned_month"].astype(str),
            "lon": latest["lon"],
            "lat": latest["lat"],
            "unit": latest["unit"].fillna("").astype(str),
            "commune": latest["commune"].fillna("").astype(str),
            "plan_people": latest["plan_people"],
            "baseline_period": latest["baseline_period"].fillna("").astype(str),
            "gap_people_before": latest["gap_people_before"],
            "period": latest["period"].fillna("").astype(str),
            "commitment_status": [status_word(s, lang) for s in statuses],
            "people_newly_covered": latest["people_newly_covered"],
            "history": latest["history"].fillna("").astype(str).map(lambda h: _history_words(h, lang)),
        }
    )[SECTION_KEYS]
    headers = {key: words.header(key, lang) for key in SECTION_KEYS}
    return CommitmentSection(
        title=words.text(lang, "commitments_title"),
        intro=words.text(lang, "commitments_intro"),
        frame=frame.rename(columns=headers),
        keys=list(SECTION_KEYS),
        statuses=statuses,
        followup=followup,
        lang=lang,
    )


def status_counts(section: CommitmentSection) -> str:
    """One line for the command line: the committed sites per status, in both languages."""
    from collections import Counter

    counts = Counter(section.statuses).most_common()
    parts = ", ".join(f"{words.bilingual(f'commitment_{status}')}: {n}" for status, n in counts)
    return f"{words.bilingual('sheet_commitments')}: {len(section.statuses)} ({parts})"


def _history_words(history: str, lang: str) -> str:
    """``2026-10: closed; 2026-11: still_open`` in the reader's words."""
    if not history:
        return ""
    parts = []
    for item in history.split("; "):
        period, _, status = item.partition(": ")
        parts.append(f"{period}: {status_word(status, lang)}")
    return "; ".join(parts)


def pdf_story(section: CommitmentSection | None, table: Callable[[Any], Any], heading: Any, small: Any) -> list[Any]:
    """The section's reportlab flowables (empty without commitments).

    Parameters
    ----------
    section : CommitmentSection or None
    table : callable
        The report's own table renderer (``render_pdf``'s: a table and its column widths), so the
        section looks like the others.
    heading, small : reportlab ParagraphStyle
        The report's h2 and small styles.
    """
    if section is None:
        return []
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer

    width = A4[0] - 30 * mm  # the report's margins
    return [
        Paragraph(escape(section.title), heading),
        Paragraph(escape(section.intro), small),
        Spacer(1, 3),
        table(section.narrow(), [width * share for share in PDF_WIDTHS]),
    ]


def xlsx_sheets(section: CommitmentSection | None) -> list[Sheet]:
    """The section's workbook sheet: every commitment × period row (empty without commitments)."""
    if section is None:
        return []
    frame = section.followup.copy()
    frame["status"] = frame["status"].astype(str).map(lambda s: status_word(s, section.lang))
    frame = frame.rename(columns={"status": "commitment_status"})
    return [
        Sheet(
            words.text(section.lang, "sheet_commitments"),
            readable_values(pd.DataFrame(frame), section.lang),
            intro=[section.intro],
        )
    ]


__all__ = ["CommitmentSection", "commitments_section", "pdf_story", "status_counts", "status_word", "xlsx_sheets"]
