"""Reporting periods: calendar months named ``YYYY-MM`` and where their runs are kept.

A period is one calendar month in Vietnam's time zone (Asia/Ho_Chi_Minh, UTC+7, no daylight
saving): ``2026-10`` holds the measurements taken from 2026-10-01 00:00 to 2026-11-01 00:00
local time, the end excluded. Its run is a full run folder (the :mod:`lomsong.tables.results`
layout) under ``<out>/periods/<period>/``, so runs of different months sit side by side and
:func:`lomsong.tables.results.load_run` reads any of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lomsong import paths
from lomsong.errors import PeriodError
from lomsong.tables.results import RUN_JSON, RunResults, load_run

#: Time zone the months are cut in (the phones' and the province's local time).
PERIOD_TIMEZONE = "Asia/Ho_Chi_Minh"
#: Sub-folder of the products folder holding one run folder per period.
PERIODS_FOLDER = "periods"

_PERIOD_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")



@dataclass(frozen=True)
class Period:
    """One calendar month in Asia/Ho_Chi_Minh.

    Attributes
    ----------
    name : str
        ``YYYY-MM``.
    since : pandas.Timestamp
        First instant of the month, local time (time-zone aware), included.
    until : pandas.Timestamp
        First instant of the next month, local time (time-zone aware), excluded.
    """

    name: str
    since: pd.Timestamp
    until: pd.Timestamp

    def contains(self, times: pd.Series) -> pd.Series:
        """Return which of ``times`` (time-zone aware) fall in the period (half-open month)."""
        return (times >= self.since) & (times < self.until)

    def previous(self) -> Period:
        """Return the calendar month before this one."""
        return period_of(self.since - pd.Timedelta(days=1))

    def next(self) -> Period:
        """Return the calendar month after this one."""
        return period_of(self.until)

    def __str__(self) -> str:
        return self.name


def parse_period(text: str | Period) -> Period:
    """Parse a period name ``YYYY-MM`` into its local-time bounds.

    Parameters
    ----------
    text : str or Period
        Period name such as ``2026-10`` (a :class:`Period` is returned unchanged).

    Returns
    -------
    Period

    Raises
    ------
    PeriodError
        When the text is not ``YYYY-MM`` with a month 01 to 12.
    """
    if isinstance(text, Period):
        return text
    match = _PERIOD_PATTERN.match(str(text).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise PeriodError(f"period {text!r}: expected a month written YYYY-MM, e.g. 2026-10")
    since = pd.Timestamp(year=int(match.group(1)), month=int(match.group(2)), day=1, tz=PERIOD_TIMEZONE)
    until = since + pd.offsets.MonthBegin(1)
    return Period(name=match.group(0), since=since, until=until)


def period_of(moment: pd.Timestamp | str) -> Period:
    """Return the period holding a moment (naive moments are taken as local time).

    Parameters
    ----------
    moment : pandas.Timestamp or str
        Any time.

    Returns
    -------
    Period
    """
    moment = pd.Timestamp(moment)
    moment = moment.tz_localize(PERIOD_TIMEZONE) if moment.tzinfo is None else moment.tz_convert(PERIOD_TIMEZONE)
    return parse_period(f"{moment.year:04d}-{moment.month:02d}")


def period_names_of(times: pd.Series) -> pd.Series:
    """Return the period name of each time (vectorised; time-zone aware input, UTC or other).

    Parameters
    ----------
    times : pandas.Series
        Time-zone aware datetimes, e.g. the ``time`` column of the measurement table.

    Returns
    -------
    pandas.Series
        ``YYYY-MM`` strings, same index.
    """
    return times.dt.tz_convert(PERIOD_TIMEZONE).dt.strftime("%Y-%m")


def periods_root(out: str | Path | None = None) -> Path:
    """Return the folder holding one run folder per period (``<out>/periods``).

    Parameters
    ----------
    out : str or Path, optional
        Products folder; default :func:`lomsong.paths.out_dir`.
    """
    return Path(out if out is not None else paths.out_dir()) / PERIODS_FOLDER


def period_dir(period: str | Period, out: str | Path | None = None) -> Path:
    """Return where a period's run is stored: ``<out>/periods/<YYYY-MM>/``.

    Parameters
    ----------
    period : str or Period
        Period name.
    out : str or Path, optional
        Products folder; default :func:`lomsong.paths.out_dir`.
    """
    return periods_root(out) / parse_period(period).name


def list_periods(out: str | Path | None = None) -> list[str]:
    """Return the names of the stored periods (those with a finished run), oldest first.

    Parameters
    ----------
    out : str or Path, optional
        Products folder; default :func:`lomsong.paths.out_dir`.

    Returns
    -------
    list of str
    """
    root = periods_root(out)
    if not root.is_dir():
        return []
    names = [p.name for p in root.iterdir() if _PERIOD_PATTERN.match(p.name) and (p / RUN_JSON).exists()]
    return sorted(names)


def previous_stored_period(period: str | Period, out: str | Path | None = None) -> str | None:
    """Return the latest stored period before ``period``, or None when there is none.

    Parameters
    ----------
    period : str or Period
        The period of interest (need not be stored itself).
    out : str or Path, optional
        Products folder.
    """
    name = parse_period(period).name
    earlier = [p for p in list_periods(out) if p < name]
    return earlier[-1] if earlier else None


def load_period(period: str | Period, out: str | Path | None = None) -> RunResults:
    """Load a stored period's run.

    Parameters
    ----------
    period : str or Period
        Period name.
    out : str or Path, optional
        Products folder.

    Returns
    -------
    lomsong.tables.results.RunResults

    Raises
    ------
    PeriodError
        When the period has no finished run; the message lists the stored periods.
    """
    folder = period_dir(period, out)
    if not (folder / RUN_JSON).exists():
        stored = list_periods(out)
        listing = ", ".join(stored) if stored else "none"
        raise PeriodError(
            f"period {parse_period(period).name}: no run stored in {folder} (stored periods: {listing}); "
            f"run `lomsong run --period {parse_period(period).name}` first"
        )
    return load_run(folder)
