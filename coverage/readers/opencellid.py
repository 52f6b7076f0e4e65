"""OpenCelliD / Mozilla Location Service cell exports (``*.csv``, ``*.csv.gz``): cells, not measurements.

14 columns ``radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal``
(see FORMATS.md). The world file has a header row, per-country files may not: detected from the first
line. ``averageSignal`` 0 means not reported (→ missing); ``created``/``updated`` are Unix seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lomsong.operators import operator_from_plmn
from lomsong.readers._parse import map_unique, parse_numbers, read_text_table, record_keys
from lomsong.readers.base import Parsed, Reader, ReaderError

#: The export's columns, in order.
FIELDS = [
    "radio",
    "mcc",
    "net",
    "area",
    "cell",
    "unit",
    "lon",
    "lat",
    "range",
    "samples",
    "changeable",
    "created",
    "updated",
    "averageSignal",
]
#: Radio → technology (CDMA and others have none: rejected as ``unknown_radio``).
RADIO_TECHNOLOGY = {"GSM": "2G", "UMTS": "3G", "LTE": "4G", "NR": "5G"}
_RADIOS = {b"GSM", b"UMTS", b"LTE", b"NR", b"CDMA"}


def sniff(path: Path, head: bytes) -> bool:
    """14 comma-separated fields, starting with the ``radio`` header or a radio name."""
    first = head.split(b"\n", 1)[0].strip(b"\r\n").lstrip(b"\xef\xbb\xbf")
    fields = first.split(b",")
    return len(fields) == len(FIELDS) and (fields[0].strip().lower() == b"radio" or fields[0].strip() in _RADIOS)


def parse(path: Path, operator: str | None = None, source_name: str | None = None, sha256: str | None = None) -> Parsed:
    """Parse a cell export into the parsed-cell frame (canonical cell columns + issue columns)."""
    from lomsong.readers._parse import open_bytes

    first = open_bytes(path).split(b"\n", 1)[0].lstrip(b"\xef\xbb\xbf")
    has_header = first.split(b",")[0].strip().lower() == b"radio"
    table = read_text_table(path, delimiter=",", header=has_header)
    if len(table.header) != len(FIELDS):
        raise ReaderError(f"{path}: line 1: expected {len(FIELDS)} comma-separated fields ({','.join(FIELDS)})")
    raw = table.frame.rename(columns=dict(zip(table.header, FIELDS, strict=True)))
    out = pd.DataFrame(index=raw.index)
    out["radio"] = raw["radio"].astype("string").str.strip().str.upper()
    out["technology"] = out["radio"].map(RADIO_TECHNOLOGY, na_action="ignore").astype("string")
    numbers = {name: parse_numbers(raw[name])[0] for name in FIELDS if name != "radio"}
    identifiers = pd.DataFrame({name: numbers[name] for name in ["mcc", "net", "area", "cell"]})
    out["!not_a_number"] = identifiers.isna().to_numpy(bool).any(axis=1)
    mcc = numbers["mcc"].fillna(0).astype("int64")
    mnc = numbers["net"].fillna(0).astype("int64")
    out["mcc"], out["mnc"] = mcc, mnc
    plmn = mcc.astype("string") + mnc.astype("string").str.zfill(2)
    out["plmn"] = plmn
    out["operator"] = map_unique(plmn, operator_from_plmn)
    out["area"] = numbers["area"].fillna(0).astype("int64")
    out["cell"] = numbers["cell"].fillna(0).astype("int64")
    out["unit"] = numbers["unit"].round().astype("Int64")
    out["lon"], out["lat"] = numbers["lon"], numbers["lat"]
    out["range_m"] = numbers["range"]
    out["samples"] = numbers["samples"].fillna(0).astype("int64")
    out["changeable"] = (numbers["changeable"] == 1).to_numpy(bool, na_value=False)
    out["created"] = pd.to_datetime(numbers["created"], unit="s", utc=True)
    out["updated"] = pd.to_datetime(numbers["updated"], unit="s", utc=True)
    out["average_signal_dbm"] = numbers["averageSignal"].where(numbers["averageSignal"] != 0)
    out["source_row"] = raw["_line"].to_numpy(np.int64)
    out["!malformed_row"] = raw["_extra"].to_numpy(bool)
    out["_key"] = record_keys(raw[FIELDS])
    return Parsed(frame=out, kind="cells", columns=dict(zip(FIELDS, FIELDS, strict=True)))


READER = Reader(
    name="opencellid",
    description="OpenCelliD / MLS cell export (14 columns, header optional, .gz ok)",
    kind="cells",
    sniff=sniff,
    parse=parse,
)
