"""CPU seconds of each file a run writes, on the many-logs benchmark's analysis.

    .venv/bin/python benchmarks/downloads.py [--logs benchmarks/data/gnettrack_240x8000] [--repeats 3]

The analysis of the logs (SYNTHETIC, see benchmarks/many_logs.py) is made once in this process
(``lomsong.jobs.run.run_analysis`` without maps, stopped before it writes), then the run's files are
written ``--repeats`` times into a temporary folder with
:func:`lomsong.products.tables.write_products`: the machine tables (``part="tables"``) and the
downloads (``part="downloads"``), all written while the maps' process draws the pages. Each file's
time is ``time.process_time()`` (user + system, all threads) around its writer, the least of the
repeats kept: other work on a shared machine only ever adds to it.

The script only imports ``lomsong``, so an older checkout can be timed the same way (put its
package first on ``PYTHONPATH``). Prints a Markdown table; ``--json`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _CapturedError(Exception):
    """Raised by the stand-in ``write_run`` once it holds the analysis."""


def run_analysis_only(logs: list[Path]) -> tuple[object, bool]:
    """The analysis ``lomsong run -m LOGS`` makes, and whether its data is synthetic (nothing written)."""
    import lomsong.products.tables as tables
    from lomsong.jobs.run import run_analysis

    held: dict[str, object] = {}

    def hold(analysis, out, meta, synthetic=False, *args, **kwargs):
        held["analysis"], held["synthetic"] = analysis, synthetic
        raise _CapturedError

    real, tables.write_run = tables.write_run, hold
    try:
        with tempfile.TemporaryDirectory() as folder:
            run_analysis(logs, out=Path(folder) / "run", maps=False)
    except _CapturedError:
        pass
    finally:
        tables.write_run = real
    return held["analysis"], bool(held["synthetic"])


def time_files(analysis: object, synthetic: bool, *, part: str) -> dict[str, float]:
    """CPU seconds of each file of ``part`` (``tables`` or ``downloads``), written once."""
    from lomsong.products.tables import write_products

    seconds: dict[str, float] = {}
    current: list = [None, 0.0]

    def on_file(name: str) -> None:
        now = time.process_time()
        if current[0] is not None:
            seconds[current[0]] = now - current[1]
        current[0], current[1] = name, now

    with tempfile.TemporaryDirectory() as folder:
        write_products(analysis, folder, synthetic=synthetic, on_file=on_file, part=part)
        seconds[current[0]] = time.process_time() - current[1]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=Path, default=ROOT / "benchmarks" / "data" / "gnettrack_240x8000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    logs = sorted(args.logs.glob("*.txt"))
    if not logs:
        raise SystemExit(f"{args.logs}: no G-NetTrack logs (make them with benchmarks/many_logs.py)")
    analysis, synthetic = run_analysis_only(logs)
    best: dict[str, dict[str, float]] = {"tables": {}, "downloads": {}}
    for _ in range(args.repeats):
        for part in best:
            for name, value in time_files(analysis, synthetic, part=part).items():
                best[part][name] = min(value, best[part].get(name, value))
    import lomsong

    print(f"lomsong {lomsong.__file__}, {len(logs)} logs, least CPU seconds of {args.repeats}\n")
    print("| file | part | CPU s |\n|---|---|---|")
    for part, files in best.items():
        for name, value in sorted(files.items(), key=lambda item: -item[1]):
            print(f"| {name} | {part} | {value:.3f} |")
        print(f"| **all {part}** | {part} | **{sum(files.values()):.3f}** |")
    if args.json:
        args.json.write_text(json.dumps(best, indent=2))


if __name__ == "__main__":
    sys.exit(main())
