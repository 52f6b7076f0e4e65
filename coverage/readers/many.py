"""Many measurement files at once: read in parallel across the cores, in an order that does not
depend on the order they were given.

A department's data is hundreds of small files (one G-NetTrack log per phone and session), so the
fixed cost of a file matters as much as the rows per second: :func:`read_files` hashes each file
once, parses and validates the G-NetTrack logs of one header together (one pyarrow parse of all
their lines, one validation, each log's report split back out: :func:`read_logs_together`), reads
the other files in worker processes when there are enough of them to pay for the workers, and
returns the results sorted by content (sha256, then path), so that ``-m a b`` and ``-m b a`` give
the same table, row for row.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong._process import usable_cores
from lomsong.readers import IngestResult, read_file
from lomsong.readers._parse import file_sha256
from lomsong.tables.measurements import MEASUREMENT_COLUMNS

#: Below this many bytes in all, one process reads everything (starting workers costs about a second).
PARALLEL_MIN_BYTES = 24 << 20
#: Idle cores per worker process reading batches of logs. Measured on 2 cores, ``read_files`` of
#: ``benchmarks/many_logs.py``'s 240 logs × 8,000 rows at load about 1: this process alone 4.9-5.1 s,
#: two worker processes 6.0-9.6 s, for the pyarrow parse of a batch already uses both cores.
CORES_PER_BATCH_WORKER = 2
#: Files per task sent to a worker (fewer round trips for many small logs).
FILES_PER_TASK = 4
#: Bytes of log text parsed and validated together: the memory of a batch (a few times this) stays
#: bounded whatever the number of logs, and a batch is still hundreds of logs. Two batches are read
#: at once on two threads (:func:`_batch_reads`); 32 MB gave the two threads the most even shares
#: (240 logs × 8,000 rows, best of three: 2.33–2.38 s, 64 MB 2.61–2.93 s, one thread 3.2–3.3 s).
BATCH_BYTES = 32 << 20


@dataclass(frozen=True)
class FileRead:
    """One file's reading.

    Attributes
    ----------
    path : Path
        The file as given.
    sha256 : str
        Hash of its bytes.
    result : IngestResult
        Accepted rows and report.
    """

    path: Path
    sha256: str
    result: IngestResult


def idle_cores() -> int:
    """Cores worth a worker process now: the usable cores less the load already on them (at least 1).

    On a machine others keep busy a second worker only adds its start-up and the copying of its
    results (measured: 32 logs took 9.3 s with 2 workers, 6.2-8.3 s with one, at load 8 on 2 cores).
    """
    cores = usable_cores()
    return max(1, min(cores, cores - round(os.getloadavg()[0]) + 1))


@dataclass(frozen=True)
class ManyRead:
    """Many files read: each file's reading and, when it is at hand, their rows as one table.

    Attributes
    ----------
    reads : list of FileRead
        Sorted by (sha256, path).
    tables : list of pandas.DataFrame or None
        The accepted measurements of every file in that order, in pieces (the batches'), when
        the files were read as batches of logs only; else None. :meth:`table` joins them.
    located : list of numpy.ndarray or None
        What ``locate`` (:func:`read_many`) gave for each piece of :attr:`tables`, when given.
    """

    reads: list[FileRead]
    tables: list[pd.DataFrame] | None = None
    located: list[np.ndarray] | None = None

    @cached_property
    def measurements(self) -> pd.DataFrame | None:
        """The accepted measurements of every file in that order, as one table (what concatenating
        the reads' tables gives), when the files were read as batches of logs only; else None.
        Joined once, on first use."""
        return self.table()

    def table(self, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        """:attr:`measurements`, only ``columns`` of it when given (the analysis reads 9 of 17:
        joining only those takes half the time)."""
        return _joined(self.tables, columns)

    def locations(self) -> np.ndarray | None:
        """:attr:`located` joined, one value per row of :meth:`table` (None without them)."""
        if self.located is None or self.tables is None:
            return None
        return self.located[0] if len(self.located) == 1 else np.concatenate(self.located)


def _joined(tables: list[pd.DataFrame] | None, columns: Sequence[str] | None) -> pd.DataFrame | None:
    if tables is None:
        return None
    tables = [table[list(columns)] for table in tables] if columns is not None else tables
    return tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)


def read_files(
    paths: Sequence[str | Path],
    *,
    communes: gpd.GeoDataFrame | None = None,
    now: pd.Timestamp | None = None,
    workers: int | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> list[FileRead]:
    """Read and validate files (as :func:`lomsong.readers.read_file`), in parallel when it pays.

    :func:`read_many` with each file's reading only; see there.
    """
    return read_many(paths, communes=communes, now=now, workers=workers, on_file=on_file).reads


def read_many(
    paths: Sequence[str | Path],
    *,
    communes: gpd.GeoDataFrame | None = None,
    now: pd.Timestamp | None = None,
    workers: int | None = None,
    on_file: Callable[[Path], None] | None = None,
    columns: Sequence[str] | None = None,
    locate: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> ManyRead:
    """Read and validate files (as :func:`lomsong.readers.read_file`): the plain G-NetTrack logs
    together (:func:`read_logs_together`), the others each alone, in parallel when it pays.

    Parameters
    ----------
    paths : sequence of path
        The files.
    communes : geopandas.GeoDataFrame, optional
        Province filter, as for :func:`~lomsong.readers.read_file`.
    now : pandas.Timestamp, optional
        Reference time for "in the future" checks.
    workers : int, optional
        Worker processes, for the batches of logs (:func:`read_logs_together`) and for the files
        read alone; default: the idle cores (:func:`idle_cores`) when there are several batches,
        or more files read alone than cores, holding at least :data:`PARALLEL_MIN_BYTES`, else 1
        (this process). The result is the same for any number of workers.
    on_file : callable, optional
        Called with each file's path once it is read (in completion order).
    columns : sequence of str, optional
        The canonical columns kept of the logs read together (:func:`read_logs_together`), when
        only those will be used (the run's analysis reads 9 of 17); default: all. The files read
        alone keep all; the reports are the same whatever is kept.
    locate : callable, optional
        ``locate(lon, lat)`` of the accepted rows of each batch of logs, called on the batch's
        thread (or worker: it must pickle) as soon as the batch is read, where the reading leaves
        a core some time (the run's H3 cells, :func:`lomsong.analysis.grid.index_points`); the
        results are :attr:`ManyRead.located`.

    Returns
    -------
    ManyRead
        The readings sorted by (sha256, path): the same whatever the order of ``paths``.

    Raises
    ------
    ReaderError
        The first file (in that order) that cannot be read at all.
    """
    if locate is not None and columns is not None and not {"lon", "lat"} <= set(columns):
        raise ValueError("read_many: locate needs the lon and lat columns kept")
    files = [Path(p) for p in paths]
    # hashlib lets go of the GIL: the 240 logs of the benchmark hashed in 0.09 s on two threads, 0.16 s on one
    with ThreadPoolExecutor(min(usable_cores(), max(len(files), 1))) as pool:
        hashed = sorted(zip(pool.map(file_sha256, files), map(str, files), strict=True))
    say = on_file or (lambda _path: None)
    together = read_logs_together(hashed, communes=communes, now=now, workers=workers, columns=columns, locate=locate)
    for key in together.results:
        say(Path(key[1]))
    rest = [key for key in hashed if key not in together.results]
    results = {**together.results, **_read_apart(rest, communes, now, workers, say)}
    reads = [FileRead(Path(name), sha256, results[(sha256, name)]) for sha256, name in hashed]
    apart_rows = sum(len(results[key].measurements) for key in rest)
    if together.in_order and apart_rows == 0:
        return ManyRead(reads, together.tables, together.located if locate is not None else None)
    return ManyRead(reads)


def _read_apart(
    hashed: list[tuple[str, str]],
    communes: gpd.GeoDataFrame | None,
    now: pd.Timestamp | None,
    workers: int | None,
    say: Callable[[Path], None],
) -> dict[tuple[str, str], IngestResult]:
    """Each file read by itself (:func:`lomsong.readers.read_file`), in worker processes when it pays."""
    if not hashed:
        return {}
    if workers is None:
        big_enough = sum(Path(name).stat().st_size for _, name in hashed) >= PARALLEL_MIN_BYTES
        workers = min(idle_cores(), len(hashed)) if big_enough and len(hashed) > usable_cores() else 1
    if workers <= 1:
        done = {}
        for sha256, name in hashed:
            done[(sha256, name)] = _read_one(name, sha256, communes, now)
            say(Path(name))
        return done
    # forkserver: workers forked from a clean process that imported the readers once (never fork a
    # process running pyarrow's threads)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["lomsong.readers", "lomsong.readers.validate"])
    tasks = [hashed[i : i + FILES_PER_TASK] for i in range(0, len(hashed), FILES_PER_TASK)]
    results: dict[tuple[str, str], IngestResult] = {}
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(communes, now)) as pool:
        for task, done in zip(tasks, pool.map(_read_task, tasks), strict=True):
            for key, result in zip(task, done, strict=True):
                results[key] = result
                say(Path(key[1]))
    return results


@dataclass(frozen=True)
class LogsRead:
    """G-NetTrack logs read together (:func:`read_logs_together`).

    Attributes
    ----------
    results : dict
        (sha256, path) → the log's :class:`IngestResult`, what :func:`lomsong.readers.read_file` gives.
    tables : list of pandas.DataFrame or None
        Their accepted rows, log after log, in pieces (one per batch and width); None when not
        :attr:`in_order`.
    in_order : bool
        The logs of ``tables`` come in the order they were given (one batch).
    located : list of numpy.ndarray or None
        ``locate(lon, lat)`` of each piece of ``tables``, when ``locate`` was given.
    """

    results: dict[tuple[str, str], IngestResult]
    tables: list[pd.DataFrame] | None
    in_order: bool
    located: list[np.ndarray] | None = None

    @cached_property
    def measurements(self) -> pd.DataFrame | None:
        """Their accepted rows, log after log, as one table (None when not :attr:`in_order`)."""
        return _joined(self.tables, None)


def _batches(members: list, limit: int) -> Iterator[list]:
    """Consecutive runs of ``members`` (key, layout, bytes) of at most ``limit`` bytes (at least one member)."""
    batch, size = [], 0
    for member in members:
        if batch and size + member[2] > limit:
            yield batch
            batch, size = [], 0
        batch.append(member)
        size += member[2]
    if batch:
        yield batch


def read_logs_together(
    hashed: Sequence[tuple[str, str]],
    *,
    communes: gpd.GeoDataFrame | None = None,
    now: pd.Timestamp | None = None,
    workers: int | None = None,
    threads: int | None = None,
    columns: Sequence[str] | None = None,
    locate: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> LogsRead:
    """Read the plain G-NetTrack logs among ``hashed`` as one table: one parse, one validation.

    A department's logs are hundreds of files of a few thousand rows: read one by one, each costs
    its fixed share of parsing and validation (about 60 ms) whatever its size. The logs of one
    header are parsed in one pyarrow pass over all their lines
    (:func:`lomsong.readers._parse.read_texts_together`), their columns in one pass
    (:func:`lomsong.readers.gnettrack.parse_logs`) and validated at once
    (:meth:`~lomsong.readers.validate.MeasurementValidator.validate_files`); each log's rows,
    reasons, line numbers and report are what reading it alone gives (``tests/readers/test_many_files.py``).
    Files that are not G-NetTrack logs, or not plain enough (quotes, blank lines, lone ``\\r``), are
    left out, for :func:`lomsong.readers.read_file`.

    Parameters
    ----------
    hashed : sequence of (sha256, path)
        The files, in the order their rows should come.
    communes : geopandas.GeoDataFrame, optional
        Province filter, as for :func:`~lomsong.readers.read_file`.
    now : pandas.Timestamp, optional
        Reference time for "in the future" checks.
    workers : int, optional
        Processes for the batches; default: one per :data:`CORES_PER_BATCH_WORKER` idle cores when
        there are several batches and at least :data:`PARALLEL_MIN_BYTES` of text, else 1 (this process).
    threads : int, optional
        Threads reading batches at once in this process (one process); default: the usable cores,
        whatever their load, under the same conditions. The result is the same for any number.
    columns : sequence of str, optional
        The canonical columns of the logs' accepted rows; default: all. Fewer columns are fewer
        to copy (the accepted rows are taken from the parsed ones); the reports are the same.
    locate : callable, optional
        ``locate(lon, lat)`` of each piece's accepted rows, on its batch's thread or worker.

    Returns
    -------
    LogsRead
    """
    from lomsong.readers import detect_format, gnettrack
    from lomsong.readers._parse import text_layout
    from lomsong.readers.base import ReaderError

    groups: dict[tuple, list[tuple[tuple[str, str], object, int]]] = {}
    for key in hashed:
        path = Path(key[1])
        try:
            if detect_format(path) != gnettrack.READER.name:
                continue
            layout = text_layout(path, "\t")
        except ReaderError:
            continue  # read alone, which says what is wrong with it
        if all(name in layout.header for name in gnettrack.SIGNATURE):
            groups.setdefault(tuple(layout.header), []).append((key, layout, path.stat().st_size))
    results: dict[tuple[str, str], IngestResult] = {}
    tables, located = [], []
    batches = [batch for members in groups.values() for batch in _batches(members, BATCH_BYTES)]
    now = pd.Timestamp.now(tz="UTC") if now is None else now  # one "now" for every batch and worker
    in_order = len(groups) <= 1
    for parts in _batch_reads(batches, communes, now, workers, threads, columns, locate):
        in_order &= len(parts) <= 1  # logs of another width in the batch: read apart, in another order
        for keys, reports, accepted, bounds, where in parts:
            for number, (key, report) in enumerate(zip(keys, reports, strict=True)):
                own = accepted.iloc[bounds[number] : bounds[number + 1]].reset_index(drop=True)
                results[key] = IngestResult(measurements=own, report=report)
            tables.append(accepted)
            located.append(where)
    # one header: the batches follow one another in the given order
    in_order &= len(results) == sum(len(members) for members in batches)
    whole = in_order and bool(tables)
    return LogsRead(results, tables if whole else None, in_order, located if whole and locate is not None else None)


def _batch_reads(
    batches: list[list],
    communes: gpd.GeoDataFrame | None,
    now: pd.Timestamp,
    workers: int | None,
    threads: int | None = None,
    columns: Sequence[str] | None = None,
    locate: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Iterator[tuple | None]:
    """:func:`_read_batch` of every batch, in order: in worker processes when there are several
    batches, enough text and idle cores to spare, else on threads of this process (the same result
    for any number of workers or threads)."""
    several = len(batches) > 1 and sum(size for batch in batches for *_, size in batch) >= PARALLEL_MIN_BYTES
    if workers is None:
        # a batch's pyarrow parse already runs on two threads: a worker process per two idle cores
        workers = min(idle_cores() // CORES_PER_BATCH_WORKER, len(batches)) if several else 1
    if workers <= 1:
        if threads is None:
            # not the load average: it counts this run's own work of the last minute (the maps'
            # process, a run just before), and a second thread costs nothing on a busy machine
            threads = min(usable_cores(), len(batches)) if several else 1
        if threads <= 1:
            validator_of = _validators(communes, now)
            for batch in batches:
                yield _read_batch(batch, validator_of, columns, locate)
            return
        # The validator's province outline (the communes' union and its grid: 0.2-0.4 s, GEOS and
        # GDAL, which let go of the GIL) is made on a thread of its own while the first batches are
        # parsed; only their checks wait for it. pyarrow, numpy and most of pandas' work let go of
        # the GIL too; each batch has its own frames.
        with ThreadPoolExecutor(1) as maker, ThreadPoolExecutor(threads) as pool:
            made = maker.submit(_validators, communes, now)
            read = partial(_read_batch, validator_of=lambda: made.result()(), columns=columns, locate=locate)
            yield from pool.map(read, batches)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["lomsong.readers", "lomsong.readers.validate", "lomsong.readers.gnettrack"])
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(communes, now)) as pool:
        yield from pool.map(partial(_batch_task, columns=columns, locate=locate), batches)


def _validators(communes: gpd.GeoDataFrame | None, now: pd.Timestamp) -> Callable[[], object]:
    from lomsong.readers.validate import MeasurementValidator

    validator = MeasurementValidator(communes=communes, now=now)
    return lambda: validator


def _batch_task(batch: list, columns: Sequence[str] | None = None, locate: Callable | None = None) -> list[tuple]:
    return _read_batch(batch, _validators(_WORKER["communes"], _WORKER["now"]), columns, locate)


def _read_batch(
    batch: list,
    validator_of: Callable[[], object],
    columns: Sequence[str] | None = None,
    locate: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> list[tuple]:
    """One batch of logs of one header: for each width of theirs, ``(keys, reports, accepted rows,
    each log's bounds in them, locate of the rows or None)``.

    A log that is not plain (:func:`lomsong.readers._parse.plain_text`), or whose width's logs do
    not parse together, is in none: it is read alone.
    """
    from lomsong.readers._parse import exact_width, plain_text
    from lomsong.readers.base import ReaderError

    by_width: dict[int, list] = {}
    for key, layout, _ in batch:  # each log's text, here where the batch is parsed
        try:
            text = plain_text(Path(key[1]), layout)
        except ReaderError:
            continue
        if text is not None:
            by_width.setdefault(text.fields, []).append((key, text))
    parts = []
    for members in by_width.values():
        part = _read_texts(members, validator_of, columns, locate)
        if part is None:  # a line of another width somewhere: parse again without the logs that have one
            exact = [(key, text) for key, text in members if exact_width(text) is not None]
            part = _read_texts(exact, validator_of, columns, locate) if exact else None
        if part is not None:
            parts.append(part)
    return parts


def _read_texts(
    members: list,
    validator_of: Callable[[], object],
    columns: Sequence[str] | None = None,
    locate: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple | None:
    from lomsong.readers import gnettrack
    from lomsong.readers._parse import duplicate_keys, read_texts_together, strings_by_index
    from lomsong.readers.base import IngestReport

    read = read_texts_together(
        [text for _, text in members], columns=gnettrack.PARSED_COLUMNS, numbers=gnettrack.NUMBER_COLUMNS
    )
    if read is None:
        return None
    table, files, lines = read
    keys = [key for key, _ in members]
    placeholder = np.zeros(len(files), np.uint64)  # the duplicate keys need the times parsed first
    frame, found, synthetic = gnettrack.parse_logs(table, files, [sha256 for sha256, _ in keys], keys=placeholder)
    frame["_key"] = duplicate_keys(frame["time"], files, lines)
    names = np.array([Path(name).name for _, name in keys], dtype=object)
    # the file's and the reader's names go on the accepted rows only (the checks read neither)
    named = [name for name in ("source", "source_file") if columns is None or name in columns]
    checked = [name for name in (MEASUREMENT_COLUMNS if columns is None else columns) if name not in named]
    accepted, accepted_files, outcomes = validator_of().validate_files(frame, files, len(keys), columns=checked)
    origins = {  # (values, each accepted row's index in them)
        "source": (np.array([gnettrack.READER.name], dtype=object), np.zeros(len(accepted_files), np.int64)),
        "source_file": (names, accepted_files),
    }
    for name in named:  # in their canonical places, typed as conform_measurements types them
        values = pd.Series(strings_by_index(*origins[name])).astype("string")
        place = sum(column in accepted.columns for column in MEASUREMENT_COLUMNS[: MEASUREMENT_COLUMNS.index(name)])
        accepted.insert(place, name, values)
    bounds = np.searchsorted(accepted_files, np.arange(len(keys) + 1))
    reports = [
        IngestReport(
            file=key[1],
            format=gnettrack.READER.name,
            sha256=key[0],
            rows_read=outcome.rows_read,
            accepted=int(bounds[number + 1] - bounds[number]),
            no_service=outcome.no_service,
            outside_province=outcome.outside_province,
            rejected=outcome.rejected,
            examples=outcome.examples,
            values_rejected=outcome.values_rejected,
            corrected=outcome.corrected,
            kind="measurements",
            columns=dict(found),
            synthetic=bool(synthetic[number]) or "synthetic" in str(names[number]).lower(),
        )
        for number, (key, outcome) in enumerate(zip(keys, outcomes, strict=True))
    ]
    where = None
    if locate is not None:
        where = locate(accepted["lon"].to_numpy("float64"), accepted["lat"].to_numpy("float64"))
    return keys, reports, accepted, bounds, where


def _read_one(name: str, sha256: str, communes: gpd.GeoDataFrame | None, now: pd.Timestamp | None) -> IngestResult:
    return read_file(name, communes=communes, now=now, sha256=sha256)


_WORKER: dict[str, object] = {}


def _start_worker(communes: gpd.GeoDataFrame | None, now: pd.Timestamp | None) -> None:
    # the province filter travels once per worker, not once per file
    _WORKER.update(communes=communes, now=now)


def _read_task(task: list[tuple[str, str]]) -> list[IngestResult]:
    return [_read_one(name, sha256, _WORKER["communes"], _WORKER["now"]) for sha256, name in task]


__all__ = [
    "CORES_PER_BATCH_WORKER",
    "FILES_PER_TASK",
    "PARALLEL_MIN_BYTES",
    "FileRead",
    "LogsRead",
    "ManyRead",
    "idle_cores",
    "read_files",
    "read_logs_together",
    "read_many",
    "usable_cores",
]
