"""Many files: read in parallel or not, given in any order, after one -m or many — the same result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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


#: The variants (:func:`_variants`) that are not plain enough to be read with others.
READ_ALONE = ("quoted", "malformed", "empty_line", "lone_cr", "mixed_ends")


def _read_alone(path: Path) -> bool:
    return path.stem.removeprefix("log_") in READ_ALONE


def _with_fields(row: str, values: dict[int, str]) -> str:
    """``row`` (tab-separated) with the fields at these positions replaced."""
    fields = row.split("\t")
    for position, value in values.items():
        fields[position] = value
    return "\t".join(fields)


def _variants(folder: Path) -> list[Path]:
    """Logs that exercise what the batch must do as each log alone does (G-NetTrack quirks fixture)."""
    header, *rows = [line for line in (FIXTURES / "gnettrack_quirks.txt").read_bytes().decode().split("\r\n") if line]
    mobifone = [row.replace("Viettel\t45204", "MobiFone\t45201") for row in rows]
    width = header.count("\t") + 1
    variants = {
        # the most common operator is a tie (three Viettel rows and three MobiFone): decided alone
        "tie": rows[:2] + rows[5:7] + mobifone[:2] + mobifone[5:6] + rows[3:5],
        # no PLMN anywhere: no-service rows keep no operator
        "no_service_only": rows[3:5],
        # a row of empty fields (a blank row, not a data row), a duplicate, a point out of the province
        "blank_and_far": rows[:3] + ["\t" * width] + rows[0:1] + [rows[7].replace("107.690600", "105.000000")],
        # the last line without its line end
        "unterminated": rows[:4],
        # a quote: read alone (the careful parser)
        "quoted": rows[:2] + [rows[2].replace("L3", '"L3"')],
        # more fields than the header on one row: malformed (read alone)
        "malformed": rows[:3] + [rows[3] + "extra\t"],
        # an empty line (pandas skips it) and a lone carriage return (it ends a record): read alone
        "empty_line": rows[:2] + [""] + rows[2:4],
        "lone_cr": rows[:2] + [rows[2].replace("\tL3\t", "\tL\r3\t")] + rows[3:4],
        # lines ending with \n only, one of them \r\n: read alone
        "mixed_ends": [rows[0] + "\n" + rows[1], *rows[2:4]],
        # numbers pyarrow's parser reads as parse_numbers does (the batch's numbers come from it)
        "spelled_numbers": [
            _with_fields(rows[0], {10: " -95.", 11: "+5", 12: "1e1"}),
            _with_fields(rows[2], {10: "-0", 11: " -9 ", 12: ".5"}),
            *rows[3:5],
        ],
        # spellings pyarrow's parser reads otherwise (NAN) or that are not finite: the batch reads
        # its numbers as text, for parse_numbers to decide them
        "odd_numbers": [_with_fields(rows[0], {10: "NAN", 11: "inf"}), _with_fields(rows[2], {12: "Infinity"})],
        # not a number: the same
        "not_numbers": [_with_fields(rows[0], {10: "-95dBm"}), *rows[2:4]],
    }
    written = []
    for number, (name, body) in enumerate(variants.items()):
        moved = [f"2026.07.{1 + number:02d}" + row[10:] if row.strip("\t") else row for row in body]
        ending = "" if name == "unterminated" else "\r\n"
        path = folder / f"log_{name}.txt"
        text = "\r\n".join([header, *moved]) + ending
        path.write_bytes((text.replace("\r\n", "\n", 2) if name == "mixed_ends" else text).encode())
        written.append(path)
    return written


def test_logs_read_together_give_what_each_log_alone_gives(logs, communes, tmp_path):
    from lomsong.readers import read_file
    from lomsong.readers.many import read_logs_together, read_many

    files = [*logs, *_variants(tmp_path), FIXTURES / "bad_rows.csv"]
    many = read_many(files, communes=communes, now=NOW, workers=1)
    batched = read_logs_together([(read.sha256, str(read.path)) for read in many.reads], communes=communes, now=NOW)
    assert len(batched.results) >= len(logs) + 4  # the plain logs went together; the quoted one and the CSV alone
    assert not any(word in name for _, name in batched.results for word in (*READ_ALONE, ".csv"))
    for read in many.reads:
        alone = read_file(read.path, communes=communes, now=NOW, sha256=read.sha256)
        assert read.result.report.to_dict() == alone.report.to_dict(), read.path.name
        pd.testing.assert_frame_equal(read.result.measurements, alone.measurements, check_exact=True)
    reports = {read.path.name: read.result.report for read in many.reads}
    assert reports["log_tie.txt"].no_service == 2 and reports["log_no_service_only.txt"].accepted == 0
    assert reports["log_blank_and_far.txt"].rejected.get("duplicate_row") == 1
    assert reports["log_blank_and_far.txt"].outside_province == 1
    assert reports["log_malformed.txt"].rejected.get("malformed_row") == 1
    # logs that all go together come as one table too: the concatenation of each log's
    plain = [path for path in _variants(tmp_path) if not _read_alone(path)]
    only_logs = read_many([*logs, *plain], communes=communes, now=NOW, workers=1)
    assert only_logs.measurements is not None
    pd.testing.assert_frame_equal(only_logs.measurements, _frame(only_logs.reads), check_exact=True)


def test_logs_in_small_batches_give_the_same_table(logs, communes, tmp_path, monkeypatch):
    from lomsong.readers import many

    files = [*logs, *_variants(tmp_path)]
    whole = many.read_many(files, communes=communes, now=NOW, workers=1)
    monkeypatch.setattr(many, "BATCH_BYTES", 1)  # every log a batch of its own
    small = many.read_many(files, communes=communes, now=NOW, workers=1)
    parallel = many.read_many(files, communes=communes, now=NOW, workers=2)  # the batches in two processes
    for done in (small, parallel):
        reports = [[read.result.report.to_dict() for read in found.reads] for found in (done, whole)]
        assert reports[0] == reports[1]
        pd.testing.assert_frame_equal(_frame(done.reads), _frame(whole.reads), check_exact=True)
    plain = [path for path in files if not _read_alone(path)]  # all read together
    found = [many.read_many(plain, communes=communes, now=NOW, workers=n) for n in (1, 2)]
    tables = [read.measurements for read in found]
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
    assert found[0].measurements is tables[0]  # joined once
    # the columns the run asks for: those of the whole table
    pd.testing.assert_frame_equal(found[0].table(["time", "lon", "operator"]), tables[0][["time", "lon", "operator"]])


@pytest.mark.parametrize("workers", [1, 2])
def test_logs_read_for_some_columns_give_those_columns_of_the_whole_reading(logs, communes, tmp_path, workers):
    """What the run asks for (the analysis' columns), and a few with the names added after the checks."""
    from lomsong.analysis.aggregate import ANALYSIS_COLUMNS
    from lomsong.readers import many

    files = [*logs, *_variants(tmp_path), FIXTURES / "bad_rows.csv"]
    whole = many.read_many(files, communes=communes, now=NOW, workers=1)
    plain = [path for path in files if not _read_alone(path) and path.suffix == ".txt"]
    all_plain = many.read_many(plain, communes=communes, now=NOW, workers=1).measurements
    for columns in (ANALYSIS_COLUMNS, ["source_file", "lat", "source", "signal_dbm", "source_row"]):
        canonical = [column for column in all_plain.columns if column in columns]
        some = many.read_many(files, communes=communes, now=NOW, workers=workers, columns=columns)
        assert [read.result.report.to_dict() for read in some.reads] == [
            read.result.report.to_dict() for read in whole.reads
        ]
        for found, full in zip(some.reads, whole.reads, strict=True):
            apart = _read_alone(found.path) or found.path.suffix != ".txt"  # read alone: every column
            expected = full.result.measurements if apart else full.result.measurements[canonical]
            pd.testing.assert_frame_equal(found.result.measurements, expected, check_exact=True)
        together = many.read_many(plain, communes=communes, now=NOW, workers=workers, columns=columns)
        pd.testing.assert_frame_equal(together.measurements, all_plain[canonical], check_exact=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_rows_located_on_the_batches_threads_are_located_rows_of_the_table(logs, communes, tmp_path, workers):
    from functools import partial

    from lomsong.analysis.aggregate import ANALYSIS_COLUMNS
    from lomsong.analysis.grid import index_points
    from lomsong.readers import many

    plain = [path for path in [*logs, *_variants(tmp_path)] if not _read_alone(path)]  # all together
    locate = partial(index_points, resolution=8)  # pickles: the workers get it too
    found = many.read_many(plain, communes=communes, now=NOW, workers=workers, columns=ANALYSIS_COLUMNS, locate=locate)
    table = found.table(ANALYSIS_COLUMNS)
    assert found.located is not None and len(found.located) == len(found.tables)
    np.testing.assert_array_equal(found.locations(), index_points(table["lon"], table["lat"], 8))
    assert many.read_many(plain, communes=communes, now=NOW, workers=workers).locations() is None
    with pytest.raises(ValueError, match="lon and lat"):
        many.read_many(plain, communes=communes, columns=["time"], locate=locate)


def test_a_log_whose_lines_differ_in_width_but_not_in_total_leaves_the_batch(logs, communes, tmp_path):
    """One line a field short, another a field long: the file's count of delimiters divides evenly,
    so only pyarrow's parse finds it; the batch is parsed again without it, and it is read alone."""
    from lomsong.readers import read_file
    from lomsong.readers._parse import file_sha256
    from lomsong.readers.many import read_logs_together

    header, *rows = [line for line in (FIXTURES / "gnettrack_quirks.txt").read_bytes().decode().split("\r\n") if line]
    short = rows[1][: rows[1].rindex("\t")]  # the trailing field dropped
    uneven = tmp_path / "log_uneven.txt"
    uneven.write_bytes(("\r\n".join([header, rows[0], short, rows[2] + "x\t", *rows[3:5]]) + "\r\n").encode())
    data_lines = uneven.read_bytes().split(b"\r\n")[1:-1]
    assert len({line.count(b"\t") for line in data_lines}) == 3  # three widths ...
    assert sum(line.count(b"\t") for line in data_lines) % len(data_lines) == 0  # ... that the total hides
    files = [*logs, uneven]
    hashed = [(file_sha256(path), str(path)) for path in files]
    batched = read_logs_together(hashed, communes=communes, now=NOW)
    assert set(Path(name).name for _, name in batched.results) == {path.name for path in logs}
    for sha256, name in hashed[:-1]:
        alone = read_file(name, communes=communes, now=NOW, sha256=sha256)
        together = batched.results[(sha256, name)]
        assert together.report.to_dict() == alone.report.to_dict()
        pd.testing.assert_frame_equal(together.measurements, alone.measurements, check_exact=True)


def test_batches_read_on_threads_give_what_one_thread_gives(logs, communes, tmp_path, monkeypatch):
    from lomsong.readers import many
    from lomsong.readers._parse import file_sha256

    files = [*logs, *_variants(tmp_path)]
    hashed = [(file_sha256(path), str(path)) for path in files]
    monkeypatch.setattr(many, "BATCH_BYTES", 1)  # every log a batch of its own: many batches at once
    one, two = (many.read_logs_together(hashed, communes=communes, now=NOW, workers=1, threads=n) for n in (1, 2))
    assert list(one.results) == list(two.results) and len(one.results) >= len(logs)
    for key, result in one.results.items():
        assert result.report.to_dict() == two.results[key].report.to_dict()
        pd.testing.assert_frame_equal(result.measurements, two.results[key].measurements, check_exact=True)
    plain = [key for key in hashed if not _read_alone(Path(key[1]))]  # all together
    tables = [many.read_logs_together(plain, communes=communes, now=NOW, workers=1, threads=n) for n in (1, 2)]
    assert tables[0].measurements is not None
    pd.testing.assert_frame_equal(tables[0].measurements, tables[1].measurements, check_exact=True)


@pytest.mark.parametrize("spread_seconds", [3_600, 400 * 365 * 86_400])  # one key of both; times too far apart for one
def test_rows_sharing_a_file_and_a_time_are_found_as_pandas_finds_them(spread_seconds):
    from lomsong.readers._parse import _shared_file_and_time

    rng = np.random.default_rng(3)
    files = np.sort(rng.integers(0, 40, 20_000))
    stamps = (rng.integers(0, 50, 20_000) * (spread_seconds // 50) + 1_600_000_000) * 10**9
    stamps[rng.integers(0, 20_000, 300)] = np.iinfo(np.int64).min  # NaT
    order = rng.permutation(20_000)[:5_000]  # some rows out of time order
    stamps[order] = stamps[order][::-1]
    expected = pd.DataFrame({"file": files, "time": stamps}).duplicated(keep=False).to_numpy(bool)
    assert np.array_equal(_shared_file_and_time(files, stamps), expected)
    assert 0 < expected.mean() < 1
