"""Readers of measurement files, in a registry keyed by format name, with detection from content.

========== ============================================================ ======================
format     what                                                         produces
========== ============================================================ ======================
generic_csv the project's measurement CSV and anything mappable to it     measurements
            by header aliases (drive-test tools, i-Speed style exports)
gnettrack  G-NetTrack Pro logs (tab separated, one file = one phone)    measurements
opencellid OpenCelliD / Mozilla Location Service cell exports (.gz ok)  cells
ookla      Ookla Speedtest open-data performance tiles (parquet,        speed tiles
           zipped shapefile, GeoJSON)
========== ============================================================ ======================

:func:`read_file` reads one file, validates it (:mod:`lomsong.readers.validate`) and returns the accepted
canonical rows with an :class:`IngestReport` that says what happened to every row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd

from lomsong.operators import operator_from_name
from lomsong.readers import generic_csv, gnettrack, ookla, opencellid
from lomsong.readers.base import IngestReport, IngestResult, Parsed, Reader, ReaderError

#: Format name → reader. Detection tries them in this order.
REGISTRY: dict[str, Reader] = {
    reader.name: reader for reader in [gnettrack.READER, opencellid.READER, ookla.READER, generic_csv.READER]
}


def detect_format(path: str | Path) -> str:
    """Return the format name of a file, from its content (not its name).

    Raises
    ------
    ReaderError
        The file does not exist or matches no reader.
    """
    from lomsong.readers._parse import open_bytes

    path = Path(path)
    if not path.is_file():
        raise ReaderError(f"{path}: line 0: expected a readable file; it does not exist")
    head = open_bytes(path)
    if not head:
        raise ReaderError(f"{path}: line 1: expected data; the file is empty")
    for reader in REGISTRY.values():
        if reader.sniff(path, head):
            return reader.name
    first = head.split(b"\n", 1)[0][:100].decode("utf-8", errors="replace")
    raise ReaderError(
        f"{path}: line 1: expected a G-NetTrack log, a measurement CSV with latitude/longitude/time columns, "
        f"an OpenCelliD export or Ookla tiles (parquet, zipped shapefile, GeoJSON); found {first!r}"
    )


def read_file(
    path: str | Path,
    format: str | None = None,  # noqa: A002  (the user-facing name of the option)
    operator: str | None = None,
    communes: gpd.GeoDataFrame | None = None,
    source_name: str | None = None,
    now: pd.Timestamp | None = None,
    *,
    sha256: str | None = None,
) -> IngestResult:
    """Read, parse and validate one file.

    Parameters
    ----------
    path : str or Path
        The file.
    format : str, optional
        A name in :data:`REGISTRY`; detected from the content when None.
    operator : str, optional
        Operator of the measurements when the file does not say (canonical id, name or PLMN).
    communes : geopandas.GeoDataFrame, optional
        Keep only rows inside these communes (others counted as ``outside_province``).
    source_name : str, optional
        Name recorded in ``source_file`` (default: the file name).
    now : pandas.Timestamp, optional
        Reference time for "in the future" checks (default: now).
    sha256 : str, optional
        The file's sha256 when the caller already has it (else computed).

    Returns
    -------
    IngestResult
        Accepted rows and the report.

    Raises
    ------
    ReaderError
        Unknown format or operator, or a file that cannot be read at all.
    """
    from lomsong.tables.measurements import empty_measurements

    reading = FileReading(
        path, format=format, operator=operator, communes=communes, source_name=source_name, now=now, sha256=sha256
    )
    frames = list(reading.chunks())
    report = reading.report
    if len(frames) == 1:
        table = frames[0]
    else:
        table = pd.concat(frames, ignore_index=True)
        if report.kind == "measurements":
            table["time"] = table["time"].astype("datetime64[ns, UTC]")
    if report.kind == "measurements":
        return IngestResult(measurements=table, report=report)
    if report.kind == "cells":
        return IngestResult(measurements=empty_measurements(), report=report, cells=table)
    return IngestResult(measurements=empty_measurements(), report=report, speed_tiles=table)


class FileReading:
    """One file being read, parsed and validated, chunk by chunk for large measurement CSVs.

    Iterate :meth:`chunks` for the accepted canonical rows (measurements, cells or speed tiles by
    the reader's kind), then :attr:`report` holds the file's :class:`IngestReport`. Reading a file
    this way holds one chunk in memory at a time; the outcome (rows, counts, reasons, example line
    numbers) is identical to reading it whole.

    Parameters
    ----------
    path, format, operator, communes, source_name, now
        As for :func:`read_file`.
    sha256 : str, optional
        The file's sha256 when the caller already computed it.
    chunk_bytes : int, optional
        Bytes per chunk (default :data:`lomsong.readers._parse.CHUNK_BYTES`).
    engine : str
        ``auto`` (pyarrow where a chunk is plain, else pandas) or ``careful`` (pandas only).

    Raises
    ------
    ReaderError
        Unknown format or operator, or a file that does not exist (when constructed); a file that
        cannot be read at all (while iterating).
    """

    def __init__(
        self,
        path: str | Path,
        format: str | None = None,  # noqa: A002
        operator: str | None = None,
        communes: gpd.GeoDataFrame | None = None,
        source_name: str | None = None,
        now: pd.Timestamp | None = None,
        sha256: str | None = None,
        chunk_bytes: int | None = None,
        engine: str = "auto",
    ):
        from lomsong.readers._parse import CHUNK_BYTES, file_sha256

        path = Path(path)
        if format is None:
            format = detect_format(path)  # noqa: A001
        elif format not in REGISTRY:
            raise ReaderError(f"{path}: line 0: expected a format among {', '.join(REGISTRY)}; got {format!r}")
        elif not path.is_file():
            raise ReaderError(f"{path}: line 0: expected a readable file; it does not exist")
        if operator is not None:
            resolved = operator_from_name(operator)
            if resolved is None:
                raise ReaderError(
                    f"{path}: line 0: expected an operator id, name or PLMN for --operator; got {operator!r}"
                )
            operator = resolved
        self.path = path
        self.reader = REGISTRY[format]
        self.operator = operator
        self.communes = communes
        self.now = now
        self.sha256 = sha256 or file_sha256(path)
        self.source_name = source_name or path.name
        self.chunk_bytes = chunk_bytes or CHUNK_BYTES
        self.engine = engine
        self.report: IngestReport | None = None

    def _parsed(self) -> Iterator[Parsed]:
        arguments = {"operator": self.operator, "source_name": self.source_name, "sha256": self.sha256}
        if self.reader.parse_chunks is not None:
            yield from self.reader.parse_chunks(
                self.path, chunk_bytes=self.chunk_bytes, engine=self.engine, **arguments
            )
        else:
            yield self.reader.parse(self.path, **arguments)

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Yield the accepted canonical rows chunk by chunk; sets :attr:`report` when done."""
        from lomsong.readers import validate

        reader = self.reader
        validator = validate.MeasurementValidator(communes=self.communes, now=self.now)
        outcomes, columns, synthetic, accepted_rows = [], {}, False, 0
        for parsed in self._parsed():
            frame = parsed.frame
            columns, synthetic = parsed.columns, synthetic or parsed.synthetic
            if "source_file" in frame.columns or len(frame):
                frame["source_file"] = self.source_name
            if reader.kind == "measurements":
                frame["source"] = reader.name
                outcome = validator.validate(frame)
            elif reader.kind == "cells":
                outcome = validate.validate_cells(frame, communes=self.communes)
            else:
                outcome = validate.validate_speed_tiles(frame, communes=self.communes)
            outcomes.append(outcome)
            accepted, outcome.accepted = outcome.accepted, None
            accepted_rows += len(accepted)
            yield accepted
        total = outcomes[0] if len(outcomes) == 1 else validate.MeasurementValidator.merge(outcomes)
        self.report = IngestReport(
            file=str(self.path),
            format=reader.name,
            sha256=self.sha256,
            rows_read=total.rows_read,
            accepted=accepted_rows,
            no_service=total.no_service,
            outside_province=total.outside_province,
            rejected=total.rejected,
            examples=total.examples,
            values_rejected=total.values_rejected,
            corrected=total.corrected,
            kind=reader.kind,
            columns=columns,
            synthetic=synthetic or "synthetic" in self.source_name.lower(),
        )


__all__ = [
    "REGISTRY",
    "IngestReport",
    "IngestResult",
    "Parsed",
    "Reader",
    "ReaderError",
    "FileReading",
    "detect_format",
    "read_file",
]
