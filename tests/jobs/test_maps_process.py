"""The maps' second process: it reports a failure as a run error, and it never outlives the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lomsong.errors import RunError
from lomsong.jobs import _maps_process
from lomsong.jobs._maps_process import MapsProcess
from lomsong.products.tables import write_run
from lomsong.tables import results
from tests.support.scenes import make_fake_analysis


@pytest.fixture(scope="module")
def fake_analysis(communes):
    return make_fake_analysis(communes)


def test_a_failure_in_the_maps_process_is_the_runs_error(tmp_path, communes):
    """A folder with no run in it: the child's error comes back, named, and the child is gone."""
    process = MapsProcess(communes).begin(tmp_path)
    with pytest.raises(RunError, match=r"building the maps failed: RunNotFoundError: .*no finished run here") as raised:
        process.finish()
    assert "\n" not in str(raised.value)  # one line; the child's traceback rides along as a note
    assert "Traceback" in raised.value.__notes__[0]
    assert not process._process.is_alive()


def test_a_process_never_given_a_folder_ends_when_stopped(communes):
    process = MapsProcess(communes)
    process.stop()
    assert not process._process.is_alive() and process._process.exitcode is not None


def test_a_process_started_before_the_communes_ends_when_stopped():
    """The command line starts it before anything is read: a run that fails early stops it."""
    process = MapsProcess()
    with pytest.raises(RuntimeError, match="communes"):
        process.begin(Path("unused"))
    process.stop()
    assert not process._process.is_alive() and process._process.exitcode is not None


def test_a_process_stopped_before_it_read_its_communes_lets_the_parent_exit():
    """The communes wait in the pipe of a child that is stopped before it reads them: the queue's
    thread, blocked writing them, must not keep the parent from exiting (it hung at exit)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        from lomsong.jobs._maps_process import MapsProcess
        from lomsong.reference.boundaries import read_communes

        if __name__ == "__main__":
            process = MapsProcess()
            process.prepare(read_communes())  # more than a pipe holds, sent while the child imports
            process.stop()
            print("stopped", flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "stopped", done.stderr[-2000:]


def test_the_early_process_is_the_one_the_run_takes(monkeypatch, communes):
    monkeypatch.setattr(_maps_process, "_EARLY", [])
    monkeypatch.setattr(_maps_process, "maps_in_parallel", lambda: True)
    _maps_process.start_early()
    _maps_process.start_early()  # once: a second call starts no second process
    assert len(_maps_process._EARLY) == 1
    early = _maps_process._EARLY[0]
    try:
        assert _maps_process.take() is early and _maps_process._EARLY == []
        with pytest.raises(RuntimeError, match="already"):
            early.prepare(communes).prepare(communes)
    finally:
        early.stop()
    assert not early._process.is_alive()


class _Failing:
    """Work alongside the downloads that fails when waited for."""

    stopped = False

    def poll(self) -> None:
        return None

    def finish(self) -> dict:
        raise RunError("the maps failed")

    def stop(self) -> None:
        _Failing.stopped = True


def test_a_run_whose_maps_fail_leaves_the_served_run_as_it_was(tmp_path, fake_analysis):
    """The staging folder goes, the previous run stays, the work alongside is stopped."""
    out = tmp_path / "run"
    write_run(fake_analysis, out, {"counts": {}, "marker": "before"})
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(RunError, match="the maps failed"):
        write_run(fake_analysis, out, {"counts": {}, "marker": "after"}, alongside=lambda _staging, _meta: _Failing())
    assert _Failing.stopped
    assert json.loads((out / results.RUN_JSON).read_text())["marker"] == "before"
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left


def test_the_maps_start_before_any_file_with_the_run_record_so_far(tmp_path, fake_analysis):
    """The maps take their tables from memory: they start at once; the files are written meanwhile."""
    seen: dict[str, object] = {}

    class Looking:
        def __init__(self, staging, meta):
            seen["files"], seen["meta"] = sorted(p.name for p in staging.iterdir()), meta

        def poll(self) -> None:
            return None

        def finish(self) -> dict:
            return {"maps": "index.html", "timings": {"maps": 0.0}}

        def stop(self) -> None:
            return None

    files = write_run(fake_analysis, tmp_path / "run", {"counts": {}, "marker": 1}, alongside=Looking)
    assert seen["files"] == [] and seen["meta"]["marker"] == 1
    assert results.GAPS_PARQUET in files and "gaps.xlsx" in files and "gaps.csv" in files
    meta = json.loads((tmp_path / "run" / results.RUN_JSON).read_text())
    assert meta["maps"] == "index.html" and "maps" in meta["timings"] and "gaps.xlsx" in meta["timings"]["write_files"]


def test_maps_that_end_before_the_downloads_are_not_lost(tmp_path, communes):
    """The child's last word may be read by a poll between downloads: finish still has it."""
    import time

    from lomsong.testing import make_example_run

    out = tmp_path / "run"
    make_example_run(communes, out)
    pages: list[int] = []
    process = MapsProcess(communes, on_page=pages.append).begin(out)
    deadline = time.monotonic() + 120
    while process._process.is_alive() and time.monotonic() < deadline:
        process.poll()  # the downloads are still being written
        time.sleep(0.05)
    process.poll()
    record = process.finish()
    assert record["maps"] == "index.html" and (out / "index.html").exists()
    assert pages and pages == sorted(pages)
    assert process._process.exitcode == 0  # it left without its teardown, after its last word
