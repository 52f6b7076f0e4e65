"""Validation: pure functions on frames; every lost row or value has a documented reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lomsong.readers import validate
from lomsong.tables.measurements import MEASUREMENT_COLUMNS

NOW = pd.Timestamp("2026-11-01", tz="UTC")


def _frame(**columns) -> pd.DataFrame:
    """A parsed frame of n valid 4G Viettel samples in Gia Nghĩa, with some columns overridden."""
    n = len(next(iter(columns.values()))) if columns else 1
    base = {
        "time": pd.Series(pd.Timestamp("2026-06-01 01:00", tz="UTC") + pd.to_timedelta(np.arange(n), "min")),
        "lon": np.full(n, 107.69),
        "lat": np.linspace(12.0, 12.01, n),
        "operator": pd.Series(["viettel"] * n, dtype="string"),
        "plmn": pd.Series(["45204"] * n, dtype="string"),
        "technology": pd.Series(["4G"] * n, dtype="string"),
        "signal_dbm": np.full(n, -100.0),
        "no_service": np.zeros(n, bool),
        "source_row": np.arange(2, n + 2),
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_signal_ranges_per_technology_at_their_bounds():
    technology = pd.Series(["2G", "2G", "3G", "3G", "4G", "4G", "5G", "5G", "4G", "4G"], dtype="string")
    signal = np.array([-113, -112.5 - 1, -120, -24.5, -140, -43, -156, -30, -44, -140.5])
    outcome = validate.validate_measurements(_frame(technology=technology, signal_dbm=signal), now=NOW)
    # accepted: -113 (2G), -120 (3G), -140 (4G), -156 (5G), -44 (4G); the rest are impossible
    assert sorted(outcome.accepted["signal_dbm"]) == sorted([-113.0, -120.0, -140.0, -156.0, -44.0])
    assert outcome.rejected == {"signal_out_of_range": 5}


@pytest.mark.parametrize("sentinel", [-200.0, -999.0, 0.0, 2147483647.0, -2147483648.0])
def test_sentinels_are_not_signals(sentinel):
    outcome = validate.validate_measurements(_frame(signal_dbm=np.array([sentinel, -100.0])), now=NOW)
    assert outcome.rejected == {"signal_sentinel": 1} and outcome.examples["signal_sentinel"] == [2]


def test_bad_signal_row_with_throughput_keeps_its_throughput():
    frame = _frame(signal_dbm=np.array([-999.0, -10.0]), dl_kbps=np.array([5000.0, 7000.0]))
    outcome = validate.validate_measurements(frame, now=NOW)
    assert outcome.rejected == {}
    assert outcome.values_rejected == {"signal_sentinel": 1, "signal_out_of_range": 1}
    assert outcome.accepted["signal_dbm"].isna().all() and outcome.accepted["dl_kbps"].tolist() == [5000, 7000]


def test_quality_ranges_depend_on_technology():
    technology = pd.Series(["3G", "3G", "4G", "4G", "2G"], dtype="string")
    signal = np.array([-90.0, -90.0, -100.0, -100.0, -80.0])
    quality = np.array([-24.0, -25.0, -3.0, -2.0, 5.0])
    outcome = validate.validate_measurements(
        _frame(technology=technology, signal_dbm=signal, quality_db=quality), now=NOW
    )
    assert outcome.values_rejected == {"quality_out_of_range": 3}
    assert outcome.accepted["quality_db"].isna().tolist() == [False, True, False, True, True]
    assert len(outcome.accepted) == 5  # a bad optional value never costs the row


def test_no_service_needs_no_signal_or_technology():
    frame = _frame(
        technology=pd.Series([None, None], dtype="string"),
        signal_dbm=np.array([np.nan, -120.0]),
        no_service=np.array([True, True]),
    )
    outcome = validate.validate_measurements(frame, now=NOW)
    assert outcome.no_service == 2 and len(outcome.accepted) == 2
    assert outcome.values_rejected == {"signal_on_no_service": 1}
    assert outcome.accepted["signal_dbm"].isna().all()


def test_swapped_coordinates_are_fixed_when_the_swap_lands_in_the_area():
    lon = np.array([12.0, 107.69, 45.0, 14.66])
    lat = np.array([107.69, 12.0, 120.0, -17.43])
    fixed_lon, fixed_lat, swapped = validate.fix_swapped_coordinates(lon, lat, validate.VIETNAM_BBOX)
    # swapped into Vietnam; already right; only valid when swapped (|lat| > 90); Senegal stays as is
    assert swapped.tolist() == [True, False, True, False]
    assert fixed_lon.tolist() == [107.69, 107.69, 120.0, 14.66]
    assert fixed_lat.tolist() == [12.0, 12.0, 45.0, -17.43]


def test_time_bounds_relative_to_now():
    times = pd.Series(
        pd.to_datetime(["1999-12-31 23:59", "2000-01-01 00:00", "2026-11-01 23:00", "2026-11-02 01:00"], utc=True)
    )
    outcome = validate.validate_measurements(_frame(time=times), now=NOW)
    assert outcome.rejected == {"time_before_2000": 1, "time_in_future": 1}
    assert outcome.examples == {"time_before_2000": [2], "time_in_future": [5]}


def test_duplicates_use_the_record_key_and_only_count_later_copies():
    frame = _frame(_key=np.array([1, 2, 1, 1], dtype=np.uint64), lat=np.full(4, 12.0))
    outcome = validate.validate_measurements(frame, now=NOW)
    assert outcome.rejected == {"duplicate_row": 2} and outcome.examples["duplicate_row"] == [4, 5]


def test_duplicates_without_key_compare_canonical_values():
    frame = _frame(time=pd.Series(pd.to_datetime(["2026-06-01"] * 3, utc=True)), lat=np.full(3, 12.0))
    frame.loc[2, "signal_dbm"] = -101
    assert validate.validate_measurements(frame, now=NOW).rejected == {"duplicate_row": 1}


def test_outside_province_is_counted_not_rejected(communes):
    frame = _frame(lon=np.array([107.69, 105.85]), lat=np.array([12.0, 21.03]))
    outcome = validate.validate_measurements(frame, communes=communes, now=NOW)
    assert outcome.rejected == {} and outcome.outside_province == 1 and len(outcome.accepted) == 1
    assert outcome.examples["outside_province"] == [3]


def test_invariant_and_canonical_output_on_random_junk():
    rng = np.random.default_rng(3)
    n = 2000
    frame = _frame(
        lon=rng.choice([107.69, 0.0, np.nan, 200.0, 12.0], n),
        lat=rng.choice([12.0, 0.0, np.nan, 107.69], n),
        technology=pd.Series(rng.choice(["2G", "3G", "4G", "5G", None], n), dtype="string"),
        signal_dbm=rng.choice([-100.0, -30.0, -999.0, np.nan, -60.0], n),
        quality_db=rng.choice([-10.0, -40.0, np.nan], n),
        no_service=rng.random(n) < 0.1,
        latency_ms=rng.choice([np.nan, 30.0, -1.0], n),
    )
    outcome = validate.validate_measurements(frame, now=NOW)
    assert outcome.rows_read == n == len(outcome.accepted) + outcome.outside_province + sum(outcome.rejected.values())
    assert list(outcome.accepted.columns) == MEASUREMENT_COLUMNS
    assert set(outcome.rejected) <= set(validate.ROW_REASON_CODES)
    assert set(outcome.values_rejected) <= {code for code, _ in validate.VALUE_REASONS}
    accepted = outcome.accepted
    assert accepted["lon"].between(-180, 180).all() and accepted["lat"].between(-90, 90).all()
    assert not ((accepted["lon"] == 0) & (accepted["lat"] == 0)).any()
    measured = accepted["signal_dbm"].notna() | accepted["latency_ms"].notna() | accepted["no_service"]
    assert measured.all()


def test_every_reason_is_documented():
    codes = [code for code, _ in validate.ROW_REASONS]
    assert len(codes) == len(set(codes)) >= 17
    assert all(meaning for _, meaning in [*validate.ROW_REASONS, *validate.VALUE_REASONS, *validate.CORRECTIONS])
