"""The generic measurement CSV: the project's own format and anything mappable to it by header aliases.

The canonical column names (``time,lon,lat,operator,plmn,technology,signal_dbm,…``) are the primary
header; common names used by drive-test tools, crowd-sourcing apps and Vietnamese spreadsheets are
understood too (:data:`HEADER_ALIASES`, matched without case, accents or punctuation: ``Vĩ độ``,
``VI_DO`` and ``vi do`` are the same). Delimiter ``,`` ``;`` or tab (sniffed from the header);
decimal comma when the delimiter is not a comma; UTF-8, UTF-8 with BOM (Excel) or Windows-1258 (old
Vietnamese Excel; its combining tone marks are normalised to NFC). Comment lines starting with ``#``
before the header are allowed (a comment containing ``synthetic`` marks the file as simulated).

Large files are read in chunks of whole lines (:func:`parse_chunks`): pyarrow parses a chunk whose
every line is a plain record, pandas the others, with the same result; so a quoted field must not
contain a line break (``source_row`` is the physical line number).

Required: latitude, longitude, time; and at least one of signal, throughput, latency or no-service.
Times without an offset are Asia/Ho_Chi_Minh local time. Device ids are pseudonymised (sha256 prefix);
without a device column every row gets the file's hash prefix (one file = one device).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from lomsong._text import fold
from lomsong.readers._parse import (
    CHUNK_BYTES,
    TextTable,
    head_text,
    iter_text_tables,
    parse_flags,
    parse_numbers,
    parse_operator,
    parse_technology,
    parse_times,
    pseudonymise,
    record_keys,
    sniff_delimiter,
    text_layout,
)
from lomsong.readers.base import Parsed, Reader, ReaderError

#: Canonical column → accepted header keys, best first (keys are folded: lower case, no accents,
#: runs of non-alphanumerics as ``_``).
HEADER_ALIASES: dict[str, list[str]] = {
    "time": ["time", "timestamp", "datetime", "date_time", "thoi_gian", "ngay_gio", "time_utc", "local_time", "date"],
    "lat": ["lat", "latitude", "vi_do", "lat_deg"],
    "lon": ["lon", "lng", "long", "longitude", "kinh_do", "lon_deg"],
    "operator": ["operator", "network", "nha_mang", "carrier", "operator_name", "operatorname", "provider", "mang"],
    "plmn": ["plmn", "mccmnc", "mcc_mnc", "network_code"],
    "technology": ["technology", "tech", "network_type", "networktech", "rat", "cong_nghe", "network_tech"],
    "signal_dbm": [
        "signal_dbm",
        "rsrp",
        "ss_rsrp",
        "rscp",
        "signal",
        "signal_strength",
        "level",
        "cuong_do_tin_hieu",
        "cuong_do",
        "dbm",
        "rssi",
    ],
    "quality_db": ["quality_db", "quality", "rsrq", "ss_rsrq", "ecno", "ec_no", "ecio", "ec_io", "qual"],
    "sinr_db": ["sinr_db", "sinr", "ss_sinr", "snr", "rssnr"],
    "dl_kbps": ["dl_kbps", "dl", "download", "download_kbps", "dl_bitrate", "toc_do_tai_xuong"],
    "ul_kbps": ["ul_kbps", "ul", "upload", "upload_kbps", "ul_bitrate", "toc_do_tai_len"],
    "latency_ms": ["latency_ms", "latency", "ping", "ping_ms", "rtt", "rtt_ms", "do_tre"],
    "device_id": ["device_id", "device", "imei", "device_hash", "phone_id", "thiet_bi", "may"],
    "no_service": ["no_service", "noservice", "no_signal", "out_of_service", "mat_song", "khong_co_song"],
}
#: Header keys in Mbit/s (converted ×1000 to kbit/s).
MBPS_ALIASES = {"dl_kbps": ["dl_mbps", "download_mbps"], "ul_kbps": ["ul_mbps", "upload_mbps"]}
#: Technology implied by the signal column's name when the file has no technology column.
TECHNOLOGY_FROM_SIGNAL = {"rsrp": "4G", "ss_rsrp": "5G", "rscp": "3G"}
_NUMERIC = ["signal_dbm", "quality_db", "sinr_db", "dl_kbps", "ul_kbps", "latency_ms"]


def header_key(name: str) -> str:
    """Return the comparison key of a header name (``Vĩ độ (°)`` → ``vi_do``)."""
    key = re.sub(r"[^a-z0-9+]+", "_", fold(name)).strip("_")
    return re.sub(r"_(deg|do_thap_phan)$", "", key) if key not in ("lat_deg", "lon_deg") else key


def map_header(header: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Map a header to canonical columns.

    Returns
    -------
    columns : dict
        Canonical column → source header name.
    mbps : dict
        Canonical throughput column → source header name given in Mbit/s.
    """
    keys = {}
    for name in header:
        key = header_key(name)
        keys.setdefault(key, name)
        # "RSRP (dBm)", "latency_ms", "dl (kbps)": try without the unit too
        bare = re.sub(r"_(dbm|db|kbps|ms)$", "", key)
        keys.setdefault(bare, name)
    columns, mbps = {}, {}
    for canonical, aliases in HEADER_ALIASES.items():
        for alias in aliases:
            if alias in keys:
                columns[canonical] = keys[alias]
                break
    for canonical, aliases in MBPS_ALIASES.items():
        if canonical not in columns:
            for alias in aliases:
                if alias in keys:
                    mbps[canonical] = keys[alias]
                    break
    return columns, mbps


def sniff(path: Path, head: bytes) -> bool:
    """Text whose first non-comment line maps to latitude and longitude columns."""
    if head[:4] == b"PAR1" or head[:2] == b"PK" or head.lstrip()[:1] in (b"{", b"["):
        return False
    text = head_text(path)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    if not lines:
        return False
    delimiter = sniff_delimiter(lines[0])
    columns, _ = map_header([name.strip().strip('"') for name in lines[0].split(delimiter)])
    return "lat" in columns and "lon" in columns


def parse(path: Path, operator: str | None = None, source_name: str | None = None, sha256: str | None = None) -> Parsed:
    """Parse a measurement CSV into the parsed-measurement frame (see :mod:`lomsong.readers.validate`).

    Parameters
    ----------
    path : Path
        The CSV.
    operator : str, optional
        Canonical operator for rows (or files) without one.
    source_name : str, optional
        Unused (``read_file`` sets ``source_file``).
    sha256 : str, optional
        The file's hash: the device id when the file has no device column.

    Returns
    -------
    Parsed
        Parsed frame with issue columns.

    Raises
    ------
    ReaderError
        The header lacks latitude, longitude or time, or any measurement column.
    """
    chunks = list(parse_chunks(path, operator=operator, source_name=source_name, sha256=sha256))
    frame = pd.concat([c.frame for c in chunks], ignore_index=True) if len(chunks) > 1 else chunks[0].frame
    return Parsed(frame=frame, columns=chunks[0].columns, synthetic=chunks[0].synthetic)


def parse_chunks(
    path: Path,
    operator: str | None = None,
    source_name: str | None = None,
    sha256: str | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    engine: str = "auto",
) -> Iterator[Parsed]:
    """Parse a measurement CSV chunk by chunk (same arguments as :func:`parse`).

    Yields at least one :class:`Parsed` (possibly empty); the concatenation of the frames is what
    :func:`parse` returns. ``chunk_bytes`` and ``engine`` are passed to
    :func:`lomsong.readers._parse.iter_text_tables`.
    """
    layout = text_layout(path)
    columns, mbps = map_header(layout.header)
    shown = ", ".join(layout.header[:20])
    where = f"{path}: line {len(layout.comments) + 1}: expected"
    for required, examples in [("lat", "lat, latitude, vĩ độ"), ("lon", "lon, lng, longitude, kinh độ")]:
        if required not in columns:
            raise ReaderError(f"{where} a {required} column ({examples}) in the header; found: {shown}")
    if "time" not in columns:
        raise ReaderError(f"{where} a time column (time, timestamp, datetime, thời gian); found: {shown}")
    measured = [c for c in [*_NUMERIC, "no_service"] if c in columns and c not in ("quality_db", "sinr_db")] + list(
        mbps
    )
    if not measured:
        raise ReaderError(
            f"{where} a measurement column (signal_dbm, rsrp, rscp, rssi, level, "
            f"dl_kbps, ul_kbps, latency_ms or no_service); found: {shown}"
        )
    shown_columns = dict(columns)
    for column in mbps:
        shown_columns[column] = f"{mbps[column]} (Mbit/s ×1000)"
    synthetic = any("synthetic" in comment.lower() for comment in layout.comments)
    emitted = False
    for table in iter_text_tables(path, chunk_bytes=chunk_bytes, engine=engine, layout=layout):
        frame = parse_table(table, columns, mbps, operator=operator, sha256=sha256)
        emitted = True
        yield Parsed(frame=frame, columns=shown_columns, synthetic=synthetic)
    if not emitted:
        empty = pd.DataFrame({name: pd.Series([], dtype="str") for name in layout.header})
        empty["_line"], empty["_extra"] = np.zeros(0, np.int64), np.zeros(0, bool)
        table = TextTable(empty, layout.header, layout.delimiter, layout.encoding, layout.comments)
        yield Parsed(frame=parse_table(table, columns, mbps, operator=operator, sha256=sha256), columns=shown_columns)


def parse_table(
    table: TextTable,
    columns: dict[str, str],
    mbps: dict[str, str],
    operator: str | None = None,
    sha256: str | None = None,
) -> pd.DataFrame:
    """Turn a text table (or a chunk of one) into the parsed-measurement frame.

    Parameters
    ----------
    table : TextTable
        Raw strings with ``_line`` and ``_extra``.
    columns, mbps : dict
        Header mapping from :func:`map_header`.
    operator : str, optional
        Canonical operator for rows without one.
    sha256 : str, optional
        The file's hash (device id when there is no device column).

    Returns
    -------
    pandas.DataFrame
        Parsed frame with issue columns and ``_key``.
    """
    raw = table.frame
    decimal_comma = table.delimiter != ","
    out = pd.DataFrame(index=raw.index)
    out["time"], _, out["!unparseable_time"] = parse_times(raw[columns["time"]])
    out["lon"], lon_bad = parse_numbers(raw[columns["lon"]], decimal_comma)
    out["lat"], lat_bad = parse_numbers(raw[columns["lat"]], decimal_comma)
    out["!unparseable_coordinates"] = lon_bad | lat_bad
    for column in _NUMERIC:
        if column in columns:
            out[column], out[f"!not_a_number:{column}"] = parse_numbers(raw[columns[column]], decimal_comma)
        elif column in mbps:
            values, bad = parse_numbers(raw[mbps[column]], decimal_comma)
            out[column], out[f"!not_a_number:{column}"] = values * 1000.0, bad
        else:
            out[column] = np.nan
    no_service = np.zeros(len(raw), bool)
    if "technology" in columns:
        technology, tech_no_service, unknown = parse_technology(raw[columns["technology"]])
        out["technology"], out["!unknown_technology"] = technology, unknown
        no_service |= tech_no_service
    else:
        implied = TECHNOLOGY_FROM_SIGNAL.get(header_key(columns.get("signal_dbm", "")))
        out["technology"] = pd.Series(implied, index=raw.index, dtype="string")
    if "no_service" in columns:
        flag, unreadable = parse_flags(raw[columns["no_service"]])
        no_service |= flag
        out["!not_a_number:no_service"] = unreadable
    out["no_service"] = no_service
    names = raw[columns["operator"]] if "operator" in columns else None
    plmns = raw[columns["plmn"]] if "plmn" in columns else None
    if names is None and plmns is None:
        out["operator"], out["plmn"], out["!unknown_operator"] = pd.NA, pd.NA, False
    else:
        out["operator"], out["plmn"], out["!unknown_operator"] = parse_operator(names, plmns)
    if operator is not None:
        from lomsong.operators import OPERATORS

        empty = out["operator"].isna().to_numpy(bool) & ~out["!unknown_operator"].to_numpy(bool)
        out.loc[empty, "operator"] = operator
        out.loc[empty, "plmn"] = OPERATORS[operator][0] if operator in OPERATORS else operator.removeprefix("plmn:")
    if "device_id" in columns:
        out["device_id"] = pseudonymise(raw[columns["device_id"]].replace("", pd.NA))
    else:
        out["device_id"] = (sha256 or "")[:16]
    out["source_row"] = raw["_line"].to_numpy(np.int64)
    out["!malformed_row"] = raw["_extra"].to_numpy(bool)
    out["_key"] = record_keys(raw[table.header])
    return out


READER = Reader(
    name="generic_csv",
    description="measurement CSV (canonical columns or header aliases; , ; or tab; UTF-8 or Windows-1258)",
    kind="measurements",
    sniff=sniff,
    parse=parse,
    parse_chunks=parse_chunks,
)
