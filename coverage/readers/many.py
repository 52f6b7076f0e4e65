"""Many measurement files at once: read in parallel across the cores, in an order that does not
depend on the order they were given.

A department's data is hundreds of small files (one G-NetTrack log per phone and session), so the
fixed cost of a file matters as much as the rows per second: :func:`read_files` hashes each file
once, reads the files in worker processes when there are enough of them to pay for the workers,
and returns the results sorted by content (sha256, then path), so that ``-m a b`` and ``-m b a``
give the same table, row for row.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from lomsong.readers import IngestResult, read_file
from lomsong.readers._parse import file_sha256

#: Below this many bytes in all, one process reads everything (starting workers costs about a second).
PARALLEL_MIN_BYTES = 24 << 20
#: Files per task sent to a worker (fewer round trips for many small logs).
FILES_PER_TASK = 4


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


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def idle_cores() -> int:
    """Cores worth a worker process now: the usable cores less the load already on them (at least 1).

    On a machine others keep busy a second worker only adds its start-up and the copying of its
    results (measured: 32 logs took 9.3 s with 2 workers, 6.2-8.3 s with one, at load 8 on 2 cores).
    """
    cores = usable_cores()
    return max(1, min(cores, cores - round(os.getloadavg()[0]) + 1))


def read_files(
    paths: Sequence[str | Path],
    *,
    communes: gpd.GeoDataFrame | None = None,
    now: pd.Timestamp | None = None,
    workers: int | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> list[FileRead]:
    """Read and validate files (as :func:`lomsong.readers.read_file`), in parallel when it pays.

    Parameters
    ----------
    paths : sequence of path
        The files.
    communes : geopandas.GeoDataFrame, optional
        Province filter, as for :func:`~lomsong.readers.read_file`.
    now : pandas.Timestamp, optional
        Reference time for "in the future" checks.
    workers : int, optional
        Worker processes; default: the idle cores (:func:`idle_cores`) when the files hold at least
        :data:`PARALLEL_MIN_BYTES` and there are more files than cores, else 1 (this process). The
        result is the same for any number of workers.
    on_file : callable, optional
        Called with each file's path once it is read (in completion order).

    Returns
    -------
    list of FileRead
        Sorted by (sha256, path): the same list whatever the order of ``paths``.

    Raises
    ------
    ReaderError
        The first file (in that order) that cannot be read at all.
    """
    files = [Path(p) for p in paths]
    hashed = sorted((file_sha256(path), str(path)) for path in files)
    say = on_file or (lambda _path: None)
    if workers is None:
        big_enough = sum(path.stat().st_size for path in files) >= PARALLEL_MIN_BYTES
        workers = min(idle_cores(), len(files)) if big_enough and len(files) > usable_cores() else 1
    if workers <= 1:
        reads = []
        for sha256, name in hashed:
            reads.append(FileRead(Path(name), sha256, _read_one(name, sha256, communes, now)))
            say(Path(name))
        return reads
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
    return [FileRead(Path(name), sha256, results[(sha256, name)]) for sha256, name in hashed]


def _read_one(name: str, sha256: str, communes: gpd.GeoDataFrame | None, now: pd.Timestamp | None) -> IngestResult:
    return read_file(name, communes=communes, now=now, sha256=sha256)


_WORKER: dict[str, object] = {}


def _start_worker(communes: gpd.GeoDataFrame | None, now: pd.Timestamp | None) -> None:
    # the province filter travels once per worker, not once per file
    _WORKER.update(communes=communes, now=now)


def _read_task(task: list[tuple[str, str]]) -> list[IngestResult]:
    return [_read_one(name, sha256, _WORKER["communes"], _WORKER["now"]) for sha256, name in task]


__all__ = ["FILES_PER_TASK", "PARALLEL_MIN_BYTES", "FileRead", "idle_cores", "read_files", "usable_cores"]
