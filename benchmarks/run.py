"""Benchmark runner: ingest, ``lomsong run`` stages and the baseline on simulated measurement sets.

    .venv/bin/python benchmarks/run.py --sizes 1000000 10000000

For each size: simulate (``lomsong simulate --points N``, SYNTHETIC, reused from benchmarks/data/),
ingest into a store (timed as a subprocess; reused with its recorded timing), then in a fresh
subprocess each: the run without maps (``run_analysis(store=…, maps=False)``, stage timings from
run.json) and the baseline (``benchmarks/baseline.py``), both timed in-process after loading; peak
RSS from ``resource.getrusage``. Writes benchmarks/results/results.md and results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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


STAGES = ("grid", "index", "aggregate", "classify", "gaps", "tables")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def simulate(points: int) -> Path:
    folder = DATA / f"sim_{points}"
    found = sorted(folder.glob("*.csv"))
    if not found:
        subprocess.run(
            [
                LOMSONG,
                "simulate",
                "--points",
                str(points),
                "--format",
                "generic_csv",
                "--out",
                str(folder),
                "--villages-dir",
                str(folder / "villages"),
                "--gnettrack-devices",
                "0",
            ],
            check=True,
        )
        found = sorted(folder.glob("*.csv"))
    return found[0]


def ingest(points: int, csv: Path) -> tuple[Path, dict]:
    store = DATA / f"store_{points}"
    record = DATA / f"store_{points}.ingest.json"
    if record.exists() and (store / "ledger.sqlite").exists():
        return store, json.loads(record.read_text())
    started = time.perf_counter()
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%M", LOMSONG, "ingest", str(csv), "--store", str(store)],
        check=True,
        capture_output=True,
        text=True,
    )
    timing = {"seconds": time.perf_counter() - started, "peak_mb": int(out.stderr.strip().splitlines()[-1]) / 1024}
    record.write_text(json.dumps(timing))
    return store, timing


def child_run(store: str) -> dict:
    """In a subprocess: the run without maps; stage timings come from run.json."""
    from coverage.pipeline import run_analysis

    with tempfile.TemporaryDirectory() as out:
        summary = run_analysis(store=store, out=out, maps=False, progress=False)
    return {"timings": summary.timings, "counts": summary.counts, "peak_mb": _peak_mb()}


def child_analysis(store: str, engine: str) -> dict:
    """In a subprocess: read the store, then time analyse() alone (local or dask)."""
    from coverage.analysis import analyse
    from coverage.boundaries import read_communes
    from coverage.population import load_population
    from coverage.settings import Config
    from coverage.store import MeasurementStore

    communes = read_communes()
    surface = load_population(communes)
    started = time.perf_counter()
    data = MeasurementStore(store).read() if engine == "local" else MeasurementStore(store).partitions
    read = time.perf_counter() - started
    started = time.perf_counter()
    result = analyse(data, communes, surface, Config(), engine=engine)
    return {"read": read, "seconds": time.perf_counter() - started, "stages": result.timings, "peak_mb": _peak_mb()}


def child_baseline(store: str) -> dict:
    """In a subprocess: read the store, then time the baseline alone."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from baseline import baseline_analysis

    from coverage.boundaries import read_communes
    from coverage.settings import Config
    from coverage.store import MeasurementStore

    communes = read_communes()
    frame = MeasurementStore(store).read()
    started = time.perf_counter()
    counts = baseline_analysis(frame, communes, Config())
    return {"seconds": time.perf_counter() - started, "counts": counts, "peak_mb": _peak_mb()}


def in_child(kind: str, *args: str) -> dict:
    out = subprocess.run([PYTHON, __file__, "--child", kind, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def table(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB; load average at start {m['load_average_at_start'][0]:.1f} "
        "(the machine was shared with other jobs). SYNTHETIC data (`lomsong simulate`). Whole seconds.",
        "",
        "| rows | ingest s (peak MB) | read | grid | index | aggregate | classify | gaps | tables | exports | "
        "run w/o maps s (peak MB) | analyse() s | baseline s (peak MB) | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["sizes"]:
        run = row["run"]
        stages = run["timings"].get("analysis_stages", {})
        total = run["timings"].get("total", 0)
        base = row.get("baseline")
        ratio = f"{base['seconds'] / row['analysis']['seconds']:.1f}×" if base else "n/a"
        base_text = f"{base['seconds']:.0f} ({base['peak_mb']:.0f})" if base else "not run"
        lines.append(
            f"| {row['rows']:,} | {row['ingest']['seconds']:.0f} ({row['ingest']['peak_mb']:.0f}) "
            f"| {run['timings'].get('inputs', 0):.0f} "
            + "".join(
                f"| {stages.get(s, 0):.0f} " for s in ("grid", "index", "aggregate", "classify", "gaps", "tables")
            )
            + f"| {run['timings'].get('write', 0):.0f} | {total:.0f} ({run['peak_mb']:.0f}) "
            f"| {row['analysis']['seconds']:.1f} | {base_text} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--no-baseline", action="store_true", help="Skip the baseline.")
    parser.add_argument("--baseline-max", type=int, default=10_000_000, help="Largest size the baseline runs on.")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = {"run": child_run, "analysis": child_analysis, "baseline": child_baseline}[kind](*rest)
        print(json.dumps(result, default=str))
        return
    results = {"machine": machine(), "sizes": []}
    for points in args.sizes:
        print(f"== {points:,} rows", flush=True)
        csv = simulate(points)
        store, ingest_timing = ingest(points, csv)
        row = {"rows": points, "ingest": ingest_timing}
        row["run"] = in_child("run", str(store))
        row["analysis"] = in_child("analysis", str(store), "local")
        if not args.no_baseline and points <= args.baseline_max:
            row["baseline"] = in_child("baseline", str(store))
        results["sizes"].append(row)
        print(json.dumps(row, default=str)[:400], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (RESULTS / "results.md").write_text(table(results))
    print(table(results))


if __name__ == "__main__":
    main()
