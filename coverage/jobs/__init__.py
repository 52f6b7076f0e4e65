"""Orchestration: each job reads its inputs, calls the analysis and writes the products."""

from __future__ import annotations


def start_maps_early() -> None:
    """Start the next run's maps' process now, before the run's imports (see
    :func:`lomsong.jobs._maps_process.start_early`); the command line calls it first thing."""
    from lomsong.jobs._maps_process import start_early

    start_early()
