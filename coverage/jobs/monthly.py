"""The monthly job: compare two stored periods, report one, and make the demo's two months.

Orchestration over the run job (:mod:`lomsong.jobs.run`), the comparison
(:mod:`lomsong.analysis.compare`) and the report (:mod:`lomsong.products.report`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd

from lomsong.analysis.compare import Comparison
from lomsong.jobs.run import RunEvent
from lomsong.products.report.model import prepare_report, trend_table
from lomsong.products.report.render import ReportFiles, write_comparison, write_report


def compare_periods(before: str, after: str, out: str | Path | None = None) -> Comparison:
    """Load two stored periods and compare them.

    Parameters
    ----------
    before, after : str
        Period names (``YYYY-MM``); ``before`` must be earlier.
    out : str or Path, optional
        Products folder holding ``periods/``.

    Returns
    -------
    lomsong.analysis.compare.Comparison

    Raises
    ------
    lomsong.tables.periods.PeriodError
        Malformed names, the wrong order, or a period without a stored run.
    """
    from lomsong.analysis.compare import compare_runs
    from lomsong.tables.periods import PeriodError, load_period, parse_period

    first, second = parse_period(before), parse_period(after)
    if first.name >= second.name:
        raise PeriodError(f"compare {first.name} {second.name}: the first period must be the earlier one")
    return compare_runs(load_period(first, out), load_period(second, out), first.name, second.name)


def comparison_dir(before: str, after: str, out: str | Path | None = None) -> Path:
    """Return the default folder of a comparison's files: ``<out>/compare/<before>_<after>/``."""
    from lomsong import paths

    return Path(out if out is not None else paths.out_dir()) / "compare" / f"{before}_{after}"


def build_period_report(
    period: str,
    out: str | Path | None = None,
    lang: str = "vi",
    units: str = "2025",
    folder: str | Path | None = None,
    communes: gpd.GeoDataFrame | None = None,
    *,
    commitments: str | Path | None = None,
    plan_dir: str | Path | None = None,
) -> ReportFiles:
    """Make the report of a stored period, compared with the previous stored period.

    Parameters
    ----------
    period : str
        ``YYYY-MM``; its run must be stored (``lomsong run --period``).
    out : str or Path, optional
        Products folder holding ``periods/`` (default ``maps/``).
    lang : str
        ``vi`` (default) or ``en``.
    units : str
        ``2025`` (default: the new Lâm Đồng units) or ``2019`` (communes and districts of the data).
    folder : str or Path, optional
        Where to write (default ``<out>/reports/<period>/``).
    communes : geopandas.GeoDataFrame, optional
        Commune table (default: the bundled boundaries), for the map and the 2025 units.
    commitments : str or Path, optional
        A commitments file (CSV/XLSX, :mod:`lomsong.readers.commitments`): the report then shows
        each committed site and whether the gaps around it closed (:mod:`lomsong.jobs.commitments`).
    plan_dir : str or Path, optional
        The remedy plan whose sites the commitments may name (default ``<out>/plan/``).

    Returns
    -------
    ReportFiles
    """
    from lomsong import paths
    from lomsong.analysis.compare import compare_runs
    from lomsong.reference.boundaries import read_communes
    from lomsong.tables.periods import list_periods, load_period, parse_period, period_dir, previous_stored_period

    name = parse_period(period).name
    run = load_period(name, out)
    earlier = previous_stored_period(name, out)
    previous = load_period(earlier, out) if earlier else None
    comparison = compare_runs(previous, run, earlier, name) if previous is not None else None
    stored = [p for p in list_periods(out) if p <= name]
    trend = trend_table({p: period_dir(p, out) for p in stored})
    communes = communes if communes is not None else read_communes()
    report = prepare_report(
        run, name, previous=previous, comparison=comparison, trend=trend, communes=communes, lang=lang, units=units
    )
    if commitments is not None:
        from lomsong.jobs.commitments import commitments_followup
        from lomsong.products.report.commitments import commitments_section

        loaded = {name: run, **({earlier: previous} if previous is not None else {})}
        followup = commitments_followup(
            commitments, name, out=out, plan_dir=plan_dir, communes=communes, loaded=loaded
        )
        report.commitments = commitments_section(followup, lang)
    target = (
        Path(folder) if folder is not None else Path(out if out is not None else paths.out_dir()) / "reports" / name
    )
    return write_report(report, target, communes)


def _demo_plan(out: str | Path | None) -> None:
    """The demo's remedy plan (Viettel 4G, 10 sites) from the served run, so commitments can name its sites."""
    from lomsong import paths
    from lomsong.errors import LomsongError
    from lomsong.jobs.plan import run_plan

    run = Path(out) if out is not None else paths.out_dir()
    try:
        run_plan(run, operator="viettel", technology="4G", n_sites=10)
    except LomsongError:  # a served run without a radio map: the report shows the commitments without a plan
        return


@dataclass
class DemoPeriods:
    """What :func:`demo_periods` made."""

    periods: list[str]
    run_folders: list[Path]
    comparison: Comparison
    comparison_files: dict[str, Path]
    report: ReportFiles


def demo_periods(
    out: str | Path | None = None,
    periods: tuple[str, str] = ("2026-09", "2026-10"),
    lang: str = "vi",
    units: str = "2025",
    maps: bool = False,
    progress: Callable[[RunEvent], None] | None = None,
) -> DemoPeriods:
    """Make the demo's two monthly runs, their comparison and the report of the later month.

    Uses the bundled SYNTHETIC demo measurements (simulated once with
    :func:`lomsong.simulate.demo.ensure_demo_data`; new sites switch on in 2026-10, so a gap closes,
    and an outage opens another). Each month is analysed alone into ``<out>/periods/<month>/``.

    Parameters
    ----------
    out : str or Path, optional
        Products folder (default ``maps/``).
    periods : tuple of str
        The earlier and the later month.
    lang, units : str
        Report language and units.
    maps : bool
        Also build each period's interactive maps (slower).
    progress : callable, optional
        Called with each run's :class:`lomsong.jobs.run.RunEvent` s.

    Returns
    -------
    DemoPeriods
    """
    from lomsong.jobs.run import run_analysis
    from lomsong.simulate.commitments import ensure_demo_commitments
    from lomsong.simulate.demo import ensure_demo_data

    ensure_demo_data()
    commitments = ensure_demo_commitments()
    folders = []
    for name in periods:  # two months
        summary = run_analysis(out=out, period=name, progress=progress, maps=maps)
        folders.append(summary.out)
    comparison = compare_periods(periods[0], periods[1], out)
    files = write_comparison(comparison, comparison_dir(periods[0], periods[1], out))
    _demo_plan(out)
    report = build_period_report(periods[1], out=out, lang=lang, units=units, commitments=commitments)
    return DemoPeriods(list(periods), folders, comparison, files, report)
