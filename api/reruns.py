"""Safe reruns (``POST /runs``): options like ``lomsong run``, a candidate folder, and the rule for replacing.

A rerun never writes into the served run folder. It writes a *candidate* run folder beside it;
:func:`decide` then says whether the candidate replaces the served run (or the served month, for a
``period`` run):

- no usable measurements (0 measurements, or no ``run.json``) → ``failed``: nothing is replaced;
- much smaller than what is served (fewer than :data:`MUCH_SMALLER` of its measurements) →
  ``candidate``: kept for the admin to promote (``POST /runs/{id}/promote``) unless the request said
  ``replace=true``;
- else → ``done``: swapped in atomically (:func:`lomsong.products.tables.swap_in`).

The rerun keeps the served run's inputs: its village layer, boundaries, population surface and
configuration, read from its ``run.json``, unless the request names others. Framework-free.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from api.core import QueryError
from lomsong import paths
from lomsong.tables.results import RUN_JSON

#: A candidate with fewer measurements than this share of the served run's is "much smaller".
MUCH_SMALLER = 0.5


@dataclass(frozen=True)
class RunOptions:
    """What ``POST /runs`` may ask, as ``lomsong run`` takes it (all optional).

    Attributes
    ----------
    period : str or None
        A month ``YYYY-MM``: its measurements, written as that month's run.
    since, until : str or None
        Keep measurements with ``since <= time < until`` (dates, Vietnam time).
    villages : str or None
        A village layer on the server (default: the served run's).
    resolution : int or None
        H3 resolution 7 to 10 (default: the served run's configuration).
    replace : bool
        Replace the served run even when the new one is much smaller.
    """

    period: str | None = None
    since: str | None = None
    until: str | None = None
    villages: str | None = None
    resolution: int | None = None
    replace: bool = False

    def __post_init__(self) -> None:
        from lomsong.errors import PeriodError
        from lomsong.tables.periods import parse_period

        if self.period:
            try:
                object.__setattr__(self, "period", parse_period(self.period).name)
            except PeriodError as exc:
                raise QueryError(str(exc), field="period") from None
            if self.since or self.until:
                raise QueryError("give either period or since/until, not both", field="period")
        if self.villages and not Path(self.villages).is_file():
            raise QueryError(f"villages: no file {self.villages} on the server", field="villages")
        if self.resolution is not None and not 7 <= self.resolution <= 10:
            raise QueryError(f"resolution must be 7 to 10, got {self.resolution}", field="resolution")

    def to_dict(self) -> dict[str, Any]:
        """Return the options as plain data (recorded with the run)."""
        return asdict(self)


def read_meta(folder: Path) -> dict[str, Any] | None:
    """Return a run folder's ``run.json``, None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(folder) / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def served_target(run_folder: Path, options: RunOptions) -> Path:
    """Return the folder a rerun would replace: the served run, or the month's run for ``period``."""
    if options.period:
        from lomsong.tables.periods import period_dir

        return period_dir(options.period, run_folder)
    return Path(run_folder)


def candidate_result(candidate: Path, options: RunOptions) -> Path:
    """Return where ``run_analysis(out=candidate, period=…)`` wrote the run."""
    return served_target(candidate, options)


def kept_inputs(served: dict[str, Any] | None, options: RunOptions) -> dict[str, Any]:
    """Return ``run_analysis`` keyword arguments that keep the served run's inputs.

    Parameters
    ----------
    served : dict or None
        The served run's ``run.json``.
    options : RunOptions
        The request; what it names wins.

    Returns
    -------
    dict
        ``villages``, ``boundaries``, ``population``, ``calibrate_population``, ``config``,
        ``resolution`` where known (missing files are left to the defaults).
    """
    from lomsong.settings import Config

    arguments: dict[str, Any] = {}
    inputs = served.get("inputs", []) if served else []
    by_role = {item.get("role"): item for item in inputs if isinstance(item, dict)}
    villages = options.villages or by_role.get("villages", {}).get("path")
    if villages and Path(villages).is_file():
        arguments["villages"] = Path(villages)
    boundaries = by_role.get("boundaries", {}).get("path")
    if boundaries and Path(boundaries).is_file():
        arguments["boundaries"] = Path(boundaries)
    population = by_role.get("population", {})
    default_raster = str(paths.population_raster_path())
    if population.get("path") and population["path"] != default_raster and Path(population["path"]).is_file():
        # a raster given with --population (the census surface is the default and needs no path)
        arguments["population"] = Path(population["path"])
        arguments["calibrate_population"] = bool(population.get("calibrated", False))
    configuration = served.get("configuration") if served else None
    if isinstance(configuration, dict):
        with contextlib.suppress(TypeError, ValueError):  # a run.json of another version: the defaults then
            arguments["config"] = Config(**configuration)
    if options.resolution is not None:
        arguments["resolution"] = options.resolution
    return arguments


def measurements_of(meta: dict[str, Any] | None) -> int | None:
    """Return a run's measurement count from its ``run.json`` (None when it does not say)."""
    if not meta or not isinstance(meta.get("counts"), dict):
        return None
    value = meta["counts"].get("measurements")
    return int(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Decision:
    """What happens to a finished candidate: ``state`` is ``done``, ``candidate`` or ``failed``."""

    state: str
    reason: str
    measurements: int | None
    served_measurements: int | None


def decide(candidate: dict[str, Any] | None, served: dict[str, Any] | None, replace: bool) -> Decision:
    """Decide whether a candidate run replaces the served one.

    Parameters
    ----------
    candidate, served : dict or None
        ``run.json`` of the new run and of the run it would replace.
    replace : bool
        The admin asked to replace even a much smaller run.

    Returns
    -------
    Decision
    """
    new, old = measurements_of(candidate), measurements_of(served)
    if candidate is None:
        return Decision("failed", "the run wrote no run.json", new, old)
    if not new:
        return Decision("failed", "the run has no usable measurements (0): the served results are kept", new, old)
    if old and new < MUCH_SMALLER * old and not replace:
        return Decision(
            "candidate",
            f"{new:,} measurements against {old:,} served (under {MUCH_SMALLER:.0%}): kept as a candidate; "
            "promote it with POST /runs/{id}/promote or rerun with replace=true",
            new,
            old,
        )
    return Decision("done", f"{new:,} measurements" + (f" (served: {old:,})" if old else ""), new, old)


__all__ = [
    "MUCH_SMALLER",
    "Decision",
    "RunOptions",
    "candidate_result",
    "decide",
    "kept_inputs",
    "measurements_of",
    "read_meta",
    "served_target",
]
