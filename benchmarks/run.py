"""Benchmark runner: ingest, ``lomsong run`` stages, the baseline and the API under load.

    .venv/bin/python benchmarks/run.py --sizes 1000000 10000000 --api

For each size: simulate (``lomsong simulate --points N``, SYNTHETIC, reused from benchmarks/data/),
ingest into a store (timed as a subprocess; reused with its recorded timing unless ``--reingest``),
then in a fresh subprocess each: the run without maps (``run_analysis(store=…, maps=False)``, stage
timings from run.json), ``analyse()`` alone and the baseline (``benchmarks/baseline.py``), the last
two timed in-process after loading; peak RSS from ``resource.getrusage``. With ``--api``: the demo
results (``lomsong demo --no-periods --no-maps``) served by ``lomsong serve`` on a free loopback
port, loaded by ``wrk`` (50 connections, 30 s, ``--latency``) on ``/gaps?limit=100&f=geojson`` and
``/collections/gaps/items?limit=100``. Writes benchmarks/results/results.md and results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
LOMSONG = str(Path(PYTHON).parent / "lomsong")


STAGES = ("grid", "index", "aggregate", "classify", "gaps", "radiomap", "tables")


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


def ingest(points: int, csv: Path, again: bool = False) -> tuple[Path, dict]:
    store = DATA / f"store_{points}"
    record = DATA / f"store_{points}.ingest.json"
    if again and store.exists():
        shutil.rmtree(store)
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
    from lomsong.jobs.run import run_analysis

    with tempfile.TemporaryDirectory() as out:
        summary = run_analysis(store=store, out=out, maps=False)
    return {"timings": summary.timings, "counts": summary.counts, "peak_mb": _peak_mb()}


def child_analysis(store: str, engine: str) -> dict:
    """In a subprocess: read the store, then time analyse() alone (local or dask)."""
    from lomsong import paths
    from lomsong.analysis.engine import analyse
    from lomsong.jobs.run import _read_store, province_grid
    from lomsong.reference.boundaries import read_communes
    from lomsong.reference.install import sha256_of
    from lomsong.reference.population import load_population
    from lomsong.settings import Config
    from lomsong.tables.store import MeasurementStore

    communes = read_communes()
    surface = load_population(communes)
    # The province grid is reference data like the population raster: `lomsong run` keeps it in
    # data/cache/ (pipeline.province_grid), so it is loaded here, before the timer, too.
    grid, _ = province_grid(
        communes,
        surface,
        Config().resolution,
        [sha256_of(paths.boundaries_path()), sha256_of(paths.population_raster_path())],
    )
    started = time.perf_counter()
    # the columns and dictionary-coded text `lomsong run --store` reads
    data = _read_store(store, None, None).frame if engine == "local" else MeasurementStore(store).partitions
    read = time.perf_counter() - started
    started = time.perf_counter()
    if engine == "dask":
        from lomsong.analysis.dask_engine import analyse_partitions

        result = analyse_partitions(data, communes, surface, Config(), grid=grid)
    else:
        result = analyse(data, communes, surface, Config(), grid=grid)
    return {"read": read, "seconds": time.perf_counter() - started, "stages": result.timings, "peak_mb": _peak_mb()}


def child_baseline(store: str) -> dict:
    """In a subprocess: read the store, then time the baseline alone."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from baseline import baseline_analysis

    from lomsong.reference.boundaries import read_communes
    from lomsong.settings import Config
    from lomsong.tables.store import MeasurementStore

    communes = read_communes()
    frame = MeasurementStore(store).read()
    started = time.perf_counter()
    counts = baseline_analysis(frame, communes, Config())
    return {"seconds": time.perf_counter() - started, "counts": counts, "peak_mb": _peak_mb()}


API_PATHS = ("/gaps?limit=100&f=geojson", "/collections/gaps/items?limit=100")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(output: str) -> dict:
    """Requests/s, p50/p99 latency (ms), requests and errors from ``wrk --latency`` output."""
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)\s*$", output, re.MULTILINE))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50_ms": _milliseconds(latency["50"]),
        "p99_ms": _milliseconds(latency["99"]),
        "errors": (sum(map(int, socket_errors.groups())) if socket_errors else 0)
        + (int(non_2xx.group(1)) if non_2xx else 0),
    }


def api_load(connections: int = 50, seconds: int = 30, workers: int = 2) -> dict:
    """Serve the demo results and load two endpoints with wrk; the server is stopped afterwards."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian)")
    run = DATA / "demo_run"
    if not (run / "run.json").exists():
        subprocess.run([LOMSONG, "demo", "--no-periods", "--no-maps", "--out", str(run)], check=True)
    port = _free_port()
    log = open(DATA / "serve.log", "w")  # noqa: SIM115 - the server writes to it until it is stopped
    server = subprocess.Popen(
        [LOMSONG, "serve", "--port", str(port), "--run", str(run), "--workers", str(workers)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # up to 30 s to start
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"lomsong serve stopped; see {DATA / 'serve.log'}") from None
                time.sleep(0.1)
        results = {}
        for path in API_PATHS:
            with urllib.request.urlopen(base + path, timeout=10) as response:  # warm-up and a sanity check
                body = json.loads(response.read())
            features = len(body.get("features", []))
            out = subprocess.run(
                [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", base + path],
                check=True,
                capture_output=True,
                text=True,
            )
            results[path] = {**parse_wrk(out.stdout), "features": features, "load_average_before": os.getloadavg()}
        return {"connections": connections, "seconds": seconds, "workers": workers, "endpoints": results}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


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


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def table(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}; load average "
        f"{m['load_average_at_start'][0]:.1f} at the start (the machine was shared with other jobs). "
        "SYNTHETIC data (`lomsong simulate`). Seconds (peak RSS in MB).",
        "",
    ]
    if results["sizes"]:
        lines += [
            "| rows | ingest | read | grid | index | aggregate | classify | gaps | radiomap | tables | exports | "
            "run w/o maps | analyse() | baseline | speed-up |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    for row in results["sizes"]:
        run = row["run"]
        stages = run["timings"].get("analysis_stages", {})
        total = run["timings"].get("total", 0)
        base = row.get("baseline")
        analysed = row["analysis"]["seconds"]
        ratio = f"{base['seconds'] / analysed:.1f}×" if base else "n/a"
        base_text = (
            f"{_seconds(base['seconds'])} ({base['peak_mb']:.0f})" if base else row.get("baseline_note", "not run")
        )
        lines.append(
            f"| {row['rows']:,} | {_seconds(row['ingest']['seconds'])} ({row['ingest']['peak_mb']:.0f}) "
            f"| {_seconds(run['timings'].get('inputs', 0))} "
            + "".join(f"| {_seconds(stages.get(s, 0))} " for s in STAGES)
            + f"| {_seconds(run['timings'].get('write', 0))} | {_seconds(total)} ({run['peak_mb']:.0f}) "
            f"| {_seconds(analysed)} ({row['analysis']['peak_mb']:.0f}) | {base_text} | {ratio} |"
        )
    sizes = {row["rows"]: row for row in results["sizes"]}
    if 1_000_000 in sizes and 10_000_000 in sizes:
        scale = sizes[10_000_000]["run"]["timings"]["total"] / sizes[1_000_000]["run"]["timings"]["total"]
        lines += ["", f"10 M run / 1 M run: {scale:.1f}×."]
    api = results.get("api")
    if api:
        lines += [
            "",
            f"API under load: `lomsong serve --workers {api.get('workers', 1)}` (demo results), wrk, "
            f"{api['connections']} connections, "
            f"{api['seconds']} s, loopback.",
            "",
            "| endpoint | features | requests/s | p50 ms | p99 ms | requests | errors |",
            "|---|---|---|---|---|---|---|",
        ]
        for path, r in api["endpoints"].items():
            lines.append(
                f"| `{path}` | {r['features']} | {r['requests_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                f"| {r['requests']:,} | {r['errors']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--no-baseline", action="store_true", help="Skip the baseline.")
    parser.add_argument("--api-workers", type=int, default=2, help="Server processes for the API load test.")
    parser.add_argument("--baseline-max", type=int, default=10_000_000, help="Largest size the baseline runs on.")
    parser.add_argument("--reingest", action="store_true", help="Ingest again (and time it) even if a store exists.")
    parser.add_argument("--api", action="store_true", help="Also load the API with wrk.")
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
        store, ingest_timing = ingest(points, csv, again=args.reingest)
        row = {"rows": points, "ingest": ingest_timing}
        row["run"] = in_child("run", str(store))
        row["analysis"] = in_child("analysis", str(store), "local")
        if not args.no_baseline and points <= args.baseline_max:
            row["baseline"] = in_child("baseline", str(store))
        results["sizes"].append(row)
        print(json.dumps(row, default=str)[:400], flush=True)
    if args.api:
        print("== API under load", flush=True)
        results["api"] = api_load(workers=args.api_workers)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (RESULTS / "results.md").write_text(table(results))
    print(table(results))


if __name__ == "__main__":
    main()
