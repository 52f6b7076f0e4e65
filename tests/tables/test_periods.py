"""Periods: month names ↔ local-time bounds, where period runs are stored, and a period's run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lomsong.tables.periods import (
    PERIOD_TIMEZONE,
    PeriodError,
    list_periods,
    load_period,
    parse_period,
    period_dir,
    period_names_of,
    period_of,
    previous_stored_period,
)


def test_a_period_is_a_local_calendar_month():
    october = parse_period("2026-10")
    assert october.since == pd.Timestamp("2026-10-01 00:00", tz=PERIOD_TIMEZONE)
    assert october.until == pd.Timestamp("2026-11-01 00:00", tz=PERIOD_TIMEZONE)
    # Vietnam is UTC+7: the month starts at 17:00 UTC on the last day of the month before.
    assert october.since.tz_convert("UTC") == pd.Timestamp("2026-09-30 17:00", tz="UTC")
    december = parse_period("2026-12")
    assert december.until == pd.Timestamp("2027-01-01", tz=PERIOD_TIMEZONE)
    assert december.next().name == "2027-01" and parse_period("2027-01").previous().name == "2026-12"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "2026/10", "", "october"])
def test_malformed_period_names_are_refused_with_the_expected_form(text):
    with pytest.raises(PeriodError, match="YYYY-MM"):
        parse_period(text)


def test_times_near_the_month_boundary_fall_in_the_local_month():
    times = pd.Series(pd.to_datetime(["2026-09-30 16:59:59", "2026-09-30 17:00:00", "2026-10-31 16:59:59"], utc=True))
    assert period_names_of(times).tolist() == ["2026-09", "2026-10", "2026-10"]
    october = parse_period("2026-10")
    assert october.contains(times).tolist() == [False, True, True]
    assert period_of(times.iloc[1]).name == "2026-10"
    assert period_of("2026-10-31 23:59").name == "2026-10"  # naive = local time


def test_stored_periods_are_listed_in_order_and_only_when_finished(tmp_path):
    for name in ("2026-10", "2026-08", "2026-09"):
        folder = period_dir(name, tmp_path)
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"period": name}), encoding="utf-8")
    period_dir("2026-11", tmp_path).mkdir(parents=True)  # unfinished: no run.json
    (tmp_path / "periods" / "notes").mkdir()
    assert period_dir("2026-10", tmp_path) == tmp_path / "periods" / "2026-10"
    assert list_periods(tmp_path) == ["2026-08", "2026-09", "2026-10"]
    assert previous_stored_period("2026-10", tmp_path) == "2026-09"
    assert previous_stored_period("2026-12", tmp_path) == "2026-10"
    assert previous_stored_period("2026-08", tmp_path) is None
    assert list_periods(tmp_path / "elsewhere") == []
    with pytest.raises(PeriodError, match=r"2026-11.*stored periods: 2026-08, 2026-09, 2026-10"):
        load_period("2026-11", tmp_path)


def test_a_period_run_holds_only_that_months_measurements():
    from lomsong.testing import simulated_period_pair

    products, simulation = simulated_period_pair()
    assert list_periods(products) == ["2026-09", "2026-10"]
    times = pd.to_datetime(simulation.truth["time_utc"], utc=True)
    counted = 0
    for name in ("2026-09", "2026-10"):
        run = load_period(name, products)
        assert run.meta["period"] == name
        assert run.synthetic
        # Points outside the province are dropped by validation, so at most the month's rows.
        assert 0 < run.meta["counts"]["measurements"] <= int(parse_period(name).contains(times).sum())
        first = pd.Timestamp(run.meta["data_period"]["start"])
        last = pd.Timestamp(run.meta["data_period"]["end"])
        assert parse_period(name).since <= first and last < parse_period(name).until
        counted += run.meta["counts"]["measurements"]
        accepted = next(i for i in run.meta["inputs"] if i["role"] == "measurements")["ingest"]["accepted"]
    # The file holds exactly these two months: every accepted row is in one period, none in both.
    assert counted == accepted
