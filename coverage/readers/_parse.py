"""Vectorised parsing helpers shared by the readers: text tables, numbers, times, operators, technologies.

Every helper works on whole columns (pandas Series), never row by row. Parse failures do not raise:
they give a missing value plus a boolean mask, so that validation can give each lost value its reason.
"""

from __future__ import annotations

import codecs
import functools
import gzip
import hashlib
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lomsong._text import fold, nfc
from lomsong.errors import ReaderError
from lomsong.operators import operator_from_name

#: Phone local time of every Vietnamese log without an offset.
LOCAL_TIMEZONE = "Asia/Ho_Chi_Minh"
#: A local time the clocks skipped or repeated (Saigon 1942-1975) is no time: unparseable, not a crash.
_LOCAL_GAPS = {"ambiguous": "NaT", "nonexistent": "NaT"}
#: Cell texts that mean "no value" in the files we read (not an error, just missing).
MISSING_MARKERS = ["", "-", "--", "NA", "N/A", "n/a", "na", "null", "NULL", "None", "none", "nan", "NaN"]
#: Bytes read per chunk of a large text file (about 600,000 rows of a measurement CSV).
CHUNK_BYTES = 64 << 20
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
_MISSING_SET = pa.array(MISSING_MARKERS)
#: Numbers pyarrow parses exactly as pandas does (digits, one dot, optional exponent).
_FLOAT_PATTERN = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
#: Largest size a compressed file (gzip) or a zip's members may expand to. A larger file is refused
#: before it is held anywhere: decompress it yourself and read the plain file, or split it.
MAX_DECOMPRESSED_BYTES = 256 << 20
#: Largest expansion (decompressed / compressed bytes) once past :data:`RATIO_FREE_BYTES`. Real
#: measurement files compress 4 to 20 times; a file of one row repeated a million times compresses
#: hundreds of times: a decompression bomb.
MAX_COMPRESSION_RATIO = 100
#: Decompressed bytes every compressed file may reach whatever its ratio (a small file is harmless).
RATIO_FREE_BYTES = 8 << 20
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


class BoundedGzip(io.RawIOBase):
    """A gzip file read as a stream that refuses to expand past the decompression limits.

    Every ``read`` counts the bytes it gives; once they pass :data:`MAX_DECOMPRESSED_BYTES`, or
    :data:`MAX_COMPRESSION_RATIO` times the file's size (beyond :data:`RATIO_FREE_BYTES`), it
    raises :class:`ReaderError` naming the file. Nothing is read ahead, so memory stays bounded.

    Parameters
    ----------
    path : Path
        A gzip-compressed file.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._raw = open(self.path, "rb")  # noqa: SIM115  closed by close()
        self._gzip = gzip.GzipFile(fileobj=self._raw, mode="rb")
        self._compressed = max(1, self.path.stat().st_size)
        self.decompressed = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:  # "all of it", but never past the limit
            parts = []
            while block := self.read(1 << 20):
                parts.append(block)
            return b"".join(parts)
        data = self._gzip.read(size)
        self.decompressed += len(data)
        check_expansion(self.path, self.decompressed, self._compressed)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._gzip.close()
            self._raw.close()
        finally:
            super().close()


def check_expansion(path: Path, decompressed: int, compressed: int, member: str | None = None) -> None:
    """Raise :class:`ReaderError` when ``decompressed`` bytes of ``path`` pass the decompression limits."""
    ratio = decompressed / max(1, compressed)
    where = f"{path}" + (f" (member {member})" if member else "")
    if decompressed > MAX_DECOMPRESSED_BYTES:
        raise ReaderError(
            f"{where}: line 1: expected a compressed file expanding to at most "
            f"{MAX_DECOMPRESSED_BYTES >> 20} MB; it expands to more. Decompress it yourself and read "
            "the plain file, or split it"
        )
    if decompressed > RATIO_FREE_BYTES and ratio > MAX_COMPRESSION_RATIO:
        raise ReaderError(
            f"{where}: line 1: expected a compressed file expanding at most {MAX_COMPRESSION_RATIO} times; "
            f"it expands more than {ratio:.0f} times (a decompression bomb?). Decompress it yourself and "
            "check its content"
        )


def check_zip(path: Path) -> None:
    """Refuse a zip archive whose members expand past the decompression limits (streamed, bounded).

    The sizes the archive declares are checked first; then every member is decompressed as a stream
    and counted, since a hostile archive may declare false sizes.

    Raises
    ------
    ReaderError
        Naming the archive and the member.
    """
    import zipfile

    compressed = max(1, Path(path).stat().st_size)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            check_expansion(path, sum(m.file_size for m in members), compressed)
            total = 0
            for member in members:
                with archive.open(member) as stream:
                    while block := stream.read(1 << 20):
                        total += len(block)
                        check_expansion(path, total, compressed, member.filename)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _reader_error(path, 1, f"a readable zip archive ({exc})") from exc


def _open_binary(path: Path):
    """Open a file for reading bytes: gunzipped within the limits when it is gzip."""
    return BoundedGzip(path) if _is_gzip(path) else open(path, "rb")  # noqa: SIM115


def open_bytes(path: Path, size: int = 65536) -> bytes:
    """Return the first ``size`` bytes of a file, gunzipped when it is gzip."""
    with open(path, "rb") as handle:
        head = handle.read(size)
    if head[:2] == b"\x1f\x8b":
        with BoundedGzip(path) as handle:
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
    try:
        with _open_binary(path) as handle:
            while chunk := handle.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1258"
    except (EOFError, OSError) as exc:
        raise _reader_error(path, 1, f"a readable text file ({exc})") from exc
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


@dataclass
class TextLayout:
    """How a delimited text file is laid out, found from its beginning (and its encoding from all of it).

    Attributes
    ----------
    header : list of str
        Header names as written (NFC), or ``"0"``, ``"1"`` … without a header.
    delimiter : str
        The delimiter found or given.
    encoding : str
        ``utf-8-sig`` or ``cp1258``.
    comments : list of str
        Comment lines (``# …``) before the header.
    skip : int
        Physical lines before the first data line (comments and header).
    """

    header: list[str]
    delimiter: str
    encoding: str
    comments: list[str]
    skip: int


def text_layout(path: Path, delimiter: str | None = None, header: bool = True) -> TextLayout:
    """Return the layout of a delimited text file (encoding, comments, header, delimiter).

    Parameters
    ----------
    path : Path
        CSV/TSV file, optionally gzip-compressed.
    delimiter : str, optional
        Field delimiter; sniffed from the header line when None.
    header : bool
        Whether the first non-comment line is a header.
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
    if header and '"' not in first and delimiter in first:
        # no quotes: the fields are the text between delimiters, as pandas reads them
        header_names = [nfc(name) for name in first.split(delimiter)]
        skip = len(comments) + 1
    elif header:
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
    return TextLayout(header_names, delimiter, encoding, comments, skip)


def iter_text_tables(
    path: Path,
    delimiter: str | None = None,
    header: bool = True,
    chunk_bytes: int = CHUNK_BYTES,
    engine: str = "auto",
    layout: TextLayout | None = None,
) -> Iterator[TextTable]:
    """Read a delimited text file as strings in chunks of whole lines, keeping physical line numbers.

    Each chunk is parsed by pyarrow (multithreaded) when every line of it is a plain record with as many
    fields as the header; otherwise (blank lines, short or long rows, ``\\r`` line ends, text pyarrow
    refuses) by the careful pandas parser, which gives the same strings for the same bytes. Either way a
    chunk's frame is what :func:`read_text_table` would give for those lines. A quoted field must not
    contain a line break (line numbers are physical lines).

    Parameters
    ----------
    path : Path
        CSV/TSV file, optionally gzip-compressed.
    delimiter : str, optional
        Field delimiter; sniffed from the header line when None.
    header : bool
        Whether the first non-comment line is a header.
    chunk_bytes : int
        Approximate bytes per chunk.
    engine : str
        ``auto`` (pyarrow where it fits, else pandas) or ``careful`` (pandas only).
    layout : TextLayout, optional
        The file's layout when already known.

    Yields
    ------
    TextTable
        The chunk's data rows (blank rows removed) with their line numbers, header and encoding.
    """
    layout = layout or text_layout(path, delimiter, header)
    first_line = layout.skip + 1
    # pyarrow parses the next piece (without the GIL) while the caller works on the current one
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for piece in _pieces(path, layout, chunk_bytes):
            future = pool.submit(_arrow_piece, piece, layout) if engine != "careful" else None
            if pending is not None:
                yield _finish_piece(path, layout, *pending)
            pending = (piece, future, first_line)
            first_line += piece.count(b"\n")
        if pending is not None:
            yield _finish_piece(path, layout, *pending)


def _finish_piece(path: Path, layout: TextLayout, piece: bytes, future, first_line: int) -> TextTable:
    frame = future.result() if future is not None else None
    if frame is None:
        frame = _pandas_piece(path, piece, layout, first_line)
    frame["_line"] = np.arange(len(frame), dtype=np.int64) + first_line
    width = len(layout.header)
    blank = ~frame["_extra"].to_numpy(bool)
    for column in range(width):
        # only the rows still blank are compared: real rows drop out at the first field
        rows = np.flatnonzero(blank)
        if len(rows) == 0:
            break
        blank[rows] = (frame.iloc[rows, column] == "").to_numpy(bool, na_value=True)
    if blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
    return TextTable(frame, layout.header, layout.delimiter, layout.encoding, layout.comments)


def _pieces(path: Path, layout: TextLayout, chunk_bytes: int) -> Iterator[bytes]:
    """Yield the data part of a file as UTF-8 byte pieces that end at a line end (the last may not)."""
    try:
        with _open_binary(path) as handle:
            carry, ended = _skip_lines(handle, layout, chunk_bytes)
            while True:
                cut = carry.rfind(b"\n", 0, chunk_bytes + 1)
                if cut < 0:  # a line longer than a chunk
                    cut = carry.find(b"\n")
                if len(carry) >= chunk_bytes and cut >= 0:
                    piece, carry = carry[: cut + 1], carry[cut + 1 :]
                    yield _to_utf8(piece, layout.encoding)
                    continue
                if ended:
                    if carry:
                        yield _to_utf8(carry, layout.encoding)
                    return
                block = handle.read(chunk_bytes)
                ended = len(block) < chunk_bytes
                carry += block
    except (UnicodeDecodeError, EOFError, OSError) as exc:
        raise _reader_error(path, 1, f"a readable text file ({exc})") from exc


def _skip_lines(handle, layout: TextLayout, chunk_bytes: int) -> tuple[bytes, bool]:
    """Read past the comment and header lines (any line end, as pandas counts them).

    Returns what was read after them and whether that is the end of the file.
    """
    head = handle.read(chunk_bytes)
    while True:
        # the first line ends only: listing every line end of a megabyte cost 5 ms a file
        found = re.finditer(rb"\r\n|\n|\r", head[: 1 << 20])
        ends = [match.end() for match in itertools.islice(found, layout.skip)]
        if len(ends) >= layout.skip or len(head) < chunk_bytes:
            break
        more = handle.read(chunk_bytes)  # a header longer than a chunk: unusual but possible
        if not more:
            break
        head += more
    start = 0 if layout.skip == 0 else (ends[layout.skip - 1] if len(ends) >= layout.skip else len(head))
    if layout.skip == 0 and layout.encoding == "utf-8-sig" and head.startswith(codecs.BOM_UTF8):
        start = len(codecs.BOM_UTF8)
    return head[start:], len(head) < chunk_bytes


def _to_utf8(piece: bytes, encoding: str) -> bytes:
    # cp1258 is a single-byte code page: a piece cut at a line end decodes on its own, as pandas would
    return piece if encoding == "utf-8-sig" else piece.decode(encoding).encode("utf-8")


def _arrow_piece(piece: bytes, layout: TextLayout) -> pd.DataFrame | None:
    """Parse a piece with pyarrow when it is plain, else None.

    Plain: every line a record of the header's width, or every line one field wider (a trailing
    delimiter, as G-NetTrack writes each data row): the extra field then sets ``_extra`` where it
    is not empty, as the pandas parser would.
    """
    width = len(layout.header)
    lines = piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)
    # an empty line is skipped and a lone \r ends a record: then lines and rows disagree
    if piece.count(b"\r") != piece.count(b"\r\n"):
        return None
    first = piece[: piece.find(b"\n")] if b"\n" in piece else piece
    widths = [width + 1, width] if first.count(layout.delimiter.encode()) == width else [width, width + 1]
    for fields in widths:
        table = _arrow_table(piece, layout, fields)
        if table is not None:
            break
    else:
        return None
    if table.num_rows != lines:
        return None
    extra = None
    if fields > width:
        extra = pc.not_equal(table.column(width), "").to_numpy(zero_copy_only=False)
        table = table.drop_columns([f"f{width}"])
    frame = table.to_pandas()
    frame.columns = layout.header
    frame["_extra"] = False if extra is None else extra
    return frame


def _arrow_table(
    piece: bytes,
    layout: TextLayout,
    fields: int,
    string_type: pa.DataType | None = None,
    *,
    include: Sequence[int] | None = None,
    numbers: Sequence[int] = (),
) -> pa.Table | None:
    """pyarrow's reading of a piece as ``fields`` string columns named ``f0``, ``f1``, … (only those
    ``include`` numbers when given); None when a line has another width.

    The ``numbers`` columns are read as float64 by the parser itself, :data:`MISSING_MARKERS` as
    nulls: None also when one of their values is anything else (the caller reads them as text).
    """
    import pyarrow.csv as pacsv

    names = [f"f{i}" for i in range(fields)]
    types = dict.fromkeys(names, string_type or pa.string())
    types.update({names[i]: pa.float64() for i in numbers})
    try:
        return pacsv.read_csv(
            io.BytesIO(piece),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=True, block_size=1 << 23),
            parse_options=pacsv.ParseOptions(
                delimiter=layout.delimiter, quote_char='"', double_quote=True, newlines_in_values=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=MISSING_MARKERS,  # for the numbers only: strings are never null
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                include_columns=None if include is None else [names[i] for i in include],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _pandas_piece(path: Path, piece: bytes, layout: TextLayout, first_line: int) -> pd.DataFrame:
    """Parse a piece with pandas, tolerating up to :data:`_SPARE_FIELDS` extra fields per row."""
    width = len(layout.header)
    names = list(range(width + _SPARE_FIELDS))
    try:
        frame = pd.read_csv(
            io.BytesIO(piece),
            sep=layout.delimiter,
            header=None,
            names=names,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            skip_blank_lines=False,
            encoding="utf-8",
            engine="c",
        )
    except pd.errors.ParserError as exc:
        line = _line_from_parser_error(str(exc), first_line - 1)
        raise _reader_error(
            path, line, f"at most {width + _SPARE_FIELDS} fields separated by {layout.delimiter!r}: {exc}"
        ) from exc
    except (UnicodeDecodeError, EOFError, OSError) as exc:
        raise _reader_error(path, 1, f"a readable text file ({exc})") from exc
    extra = frame[names[width:]]
    frame["_extra"] = (extra != "").to_numpy(bool, na_value=False).any(axis=1) if len(extra.columns) else False
    frame = frame.drop(columns=names[width:])
    frame.columns = [*layout.header, "_extra"]
    return frame


def read_text_table(path: Path, delimiter: str | None = None, header: bool = True, engine: str = "auto") -> TextTable:
    """Read a delimited text file as strings, keeping physical line numbers.

    Parameters
    ----------
    path : Path
        CSV/TSV file, optionally gzip-compressed.
    delimiter : str, optional
        Field delimiter; sniffed from the header line when None.
    header : bool
        Whether the first non-comment line is a header.
    engine : str
        ``auto`` or ``careful`` (see :func:`iter_text_tables`).

    Returns
    -------
    TextTable
        The data rows as strings (blank rows removed), their line numbers, header and encoding.
    """
    layout = text_layout(path, delimiter, header)
    tables = list(iter_text_tables(path, engine=engine, layout=layout))
    if not tables:
        frame = pd.DataFrame({name: pd.Series([], dtype="str") for name in layout.header})
        frame["_extra"] = np.zeros(0, bool)
        frame["_line"] = np.zeros(0, np.int64)
    else:
        frame = pd.concat([t.frame for t in tables], ignore_index=True) if len(tables) > 1 else tables[0].frame
    frame = frame[[*layout.header, "_line", "_extra"]] if len(set(layout.header)) == len(layout.header) else frame
    return TextTable(frame, layout.header, layout.delimiter, layout.encoding, layout.comments)


@dataclass
class LogText:
    """One file's data lines, ready to be parsed with others of the same layout (:func:`read_texts_together`).

    Attributes
    ----------
    layout : TextLayout
        The file's layout.
    data : bytes
        Its data lines as UTF-8, each ending with ``\\n``.
    lines : int
        How many.
    fields : int
        Fields per line (the header's, or one more for a trailing delimiter).
    ends : numpy.ndarray
        Where each line's ``\\n`` is in ``data``.
    """

    layout: TextLayout
    data: bytes
    lines: int
    fields: int
    ends: np.ndarray


def plain_text(path: Path, layout: TextLayout, *, exact: bool = False) -> LogText | None:
    """The file's data lines when they can be parsed together with other files', else None.

    Together means one pyarrow parse over many files' lines, each line one record: no quotes, no
    lone ``\\r``, no blank line, the same number of fields on every line, the header's or one more
    (G-NetTrack's trailing tab), and unique header names. Other files (and empty ones) are read alone, by
    :func:`read_text_table`, which handles every case.

    Without ``exact``, the fields per line are those of the first line: a file with a line of
    another width makes pyarrow's parse of the batch fail (it checks every line), and the caller
    then checks each file with :func:`exact_width`, which counts every line's delimiters.
    """
    if len(set(layout.header)) != len(layout.header):
        return None
    width, delimiter = len(layout.header), layout.delimiter.encode()
    if len(delimiter) != 1:
        return None
    data = b"".join(_pieces(path, layout, CHUNK_BYTES))
    if not data or b'"' in data:
        return None
    if not data.endswith(b"\n"):
        first_end = data.find(b"\n")
        crlf_file = first_end > 0 and data[first_end - 1] == ord(b"\r")
        data += b"\r\n" if crlf_file else b"\n"  # the last line ends like the others (pyarrow reads it the same)
    # one pass for the line ends; line ends and blank lines are then checked on them alone
    # (multi-byte searches such as data.count(b"\\r\\n") each cost three times that pass)
    buffer = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(buffer == ord(b"\n"))
    if ends[0] == 0:
        return None  # the data starts with a blank line
    crlf = buffer[ends - 1] == ord(b"\r")
    if crlf.any() and not crlf.all():  # one line end for every line: a line's bytes are then its record
        return None
    if data.count(b"\r") != int(crlf.sum()):  # a lone \r ends a record for pandas
        return None
    line_end = 2 if crlf[0] else 1
    if ends[0] + 1 == line_end or (np.diff(ends) <= line_end).any():  # a blank line: pandas skips it
        return None
    first = data[: ends[0] + 1 - line_end]
    delimiters = first.count(delimiter)
    if delimiters not in (width - 1, width):
        return None
    text = LogText(layout, data, len(ends), width + 1 if delimiters == width else width, ends)
    return exact_width(text) if exact else text


def exact_width(text: LogText) -> LogText | None:
    """``text`` when every one of its lines has its fields, else None (one odd file must not make
    the others' parse fail)."""
    buffer = np.frombuffer(text.data, np.uint8)
    starts = np.concatenate([[0], text.ends[:-1] + 1])
    delimiter = ord(text.layout.delimiter)
    per_line = np.add.reduceat((buffer == delimiter).view(np.uint8), starts, dtype=np.int64)
    return text if (per_line == text.fields - 1).all() else None


def read_texts_together(
    texts: list[LogText], *, columns: Sequence[str] | None = None, numbers: Sequence[str] = ()
) -> tuple[TextTable, np.ndarray, pa.Array] | None:
    """Parse the data lines of many files of one header and width in one pyarrow pass.

    Returns the :class:`TextTable` each file's :func:`read_text_table` would give, one after the
    other (line numbers of each file's own), each row's position in ``texts`` and its line's bytes
    (:func:`line_bytes`); None when a line does not have the files' width (then each file is read
    alone). With ``columns``, only those of the header are made into strings (the others are
    split off by the parser and dropped): what a reader reads of a wide log. The ``numbers``
    columns come as float64 (missing markers as NaN) when every one of their values is a number
    pyarrow reads, as :func:`parse_numbers` would find it; else as text, like the others.
    """
    layout, fields = texts[0].layout, texts[0].fields
    width = len(layout.header)
    wanted = [i for i, name in enumerate(layout.header) if columns is None or name in columns]
    data = b"".join(text.data for text in texts)
    # large strings: what pandas' Arrow string arrays hold, so that making the frame copies nothing
    include = wanted + ([width] if fields > width else [])
    floats = [i for i in wanted if layout.header[i] in numbers]
    # the numbers parsed by the reader's threads, without their text: when one is not a number the
    # batch is read again as text, for parse_numbers to say which
    table = _arrow_table(data, layout, fields, pa.large_string(), include=include, numbers=floats) if floats else None
    values = {} if table is None else _finite_values(table, floats)
    if values is None:  # "NAN", "inf" …: pyarrow's spellings are not all parse_numbers', which decides them
        table, values = None, {}
    if table is None:
        table = _arrow_table(data, layout, fields, pa.large_string(), include=include)
    lines = np.array([text.lines for text in texts], np.int64)
    if table is None or table.num_rows != int(lines.sum()):
        return None
    files = np.repeat(np.arange(len(texts)), lines)
    starts = np.cumsum(lines) - lines
    first_lines = np.array([text.layout.skip + 1 for text in texts], np.int64)
    line = np.arange(len(files), dtype=np.int64) - starts[files] + first_lines[files]
    extra = np.zeros(len(files), bool)
    if fields > width:
        extra = pc.not_equal(table.column(f"f{width}"), "").to_numpy(zero_copy_only=False)
    # chunked: only the columns parsed get combined; the numbers are numpy arrays already
    parsed = [values.get(i, table.column(f"f{i}")) for i in wanted]
    # a row whose every field is empty is a blank row (pandas skips it): not a data row. Its line
    # holds its delimiters and its line end only, which its length tells without the fields.
    buffer = np.frombuffer(data, np.uint8)
    offsets = np.cumsum([0] + [len(text.data) for text in texts[:-1]])
    ends = np.concatenate([text.ends + offset for text, offset in zip(texts, offsets, strict=True)])
    lengths = np.diff(ends, prepend=-1)
    line_end = 1 + (buffer[np.maximum(ends - 1, 0)] == ord(b"\r"))
    blank = lengths == (fields - 1) + line_end
    lines = line_bytes(data, ends)
    if blank.any():
        keep = pa.array(~blank)
        parsed = [column[~blank] if isinstance(column, np.ndarray) else column.filter(keep) for column in parsed]
        files, line, extra, lines = files[~blank], line[~blank], extra[~blank], lines.filter(keep)
    names = [layout.header[i] for i in wanted]
    frame = pd.DataFrame(
        {
            name: column if isinstance(column, np.ndarray) else pd.arrays.ArrowStringArray(column)
            for name, column in zip(names, parsed, strict=True)
        }
    )
    frame["_line"] = line
    frame["_extra"] = extra
    return TextTable(frame, layout.header, layout.delimiter, layout.encoding, layout.comments), files, lines


def _finite_values(table: pa.Table, numbers: Sequence[int]) -> dict[int, np.ndarray] | None:
    """The ``numbers`` columns of ``table`` as float64 arrays (nulls as NaN), or None when one
    holds a value that is not missing and not finite (a NaN that was not null, an infinity)."""
    values = {}
    for number in numbers:
        column = table.column(f"f{number}")
        array = column.to_numpy()  # nulls become NaN: as many NaN as nulls, and no infinity
        if np.isinf(array).any() or np.count_nonzero(np.isnan(array)) != column.null_count:
            return None
        values[number] = array
    return values


def strings_by_index(values: Sequence[str], index: np.ndarray) -> pd.arrays.ArrowStringArray:
    """``values[index]`` as pandas' Arrow strings, taken by pyarrow (a file's name or device on each of its rows).

    Making them from a numpy array of Python strings costs 1.9 M rows about 0.15 s a column;
    pyarrow's take, a few hundredths.
    """
    taken = pa.array(list(values), pa.large_string()).take(pa.array(np.asarray(index, np.int64)))
    return pd.arrays.ArrowStringArray(taken)


def line_bytes(data: bytes, ends: np.ndarray | None = None) -> pa.Array:
    """The bytes of each line of ``data`` (line end included), as a binary array over ``data`` (no copy).

    Lines of one file end alike (:func:`plain_text`), so two rows of a file are copies of each other
    exactly when their lines' bytes are: the exact duplicate test of :func:`record_keys`.
    """
    if ends is None:  # where each line ends, when the caller has not found them already
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord(b"\n"))
    offsets = np.concatenate([[0], ends + 1]).astype(np.int64)
    return pa.Array.from_buffers(pa.large_binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def duplicate_keys(times: pd.Series, files: np.ndarray, lines: pa.Array) -> np.ndarray:
    """Keys equal for two rows of a file exactly when their lines are equal (rows of many files).

    Copies have the same time, so only the rows that share their file and time with another get
    their line's bytes compared (usually a handful); every other row gets a key of its own.
    """
    stamps = times.to_numpy("datetime64[ns]").view(np.int64)
    shared = _shared_file_and_time(np.asarray(files, np.int64), stamps)
    keys = np.arange(len(files), dtype=np.uint64) + np.uint64(len(files))  # unique: above every shared key
    where = np.flatnonzero(shared)
    if len(where):
        keys[where] = pc.dictionary_encode(lines.take(pa.array(where))).indices.to_numpy().astype(np.uint64)
    return keys


def _shared_file_and_time(files: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """True for the rows whose (file, time) another row has too (``DataFrame.duplicated(keep=False)``).

    Sorted rather than hashed: the rows come file after file and mostly in time within a file, so
    one int64 key of both is nearly sorted and a stable sort (timsort) walks it in one pass (1.9 M
    rows: 0.01 s, against 0.25 s for pandas' hashing of the two columns).
    """
    if len(files) < 2:
        return np.zeros(len(files), bool)
    known = stamps != np.iinfo(np.int64).min  # NaT: equal to one another, below every time
    lo, hi = (int(stamps[known].min()), int(stamps[known].max())) if known.any() else (0, 0)
    span = hi - lo + 2
    if span * (int(files.max()) + 1) < 1 << 62:
        key = files * span + np.where(known, stamps - lo + 1, 0)
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        same = ordered[1:] == ordered[:-1]
    else:  # times too far apart for one key: sort by both
        order = np.lexsort((stamps, files))
        same = (files[order][1:] == files[order][:-1]) & (stamps[order][1:] == stamps[order][:-1])
    shared_sorted = np.zeros(len(files), bool)
    shared_sorted[1:] |= same
    shared_sorted[:-1] |= same
    shared = np.empty(len(files), bool)
    shared[order] = shared_sorted
    return shared


def _line_from_parser_error(message: str, skip: int) -> int:
    found = re.search(r"line (\d+)", message)
    return int(found.group(1)) + skip if found else 1


def _reader_error(path: Path, line: int, expected: str):
    from lomsong.readers.base import ReaderError

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
    if pd.api.types.is_float_dtype(raw.dtype):  # read as numbers already (read_texts_together)
        return raw.astype("float64"), np.zeros(len(raw), bool)
    text = _trimmed(raw)
    missing = _missing(text)
    if decimal_comma:
        text = pc.replace_substring(text, ",", ".")
    candidates = pc.if_else(missing, pa.scalar(None, text.type), text)
    values = _cast_floats(candidates)
    not_a_number = ~missing & np.isnan(values)
    values = pd.Series(values, index=raw.index, dtype="float64")
    return values, not_a_number


def _arrow(raw: pd.Series) -> pa.Array:
    """The column as one pyarrow string array (missing values as nulls)."""
    if isinstance(raw.array, pd.arrays.ArrowStringArray):
        array = pa.array(raw.array)  # already Arrow strings (both missing markers as nulls): no copy
    else:
        array = pa.array(raw.astype("string"), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _missing(text: pa.Array) -> np.ndarray:
    """True where the text is null or one of :data:`MISSING_MARKERS`."""
    marker = pc.fill_null(pc.is_in(text, value_set=_MISSING_SET), True)
    return pc.or_(pc.is_null(text), marker).to_numpy(zero_copy_only=False)


def _trimmed(raw: pd.Series) -> pa.Array:
    return pc.utf8_trim_whitespace(_arrow(raw))


def _cast_floats(candidates: pa.Array) -> np.ndarray:
    """Parse text to float64 (NaN where not a number), as ``pandas.to_numeric(errors="coerce")`` does.

    pyarrow's parser accepts a subset of what pandas accepts, with the same values; text it refuses
    (and only that) goes through pandas.
    """
    try:
        return pc.cast(candidates, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        pass
    simple = pc.fill_null(pc.match_substring_regex(candidates, _FLOAT_PATTERN), False).to_numpy(zero_copy_only=False)
    values = np.full(len(candidates), np.nan)
    if simple.any():
        values[simple] = pc.cast(candidates.filter(pa.array(simple)), pa.float64()).to_numpy(zero_copy_only=False)
    rest = ~simple & pc.is_valid(candidates).to_numpy(zero_copy_only=False)
    if rest.any():
        text = pd.Series(candidates.filter(pa.array(rest)).to_pandas(), dtype="string")
        values[rest] = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy(float, na_value=np.nan)
    return values


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
    times = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    missing = np.zeros(len(raw), bool)
    unparseable = np.zeros(len(raw), bool)
    fast, values = _iso_times(raw, local=not extra_formats)
    if extra_formats and _FIXED_FIELDS.get(extra_formats[0]) is not None:
        # the first extra format takes local times before anything else does (as in the general
        # parser); a fixed digit layout of it is read here, by byte position
        fixed, fixed_values = _fixed_layout_times(raw, extra_formats[0], skip=fast)
        fast = fast | fixed
        values = _merge_times(raw, fast, values, fixed, fixed_values, fast & ~fixed)
    if fast.any():
        times[fast] = values
    rest = ~fast
    if rest.any():
        rest_times, missing[rest], unparseable[rest] = _general_times(raw[rest], extra_formats)
        times[rest] = rest_times
    return times, missing, unparseable


def _format_fields(fmt: str) -> tuple[int, dict[str, int], dict[int, int]] | None:
    """``(length, {field: first position}, {position: literal byte})`` of a strptime format made only of
    ``%Y %m %d %H %M %S`` and literal characters (a fixed digit layout), else None."""
    widths = {"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}
    fields, literals, position, index = {}, {}, 0, 0
    while index < len(fmt):
        if fmt[index] == "%":
            code = fmt[index + 1 : index + 2]
            if code not in widths or code in fields:
                return None
            fields[code] = position
            position += widths[code]
            index += 2
        else:
            if not fmt[index].isascii() or fmt[index].isdigit():
                return None
            literals[position] = ord(fmt[index])
            position += 1
            index += 1
    return (position, fields, literals) if set(fields) == set(widths) else None


#: Extra time formats with a fixed digit layout (G-NetTrack's ``%Y.%m.%d_%H.%M.%S``) → their layout.
_FIXED_FIELDS = {fmt: _format_fields(fmt) for fmt in ["%Y.%m.%d_%H.%M.%S"]}


def _fixed_layout_times(raw: pd.Series, fmt: str, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse the values laid out exactly as ``fmt`` (digits and separators in place, a real date and time).

    The same instants as ``pandas.to_datetime(format=fmt)`` then localisation to
    :data:`LOCAL_TIMEZONE` (the general parser's way), computed from the bytes of the column. Values
    not laid out so (spaces, one-digit fields, 30 February …) are left to the general parser.
    Returns ``(taken, UTC datetime64[ns] values of taken)``.
    """
    fixed = _FIXED_FIELDS.get(fmt) or _format_fields(fmt)
    length, fields, literals = fixed
    text = _arrow(raw)
    taken = np.zeros(len(text), bool)
    if len(text) == 0:
        return taken, np.zeros(0, "datetime64[ns]")
    lengths = pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero((lengths == length) & ~skip)
    if len(rows) == 0:
        return taken, np.zeros(0, "datetime64[ns]")
    offsets = np.frombuffer(text.buffers()[1], np.int64 if pa.types.is_large_string(text.type) else np.int32)
    offsets = offsets[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(text.buffers()[2], np.uint8)
    chars = np.lib.stride_tricks.sliding_window_view(data, length)[offsets[rows]]
    fits = np.ones(len(rows), bool)
    for position, byte in literals.items():
        fits &= chars[:, position] == byte
    digits = chars - np.uint8(48)  # bytes below "0" wrap around to values > 9

    def number(code: str, width: int) -> np.ndarray:
        nonlocal fits
        first = fields[code]
        value = np.zeros(len(rows), np.int64)
        for position in range(first, first + width):
            fits &= digits[:, position] <= 9
            value = value * 10 + digits[:, position]
        return value

    year, month, day = number("Y", 4), number("m", 2), number("d", 2)
    hour, minute, second = number("H", 2), number("M", 2), number("S", 2)
    fits &= (year >= 1700) & (year <= 2200) & (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    fits &= (day >= 1) & (day <= days) & (hour <= 23) & (minute <= 59) & (second <= 59)
    rows = rows[fits]
    year, month, day = year[fits], month[fits], day[fits]
    seconds = hour[fits] * 3600 + minute[fits] * 60 + second[fits]
    months = (year - 1970) * 12 + (month - 1)
    dates = months.astype("datetime64[M]").astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    naive = dates.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    local = pd.Series(naive.astype("datetime64[ns]")).dt.tz_localize(LOCAL_TIMEZONE, **_LOCAL_GAPS)
    # a local time that never existed or happened twice (clocks moved, 1942-1975): the general parser's call
    real = local.notna().to_numpy(bool)
    taken[rows[real]] = True
    return taken, local[real].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")


def _merge_times(
    raw: pd.Series,
    taken: np.ndarray,
    iso_values,
    fixed: np.ndarray,
    fixed_values: np.ndarray,
    iso: np.ndarray,
) -> pd.DatetimeIndex:
    """The UTC times of ``taken`` rows, in row order, from the ISO and the fixed-layout parses."""
    merged = np.zeros(len(raw), "datetime64[ns]")
    merged[iso] = np.asarray(pd.DatetimeIndex(iso_values).tz_convert("UTC").tz_localize(None), "datetime64[ns]")
    merged[fixed] = fixed_values
    return pd.to_datetime(merged[taken]).tz_localize("UTC")


#: ISO 8601 layouts read by pyarrow: (length, {position: allowed characters}, with offset).
_ISO_LAYOUTS = [
    (25, {4: b"-", 7: b"-", 10: b"T ", 13: b":", 16: b":", 19: b"+-", 22: b":"}, True),
    (20, {4: b"-", 7: b"-", 10: b"T ", 13: b":", 16: b":", 19: b"Z"}, True),
    (19, {4: b"-", 7: b"-", 10: b"T ", 13: b":", 16: b":"}, False),
]


def _iso_times(raw: pd.Series, local: bool) -> tuple[np.ndarray, np.ndarray]:
    """Parse the usual ISO 8601 times (``2026-08-01T00:04:17+07:00``, ``…Z``, local ``2026-08-01 00:04:17``).

    Only values laid out exactly so are taken (the others are left to the general parser); pyarrow
    reads them as pandas' ISO 8601 parser does. Returns ``(taken, UTC datetime64[ns] values of taken)``.
    """
    text = _arrow(raw)
    taken = np.zeros(len(text), bool)
    out = np.zeros(len(text), "datetime64[ns]")
    if len(text) == 0:
        return taken, out[taken]
    lengths = pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False)
    offsets = np.frombuffer(text.buffers()[1], np.int64 if pa.types.is_large_string(text.type) else np.int32)
    offsets = offsets[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(text.buffers()[2], np.uint8) if text.buffers()[2] is not None else np.zeros(0, np.uint8)
    for length, layout, with_offset in _ISO_LAYOUTS:
        if not with_offset and not local:
            continue
        rows = np.flatnonzero((lengths == length) & ~taken)
        if len(rows) == 0:
            continue
        # each candidate's characters as one row of a (rows, length) byte matrix (a strided view: fast)
        chars = np.lib.stride_tricks.sliding_window_view(data, length)[offsets[rows]]
        fits = np.ones(len(rows), bool)
        for position, allowed in layout.items():
            fits &= np.isin(chars[:, position], np.frombuffer(allowed, np.uint8))
        rows, chars = rows[fits], chars[fits]
        if len(rows) == 0:
            continue
        parsed = _cast_times(text, rows, with_offset)
        if parsed is None:
            # an impossible date among them (2026-13-45): keep the plausible ones, the general parser
            # gives the others their usual outcome
            rows = rows[_plausible_iso(chars)]
            parsed = _cast_times(text, rows, with_offset) if len(rows) else None
            if parsed is None:
                continue
        out[rows] = parsed
        taken[rows] = True
    return taken, pd.to_datetime(out[taken]).tz_localize("UTC")


def _cast_times(text: pa.Array, rows: np.ndarray, with_offset: bool) -> np.ndarray | None:
    """pyarrow's ISO 8601 parse of ``text[rows]`` as UTC ``datetime64[ns]``; None when any value fails.

    pyarrow refuses exactly the values pandas' ISO 8601 parser cannot read or hold in nanoseconds
    (month 13, hour 24, year 0026, offset +25:00 …) and gives the others the same instant
    (``tests/readers/test_ingest_paths.py``).
    """
    subset = text.take(pa.array(rows))
    try:
        if with_offset:
            parsed = pc.cast(subset, pa.timestamp("ns", "UTC")).to_numpy(zero_copy_only=False)
        else:
            naive = pd.Series(pc.cast(subset, pa.timestamp("ns")).to_numpy(zero_copy_only=False))
            parsed = naive.dt.tz_localize(LOCAL_TIMEZONE).dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    except (pa.ArrowInvalid, ValueError):
        return None
    return parsed.astype("datetime64[ns]")


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _plausible_iso(chars: np.ndarray) -> np.ndarray:
    """True where ``YYYY-MM-DD?HH:MM:SS[±HH:MM]`` (rows of a byte matrix) has digits and a real date and time.

    Everything else (month 13, 30 February, 25:61, years pandas cannot hold …) goes to the general
    parser, which gives it its usual outcome.
    """
    # one contiguous row per character position; bytes below "0" wrap around to values > 9
    digits = np.ascontiguousarray((chars - np.uint8(48)).T)

    def number(first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        value = np.zeros(digits.shape[1], np.int32)
        ok = np.ones(digits.shape[1], bool)
        for position in range(first, last):
            ok &= digits[position] <= 9
            value = value * 10 + digits[position]
        return value, ok

    (year, y_ok), (month, m_ok), (day, d_ok) = number(0, 4), number(5, 7), number(8, 10)
    (hour, h_ok), (minute, n_ok), (second, s_ok) = number(11, 13), number(14, 16), number(17, 19)
    fits = y_ok & m_ok & d_ok & h_ok & n_ok & s_ok
    fits &= (year >= 1700) & (year <= 2200) & (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    fits &= (day >= 1) & (day <= days) & (hour <= 23) & (minute <= 59) & (second <= 59)
    if chars.shape[1] == 25:
        (offset_hours, oh_ok), (offset_minutes, om_ok) = number(20, 22), number(23, 25)
        fits &= oh_ok & om_ok & (offset_hours <= 14) & (offset_minutes <= 59)
    return fits


def _in_ns_range(naive: pd.Series) -> np.ndarray:
    """True where a (naive) time fits in nanoseconds with a day to spare (else it counts as unparseable)."""
    with np.errstate(invalid="ignore"):
        low, high = pd.Timestamp("1678-01-01"), pd.Timestamp("2262-01-01")
        return ((naive > low) & (naive < high)).to_numpy(bool, na_value=False)


def _general_times(raw: pd.Series, extra_formats: tuple[str, ...]) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    text = raw.astype("string").str.strip()
    missing = (text.isna() | text.isin(MISSING_MARKERS)).to_numpy(bool, na_value=True)
    times = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    epoch = ~missing & text.str.fullmatch(r"\d{9,13}(?:\.\d+)?").to_numpy(bool, na_value=False)
    if epoch.any():
        seconds = pd.to_numeric(text[epoch]).to_numpy(float)
        seconds = np.where(seconds >= 1e11, seconds / 1000.0, seconds)
        times[epoch] = pd.to_datetime(seconds, unit="s", utc=True).astype("datetime64[ns, UTC]")
    offset = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).to_numpy(bool, na_value=False)
    # an hour-only offset after a time (…08:00:00+07) is an offset too, not a local time
    offset |= text.str.contains(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?[+-]\d{2}$", regex=True).to_numpy(
        bool, na_value=False
    )
    with_offset = ~missing & ~epoch & offset
    if with_offset.any():
        parsed = pd.to_datetime(text[with_offset], format="ISO8601", utc=True, errors="coerce")
        parsed = parsed.where(_in_ns_range(parsed.dt.tz_localize(None)))
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
        try:
            parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        except (ValueError, TypeError):
            continue  # e.g. offsets mixed in among local times: not this format's business
        if getattr(parsed.dtype, "tz", None) is not None:
            continue
        good = parsed.notna().to_numpy(bool) & _in_ns_range(parsed)
        if good.any():
            index = parsed.index[good]
            times[index] = (
                parsed[good]
                .dt.tz_localize(LOCAL_TIMEZONE, **_LOCAL_GAPS)
                .dt.tz_convert("UTC")
                .astype("datetime64[ns, UTC]")
            )
    unparseable = ~missing & times.isna().to_numpy(bool)
    return times, missing, unparseable


def map_unique(values: pd.Series, function) -> pd.Series:
    """Apply ``function`` to each distinct value only (operators, technologies: few distinct values)."""
    text = values.astype("string")
    uniques = text.dropna().unique()
    mapping = {value: function(value) for value in uniques}
    return text.map(mapping, na_action="ignore").astype("string")


def by_unique(function):
    """Wrap a column function so that it computes on the distinct values only, then spreads the result.

    ``function(series) -> tuple`` of Series or arrays aligned with its input; the wrapper returns the
    same tuple for the full column (index kept). Identical results, in time proportional to the
    number of distinct values (operators, technologies, flags, devices) instead of rows.
    """

    def wrapped(raw: pd.Series, *args, **kwargs):
        codes, uniques = pd.factorize(raw.astype("string"), use_na_sentinel=False)
        results = function(pd.Series(uniques, dtype="string"), *args, **kwargs)
        single = not isinstance(results, tuple)
        spread = []
        for result in (results,) if single else results:
            if isinstance(result, pd.Series):
                spread.append(pd.Series(result.array.take(codes), index=raw.index, dtype=result.dtype))
            else:
                spread.append(np.asarray(result)[codes])
        return spread[0] if single else tuple(spread)

    wrapped.__doc__ = function.__doc__
    wrapped.__name__ = function.__name__
    return wrapped


@by_unique
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
    Computed once per distinct (name, PLMN) pair.
    """
    given = {key: column for key, column in {"names": names, "plmns": plmns}.items() if column is not None}
    index = next(iter(given.values())).index
    pair = np.zeros(len(index), np.int64)
    for column in given.values():
        codes, uniques = pd.factorize(column.astype("string"), use_na_sentinel=False)
        pair = pair * (len(uniques) + 1) + codes
    pair_codes, pair_uniques = pd.factorize(pair)
    _, first = np.unique(pair_codes, return_index=True)
    small = {key: _texts(column.iloc[first]) for key, column in given.items()}
    operator, plmn, unknown = _operator_table(small.get("names"), small.get("plmns"))
    return (
        pd.Series(pd.array(operator, dtype="string").take(pair_codes), index=index, dtype="string"),
        pd.Series(pd.array(plmn, dtype="string").take(pair_codes), index=index, dtype="string"),
        np.asarray(unknown, bool)[pair_codes],
    )


def _texts(column: pd.Series) -> tuple[str | None, ...]:
    return tuple(None if pd.isna(value) else str(value) for value in column.astype("string"))


@functools.lru_cache(maxsize=1024)
def _operator_table(
    names: tuple[str | None, ...] | None, plmns: tuple[str | None, ...] | None
) -> tuple[tuple[str | None, ...], tuple[str | None, ...], tuple[bool, ...]]:
    """:func:`_parse_operator_rows` of a few distinct (name, PLMN) pairs, remembered: the logs of one
    department name the same few operators, and working it out costs a file 40 ms."""
    operator, plmn, unknown = _parse_operator_rows(
        None if names is None else pd.Series(names, dtype="string"),
        None if plmns is None else pd.Series(plmns, dtype="string"),
    )
    return _texts(operator), _texts(plmn), tuple(bool(flag) for flag in unknown)


def _parse_operator_rows(names: pd.Series | None, plmns: pd.Series | None) -> tuple[pd.Series, pd.Series, np.ndarray]:
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
    from lomsong.operators import OPERATORS

    plmn_from_operator = operator.map({op: p for op, (p, _) in OPERATORS.items()}, na_action="ignore")
    plmn_from_id = operator.str.extract(r"^plmn:(\d+)$", expand=False)
    plmn = plmn.fillna(plmn_from_operator.astype("string")).fillna(plmn_from_id.astype("string"))
    return operator.astype("string"), plmn.astype("string"), unknown


@by_unique
def parse_flags(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse a yes/no column (1/0, true/false, yes/no, có/không). Returns ``(flag, unreadable)``."""
    folded = map_unique(raw.astype("string").str.strip(), fold)
    flag = folded.isin(list(_TRUE_TEXTS)).to_numpy(bool, na_value=False)
    unreadable = ~(folded.isna() | folded.isin(list(_TRUE_TEXTS | _FALSE_TEXTS))).to_numpy(bool, na_value=True)
    return flag, unreadable


@by_unique
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
    """Return a 64-bit hash of each row's raw fields, to find exact duplicate records.

    The fields are joined with a unit separator (a missing field is a record separator) and the
    joined text is hashed once: much faster than hashing column by column, and the same for a row
    whatever chunk or parser it came from.
    """
    if len(frame) == 0:
        return np.zeros(0, np.uint64)
    columns = [_arrow(frame.iloc[:, i]).cast(pa.large_string()) for i in range(frame.shape[1])]
    separator = pa.scalar("\x1f", pa.large_string())
    joined = pc.binary_join_element_wise(*columns, separator, null_handling="replace", null_replacement="\x1e")
    return pd.util.hash_pandas_object(pd.Series(joined.to_pandas()), index=False, categorize=False).to_numpy()
