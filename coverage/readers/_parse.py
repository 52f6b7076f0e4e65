"""Vectorised parsing helpers shared by the readers: text tables, numbers, times, operators, technologies.

Every helper works on whole columns (pandas Series), never row by row. Parse failures do not raise:
they give a missing value plus a boolean mask, so that validation can give each lost value its reason.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from coverage._text import fold, nfc
from coverage.operators import operator_from_name

#: Phone local time of every Vietnamese log without an offset.
LOCAL_TIMEZONE = "Asia/Ho_Chi_Minh"
#: Cell texts that mean "no value" in the files we read (not an error, just missing).
MISSING_MARKERS = ["", "-", "--", "NA", "N/A", "n/a", "na", "null", "NULL", "None", "none", "nan", "NaN"]
#: Extra columns a data row may carry beyond its header before the parser gives up.
_SPARE_FIELDS = 64
#: Technology names seen in the wild (folded) → canonical technology.
TECHNOLOGY_ALIASES = {
    "2g": "2G",
    "gsm": "2G",
    "edge": "2G",
    "gprs": "2G",
    "3g": "3G",
    "umts": "3G",
    "wcdma": "3G",
    "hspa": "3G",
    "hspa+": "3G",
    "hsdpa": "3G",
    "hsupa": "3G",
    "hspap": "3G",
    "td-scdma": "3G",
    "4g": "4G",
    "lte": "4G",
    "4g+": "4G",
    "lte-a": "4G",
    "lte+": "4G",
    "lte_ca": "4G",
    "5g": "5G",
    "nr": "5G",
    "5g nr": "5G",
    "5g nsa": "5G",
    "5g sa": "5G",
    "nr5g": "5G",
}
#: Technology texts that mean the phone had no service.
NO_SERVICE_TECHNOLOGIES = {"--", "no service", "no_service", "no_coverage", "none", "out of service", "mat song"}
_TRUE_TEXTS = {"1", "true", "yes", "y", "co", "x", "t"}
_FALSE_TEXTS = {"0", "false", "no", "n", "khong", "f", ""}


class TextTable:
    """A delimited text file read as strings, with the physical line number of every data row.

    Parameters
    ----------
    frame : pandas.DataFrame
        One string column per header field (blank lines removed), plus ``_extra`` (bool: the row had
        more fields than the header) and ``_line`` (1-based line number in the file).
    header : list of str
        Header names as written (NFC).
    delimiter : str
        The delimiter found.
    encoding : str
        ``utf-8-sig`` or ``cp1258``.
    comments : list of str
        Comment lines (``# …``) before the header.
    """

    def __init__(self, frame: pd.DataFrame, header: list[str], delimiter: str, encoding: str, comments: list[str]):
        self.frame = frame
        self.header = header
        self.delimiter = delimiter
        self.encoding = encoding
        self.comments = comments


def open_bytes(path: Path, size: int = 65536) -> bytes:
    """Return the first ``size`` bytes of a file, gunzipped when it is gzip."""
    with open(path, "rb") as handle:
        head = handle.read(size)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as handle:
            try:
                return handle.read(size)
            except (OSError, EOFError):
                return b""
    return head


def detect_encoding(path: Path) -> str:
    """Return ``utf-8-sig`` when the whole file is UTF-8 (BOM or not), else ``cp1258`` (Vietnamese Windows).

    The file is streamed through an incremental decoder, so a large file is not held in memory.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    opener = gzip.open if open_bytes(path, 2) == b"\x1f\x8b" or _is_gzip(path) else open
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1258"
    return "utf-8-sig"


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def head_text(path: Path, encoding: str | None = None, size: int = 65536) -> str:
    """Return the decoded beginning of a text file (NFC), for sniffing."""
    head = open_bytes(path, size)
    for candidate in [encoding] if encoding else ["utf-8-sig", "cp1258"]:
        try:
            return nfc_keep_lines(head.decode(candidate))
        except UnicodeDecodeError:
            # a multi-byte character cut at the end of the sample is not an encoding error
            try:
                return nfc_keep_lines(head[:-4].decode(candidate))
            except UnicodeDecodeError:
                continue
    return nfc_keep_lines(head.decode("cp1258", errors="replace"))


def nfc_keep_lines(text: str) -> str:
    """Normalise to NFC without touching line structure (cp1258 writes combining tone marks)."""
    import unicodedata

    return unicodedata.normalize("NFC", text)


def sniff_delimiter(header_line: str) -> str:
    """Return the delimiter among ``,``, ``;`` and tab that the header line uses most (``,`` on a tie)."""
    counts = {delimiter: header_line.count(delimiter) for delimiter in [",", ";", "\t"]}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best


def read_text_table(path: Path, delimiter: str | None = None, header: bool = True) -> TextTable:
    """Read a delimited text file as strings, keeping physical line numbers.

    Parameters
    ----------
    path : Path
        CSV/TSV file, optionally gzip-compressed.
    delimiter : str, optional
        Field delimiter; sniffed from the header line when None.
    header : bool
        Whether the first non-comment line is a header.

    Returns
    -------
    TextTable
        The data rows as strings (blank rows removed), their line numbers, header and encoding.
    """
    encoding = detect_encoding(path)
    lines = head_text(path, encoding).splitlines()
    comments = []
    for line in lines:
        if line.startswith("#"):
            comments.append(line)
        else:
            break
    first = lines[len(comments)] if len(lines) > len(comments) else ""
    delimiter = delimiter or sniff_delimiter(first)
    if header:
        header_names = [
            nfc(name)
            for name in next(
                iter(
                    pd.read_csv(
                        io.StringIO(first), sep=delimiter, header=None, dtype=str, keep_default_na=False
                    ).itertuples(index=False)
                )
            )
        ]
        skip = len(comments) + 1
    else:
        header_names = [str(i) for i in range(first.count(delimiter) + 1)]
        skip = len(comments)
    width = len(header_names)
    names = list(range(width + _SPARE_FIELDS))
    compression = "gzip" if _is_gzip(path) else None
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            header=None,
            names=names,
            skiprows=skip,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            skip_blank_lines=False,
            encoding=encoding,
            compression=compression,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        line = _line_from_parser_error(str(exc), skip)
        raise _reader_error(
            path, line, f"at most {width + _SPARE_FIELDS} fields separated by {delimiter!r}: {exc}"
        ) from exc
    except (UnicodeDecodeError, EOFError, OSError) as exc:
        raise _reader_error(path, 1, f"a readable text file ({exc})") from exc
    frame["_line"] = np.arange(len(frame), dtype=np.int64) + skip + 1
    extra = frame[names[width:]]
    frame["_extra"] = (extra != "").to_numpy(bool, na_value=False).any(axis=1) if len(extra.columns) else False
    frame = frame.drop(columns=names[width:])
    frame.columns = [*header_names, "_line", "_extra"]
    data = frame[header_names]
    blank = (data == "").to_numpy(bool, na_value=True).all(axis=1) & ~frame["_extra"].to_numpy(bool)
    frame = frame.loc[~blank].reset_index(drop=True)
    return TextTable(frame, header_names, delimiter, encoding, comments)


def _line_from_parser_error(message: str, skip: int) -> int:
    found = re.search(r"line (\d+)", message)
    return int(found.group(1)) + skip if found else 1


def _reader_error(path: Path, line: int, expected: str):
    from coverage.readers import ReaderError

    return ReaderError(f"{path}: line {line}: expected {expected}")


def parse_numbers(raw: pd.Series, decimal_comma: bool = False) -> tuple[pd.Series, np.ndarray]:
    """Parse a text column into floats.

    Parameters
    ----------
    raw : pandas.Series
        Text values; :data:`MISSING_MARKERS` mean missing.
    decimal_comma : bool
        Read ``-95,5`` as -95.5 (files delimited by ``;`` or tab, as Vietnamese Excel writes them).

    Returns
    -------
    values : pandas.Series
        float64, NaN where missing or not a number.
    not_a_number : numpy.ndarray
        bool, True where text was present but is not a number.
    """
    text = raw.astype("string").str.strip()
    missing = (text.isna() | text.isin(MISSING_MARKERS)).to_numpy(bool, na_value=True)
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
    not_a_number = ~missing & values.isna().to_numpy(bool)
    return values, not_a_number


def parse_times(raw: pd.Series, extra_formats: tuple[str, ...] = ()) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parse a time column into UTC.

    Understands ISO 8601 with an offset or ``Z``; times without offset (taken as Asia/Ho_Chi_Minh
    local time, as phones write them) in ISO form, ``dd/mm/yyyy HH:MM[:SS]`` (day first, the
    Vietnamese order), ``yyyy/mm/dd HH:MM:SS`` and G-NetTrack's ``YYYY.MM.DD_HH.MM.SS``; Unix
    seconds or milliseconds.

    Parameters
    ----------
    raw : pandas.Series
        Text values.
    extra_formats : tuple of str
        strptime formats to try first for local times.

    Returns
    -------
    times : pandas.Series
        ``datetime64[ns, UTC]``, NaT where missing or unparseable.
    missing : numpy.ndarray
        bool, no time given.
    unparseable : numpy.ndarray
        bool, text given but not a time.
    """
    text = raw.astype("string").str.strip()
    missing = (text.isna() | text.isin(MISSING_MARKERS)).to_numpy(bool, na_value=True)
    times = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    epoch = ~missing & text.str.fullmatch(r"\d{9,13}(?:\.\d+)?").to_numpy(bool, na_value=False)
    if epoch.any():
        seconds = pd.to_numeric(text[epoch]).to_numpy(float)
        seconds = np.where(seconds >= 1e11, seconds / 1000.0, seconds)
        times[epoch] = pd.to_datetime(seconds, unit="s", utc=True).astype("datetime64[ns, UTC]")
    with_offset = (
        ~missing & ~epoch & text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).to_numpy(bool, na_value=False)
    )
    if with_offset.any():
        parsed = pd.to_datetime(text[with_offset], format="ISO8601", utc=True, errors="coerce")
        times[with_offset] = parsed.astype("datetime64[ns, UTC]")
    local = ~missing & ~epoch & ~with_offset
    formats = [
        *extra_formats,
        "ISO8601",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
        "%d-%m-%Y %H:%M:%S",
        "%Y/%m/%d %H:%M:%S",
        "%Y.%m.%d_%H.%M.%S",
        "%d/%m/%Y",
        "%Y-%m-%d",
    ]
    for fmt in formats:
        todo = local & times.isna().to_numpy(bool)
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        good = parsed.notna().to_numpy(bool)
        if good.any():
            index = parsed.index[good]
            times[index] = (
                parsed[good].dt.tz_localize(LOCAL_TIMEZONE).dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
            )
    unparseable = ~missing & times.isna().to_numpy(bool)
    return times, missing, unparseable


def map_unique(values: pd.Series, function) -> pd.Series:
    """Apply ``function`` to each distinct value only (operators, technologies: few distinct values)."""
    text = values.astype("string")
    uniques = text.dropna().unique()
    mapping = {value: function(value) for value in uniques}
    return text.map(mapping, na_action="ignore").astype("string")


def parse_technology(raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Map technology texts (LTE, NR, UMTS, GSM, 4G …) to 2G/3G/4G/5G.

    Returns
    -------
    technology : pandas.Series
        string, missing when absent, unknown or a no-service marker.
    no_service : numpy.ndarray
        bool, the text says the phone had no service (``--``, ``NO_COVERAGE`` …).
    unknown : numpy.ndarray
        bool, text present but no known technology.
    """
    text = raw.astype("string").str.strip()
    folded = map_unique(text, fold)
    no_service = folded.isin(list(NO_SERVICE_TECHNOLOGIES)).to_numpy(bool, na_value=False) | (text == "--").to_numpy(
        bool, na_value=False
    )
    missing = (text.isna() | text.isin([m for m in MISSING_MARKERS if m != "--"])).to_numpy(bool, na_value=True)
    technology = folded.map(TECHNOLOGY_ALIASES, na_action="ignore").astype("string")
    unknown = ~missing & ~no_service & technology.isna().to_numpy(bool)
    return technology, no_service, unknown


def parse_operator(names: pd.Series | None, plmns: pd.Series | None) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Resolve the canonical operator from a name column and/or a PLMN column.

    The PLMN wins when both are given (it is unambiguous). Returns ``(operator, plmn, unknown)``
    where ``unknown`` marks rows with an operator text that neither the aliases nor PLMN parsing know.
    """
    index = (names if names is not None else plmns).index
    operator = pd.Series(pd.NA, index=index, dtype="string")
    plmn = pd.Series(pd.NA, index=index, dtype="string")
    present = np.zeros(len(index), bool)
    if plmns is not None:
        text = plmns.astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
        valid = text.str.fullmatch(r"\d{5,6}").to_numpy(bool, na_value=False)
        plmn = text.where(valid).astype("string")
        operator = map_unique(plmn, operator_from_name)
        present |= ~(text.isna() | text.isin(MISSING_MARKERS)).to_numpy(bool, na_value=True)
    if names is not None:
        text = names.astype("string").str.strip()
        operator = operator.fillna(map_unique(text, operator_from_name))
        no_name = [*MISSING_MARKERS, "NO_COVERAGE", "No service", "NO SERVICE"]
        present |= ~(text.isna() | text.isin(no_name)).to_numpy(bool, na_value=True)
    unknown = present & operator.isna().to_numpy(bool)
    # PLMN from the operator when only a name was given
    from coverage.operators import OPERATORS

    plmn_from_operator = operator.map({op: p for op, (p, _) in OPERATORS.items()}, na_action="ignore")
    plmn_from_id = operator.str.extract(r"^plmn:(\d+)$", expand=False)
    plmn = plmn.fillna(plmn_from_operator.astype("string")).fillna(plmn_from_id.astype("string"))
    return operator.astype("string"), plmn.astype("string"), unknown


def parse_flags(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse a yes/no column (1/0, true/false, yes/no, có/không). Returns ``(flag, unreadable)``."""
    folded = map_unique(raw.astype("string").str.strip(), fold)
    flag = folded.isin(list(_TRUE_TEXTS)).to_numpy(bool, na_value=False)
    unreadable = ~(folded.isna() | folded.isin(list(_TRUE_TEXTS | _FALSE_TEXTS))).to_numpy(bool, na_value=True)
    return flag, unreadable


def pseudonymise(values: pd.Series) -> pd.Series:
    """Return a 16-hex sha256 prefix of each distinct device id (pseudonymisation, not anonymisation)."""
    return map_unique(values, lambda value: hashlib.sha256(f"lomsong-device:{value}".encode()).hexdigest()[:16])


def file_sha256(path: Path) -> str:
    """Return the sha256 of a file's bytes (streamed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def record_keys(frame: pd.DataFrame) -> np.ndarray:
    """Return a 64-bit hash of each row's raw fields, to find exact duplicate records."""
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()
