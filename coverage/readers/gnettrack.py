"""G-NetTrack Pro logs (``*.txt``): one file is one phone (one SIM) over one session.

Quirks handled (see ``data/README.md`` and ``FORMATS.md``): tab separated, CRLF line ends, an extra
tab at the end of every data row, ``-`` for missing, timestamps ``YYYY.MM.DD_HH.MM.SS`` in phone local
time (Asia/Ho_Chi_Minh), ``Operator`` is the PLMN, ``NetworkTech`` is 2G/3G/4G or ``--`` for no
service (then ``Level`` is -200, ``Operatorname`` ``NO_COVERAGE`` and ``Operator`` empty), ``Level``
is RSRP (4G), RSCP (3G) or RxLev in dBm (2G), ``Qual`` is RSRQ / Ec/No.

Every row gets the same ``device_id``: a sha256 prefix of the file's bytes. No-service rows take the
most common operator of the rest of the file, else the ``--operator`` given.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lomsong.readers._parse import (
    TextTable,
    _arrow,
    parse_numbers,
    parse_operator,
    parse_technology,
    parse_times,
    read_text_table,
    record_keys,
    strings_by_index,
)
from lomsong.readers.base import Parsed, Reader, ReaderError

#: ``Cellname`` of the simulator's rows (``lomsong.simulate.result.SYNTHETIC_CELLNAME``).
SYNTHETIC_CELLNAME = "SYNTHETIC"
#: Header fields that identify a G-NetTrack log.
SIGNATURE = ["Timestamp", "Longitude", "Latitude", "NetworkTech", "Level"]
#: G-NetTrack timestamp format (phone local time).
TIME_FORMAT = "%Y.%m.%d_%H.%M.%S"
#: The Level that, with NetworkTech ``--``, marks a no-service sample.
NO_SERVICE_LEVEL = -200.0
#: Optional columns of richer G-NetTrack exports → canonical column.
OPTIONAL_COLUMNS = {"Qual": "quality_db", "SNR": "sinr_db", "DL_bitrate": "dl_kbps", "UL_bitrate": "ul_kbps"}
#: What :func:`parse_logs` reads of a log (given its duplicate keys): a batch of logs parses only these.
PARSED_COLUMNS = (*SIGNATURE, *OPTIONAL_COLUMNS, "Operatorname", "Operator", "Cellname")
#: The columns :func:`parse_logs` reads as numbers (:func:`lomsong.readers._parse.parse_numbers`).
NUMBER_COLUMNS = ("Longitude", "Latitude", "Level", *OPTIONAL_COLUMNS)


def sniff(path: Path, head: bytes) -> bool:
    """A tab-separated header holding Timestamp, Longitude, Latitude, NetworkTech and Level."""
    first = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip("\r\n")
    fields = first.split("\t")
    return all(name in fields for name in SIGNATURE)


def parse(
    path: Path,
    operator: str | None = None,
    source_name: str | None = None,
    sha256: str | None = None,
    *,
    engine: str = "auto",
) -> Parsed:
    """Parse a G-NetTrack log into the parsed-measurement frame (see :mod:`lomsong.readers.validate`).

    Parameters
    ----------
    path : Path
        The log.
    operator : str, optional
        Canonical operator for a file without any PLMN.
    source_name : str, optional
        Unused (``read_file`` sets ``source_file``).
    sha256 : str, optional
        The file's hash, for the device id.
    engine : str
        ``auto`` (pyarrow where the text is plain, the trailing tab included) or ``careful``
        (pandas only); both give the same frame.

    Returns
    -------
    Parsed
        Parsed frame with issue columns.
    """
    table = read_text_table(path, delimiter="\t", engine=engine)
    missing = [name for name in SIGNATURE if name not in table.header]
    if missing:
        raise ReaderError(f"{path}: line 1: expected G-NetTrack header fields {', '.join(missing)}")
    frame, columns, synthetic = parse_logs(table, np.zeros(len(table.frame), np.int64), [sha256], operator)
    return Parsed(frame=frame, columns=columns, synthetic=bool(synthetic[0]))


def parse_logs(
    table: TextTable,
    files: np.ndarray,
    sha256s: list[str | None],
    operator: str | None = None,
    *,
    keys: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict[str, str], np.ndarray]:
    """Parse the rows of one or many logs of one header, one after the other, in one pass.

    Parameters
    ----------
    table : TextTable
        The logs' rows (:func:`lomsong.readers._parse.read_texts_together`, or one log's).
    files : numpy.ndarray
        Each row's log, 0 … ``len(sha256s) - 1``, non-decreasing.
    sha256s : list of str
        Each log's hash, for its device id.
    operator : str, optional
        Canonical operator of the logs without any PLMN.
    keys : numpy.ndarray, optional
        Each row's duplicate key when known (:func:`lomsong.readers._parse.duplicate_keys`); else
        :func:`lomsong.readers._parse.record_keys` of its fields.

    Returns
    -------
    frame : pandas.DataFrame
        The parsed rows with issue columns, each log's as :func:`parse` gives them.
    columns : dict
        Canonical column → the log's column.
    synthetic : numpy.ndarray
        bool per log, its rows carry the simulator's mark.
    """
    raw = table.frame
    # the columns gathered first and made a frame once: inserting them one by one cost a log 20 ms
    out: dict[str, object] = {}
    out["time"], _, out["!unparseable_time"] = parse_times(raw["Timestamp"], extra_formats=(TIME_FORMAT,))
    out["lon"], lon_bad = parse_numbers(raw["Longitude"])
    out["lat"], lat_bad = parse_numbers(raw["Latitude"])
    out["!unparseable_coordinates"] = lon_bad | lat_bad
    technology, no_service, unknown_technology = parse_technology(raw["NetworkTech"])
    out["technology"] = technology
    out["no_service"] = no_service
    out["!unknown_technology"] = unknown_technology
    signal, signal_bad = parse_numbers(raw["Level"])
    # -200 is how G-NetTrack writes "no signal" on a no-service row: the marker, not a value.
    out["signal_dbm"] = signal.where(~(no_service & (signal == NO_SERVICE_LEVEL).to_numpy(bool, na_value=False)))
    out["!not_a_number:signal_dbm"] = signal_bad
    columns = {"time": "Timestamp", "lon": "Longitude", "lat": "Latitude", "technology": "NetworkTech"}
    columns["signal_dbm"] = "Level"
    for source, target in OPTIONAL_COLUMNS.items():
        if source in raw.columns:
            out[target], out[f"!not_a_number:{target}"] = parse_numbers(raw[source])
            columns[target] = source
    names = raw["Operatorname"] if "Operatorname" in raw.columns else None
    plmns = raw["Operator"] if "Operator" in raw.columns else None
    if names is None and plmns is None:
        out["operator"], out["plmn"], out["!unknown_operator"] = pd.NA, pd.NA, False
    else:
        out["operator"], out["plmn"], out["!unknown_operator"] = parse_operator(names, plmns)
        columns["operator"] = "Operator"
    n_files = len(sha256s)
    frame = _fill_file_operators(pd.DataFrame(out, index=raw.index), files, n_files, operator)
    frame["device_id"] = strings_by_index([(sha256 or "")[:16] for sha256 in sha256s], files)
    frame["source_row"] = raw["_line"].to_numpy(np.int64)
    frame["!malformed_row"] = raw["_extra"].to_numpy(bool)
    frame["_key"] = record_keys(raw[table.header]) if keys is None else keys
    # the simulator writes Cellname SYNTHETIC in every row: the mark survives a rename or an upload
    synthetic = np.zeros(n_files, bool)
    if "Cellname" in raw.columns:
        marked = (raw["Cellname"] == SYNTHETIC_CELLNAME).to_numpy(bool, na_value=False)
        synthetic = np.bincount(files[marked], minlength=n_files) > 0
    return frame, columns, synthetic


def parse_chunks(
    path: Path,
    operator: str | None = None,
    source_name: str | None = None,
    sha256: str | None = None,
    *,
    chunk_bytes: int | None = None,
    engine: str = "auto",
) -> Iterator[Parsed]:
    """Yield the log as one :class:`Parsed` (``chunk_bytes`` is not used).

    A log is one phone's session, small enough to hold, and read whole because its no-service rows
    take the most common operator of the whole file; this entry point exists for ``engine``.
    """
    yield parse(path, operator=operator, source_name=source_name, sha256=sha256, engine=engine)


def _fill_file_operators(frame: pd.DataFrame, files: np.ndarray, n_files: int, operator: str | None) -> pd.DataFrame:
    """:func:`_fill_file_operator` of each log, the logs' rows one after the other (``files``).

    A log whose most common (operator, PLMN) is one pair takes it from a count of all the logs'
    pairs at once; a log with a tie, or a PLMN missing beside an operator, is filled alone, as
    :func:`_fill_file_operator` decides it.
    """
    if n_files == 1:
        return _fill_file_operator(frame, operator)
    # each row's (operator, PLMN) as codes, counted per log at once (no strings per row)
    operators, operator_codes = _codes(frame["operator"])
    plmns, plmn_codes = _codes(frame["plmn"])
    known = operator_codes >= 0
    span = len(plmns) + 1  # PLMN codes shifted by one: 0 is a missing PLMN beside a known operator
    keys, counts = np.unique(
        (files[known] * max(len(operators), 1) + operator_codes[known]) * span + plmn_codes[known] + 1,
        return_counts=True,
    )
    key_files = keys // (max(len(operators), 1) * span)
    key_operators, key_plmns = (keys // span) % max(len(operators), 1), keys % span - 1
    most = counts
    if len(keys):  # the keys are sorted by log: each log's largest count, beside each of its keys
        group_starts = np.flatnonzero(np.r_[True, key_files[1:] != key_files[:-1]])
        most = np.repeat(np.maximum.reduceat(counts, group_starts), np.diff(np.r_[group_starts, len(keys)]))
    best = counts == most
    with_known = np.bincount(files[known], minlength=n_files) > 0
    missing_plmn = np.bincount(key_files[key_plmns < 0], minlength=n_files) > 0
    ties = np.bincount(key_files[best], minlength=n_files) > 1
    alone = with_known & (ties | missing_plmn)
    fill_operator = np.full(n_files, None, dtype=object)
    fill_plmn = np.full(n_files, None, dtype=object)
    chosen = best & ~alone[key_files]
    fill_operator[key_files[chosen]] = np.asarray(operators, dtype=object)[key_operators[chosen]]
    fill_plmn[key_files[chosen]] = np.asarray(plmns, dtype=object)[key_plmns[chosen]]
    if operator is not None:
        from lomsong.operators import OPERATORS

        fill_operator[~with_known] = operator
        fill_plmn[~with_known] = OPERATORS[operator][0] if operator in OPERATORS else operator.removeprefix("plmn:")
    empty = ~known & ~frame["!unknown_operator"].to_numpy(bool)
    fill = empty & pd.notna(fill_operator)[files] & ~alone[files]
    if fill.any():
        frame["operator"] = _filled(frame["operator"], fill, fill_operator, files)
        frame["plmn"] = _filled(frame["plmn"], fill, fill_plmn, files)
    if alone.any():
        bounds = np.searchsorted(files, np.arange(n_files + 1))
        for file in np.flatnonzero(alone):  # the rare logs with a tie: each alone
            rows = np.arange(bounds[file], bounds[file + 1])
            own = _fill_file_operator(frame.iloc[rows][["operator", "plmn", "!unknown_operator"]].copy(), operator)
            for column in ("operator", "plmn"):
                frame.iloc[rows, frame.columns.get_loc(column)] = own[column].to_numpy()
    return frame


def _codes(column: pd.Series) -> tuple[list[str], np.ndarray]:
    """A text column's distinct values and each row's code among them (-1 where missing)."""
    encoded = _arrow(column).dictionary_encode()
    return encoded.dictionary.to_pylist(), encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _filled(column: pd.Series, fill: np.ndarray, per_file: np.ndarray, files: np.ndarray) -> pd.Series:
    """``column`` with its ``fill`` rows set to their log's value of ``per_file``."""
    values = pa.array(per_file.tolist(), pa.large_string()).take(pa.array(files))
    current = _arrow(column).cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(pc.if_else(pa.array(fill), values, current)), index=column.index)


def _fill_file_operator(frame: pd.DataFrame, operator: str | None) -> pd.DataFrame:
    """Give rows without an operator (the no-service rows) the file's most common operator, else ``operator``."""
    known = frame.loc[frame["operator"].notna(), ["operator", "plmn"]]
    if len(known):
        top = known.value_counts().index[0]
        fill_operator, fill_plmn = top
    elif operator is not None:
        from lomsong.operators import OPERATORS

        fill_operator = operator
        fill_plmn = OPERATORS[operator][0] if operator in OPERATORS else operator.removeprefix("plmn:")
    else:
        return frame
    empty = frame["operator"].isna().to_numpy(bool) & ~frame["!unknown_operator"].to_numpy(bool)
    frame.loc[empty, "operator"] = fill_operator
    frame.loc[empty, "plmn"] = fill_plmn
    return frame


READER = Reader(
    name="gnettrack",
    description="G-NetTrack Pro log (tab separated; one file = one phone)",
    kind="measurements",
    sniff=sniff,
    parse=parse,
    parse_chunks=parse_chunks,
)
