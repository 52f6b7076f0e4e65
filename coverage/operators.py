"""Vietnam's mobile operators: canonical ids, PLMNs, names and colours.

Operator ids in every table are the canonical ids below; an operator that is not Vietnamese is
``plmn:<MCCMNC>``. Display names are what people read on maps and in reports.
"""

from __future__ import annotations

import pandas as pd

from lomsong._text import fold

#: Canonical id → (PLMN, display name). PLMNs from FORMATS.md (MCC 452 = Vietnam).
OPERATORS: dict[str, tuple[str, str]] = {
    "viettel": ("45204", "Viettel"),
    "vinaphone": ("45202", "VinaPhone (VNPT)"),
    "mobifone": ("45201", "MobiFone"),
    "vietnamobile": ("45205", "Vietnamobile"),
    "gmobile": ("45207", "Gmobile"),
}
OPERATOR_IDS = list(OPERATORS)
PLMN_TO_OPERATOR = {plmn: op for op, (plmn, _) in OPERATORS.items()}
#: OpenCelliD ``net`` (MNC as an integer, MCC 452) → operator.
MNC_TO_OPERATOR = {int(plmn[3:]): op for op, (plmn, _) in OPERATORS.items()}

#: Names seen in the wild (folded) → canonical id.
_ALIASES = {
    "viettel": "viettel",
    "viettel mobile": "viettel",
    "vtl": "viettel",
    "vinaphone": "vinaphone",
    "vina": "vinaphone",
    "vnpt": "vinaphone",
    "vnpt vinaphone": "vinaphone",
    "vinaphone (vnpt)": "vinaphone",
    "gpc": "vinaphone",
    "mobifone": "mobifone",
    "mobi": "mobifone",
    "vms": "mobifone",
    "vietnamobile": "vietnamobile",
    "vnmobile": "vietnamobile",
    "vietnam mobile": "vietnamobile",
    "gmobile": "gmobile",
    "beeline": "gmobile",
    "g-mobile": "gmobile",
}

#: Colour-blind-safe colours (Okabe-Ito) for operators on maps and charts.
OPERATOR_COLOURS = {
    "viettel": "#D55E00",
    "vinaphone": "#0072B2",
    "mobifone": "#009E73",
    "vietnamobile": "#E69F00",
    "gmobile": "#CC79A7",
    "all": "#000000",
}


def operator_from_plmn(plmn: str | int | None) -> str | None:
    """Return the canonical operator id for a PLMN (``45204`` → ``viettel``).

    Parameters
    ----------
    plmn : str or int or None
        MCC+MNC.

    Returns
    -------
    str or None
        Canonical id, ``plmn:<MCCMNC>`` for other networks, None when empty.
    """
    if plmn is None or (isinstance(plmn, float) and pd.isna(plmn)):
        return None
    text = str(plmn).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text or text in {"-", "--"}:
        return None
    return PLMN_TO_OPERATOR.get(text, f"plmn:{text}")


def operator_from_name(name: str | None) -> str | None:
    """Return the canonical id for an operator name or id as people write it.

    ``Viettel``, ``VNPT``, ``VinaPhone``, ``45202``, ``Mobi`` … are understood; an unknown name
    returns None.
    """
    if name is None or (isinstance(name, float) and pd.isna(name)):
        return None
    text = str(name).strip()
    if text.isdigit() and len(text) in (5, 6):
        return operator_from_plmn(text)
    if text.startswith("plmn:"):
        return text
    return _ALIASES.get(fold(text))


def display_name(operator: str) -> str:
    """Return the name people read for an operator id (``all`` → ``Tất cả nhà mạng``)."""
    if operator == "all":
        return "Tất cả nhà mạng"
    return OPERATORS.get(operator, (None, operator))[1]
