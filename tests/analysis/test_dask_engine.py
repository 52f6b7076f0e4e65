"""The Dask engine gives the local engine's results, cell by cell and gap by gap, on a two-worker LocalCluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lomsong.analysis.dask_engine import analyse_partitions, dask_client, distributed_statistics, row_groups
from lomsong.analysis.engine import analyse
from lomsong.analysis.grid import build_grid
from lomsong.settings import Config
from lomsong.simulate.demo import simulate
from lomsong.simulate.writers import write_generic_csv


@pytest.fixture(scope="module")
def parquet_files(tmp_path_factory, communes, population_surface):
    """SYNTHETIC measurements in three Parquet files with small row groups, like a store's files."""
    from lomsong.readers import read_file

    folder = tmp_path_factory.mktemp("store")
    files = []
    for seed in (1, 2, 3):
        result = simulate(communes, population_surface, n_points=20_000, seed=seed, n_gnettrack_devices=0)
        csv = write_generic_csv(result, folder / f"synthetic_{seed}.csv")
        frame = read_file(csv, communes=communes).measurements
        target = folder / f"part_{seed}.parquet"
        frame.to_parquet(target, index=False, row_group_size=7_000)
        files.append(target)
    return files


@pytest.fixture(scope="module")
def both(parquet_files, communes, population_surface):
    config = Config()
    frame = pd.concat([pd.read_parquet(f) for f in parquet_files], ignore_index=True)
    local = analyse(frame, communes, population_surface, config)
    with dask_client(n_workers=2, processes=False) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        address = client.scheduler.address
        distributed = analyse_partitions(parquet_files, communes, population_surface, config, scheduler=address)
    return local, distributed


def test_work_is_split_into_row_groups(parquet_files):
    sizes = [len(pd.read_parquet(f)) for f in parquet_files]
    assert len(row_groups(parquet_files)) == sum(-(-n // 7_000) for n in sizes) > len(parquet_files)


def test_stats_tables_are_identical(both):
    local, distributed = both
    assert len(local.stats) > 0
    pd.testing.assert_frame_equal(local.stats, distributed.stats)
    assert local.counts == distributed.counts


def test_cell_tables_are_identical(both):
    local, distributed = both
    assert (local.cells["state"] == "weak").sum() > 0
    pd.testing.assert_frame_equal(local.cells, distributed.cells)


def test_gaps_and_summaries_are_identical(both):
    local, distributed = both
    assert len(local.gaps) > 0
    # the same polygons, vertex for vertex (gap polygons are written in one canonical form)
    pd.testing.assert_frame_equal(local.gaps.drop(columns="geometry"), distributed.gaps.drop(columns="geometry"))
    assert local.gaps.geometry.geom_equals_exact(distributed.gaps.geometry, tolerance=0).all()
    pd.testing.assert_frame_equal(local.communes, distributed.communes)
    pd.testing.assert_frame_equal(local.campaign, distributed.campaign)


def test_the_number_of_cell_buckets_changes_nothing(parquet_files, communes, population_surface):
    config = Config()
    grid = build_grid(communes, population_surface, config.resolution)
    with dask_client(n_workers=2, processes=False) as client:
        _, one = distributed_statistics(parquet_files, grid, config, client, n_buckets=1)
        _, seven = distributed_statistics(parquet_files, grid, config, client, n_buckets=7)
    assert np.array_equal(one.key, seven.key)
    pd.testing.assert_frame_equal(one.table, seven.table)


def test_cli_dask_engine_on_a_store_matches_the_local_engine(tmp_path, communes, population_surface):
    """`lomsong ingest` then `lomsong run --engine dask` and `--engine local`: the same gaps."""
    import json
    import os
    import subprocess
    import sys

    import geopandas as gpd

    result = simulate(communes, population_surface, n_points=15_000, seed=11, n_gnettrack_devices=0)
    csv = write_generic_csv(result, tmp_path / "synthetic_cli.csv")
    store = tmp_path / "store"
    env = {**os.environ, "LOMSONG_OUT": str(tmp_path / "unused")}
    cli = [sys.executable, "-m", "lomsong"]
    ingest = subprocess.run([*cli, "ingest", str(csv), "--store", str(store)], capture_output=True, text=True, env=env)
    assert ingest.returncode == 0, ingest.stderr
    for engine in ("local", "dask"):
        done = subprocess.run(
            [
                *cli,
                "run",
                "--store",
                str(store),
                "--engine",
                engine,
                "--out",
                str(tmp_path / engine),
                "--no-maps",
                "-q",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    local, dask = (gpd.read_parquet(tmp_path / e / "gaps.parquet") for e in ("local", "dask"))
    assert len(local) > 0
    pd.testing.assert_frame_equal(
        pd.DataFrame(local.drop(columns="geometry")), pd.DataFrame(dask.drop(columns="geometry"))
    )
    assert json.loads((tmp_path / "dask" / "run.json").read_text())["engine"] == "dask"


def test_dask_engine_without_a_store_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "lomsong", "run", "--engine", "dask", "--out", str(tmp_path), "-q"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "dask engine reads the measurement store" in done.stderr
    assert "Traceback" not in done.stderr
