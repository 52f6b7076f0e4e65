"""CPU seconds of each stage of a run, in the run's process and in its children (the maps' process).

    .venv/bin/python benchmarks/stage_cpu.py benchmarks/data/gnettrack_240x8000 /tmp/stage_cpu_run

Drives :func:`lomsong.jobs.run.run_analysis` as ``lomsong run -m FOLDER --out OUT`` does (the maps'
process started first, :func:`lomsong.jobs.start_maps_early`) and, at every progress event, reads
the CPU time of this process and of its child processes from ``/proc`` (Linux only). Prints, for
each stage, its wall seconds and the CPU seconds of both, then the totals: a whole run can take no
less wall time than its CPU seconds over the cores. Not a timed test: a shared machine only ever
slows it down.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from pathlib import Path


def _cpu_seconds(pid: int | str) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _children() -> set[str]:
    found: set[str] = set()
    for listing in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        with open(listing) as handle:
            found |= set(handle.read().split())
    return found


def main() -> None:
    folder, out = Path(sys.argv[1]), sys.argv[2]
    started = time.perf_counter()
    seen: dict[str, float] = {}  # CPU seconds of each child still running
    stages: list[tuple[str, float, float, float]] = []  # stage, wall, run's CPU, children's CPU
    last = [started, 0.0, 0.0]

    def mark(name: str) -> None:
        now = time.perf_counter()
        alive = _children()
        for child in alive:
            seen[child] = _cpu_seconds(child)
        reaped = os.times()  # children that have ended and been waited for count here, not in /proc
        own = _cpu_seconds(os.getpid())
        children = sum(seen[child] for child in alive) + reaped.children_user + reaped.children_system
        stages.append((name, now - last[0], own - last[1], children - last[2]))
        last[:] = [now, own, children]

    from lomsong.jobs import start_maps_early

    start_maps_early()
    from lomsong.jobs.run import run_analysis

    current = ["start and imports"]

    def progress(event) -> None:
        if event.kind == "start":
            mark(current[0])
            current[0] = event.stage

    run_analysis(measurement_paths=sorted(folder.glob("*.txt")), out=out, progress=progress)
    mark(current[0])
    print(f"{'stage':<18} {'wall s':>7} {'run CPU s':>10} {'children CPU s':>15}")
    for name, wall, own, children in stages:
        print(f"{name:<18} {wall:7.2f} {own:10.2f} {children:15.2f}")
    wall = time.perf_counter() - started
    cpu = sum(own + children for _, _, own, children in stages)
    print(f"{'all':<18} {wall:7.2f} {cpu:26.2f}   (at {os.cpu_count()} cores, at least {cpu / os.cpu_count():.2f} s)")


if __name__ == "__main__":
    main()
