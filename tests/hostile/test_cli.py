"""A careless user at the command line: one-line errors, never a traceback, and nothing replaced.

Every case runs ``lomsong`` as a subprocess, as a person would, and checks that the error names the
file and that the run folder and the store are byte-identical after the refused command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lomsong.products.tables import remove_stale_staging
from lomsong.tables.store import MeasurementStore
from lomsong.testing import make_example_run
from tests.hostile.corpus import corrupt_footer, corrupt_middle, folder_digest

LOMSONG = [sys.executable, "-m", "lomsong"]
ROWS = "time,lat,lon,operator,rsrp\n" + "".join(f"2026-06-01 08:{m:02d},12.0,107.69,viettel,-120\n" for m in range(20))


def lomsong(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*LOMSONG, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_one_line_error(done: subprocess.CompletedProcess, *names: str) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) >= 1, done.stderr
    for name in names:
        assert name in errors[-1], errors[-1]
    return errors[-1]


@pytest.fixture
def workspace(tmp_path, communes):
    """A folder with a previous run in ``maps/``, and the files a careless user passes."""
    make_example_run(communes, tmp_path / "maps")
    (tmp_path / "header_only.csv").write_text("time,lat,lon,operator,rsrp\n", encoding="utf-8")
    (tmp_path / "rows.csv").write_text(ROWS, encoding="utf-8")
    (tmp_path / "not_a_raster.tif").write_text("no pixels here\n", encoding="utf-8")
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    return tmp_path


def test_run_inputs_that_cannot_work_give_one_line_and_leave_the_run(workspace):
    before = folder_digest(workspace / "maps")
    cases = [
        (["run", "-m", "header_only.csv", "--out", "maps", "--no-maps"], ["no usable measurements", "header_only.csv"]),
        (["run", "-m", "rows.csv", "--config", "a_folder", "--out", "maps", "--no-maps"], ["a_folder", "folder"]),
        (["run", "-m", "rows.csv", "--population", "not_a_raster.tif", "--out", "maps"], ["not_a_raster.tif"]),
        (["run", "-m", "rows.csv", "--out", "a_file", "--no-maps"], ["a_file"]),
    ]
    for args, names in cases:
        assert_one_line_error(lomsong(*args, cwd=workspace), *names)
        assert folder_digest(workspace / "maps") == before, args
    assert not list(workspace.glob(".maps.new-*")), "no staging folder is left behind"


def test_ingest_of_a_folder_and_listing_a_missing_store(workspace):
    line = assert_one_line_error(lomsong("ingest", "a_folder", "--store", "store", cwd=workspace), "a_folder")
    assert "does not exist" not in line and "folder" in line
    assert_one_line_error(lomsong("ingest", "--list", "--store", "missing", cwd=workspace), "missing")
    assert_one_line_error(
        lomsong("ingest", "rows.csv", "--store", "s2", "--report", "a_folder", cwd=workspace), "a_folder", "--report"
    )
    assert not (workspace / "s2").exists(), "refused before anything is stored"
    assert not (workspace / "missing").exists(), "listing does not create a store"


@pytest.mark.parametrize(
    ("damage", "engine"), [(corrupt_footer, "local"), (corrupt_middle, "local"), (corrupt_middle, "dask")]
)
def test_a_corrupt_stored_file_is_named_with_its_repair(workspace, damage, engine):
    added = lomsong("ingest", "rows.csv", "--store", "store", "--no-province-filter", cwd=workspace)
    assert added.returncode == 0, added.stderr
    store = MeasurementStore(workspace / "store")
    (stored,) = store.partitions
    damage(stored)
    store_before, run_before = folder_digest(workspace / "store"), folder_digest(workspace / "maps")
    line = assert_one_line_error(
        lomsong("run", "--store", "store", "--out", "maps", "--no-maps", "--engine", engine, cwd=workspace),
        stored.name,
        "rows.csv",
    )
    assert "--remove" in line and "ingest" in line
    assert folder_digest(workspace / "store") == store_before and folder_digest(workspace / "maps") == run_before
    removed = lomsong("ingest", "--remove", stored.stem, "--store", "store", cwd=workspace)
    assert removed.returncode == 0, removed.stderr
    assert MeasurementStore(workspace / "store").files().empty


def test_a_killed_runs_staging_folders_are_removed_and_a_live_ones_kept(tmp_path):
    out = tmp_path / "maps"
    dead = tmp_path / ".maps.new-4194305-abcd1234"
    live = tmp_path / f".maps.new-{os.getpid()}-abcd1234"
    retired = tmp_path / ".maps.old-4194305"
    for folder in (dead, live, retired):
        folder.mkdir()
        (folder / "gaps.csv").write_text("half a run\n")
    assert sorted(remove_stale_staging(out)) == sorted([dead, retired])
    assert live.exists()


def test_the_next_run_removes_a_killed_runs_staging_folder(tmp_path, communes):
    from lomsong.products.tables import write_run
    from tests.support.scenes import make_fake_analysis

    dead = tmp_path / ".maps.new-4194305-killed00"
    dead.mkdir()
    write_run(make_fake_analysis(communes), tmp_path / "maps", {"tool": "lomsong"})
    assert not dead.exists() and (tmp_path / "maps" / "run.json").exists()
    assert not list(tmp_path.glob(".maps.new-*"))
