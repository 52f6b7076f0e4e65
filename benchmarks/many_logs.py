"""Many G-NetTrack logs: ``lomsong run`` as a whole process against a plain pandas + h3-py script.

    .venv/bin/python benchmarks/many_logs.py --logs 240 --rows 8000

The data is SYNTHETIC: ``lomsong simulate --format gnettrack`` drive-test logs (reused from
benchmarks/data/), each tiled to ``--rows`` data rows by repeating its drive a week earlier each
time (so no row is a copy of another), ``--logs`` files in all. Then, in the same invocation and
one after the other, each as a fresh process timed by ``/usr/bin/time`` (wall seconds and peak RSS):

- ``lomsong run -m <folder> --out <tmp>``: reading and validating the logs, the analysis, every
  table file and the maps (province page and one page per commune);
- ``benchmarks/many_logs.py --baseline <folder>``: what an analyst writes first: ``pandas.read_csv``
  per log, ``to_datetime`` with the G-NetTrack format, operators from the PLMN, then
  :func:`baseline.baseline_analysis` (GeoPandas ``sjoin``, h3-py per row, pandas group-bys, shapely
  unions). It writes no files at all, so it does less work than the run.

lomsong's modules are compiled to bytecode first, as an installation leaves them. Each is run
``--repeats`` times (default 2), alternately in ABBA order (run first, then the script first, …),
and the best of each kept: other work on a shared machine only ever slows a run down. The ratio
is baseline seconds / run seconds. Results go to benchmarks/results/many_logs.md and .json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
LOMSONG = str(Path(PYTHON).parent / "lomsong")
TIME_FORMAT = "%Y.%m.%d_%H.%M.%S"


def simulated_logs() -> list[Path]:
    """The simulator's drive-test logs (SYNTHETIC), simulated once."""
    folder = DATA / "gnettrack_sim"
    found = sorted(folder.glob("gnettrack_synthetic_*.txt"))
    if not found:
        subprocess.run(
            [LOMSONG, "simulate", "--points", "1000", "--format", "gnettrack", "--gnettrack-devices", "240"]
            + ["--out", str(folder), "--villages-dir", str(folder / "villages")],
            check=True,
        )
        found = sorted(folder.glob("gnettrack_synthetic_*.txt"))
    return found


def tiled_logs(logs: int, rows: int) -> Path:
    """``logs`` G-NetTrack logs of ``rows`` data rows each, tiled from the simulated ones (SYNTHETIC)."""
    import numpy as np
    import pandas as pd

    folder = DATA / f"gnettrack_{logs}x{rows}"
    if len(list(folder.glob("*.txt"))) == logs:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sources = simulated_logs()
    for number in range(logs):
        source = sources[number % len(sources)]
        header, *body = source.read_bytes().decode().rstrip("\r\n").split("\r\n")
        stamps = pd.to_datetime(pd.Series([line[:19] for line in body]), format=TIME_FORMAT)
        rests = np.array([line[19:] for line in body], dtype=object)
        repeat = -(-rows // len(body))
        # each repetition a week earlier; logs that share a source an hour apart (no two files alike)
        shifts = np.repeat(np.arange(repeat), len(body))[:rows] * 7 * 86_400 + (number // len(sources)) * 3_600
        times = pd.concat([stamps] * repeat, ignore_index=True)[:rows] - pd.to_timedelta(shifts, unit="s")
        lines = times.dt.strftime(TIME_FORMAT).to_numpy(object) + np.tile(rests, repeat)[:rows]
        name = folder / f"gnettrack_synthetic_{number:03d}.txt"
        name.write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode())
    return folder


def baseline(folder: str) -> dict:
    """The plain script: read every log with pandas, then the baseline analysis (in this process)."""
    import pandas as pd

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from baseline import baseline_analysis

    from lomsong.operators import OPERATORS
    from lomsong.reference.boundaries import read_communes
    from lomsong.settings import Config

    started = time.perf_counter()
    by_plmn = {plmn: operator for operator, (plmn, _) in OPERATORS.items()}
    frames = []
    for path in sorted(Path(folder).glob("*.txt")):
        log = pd.read_csv(
            path,
            sep="\t",
            usecols=["Timestamp", "Longitude", "Latitude", "Operator"] + ["NetworkTech", "Level"],
            dtype={"Operator": "string"},
            index_col=False,  # each data row ends with a tab: one more field than the header
        )
        technology = log["NetworkTech"].where(log["NetworkTech"].isin(["2G", "3G", "4G", "5G"]))
        operator = log["Operator"].map(by_plmn)
        frames.append(
            pd.DataFrame(
                {
                    "time": pd.to_datetime(log["Timestamp"], format=TIME_FORMAT)
                    .dt.tz_localize("Asia/Ho_Chi_Minh")
                    .dt.tz_convert("UTC"),
                    "lon": log["Longitude"],
                    "lat": log["Latitude"],
                    # no-service rows name no operator: the file's most common one
                    "operator": operator.fillna(operator.mode().iloc[0] if operator.notna().any() else None),
                    "technology": technology,
                    "signal_dbm": pd.to_numeric(log["Level"], errors="coerce").where(log["NetworkTech"] != "--"),
                    "no_service": log["NetworkTech"] == "--",
                    "device_id": path.name,
                    "dl_kbps": float("nan"),
                }
            )
        )
    measurements = pd.concat(frames, ignore_index=True)
    read = time.perf_counter() - started
    counts = baseline_analysis(measurements, read_communes(), Config())
    return {"read": read, "seconds": time.perf_counter() - started, "counts": counts}


def reading(folder: str, repeats: int = 3) -> dict:
    """In this process: the logs read as ``lomsong run`` reads them, then the same rows as one generic CSV.

    The CSV holds the accepted rows of the logs in the project's own columns (written once with
    pandas); both are read with the province filter, so the rows per second compare the two paths.
    Both paths are warmed first (their modules imported, the province's outline built: what the
    first read of a process pays, whichever comes first), then read ``repeats`` times one after
    the other; the best of each is kept (a shared machine only ever slows a read down).
    """
    import pandas as pd

    from lomsong.readers import read_file
    from lomsong.readers.many import CORES_PER_BATCH_WORKER, idle_cores, read_files
    from lomsong.reference.boundaries import read_communes

    communes = read_communes()
    logs = sorted(Path(folder).glob("*.txt"))
    workers = max(1, idle_cores() // CORES_PER_BATCH_WORKER)  # what read_files will use (it decides the same way)
    csv = Path(folder).with_suffix(".csv")
    if not csv.exists():
        reads = read_files(logs, communes=communes)
        table = pd.concat([read.result.measurements for read in reads], ignore_index=True)
        table.drop(columns=["source", "source_file", "source_row"]).to_csv(csv, index=False)
    with tempfile.TemporaryDirectory() as scratch:
        head = Path(scratch) / "head.csv"
        head.write_text("".join(csv.open(encoding="utf-8").readlines()[:1000]), encoding="utf-8")
        read_files(logs[:2], communes=communes, workers=1)
        read_file(head, communes=communes)
    best = {"logs": math.inf, "csv": math.inf, "cpu": math.inf}
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        reads = read_files(logs, communes=communes)
        seconds = time.perf_counter() - started
        if seconds < best["logs"]:
            best["logs"], best["cpu"] = seconds, time.process_time() - cpu
        started = time.perf_counter()
        generic = read_file(csv, communes=communes)
        best["csv"] = min(best["csv"], time.perf_counter() - started)
    rows = sum(read.result.report.rows_read for read in reads)
    return {
        "workers": workers,
        "repeats": repeats,
        "logs": {"files": len(logs), "rows": rows, "seconds": best["logs"], "parent_cpu_seconds": best["cpu"]},
        "generic_csv": {"rows": generic.report.rows_read, "seconds": best["csv"], "bytes": csv.stat().st_size},
    }


def timed(command: list[str]) -> dict:
    """Wall seconds and peak RSS (MB) of a command run as its own process."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{command[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {"seconds": seconds, "peak_mb": int(done.stderr.strip().splitlines()[-1]) / 1024, "stdout": done.stdout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=240)
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each whole process (the best is kept)")
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    parser.add_argument("--reading", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(baseline(args.baseline)))
        return
    if args.reading:
        print(json.dumps(reading(args.reading)))
        return
    folder = tiled_logs(args.logs, args.rows)
    # the package's bytecode, as an install leaves it (where PYTHONDONTWRITEBYTECODE is set, every
    # run would otherwise compile lomsong's modules again: about 0.3 CPU-s)
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "coverage"), str(ROOT / "benchmarks")], check=True)
    load = os.getloadavg()
    runs, plains = [], []

    def time_run() -> None:
        with tempfile.TemporaryDirectory() as out:
            run = timed([LOMSONG, "run", "-m", str(folder), "--out", out, "--quiet"])
            run["record"] = json.loads((Path(out) / "run.json").read_text())
            run["pages"] = len(list((Path(out) / "communes").glob("*.html")))
            runs.append(run)

    def time_script() -> None:
        plains.append(timed([PYTHON, __file__, "--baseline", str(folder)]))

    for repeat in range(args.repeats):
        # one after the other, in ABBA order: the second process of a pair runs faster (files and
        # libraries already in the page cache), so neither side always gets that place
        for measure in (time_run, time_script) if repeat % 2 == 0 else (time_script, time_run):
            measure()
    run = min(runs, key=lambda timing: timing["seconds"])
    record, pages = run["record"], run["pages"]
    plain = min(plains, key=lambda timing: timing["seconds"])
    inside = json.loads(plain["stdout"].strip().splitlines()[-1])
    read = timed([PYTHON, __file__, "--reading", str(folder)])
    speeds = json.loads(read["stdout"].strip().splitlines()[-1])
    rows = sum(item.get("ingest", {}).get("rows_read", 0) for item in record.get("inputs", []))
    results = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "load_average_at_start": load},
        "logs": args.logs,
        "rows": rows,
        "repeats": args.repeats,
        "run": {
            "seconds": run["seconds"],
            "all_seconds": [timing["seconds"] for timing in runs],
            "peak_mb": run["peak_mb"],
            "timings": record.get("timings", {}),
        },
        "map_pages": pages,
        "baseline": {
            "seconds": plain["seconds"],
            "all_seconds": [timing["seconds"] for timing in plains],
            "peak_mb": plain["peak_mb"],
            **inside,
        },
        "reading": speeds,
    }
    log_rate = speeds["logs"]["rows"] / speeds["logs"]["seconds"]
    csv_rate = speeds["generic_csv"]["rows"] / speeds["generic_csv"]["seconds"]
    results["ratio"] = plain["seconds"] / run["seconds"]
    timings = results["run"]["timings"]
    text = "\n".join(
        [
            f"Machine: {results['machine']['cores']} cores, Python {results['machine']['python']}, load average "
            f"{load[0]:.1f} at the start (shared with other jobs). SYNTHETIC G-NetTrack logs "
            f"(`benchmarks/many_logs.py --logs {args.logs} --rows {args.rows}`). Whole processes, wall seconds "
            f"(peak RSS in MB), each run {args.repeats} times alternately (ABBA order), the best kept (all: run "
            f"{', '.join(f'{t:.1f}' for t in results['run']['all_seconds'])}; script "
            f"{', '.join(f'{t:.1f}' for t in results['baseline']['all_seconds'])}).",
            "",
            "| case | seconds | peak MB |",
            "|---|---|---|",
            f"| `lomsong run -m` {args.logs} logs, {rows:,} rows, maps included ({pages} commune pages) "
            f"| {run['seconds']:.1f} | {run['peak_mb']:.0f} |",
            f"| &nbsp;&nbsp;of which reading and validating | {timings.get('inputs', 0):.1f} | |",
            f"| &nbsp;&nbsp;of which maps | {timings.get('maps', 0):.1f} | |",
            f"| plain pandas + h3-py script (no files written) | {plain['seconds']:.1f} | {plain['peak_mb']:.0f} |",
            f"| &nbsp;&nbsp;of which reading the logs | {inside['read']:.1f} | |",
            "",
            f"lomsong run is **{results['ratio']:.1f}×** faster than the plain script (baseline seconds / run "
            f"seconds); inside the run, reading and validating went at "
            f"{rows / max(timings.get('inputs', 0), 1e-9):,.0f} rows/s.",
            "",
            f"Reading alone, in one process, both paths warmed, then {speeds['repeats']} times one after the other, "
            f"the best of each (`--reading`): the {speeds['logs']['files']} logs "
            f"({speeds['workers']} process{'es' if speeds['workers'] > 1 else ''}) at {log_rate:,.0f} rows/s; the same "
            f"{speeds['generic_csv']['rows']:,} rows as one generic CSV at {csv_rate:,.0f} rows/s "
            f"(logs / CSV: {log_rate / csv_rate:.2f}).",
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "many_logs.json").write_text(json.dumps(results, indent=2, default=str))
    (RESULTS / "many_logs.md").write_text(text)
    print(text)
    print(re.sub(r"\s+", " ", json.dumps(timings))[:600])


if __name__ == "__main__":
    main()
