"""Hostile files: decompression bombs are refused in bounded memory, and a good .gz still reads."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from lomsong.errors import ReaderError
from lomsong.readers import read_file
from lomsong.readers._parse import MAX_COMPRESSION_RATIO, BoundedGzip, check_zip
from tests.hostile.corpus import gzip_bomb, zip_bomb

#: Reads one file in a fresh interpreter and prints its peak memory (kB) and the outcome.
_PEAK = """
import json, resource, sys
from lomsong.errors import LomsongError
from lomsong.readers import read_file
outcome = "read"
if sys.argv[1] != "-":
    try:
        read_file(sys.argv[1], communes=None)
    except LomsongError as exc:
        outcome = str(exc)
print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "outcome": outcome}))
"""


def _peak(path) -> dict:
    done = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_gzip_bomb_is_refused_in_bounded_memory(tmp_path):
    bomb = gzip_bomb(tmp_path / "cells.csv.gz", decompressed_mb=64)
    assert bomb.stat().st_size < 400_000, "a small upload, far under any upload limit"
    baseline = _peak("-")
    refused = _peak(bomb)
    assert "cells.csv.gz" in refused["outcome"] and "times" in refused["outcome"], refused
    grown_mb = (refused["peak_kb"] - baseline["peak_kb"]) / 1024
    assert grown_mb < 120, f"reading the bomb grew memory by {grown_mb:.0f} MB"


def test_bounded_gzip_reads_a_real_compressed_file_whole(tmp_path):
    rows = "".join(f"{i},{i * 7 % 13},-{90 + i % 30}\n" for i in range(50_000)).encode()
    path = tmp_path / "plain.csv.gz"
    path.write_bytes(gzip.compress(rows))
    with BoundedGzip(path) as handle:
        assert handle.read() == rows
    assert len(rows) / path.stat().st_size < MAX_COMPRESSION_RATIO


def test_zip_bomb_is_refused_before_gdal_expands_it(tmp_path):
    bomb = zip_bomb(tmp_path / "tiles.zip", decompressed_mb=64)
    with pytest.raises(ReaderError, match="tiles.zip"):
        check_zip(bomb)
    with pytest.raises(ReaderError, match="tiles.zip"):
        read_file(bomb, format="ookla")


def test_simulated_files_say_so_inside_whatever_their_name(communes, population_surface, tmp_path):
    from lomsong.readers import gnettrack
    from lomsong.simulate import demo, writers
    from lomsong.simulate.result import SYNTHETIC_CELLNAME

    assert SYNTHETIC_CELLNAME == gnettrack.SYNTHETIC_CELLNAME
    result = demo.simulate(communes, population_surface, n_points=600, seed=5, n_gnettrack_devices=1)
    csv_file = writers.write_generic_csv(result, tmp_path / "daknong_synthetic.csv").rename(tmp_path / "drive.csv")
    logs = writers.write_gnettrack(result, tmp_path)
    renamed = logs[0].rename(tmp_path / "Yas_log_2026.txt")
    for path in (csv_file, renamed):
        assert "synthetic" not in path.name
        report = read_file(path, communes=communes).report
        assert report.synthetic is True, path.name
        assert report.accepted > 0


def test_a_renamed_simulated_village_layer_still_says_synthetic(communes, population_surface, tmp_path):
    from lomsong.analysis.villages import read_villages
    from lomsong.jobs.run import is_synthetic_file, table_says_synthetic
    from lomsong.simulate import demo, writers

    result = demo.simulate(communes, population_surface, n_points=300, seed=7, n_gnettrack_devices=0)
    for name in ("thon_bon.geojson", "thon_bon.csv"):
        path = writers.write_villages(result.villages, tmp_path / name)
        assert not is_synthetic_file(path)
        assert table_says_synthetic(read_villages(path))
    real = read_villages(tmp_path / "thon_bon.csv").drop(columns="synthetic")
    assert not table_says_synthetic(real)
