"""The ingest job: read, validate and store measurement files (``lomsong ingest``, API uploads).

Reading is the readers' concern (:class:`lomsong.readers.FileReading`), keeping is the store's
(:meth:`lomsong.tables.store.MeasurementStore.add`); this job joins them file by file and reports
progress through a callback that the command line renders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd

from lomsong import paths
from lomsong.errors import AttributionError
from lomsong.readers import FileReading, IngestReport, ReaderError
from lomsong.readers._parse import file_sha256
from lomsong.tables.store import MeasurementStore


@dataclass(frozen=True)
class IngestEvent:
    """Where an ingest is.

    Attributes
    ----------
    stage : str
        ``reading`` (``rows`` accepted so far), ``staged`` (written aside, not yet in the ledger),
        ``renamed`` (in place, the ledger not yet committed) or ``stored``.
    file : Path
        The file.
    number, total : int
        Its place among the files of this ingest (1-based) and their number.
    rows : int
        Rows accepted so far.
    """

    stage: str
    file: Path
    number: int
    total: int
    rows: int


def bundled_communes() -> gpd.GeoDataFrame | None:
    """The bundled communes when the reference data is installed, else None (no province filter)."""
    if not paths.boundaries_path().exists():
        return None
    from lomsong.reference.boundaries import read_communes

    return read_communes()


def ingest_files(
    store: MeasurementStore,
    files: Sequence[str | Path],
    format: str | None = None,  # noqa: A002  (the CLI option's name)
    operator: str | None = None,
    *,
    owner: str | None = None,
    communes: gpd.GeoDataFrame | None | bool = None,
    progress: Callable[[IngestEvent], None] | None = None,
    own_network: str | None = None,
    file_name: str | None = None,
) -> list[IngestReport]:
    """Read, validate and store files, one transaction per file.

    Parameters
    ----------
    store : MeasurementStore
        Where to keep them.
    files : sequence of path
        Files to ingest.
    format : str, optional
        Format name for every file (detected per file when None).
    operator : str, optional
        Operator for rows whose file does not say.
    owner : str, optional
        Who uploaded (operator id or ``admin``), recorded in the ledger.
    communes : geopandas.GeoDataFrame or None or False
        Province filter. None: the bundled communes when installed (else no filter); False: no filter.
    progress : callable, optional
        Called with an :class:`IngestEvent` as each file is read, staged and stored.
    own_network : str, optional
        The uploader's operator (an operator key's upload): rows default to it, and a file with
        any row about another network is refused whole, before anything is stored.
    file_name : str, optional
        The name the uploader gave the (single) file, when ``files`` is a temporary copy: recorded
        in the ledger and the rows' ``source_file`` instead of the copy's name.

    Returns
    -------
    list of IngestReport
        One per file, in order. A file that cannot be read gets a report with ``error`` set (the
        others are still ingested). The same bytes stored before add nothing (``duplicate_file``),
        unless that earlier reading accepted no row and this one names another format or an
        operator (then the file is read again and replaces it).

    Raises
    ------
    AttributionError
        With ``own_network``: a file naming another operator (nothing of it is stored).
    """
    if communes is None:
        communes = bundled_communes()
    elif communes is False:
        communes = None
    say = progress or (lambda _event: None)
    files = [Path(f) for f in files]
    reports = []
    for number, file in enumerate(files, start=1):
        say(IngestEvent("reading", file, number, len(files), 0))
        try:
            reports.append(
                _ingest_one(
                    store, file, format, operator, owner, communes, say, number, len(files), own_network, file_name
                )
            )
        except ReaderError as exc:
            reports.append(IngestReport(file=str(file), format=format or "?", error=str(exc)))
    return reports


def _ingest_one(
    store: MeasurementStore,
    file: Path,
    format: str | None,  # noqa: A002
    operator: str | None,
    owner: str | None,
    communes: gpd.GeoDataFrame | None,
    say: Callable[[IngestEvent], None],
    number: int,
    total: int,
    own_network: str | None = None,
    file_name: str | None = None,
) -> IngestReport:
    if not file.is_file():
        what = "a file; it is a folder" if file.is_dir() else "a readable file; it does not exist"
        raise ReaderError(f"{file}: line 0: expected {what}")
    sha256 = file_sha256(file)
    stored = store.known_file(sha256, owner, file_name=file_name or file.name)
    if stored is not None:
        # A reading that gave nothing (a wrong --format, a missing --operator) must not block the
        # right one: the same bytes asked for with another format or an operator are read again.
        retry = (format is not None and format != stored.get("format")) or operator is not None
        if stored.get("accepted", 0) > 0 or not retry:
            stored.update(file=str(file), duplicate_file=True)
            return IngestReport(**stored)
        store.remove(sha256, keep_owners=True)
    if own_network is not None:
        operator = operator or own_network
    reading = FileReading(
        file, format=format, operator=operator, communes=communes, sha256=sha256, source_name=file_name
    )
    if own_network is not None:
        reading = _OwnNetworkOnly(reading, own_network)
    accepted = [0]

    def on_chunk(rows: int) -> None:
        accepted[0] += rows
        say(IngestEvent("reading", file, number, total, accepted[0]))

    def on_stage(stage: str) -> None:
        say(IngestEvent(stage, file, number, total, accepted[0]))

    stored = store.add(reading, owner=owner, on_chunk=on_chunk, on_stage=on_stage)
    say(IngestEvent("stored", file, number, total, accepted[0]))
    return IngestReport(**stored) if stored.get("duplicate_file") else reading.report


class _OwnNetworkOnly:
    """A reading whose rows must all be about one network (an operator's upload).

    An operator may only add evidence about its own network: a competitor must not be able to
    fabricate gaps in another's. A row naming any other operator stops the reading with
    :class:`AttributionError` before the store commits anything (it keeps nothing of a failed add).
    """

    def __init__(self, reading: FileReading, operator: str) -> None:
        self._reading = reading
        self.operator = operator
        self.path = reading.path
        self.sha256 = reading.sha256
        self.source_name = reading.source_name

    @property
    def report(self):
        return self._reading.report

    def chunks(self):
        for frame in self._reading.chunks():
            if "operator" in frame.columns and len(frame):
                named = frame["operator"].astype("string")
                foreign = named[(named != self.operator).fillna(True).to_numpy(bool)]
                if len(foreign):
                    others = ", ".join(sorted(foreign.fillna("none").unique().tolist())[:5])
                    raise AttributionError(
                        f"{self.source_name}: {len(foreign):,} row(s) of this chunk name another network ({others}); "
                        f"a {self.operator} key may only upload {self.operator} measurements. Remove those rows "
                        "or ask the department (admin key) to upload the file"
                    )
            yield frame


def ingest_claims(
    store: MeasurementStore,
    files: Sequence[str | Path],
    *,
    operator: str | None = None,
    technology: str | None = None,
    claim_date: str | None = None,
    class_table: str | Path | None = None,
    owner: str | None = None,
    progress: Callable[[IngestEvent], None] | None = None,
) -> list[IngestReport]:
    """Read and store claimed-coverage maps, one ledgered transaction per file (like measurements).

    Parameters
    ----------
    store : MeasurementStore
        Where to keep them.
    files : sequence of path
        Claim maps (:mod:`lomsong.readers.claims`).
    operator, technology, claim_date : str, optional
        What the files' features do not say themselves.
    class_table : path, optional
        Class table of GeoTIFF claims.
    owner : str, optional
        Who uploaded, recorded in the ledger.
    progress : callable, optional
        Called with an :class:`IngestEvent` per file and stage.

    Returns
    -------
    list of IngestReport
        One per file (``kind="claims"``); a file that cannot be read has ``error`` set and the
        others are still stored. The same bytes stored before add nothing (``duplicate_file``).
    """
    from lomsong.readers.claims import read_claims

    say = progress or (lambda _event: None)
    files = [Path(f) for f in files]
    reports = []
    for number, file in enumerate(files, start=1):
        say(IngestEvent("reading", file, number, len(files), 0))
        try:
            if not file.is_file():
                raise ReaderError(f"{file}: feature 0: expected a readable claim file; it does not exist")
            sha256 = file_sha256(file)
            stored = store.known_file(sha256, owner, file_name=file.name)
            if stored is not None:
                stored.update(file=str(file), duplicate_file=True)
                reports.append(IngestReport(**stored))
                continue
            reading = read_claims(
                file, operator=operator, technology=technology, claim_date=claim_date, class_table=class_table,
                sha256=sha256,
            )
            stored = store.add(reading, owner=owner)
            say(IngestEvent("stored", file, number, len(files), reading.report.accepted))
            reports.append(IngestReport(**stored) if stored.get("duplicate_file") else reading.report)
        except ReaderError as exc:
            reports.append(IngestReport(file=str(file), format="claims", kind="claims", error=str(exc)))
    return reports
