"""Many files: read in parallel or not, given in any order, after one -m or many — the same result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lomsong.readers.many import read_files
from tests.support import FIXTURES, ROOT

NOW = pd.Timestamp("2026-11-01", tz="UTC")


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> list[Path]:
    """Six small G-NetTrack logs (from the quirks fixture, each moved in time so that no two are alike)."""
    folder = tmp_path_factory.mktemp("logs")
    header, *rows = [line for line in (FIXTURES / "gnettrack_quirks.txt").read_bytes().decode().split("\r\n") if line]
    written = []
    for number in range(6):
        body = [f"2026.06.{1 + number:02d}" + row[10:] for row in rows]
        path = folder / f"phone_{number}.txt"
        path.write_bytes(("\r\n".join([header, *body]) + "\r\n").encode())
        written.append(path)
    return written


def _frame(reads) -> pd.DataFrame:
    return pd.concat([read.result.measurements for read in reads], ignore_index=True)


def test_parallel_and_serial_reads_agree_whatever_the_order(logs, communes):
    serial = read_files(logs, communes=communes, now=NOW, workers=1)
    parallel = read_files(list(reversed(logs)), communes=communes, now=NOW, workers=2)
    assert [read.path for read in serial] == [read.path for read in parallel]
    assert [read.sha256 for read in serial] == sorted(read.sha256 for read in serial)
    assert [read.result.report.to_dict() for read in serial] == [read.result.report.to_dict() for read in parallel]
    pd.testing.assert_frame_equal(_frame(serial), _frame(parallel), check_exact=True)
    assert _frame(serial)["device_id"].nunique() == len(logs)  # one phone per log


def _run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lomsong", "run", *arguments, "--no-maps", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )


def test_run_takes_several_paths_after_one_flag_repeated_flags_and_folders(logs, tmp_path):
    listed, folder = tmp_path / "listed", tmp_path / "folder"
    # shuffled, several after one flag and the flag repeated; then the folder (files in name order)
    shuffled = [str(logs[i]) for i in (3, 0, 5, 1, 4, 2)]
    completed = _run("-m", *shuffled[:3], "-m", *shuffled[3:], "--out", str(listed))
    assert completed.returncode == 0, completed.stderr
    completed = _run("--measurements", str(logs[0].parent), "--out", str(folder))
    assert completed.returncode == 0, completed.stderr
    for name in ["gaps.csv", "communes.csv", "campaign.csv"]:
        assert (listed / name).read_bytes() == (folder / name).read_bytes(), name
    cells = [pd.read_parquet(out / "cells.parquet") for out in (listed, folder)]
    pd.testing.assert_frame_equal(*cells, check_exact=True)
    inputs = [json.loads((out / "run.json").read_text())["inputs"] for out in (listed, folder)]
    files = [[item["sha256"] for item in found if item["role"] == "measurements"] for found in inputs]
    assert files[0] == files[1] and len(files[0]) == len(logs)


def test_paths_without_a_flag_are_a_clear_error(logs, tmp_path):
    completed = _run(str(logs[0]), "--out", str(tmp_path / "out"))
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert "--measurements" in completed.stderr
