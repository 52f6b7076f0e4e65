"""The store: idempotent by sha256, crash-safe under a real SIGKILL, and the ``lomsong ingest`` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lomsong.jobs.ingest import ingest_files
from lomsong.tables.measurements import MEASUREMENT_COLUMNS
from lomsong.tables.store import MeasurementStore
from tests.support import FIXTURES

LOMSONG = Path(sys.executable).parent / "lomsong"
#: A wide terminal, so that rich does not abbreviate file names in tables.
WIDE = {**os.environ, "COLUMNS": "200"}


def _snapshot(store_path: Path) -> dict:
    """Everything a reader of the store can see: ledger rows, committed files and their bytes."""
    store = MeasurementStore(store_path)
    ledger = store.files().drop(columns=["ingested_at"]).to_dict("records")
    files = {
        str(p.relative_to(store_path)): p.read_bytes()
        for folder in ["measurements", "cells", "speed_tiles"]
        for p in sorted((store_path / folder).glob("*"))
    }
    return {"ledger": ledger, "files": files, "rows": len(store.read())}


def test_ingest_read_and_idempotence(tmp_path, communes):
    store = MeasurementStore(tmp_path / "store")
    files = [FIXTURES / "bad_rows.csv", FIXTURES / "gnettrack_quirks.txt", FIXTURES / "cells_vn_noheader.csv"]
    reports = ingest_files(store, files, owner="viettel", communes=communes)
    assert [r.error for r in reports] == [None, None, None]
    assert not any(r.duplicate_file for r in reports)
    frame = store.read()
    assert list(frame.columns) == MEASUREMENT_COLUMNS
    assert len(frame) == reports[0].accepted + reports[1].accepted
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert len(store.read_cells()) == reports[2].accepted
    assert store.read_speed_tiles().empty
    before = _snapshot(store.path)

    again = ingest_files(store, files, owner="viettel", communes=communes)
    assert all(r.duplicate_file for r in again)
    assert [r.accepted for r in again] == [r.accepted for r in reports]
    assert _snapshot(store.path) == before

    ledger = store.files()
    assert set(ledger["sha256"]) == {r.sha256 for r in reports}
    assert set(ledger["owner"]) == {"viettel"} and store.files(owner="mobifone").empty
    assert ledger.set_index("file").loc["bad_rows.csv", "rejected"] == reports[0].rejected

    # time window; columns subset; one Parquet file per ingested file, readable as a dataset
    june_first = store.read(since="2026-06-01", until="2026-06-02")
    assert len(june_first) == (frame["time"] < pd.Timestamp("2026-06-02", tz="UTC")).sum()
    assert list(store.read(columns=["lon", "lat"]).columns) == ["lon", "lat"]
    assert len(store.partitions) == 2 and all(p.parent == store.dataset_path for p in store.partitions)
    import dask.dataframe as dd

    assert len(dd.read_parquet([str(p) for p in store.partitions]).compute()) == len(frame)


def test_remove_respects_owner(tmp_path):
    store = MeasurementStore(tmp_path / "store")
    (report,) = ingest_files(store, [FIXTURES / "gnettrack_quirks.txt"], owner="viettel", communes=False)
    assert not store.remove(report.sha256, owner="mobifone")
    assert len(store.read()) == report.accepted
    assert store.remove(report.sha256, owner="viettel")
    assert store.read().empty and store.files().empty and not list(store.dataset_path.glob("*.parquet"))
    assert not store.remove(report.sha256)
    # once removed, the same file can be ingested again
    assert not ingest_files(store, [FIXTURES / "gnettrack_quirks.txt"], communes=False)[0].duplicate_file


def test_unreadable_file_does_not_stop_the_others(tmp_path):
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    store = MeasurementStore(tmp_path / "store")
    reports = ingest_files(store, [junk, FIXTURES / "gnettrack_quirks.txt"], communes=False)
    assert "junk.csv: line 1: expected" in reports[0].error
    assert reports[1].error is None and reports[1].accepted == 5
    assert len(store.files()) == 1


# An ingest in a child process that says where it is and waits there, through the job's own
# progress callback (no test hook in the library), so that the test can kill it at that point.
_INGEST_SCRIPT = """
import sys, time
from lomsong.jobs.ingest import ingest_files
from lomsong.tables.store import MeasurementStore

def wait_at(event):
    if event.stage == sys.argv[3]:
        print("paused:" + event.stage, flush=True)
        time.sleep(120)

ingest_files(MeasurementStore(sys.argv[1]), [sys.argv[2]], owner="admin", communes=False, progress=wait_at)
"""


@pytest.mark.parametrize("point", ["staged", "renamed"])
def test_kill_mid_ingest_leaves_the_store_unchanged(tmp_path, point):
    store_path = tmp_path / "store"
    ingest_files(MeasurementStore(store_path), [FIXTURES / "bad_rows.csv"], communes=False)
    before = _snapshot(store_path)
    process = subprocess.Popen(
        [sys.executable, "-c", _INGEST_SCRIPT, str(store_path), str(FIXTURES / "gnettrack_quirks.txt"), point],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == f"paused:{point}"
        # the new file is really on disk at this point: staged aside, or already renamed into place
        written = list((store_path / "staging").glob("*/*.parquet")) + list((store_path / "measurements").glob("*"))
        assert len(written) == 2
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert _snapshot(store_path) == before
    assert not list((store_path / "staging").iterdir())
    # and the file ingests normally afterwards
    (report,) = ingest_files(MeasurementStore(store_path), [FIXTURES / "gnettrack_quirks.txt"], communes=False)
    assert not report.duplicate_file and len(MeasurementStore(store_path).files()) == 2


def test_cli_ingest_report_list_and_errors(tmp_path):
    store = tmp_path / "store"
    report_file = tmp_path / "report.json"
    junk = tmp_path / "notes.txt"
    junk.write_text("meeting notes, nothing to ingest\n")
    files = [FIXTURES / "bad_rows.csv", junk, FIXTURES / "ookla_tiles.geojson"]
    command = [str(LOMSONG), "ingest", *map(str, files), "--store", str(store), "--report", str(report_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=WIDE)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "notes.txt: line 1: expected" in done.stderr
    assert "bad_rows.csv" in done.stdout and "missing_coordinates" in done.stdout and "2 of 3 files" in done.stdout
    reports = json.loads(report_file.read_text())
    assert [Path(r["file"]).name for r in reports] == ["bad_rows.csv", "notes.txt", "ookla_tiles.geojson"]
    for report in reports:
        assert {"file", "format", "rows_read", "accepted", "no_service", "rejected"} <= set(report)
    csv_report = reports[0]
    assert csv_report["format"] == "generic_csv" and csv_report["rows_read"] == 36
    assert csv_report["rows_read"] == (
        csv_report["accepted"] + csv_report["outside_province"] + sum(csv_report["rejected"].values())
    )
    assert reports[1]["error"] and reports[2]["format"] == "ookla"

    listed = subprocess.run(
        [str(LOMSONG), "ingest", "--list", "--store", str(store)], capture_output=True, text=True, env=WIDE
    )
    assert listed.returncode == 0 and "bad_rows.csv" in listed.stdout and "ookla_tiles.geojson" in listed.stdout

    again = subprocess.run(command[:3] + command[4:], capture_output=True, text=True, timeout=300, env=WIDE)
    assert again.returncode == 0 and "already stored" in again.stdout
    assert len(MeasurementStore(store).files()) == 2

    bad_option = subprocess.run(
        [str(LOMSONG), "ingest", str(files[0]), "--store", str(store), "--format", "excel"],
        capture_output=True,
        text=True,
    )
    assert bad_option.returncode != 0 and "unknown format" in bad_option.stderr and "Traceback" not in bad_option.stderr


def test_same_file_from_two_owners_is_stored_once_and_withdrawn_per_owner(tmp_path):
    import sqlite3

    source = FIXTURES / "gnettrack_quirks.txt"
    store = MeasurementStore(tmp_path / "store")
    first = ingest_files(store, [source], owner="viettel", communes=False)[0]
    again = ingest_files(store, [source], owner="vinaphone", communes=False)[0]
    assert again.duplicate_file and again.sha256 == first.sha256
    assert len(store.files()) == 1 and len(store.read()) == first.accepted  # stored once
    assert list(store.files(owner="vinaphone")["owner"]) == ["vinaphone"]

    assert store.remove(first.sha256, owner="viettel")
    assert store.files(owner="viettel").empty
    assert len(MeasurementStore(tmp_path / "store").files(owner="vinaphone")) == 1  # reopening keeps it so
    assert len(store.read()) == first.accepted  # vinaphone's copy keeps the rows
    assert not store.remove(first.sha256, owner="viettel")  # nothing left to withdraw
    assert store.remove(first.sha256, owner="vinaphone")
    assert store.files().empty and len(store.read()) == 0

    # a store written before owners were linked: its uploaders become the owners on opening
    legacy = MeasurementStore(tmp_path / "legacy")
    report = ingest_files(legacy, [source], owner="mobifone", communes=False)[0]
    with sqlite3.connect(legacy.ledger_path) as connection:
        connection.execute("DROP TABLE file_owners")
    reopened = MeasurementStore(tmp_path / "legacy")
    assert list(reopened.files(owner="mobifone")["sha256"]) == [report.sha256]
