"""The map stage of a run on its own: every page of a finished run folder, built again and timed.

    .venv/bin/python benchmarks/maps.py RUN [--out OUT] [--repeat 3] [--profile] [--write]

Each repeat is a fresh subprocess (imports warm from the disk cache, as in ``lomsong run``) that
makes what the pages draw of the communes alone (:class:`~lomsong.products.maps.layers.CommuneOutlines`)
and the pages' shared script and stylesheet, as the maps' process of ``lomsong run`` does while the
run is analysed (timed apart), loads the run folder's tables as that process does
(:func:`lomsong.tables.results.load_run` of the any-technology cells, timed apart), then builds every page with
:func:`lomsong.products.maps.build.build_maps` into a copy of the folder (``OUT``, default a
temporary folder), the same call ``lomsong run`` makes. Printed: each repeat's wall and CPU seconds
and their medians; ``--write`` adds a row to ``benchmarks/results/maps.md``. ``--profile`` runs
pyinstrument over one build instead and prints its tree.

Compare the pages with ``benchmarks/compare_runs.py RUN OUT --pages``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "maps.md"

#: What each repeat runs in its own process; prints one JSON line of timings.
_CHILD = """
import json, sys, time
started = time.perf_counter(); cpu = time.process_time()
from lomsong.products.maps.build import build_maps
from lomsong.reference.boundaries import read_communes
from lomsong.tables.results import ANY_TECHNOLOGY, load_run
try:  # made by the maps' process before the run's tables exist (older code: none)
    from lomsong.products.maps.assets import shared_assets_text
    from lomsong.products.maps.layers import CommuneOutlines
except ImportError:
    CommuneOutlines = shared_assets_text = None
imported = time.perf_counter()
communes = read_communes()
outlines_at = time.process_time()
extra = {} if CommuneOutlines is None else {"outlines": CommuneOutlines(communes).prepare_all()}
if shared_assets_text is not None:
    shared_assets_text()
outlines = time.process_time() - outlines_at
folder, out = sys.argv[1], sys.argv[2]
loaded_at = time.perf_counter()
results = load_run(folder, cell_technologies=[ANY_TECHNOLOGY])  # what the maps' process reads
load = time.perf_counter() - loaded_at
maps_at, maps_cpu = time.perf_counter(), time.process_time()
pages = build_maps(results, out, communes=communes, **extra)
print(json.dumps({"pages": len(pages), "load": load, "maps": time.perf_counter() - maps_at,
                  "maps_cpu": time.process_time() - maps_cpu, "import": imported - started,
                  "outlines_cpu": outlines}))
"""


def _copy_tables(run: Path, out: Path) -> None:
    """The run folder without its pages, so that every page in ``out`` is built by this benchmark."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(run, out, ignore=shutil.ignore_patterns("*.html", "assets", "communes", "units"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder (e.g. lomsong demo --no-periods --out RUN)")
    parser.add_argument("--out", type=Path, help="where the pages go (default: a temporary folder)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="one build under pyinstrument")
    parser.add_argument("--write", action="store_true", help=f"add the medians to {RESULTS}")
    parser.add_argument("--label", default="", help="what this row measures (--write)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="lomsong-maps-")) / "run"
    _copy_tables(args.run, out)
    if args.profile:
        script = Path(tempfile.mkdtemp(prefix="lomsong-maps-")) / "child.py"
        script.write_text(_CHILD, encoding="utf-8")
        subprocess.run(
            [sys.executable, "-m", "pyinstrument", "--show-all", str(script), str(args.run), str(out)], check=True
        )
        return
    runs = []
    for _ in range(args.repeat):
        child = subprocess.run(
            [sys.executable, "-c", _CHILD, str(args.run), str(out)], check=True, capture_output=True, text=True
        )
        runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(
            f"pages {runs[-1]['pages']}: maps {runs[-1]['maps']:.2f} s (CPU {runs[-1]['maps_cpu']:.2f} s), "
            f"load_run {runs[-1]['load']:.2f} s, imports {runs[-1]['import']:.2f} s, "
            f"made before the run (CPU) {runs[-1]['outlines_cpu']:.2f} s"
        )
    medians = {key: statistics.median(r[key] for r in runs) for key in ("maps", "maps_cpu", "load")}
    load = os.getloadavg()[0]
    print(
        f"median of {len(runs)}: maps {medians['maps']:.2f} s (CPU {medians['maps_cpu']:.2f} s), "
        f"load_run {medians['load']:.2f} s; load average {load:.1f}"
    )
    print(f"pages in {out}")
    if args.write:
        if not RESULTS.exists():
            RESULTS.write_text(
                "# The map stage (benchmarks/maps.py)\n\n"
                "Every page of the demo run (`lomsong demo --no-periods`) built again from its run folder, "
                "`build_maps(load_run(RUN), OUT, communes=read_communes())` in a fresh process per repeat; "
                "medians of the repeats. CPU is the process's own time (less sensitive to the other "
                "processes on the machine than the wall time).\n\n"
                "| what | pages | repeats | maps s (wall) | maps s (CPU) | load_run s | load average | machine |\n"
                "|---|---|---|---|---|---|---|---|\n",
                encoding="utf-8",
            )
        machine = f"{platform.machine()}, {os.cpu_count()} cores"
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write(
                f"| {args.label} | {runs[0]['pages']} | {len(runs)} | {medians['maps']:.2f} | "
                f"{medians['maps_cpu']:.2f} | {medians['load']:.2f} | {load:.1f} | {machine} |\n"
            )


if __name__ == "__main__":
    main()
