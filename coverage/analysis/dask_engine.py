"""The Dask engine: indexing and per-cell aggregation on a cluster, the rest on the client.

The measurement store is a flat Parquet dataset (one file per ingested file, row groups of one
million rows, see :mod:`lomsong.tables.store`). The engine runs, with ``dask.distributed``:

1. one task per Parquet row group: read it, index the points on the grid and code the samples
   (:func:`lomsong.analysis.aggregate.prepare_samples`), then split them into buckets by cell;
2. one task per bucket: gather that bucket from every row group and compute the per view × cell
   statistics of its cells (:func:`lomsong.analysis.aggregate.group_statistics`). All samples of a cell are
   in one bucket, so medians, percentiles and distinct devices and days are exact;
3. on the client: the statistics tables are concatenated, the cells classified, and the samples of
   the weak cells (what the gap statistics need) fetched from the buckets; then
   :func:`lomsong.analysis.engine.finish_analysis` does the rest exactly as the local engine does.

Workers must read the Parquet files at the paths the client gives: on a real cluster the store
must be on storage every worker sees at the same path (NFS, a shared volume) — see the README.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from lomsong.analysis.aggregate import (
    CellStatistics,
    Samples,
    build_views,
    group_statistics,
    memberships,
    prepare_samples,
)
from lomsong.analysis.engine import Analysis, _stage_timer, classify, ensure_grid, finish_analysis
from lomsong.analysis.evidence import WEAK
from lomsong.analysis.grid import Grid
from lomsong.operators import OPERATOR_IDS
from lomsong.reference.population import PopulationSurface
from lomsong.settings import TECHNOLOGIES, Config
from lomsong.tables.measurements import conform_measurements

_SAMPLE_ARRAYS = ("cell", "technology", "weak", "no_service", "signal_dbm", "dl_kbps", "day")


def row_groups(files: Sequence[str | Path]) -> list[tuple[str, int]]:
    """Return ``(file, row group)`` pairs of the Parquet files: the engine's unit of work."""
    return [(str(f), g) for f in files for g in range(pq.ParquetFile(f).num_row_groups)]


def _read_row_group(file: str, group: int, since: pd.Timestamp | None, until: pd.Timestamp | None) -> pd.DataFrame:
    frame = conform_measurements(pq.ParquetFile(file).read_row_group(group).to_pandas())
    keep = np.ones(len(frame), dtype=bool)
    if since is not None:
        keep &= (frame["time"] >= since).to_numpy(bool, na_value=False)
    if until is not None:
        keep &= (frame["time"] < until).to_numpy(bool, na_value=False)
    return frame[keep].reset_index(drop=True) if not keep.all() else frame


def code_row_group(
    file: str,
    group: int,
    grid: Grid,
    config: Config,
    n_buckets: int,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Read, index and code one row group; split the samples into buckets by cell (a worker task).

    Returns
    -------
    dict
        ``buckets`` (one dict of arrays per bucket, operators by name and devices by 64-bit hash so
        they mean the same in every task), ``pairs`` (operator, technology code) present and
        ``counts``.
    """
    frame = _read_row_group(file, group, since, until)
    samples = prepare_samples(frame, grid, config)
    names = np.asarray(samples.operators, dtype=object)
    # prepare_samples numbers devices per task; a hash of the id means the same device everywhere
    device_ids = frame["device_id"].iloc[samples.rows]
    device_hash = pd.util.hash_array(device_ids.astype(object).to_numpy(), categorize=True).astype("uint64")
    device_hash = np.where(device_ids.isna().to_numpy(bool), np.uint64(0), device_hash)
    bucket = samples.cell % n_buckets
    buckets = []
    for b in range(n_buckets):  # loop over buckets, not samples
        mine = bucket == b
        part = {name: getattr(samples, name)[mine] for name in _SAMPLE_ARRAYS}
        part["operator"] = names[samples.operator[mine]] if len(names) else np.array([], dtype=object)
        part["device"] = device_hash[mine]
        buckets.append(part)
    known = samples.technology >= 0
    codes = np.unique(samples.operator[known].astype("int64") * len(TECHNOLOGIES) + samples.technology[known])
    pairs = {(str(names[c // len(TECHNOLOGIES)]), int(c % len(TECHNOLOGIES))) for c in codes}  # a few pairs
    return {"buckets": buckets, "operators": set(map(str, names)), "pairs": pairs, "counts": samples.counts}


def _bucket_samples(pieces: list[dict[str, np.ndarray]], operators: list[str]) -> Samples:
    """Join one bucket's pieces into :class:`Samples` coded with the global operator list."""
    joined = {name: np.concatenate([p[name] for p in pieces]) for name in (*_SAMPLE_ARRAYS, "operator", "device")}
    operator = pd.Categorical(joined["operator"], categories=operators).codes.astype("int16")
    device = np.where(joined["device"] == 0, -1, pd.factorize(joined["device"])[0]).astype("int64")
    return Samples(
        cell=joined["cell"].astype("int64"),
        operator=operator,
        operators=operators,
        technology=joined["technology"].astype("int8"),
        weak=joined["weak"].astype(bool),
        no_service=joined["no_service"].astype(bool),
        signal_dbm=joined["signal_dbm"].astype("float64"),
        dl_kbps=joined["dl_kbps"].astype("float64"),
        device=device,
        day=joined["day"].astype("int64"),
    )


def aggregate_bucket(
    pieces: list[dict[str, np.ndarray]], operators: list[str], views: pd.DataFrame, n_cells: int
) -> dict[str, Any]:
    """Per view × cell statistics of one bucket's cells (a worker task).

    Returns
    -------
    dict
        ``key`` (``view * n_cells + cell``), ``table`` (``view``, ``cell`` and the statistics), and
        the bucket's ``samples`` with their memberships (kept on the worker for the gap step).
    """
    samples = _bucket_samples(pieces, operators)
    device_hash = np.concatenate([p["device"] for p in pieces]) if pieces else np.zeros(0, "uint64")
    sample, view = memberships(samples, views) if len(samples) else (np.zeros(0, "int64"), np.zeros(0, "int64"))
    member_key = view * n_cells + samples.cell[sample]
    keys, group = np.unique(member_key, return_inverse=True)
    table = group_statistics(group.ravel(), sample, samples, len(keys))
    table.insert(0, "cell", (keys % n_cells).astype("int64"))
    table.insert(0, "view", (keys // n_cells).astype("int64"))
    return {
        "key": keys,
        "table": table,
        "samples": samples,
        "device_hash": device_hash,
        "member_sample": sample,
        "member_key": member_key,
    }


def bucket_table(result: dict[str, Any]) -> tuple[np.ndarray, pd.DataFrame]:
    """The statistics part of a bucket's result (what the client gathers)."""
    return result["key"], result["table"]


def weak_members(result: dict[str, Any], weak_keys: np.ndarray) -> dict[str, Any]:
    """The samples of a bucket that belong to weak view × cells, with those memberships."""
    in_weak = np.isin(result["member_key"], weak_keys)
    member_sample = result["member_sample"][in_weak]
    used, position = np.unique(member_sample, return_inverse=True)
    samples: Samples = result["samples"]
    subset = {name: getattr(samples, name)[used] for name in _SAMPLE_ARRAYS}
    # operators by name and devices by hash again, so that pieces of different buckets agree
    subset["operator"] = np.asarray(samples.operators, dtype=object)[samples.operator[used]]
    subset["device"] = result["device_hash"][used]
    return {"arrays": subset, "member_sample": position.ravel(), "member_key": result["member_key"][in_weak]}


@contextmanager
def dask_client(scheduler: str | None = None, n_workers: int = 2, processes: bool = True):
    """Yield a ``dask.distributed.Client``: connected to ``scheduler``, or on a LocalCluster."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    with (
        LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _summary(coded: dict[str, Any]) -> dict[str, Any]:
    return {name: coded[name] for name in ("operators", "pairs", "counts")}


def _bucket(coded: dict[str, Any], bucket: int) -> dict[str, np.ndarray]:
    return coded["buckets"][bucket]


def _merge_counts(parts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in parts:
        for name, value in counts.items():
            total[name] = total.get(name, 0) + int(value)
    return total


def distributed_statistics(
    files: Sequence[str | Path],
    grid: Grid,
    config: Config,
    client: Any,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    n_buckets: int | None = None,
    say: Callable[[str], None] | None = None,
) -> tuple[Samples, CellStatistics]:
    """Index and aggregate the store's Parquet files on a Dask cluster.

    Parameters
    ----------
    files : sequence of path
        Parquet files of canonical measurements (``MeasurementStore(path).partitions``).
    grid : Grid
        Province grid.
    config : Config
        Thresholds.
    client : dask.distributed.Client
        Connected client.
    since, until : pandas.Timestamp, optional
        Keep ``since <= time < until``.
    n_buckets : int, optional
        Cell buckets (default: twice the workers).
    say : callable, optional
        Progress messages.

    Returns
    -------
    tuple
        :class:`Samples` holding only the samples of weak cells (with the counts and operators of
        all data), and :class:`CellStatistics` whose memberships refer to those samples.
    """
    say = say or (lambda _m: None)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    n_buckets = n_buckets or 2 * n_workers
    units = row_groups(files)
    say(f"indexing {len(units)} row groups on {n_workers} Dask workers")
    # workers get the grid without its commune table (positions and resolution are all they use)
    light = replace(grid, cell_communes=grid.cell_communes.iloc[:0])
    [grid_future] = client.scatter([light], broadcast=True, hash=False)
    coded = [
        client.submit(code_row_group, file, group, grid_future, config, n_buckets, since, until, pure=False)
        for file, group in units
    ]
    summaries = client.gather([client.submit(_summary, f) for f in coded])
    present = set().union(*(s["operators"] for s in summaries)) if summaries else set()
    operators = [o for o in OPERATOR_IDS if o in present] + sorted(present - set(OPERATOR_IDS))
    pairs = set().union(*(s["pairs"] for s in summaries)) if summaries else set()
    views = build_views(_presence_samples(operators, pairs))
    counts = _merge_counts([s["counts"] for s in summaries])

    say(f"aggregating {n_buckets} cell buckets")
    n_cells = len(grid.cells)
    buckets = []
    for b in range(n_buckets):  # loop over buckets
        pieces = [client.submit(_bucket, f, b) for f in coded]
        buckets.append(client.submit(aggregate_bucket, pieces, operators, views, n_cells, pure=False))
    tables = client.gather([client.submit(bucket_table, f) for f in buckets])
    del coded
    keys = np.concatenate([k for k, _ in tables]) if tables else np.zeros(0, "int64")
    table = pd.concat([t for _, t in tables], ignore_index=True) if tables else None
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    table = table.iloc[order].reset_index(drop=True)
    statistics = CellStatistics(views, keys, table, np.zeros(0, "int64"), np.zeros(0, "int64"))

    say("fetching the samples of weak cells")
    state = classify(statistics, n_cells, operators, config).state
    weak_view, weak_cell = np.nonzero(state == WEAK)
    weak_keys = weak_view.astype("int64") * n_cells + weak_cell
    [weak_future] = client.scatter([weak_keys], broadcast=True, hash=False)
    parts = client.gather([client.submit(weak_members, f, weak_future) for f in buckets])
    offset = 0
    arrays, member_sample, member_key = [], [], []
    for part in parts:
        arrays.append(part["arrays"])
        member_sample.append(part["member_sample"] + offset)
        member_key.append(part["member_key"])
        offset += len(part["arrays"]["cell"])
    samples = _bucket_samples(arrays, operators) if arrays else _bucket_samples([], operators)
    samples = replace(samples, counts=counts)
    statistics = CellStatistics(views, keys, table, np.concatenate(member_sample), np.concatenate(member_key))
    return samples, statistics


def _presence_samples(operators: list[str], pairs: set[tuple[str, int]]) -> Samples:
    """A stand-in :class:`Samples` with one sample per (operator, technology) seen: enough for the views."""
    listed = sorted(pairs)
    code = {name: i for i, name in enumerate(operators)}
    n = len(listed)
    return Samples(
        cell=np.zeros(n, "int64"),
        operator=np.array([code[o] for o, _ in listed], dtype="int16"),
        operators=operators,
        technology=np.array([t for _, t in listed], dtype="int8"),
        weak=np.zeros(n, bool),
        no_service=np.zeros(n, bool),
        signal_dbm=np.zeros(n),
        dl_kbps=np.zeros(n),
        device=np.zeros(n, "int64"),
        day=np.zeros(n, "int64"),
    )


def store_files(store: str | Path) -> list[Path]:
    """The committed measurement Parquet files of a store (its ledger, not the folder)."""
    from lomsong.tables.store import MeasurementStore

    return list(MeasurementStore(store).partitions)


def analyse_partitions(
    partitions: Sequence[str | Path],
    communes: gpd.GeoDataFrame,
    surface: PopulationSurface,
    config: Config,
    *,
    villages: pd.DataFrame | gpd.GeoDataFrame | None = None,
    speed_tiles: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    scheduler: str | None = None,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    grid: Grid | None = None,
    claims: gpd.GeoDataFrame | None = None,
    sites: pd.DataFrame | None = None,
    ground_at: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Analysis:
    """Run the gap engine with indexing and per-cell aggregation on a Dask cluster.

    The results are those of :func:`lomsong.analysis.engine.analyse` on the same rows.

    Parameters
    ----------
    partitions : sequence of path
        The store's Parquet files (``MeasurementStore(path).partitions``).
    communes, surface, config, villages, speed_tiles, progress, grid, claims
        As for :func:`lomsong.analysis.engine.analyse`.
    scheduler : str, optional
        Scheduler address (``tcp://host:8786``); a LocalCluster when None.
    since, until : pandas.Timestamp, optional
        Keep ``since <= time < until``.

    Returns
    -------
    Analysis
    """
    timings: dict[str, float] = {}
    stage = _stage_timer(progress)
    communes = communes.reset_index(drop=True)
    grid = ensure_grid(grid, communes, surface, config, timings, stage)
    started = stage("aggregate", "Indexing and aggregating on the Dask cluster")
    with dask_client(scheduler) as client:
        samples, statistics = distributed_statistics(
            [Path(f) for f in partitions], grid, config, client, since=since, until=until, say=progress
        )
    timings["index_aggregate_dask"] = time.perf_counter() - started
    return finish_analysis(
        grid, samples, statistics, communes, surface, config, villages, speed_tiles, timings, stage,
        claims=claims, sites=sites, ground_at=ground_at,
    )
