"""Per cell × view statistics: counts, devices, local days, percentiles, memberships."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from lomsong.analysis.aggregate import build_views, cell_statistics, memberships, prepare_samples
from lomsong.analysis.grid import build_grid
from lomsong.settings import Config
from lomsong.testing import samples_in_cell

CELL = h3.latlng_to_cell(12.30, 107.90, 8)
OTHER = h3.latlng_to_cell(12.00, 107.60, 8)


@pytest.fixture(scope="module")
def grid(communes, population_surface):
    return build_grid(communes, population_surface, 8)


def stats_for(statistics, grid, operator, technology, cell=CELL):
    views = statistics.views
    view = views[(views["operator"] == operator) & (views["technology"] == technology)]["view"].iloc[0]
    position = grid.positions(np.array([h3.str_to_int(cell)], dtype="uint64"))[0]
    table = statistics.table
    return table[(table["view"] == view) & (table["cell"] == position)].iloc[0]


def test_statistics_match_a_direct_computation(grid):
    rng = np.random.default_rng(3)
    signals = rng.normal(-100, 8, 40)
    frame = samples_in_cell(CELL, "viettel", "4G", list(signals), 40, devices=3)
    frame.loc[[0, 1], "no_service"] = True
    frame.loc[[0, 1], "signal_dbm"] = np.nan
    frame["dl_kbps"] = np.where(np.arange(40) % 2 == 0, rng.uniform(1000, 30000, 40), np.nan)
    samples = prepare_samples(frame, grid, Config())
    statistics = cell_statistics(samples, len(grid.cells))
    row = stats_for(statistics, grid, "viettel", "4G")
    measured = frame["signal_dbm"].dropna().to_numpy()
    assert row.n_samples == 40
    assert row.n_devices == 3
    assert row.n_no_service == 2
    assert row.no_service_share == pytest.approx(2 / 40)
    assert row.median_signal_dbm == pytest.approx(np.median(measured))
    assert row.p10_signal_dbm == pytest.approx(np.quantile(measured, 0.1))
    assert row.median_dl_kbps == pytest.approx(np.nanmedian(frame["dl_kbps"]))
    weak = frame["no_service"] | (frame["signal_dbm"] < -110)
    assert row.n_weak == int(weak.sum())


def test_days_are_local_days(grid):
    # 40 hourly samples from 16:30 UTC: local (UTC+7) dates 2024-05-01 23:30 … 2024-05-03 14:30
    frame = samples_in_cell(CELL, "viettel", "4G", -90.0, 40, start="2024-05-01T16:30:00Z")
    statistics = cell_statistics(prepare_samples(frame, grid, Config()), len(grid.cells))
    row = stats_for(statistics, grid, "viettel", "4G")
    assert (row.first_date, row.last_date, row.n_days) == ("2024-05-01", "2024-05-03", 3)


def test_views_and_memberships(grid):
    frame = pd.concat(
        [
            samples_in_cell(CELL, "mobifone", "3G", -90.0, 2),
            samples_in_cell(CELL, "viettel", "4G", -90.0, 3),
            samples_in_cell(CELL, "viettel", "2G", -90.0, 1),
            samples_in_cell(CELL, "viettel", None, np.nan, 2, no_service=True),
            samples_in_cell(CELL, "plmn:45606", "4G", -90.0, 1),
        ],
        ignore_index=True,
    )
    samples = prepare_samples(frame, grid, Config())
    views = build_views(samples)
    names = list(zip(views["operator"], views["technology"], strict=True))
    assert names == [
        ("viettel", "2G"),
        ("viettel", "4G"),
        ("viettel", "any"),
        ("mobifone", "3G"),
        ("mobifone", "any"),
        ("plmn:45606", "4G"),
        ("plmn:45606", "any"),
        ("all", "any"),
    ]
    sample, view = memberships(samples, views)
    per_view = pd.Series(view).value_counts().reindex(views["view"]).fillna(0).astype(int).tolist()
    # viettel 2G: 1 + 2 no-service, 4G: 3 + 2, any: 6; mobifone 2, 2; foreign 1, 1; all: 8 (no foreign)
    assert per_view == [3, 5, 6, 2, 2, 1, 1, 8]
    assert len(sample) == len(view)


def test_rows_outside_or_without_evidence_are_counted_not_used(grid):
    frame = pd.concat(
        [
            samples_in_cell(CELL, "viettel", "4G", -90.0, 3),
            samples_in_cell(h3.latlng_to_cell(21.0, 105.8, 8), "viettel", "4G", -90.0, 2),  # Hà Nội
            samples_in_cell(CELL, "viettel", None, -90.0, 1),  # signal without technology
        ],
        ignore_index=True,
    )
    frame.loc[len(frame)] = frame.iloc[0]
    frame.loc[len(frame) - 1, "operator"] = pd.NA
    frame.loc[len(frame)] = frame.iloc[0]
    frame.loc[len(frame) - 1, ["lon", "lat"]] = np.nan
    samples = prepare_samples(frame, grid, Config())
    assert samples.counts == {
        "measurements": 8,
        "measurements_used": 3,
        "measurements_outside_grid": 3,
        "measurements_without_operator": 1,
        "measurements_without_evidence": 1,
    }


def test_partial_tables_are_conformed(grid):
    frame = samples_in_cell(CELL, "viettel", "4G", -90.0, 5)[
        ["time", "lon", "lat", "operator", "technology", "signal_dbm", "device_id"]
    ]
    samples = prepare_samples(frame, grid, Config())
    assert len(samples) == 5


def _mixed_measurements(rng: np.random.Generator) -> pd.DataFrame:
    """Several operators (one foreign), technologies, no-service and speed-only samples in two cells."""
    parts = []
    for cell in (CELL, OTHER):
        for operator, technology in [
            ("viettel", "4G"),
            ("viettel", "2G"),
            ("viettel", None),
            ("mobifone", "3G"),
            ("mobifone", None),
            ("plmn:45606", "4G"),
        ]:
            n = int(rng.integers(5, 30))
            signals = list(rng.integers(-125, -60, n).astype(float))
            part = samples_in_cell(cell, operator, technology, signals, n, devices=int(rng.integers(1, 6)))
            part["time"] = part["time"] + pd.to_timedelta(rng.integers(0, 24 * 40, n), unit="h")
            if technology is None:  # no-service samples and speed-only samples of unknown technology
                part["no_service"] = rng.random(n) < 0.5
                part["signal_dbm"] = np.nan
            part["dl_kbps"] = np.where(rng.random(n) < 0.4, rng.integers(50, 40_000, n), np.nan)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("dense", [True, False])
def test_cell_statistics_equal_statistics_over_memberships(grid, monkeypatch, dense):
    # The base-group tables (dense) and the membership fallback must both give what the definition
    # gives: group_statistics over every (sample, view) membership.
    import lomsong.analysis.aggregate as aggregate

    if not dense:
        monkeypatch.setattr(aggregate, "_PRESENCE_LIMIT", 0)
        monkeypatch.setattr(aggregate, "_HISTOGRAM_LIMIT", 0)
    frame = _mixed_measurements(np.random.default_rng(11))
    samples = prepare_samples(frame, grid, Config())
    n_cells = len(grid.cells)
    statistics = cell_statistics(samples, n_cells)
    sample, view = memberships(samples, statistics.views)
    keys, group = np.unique(view * n_cells + samples.cell[sample], return_inverse=True)
    expected = aggregate.group_statistics(group.ravel(), sample, samples, len(keys))
    np.testing.assert_array_equal(statistics.key, keys)
    pd.testing.assert_frame_equal(statistics.table.drop(columns=["view", "cell"]), expected)


def test_categorical_columns_give_the_same_samples(grid):
    # A store read with Parquet dictionaries hands the text columns over as categoricals.
    frame = _mixed_measurements(np.random.default_rng(5))
    as_text = prepare_samples(frame, grid, Config())
    categorical = frame.astype({c: "category" for c in ("operator", "technology", "device_id")})
    as_codes = prepare_samples(categorical[list(reversed(categorical.columns))], grid, Config())
    assert as_codes.operators == as_text.operators
    for name in ("cell", "operator", "technology", "weak", "no_service", "day"):
        np.testing.assert_array_equal(getattr(as_codes, name), getattr(as_text, name))
    # device codes may differ; the devices they name must not
    pairs = set(zip(as_codes.device.tolist(), as_text.device.tolist(), strict=True))
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_cell_ids_found_before_give_the_same_samples(grid):
    """The run indexes the rows while it reads them: looking those cells up is locating the points."""
    from lomsong.analysis.grid import index_points

    frame = _mixed_measurements(np.random.default_rng(7))
    frame.loc[3, ["lon", "lat"]] = [np.nan, np.nan]  # no position: no cell (0), outside the grid
    frame.loc[4, ["lon", "lat"]] = [105.0, 21.0]  # a cell of another province
    located = prepare_samples(frame, grid, Config())
    given = prepare_samples(frame, grid, Config(), cell_ids=index_points(frame["lon"], frame["lat"], 8))
    for name in ("cell", "operator", "technology", "weak", "device", "day", "rows"):
        np.testing.assert_array_equal(getattr(given, name), getattr(located, name))
    assert given.counts == located.counts and located.counts["measurements_outside_grid"] >= 2
    with pytest.raises(ValueError, match="cell ids for"):
        prepare_samples(frame, grid, Config(), cell_ids=np.zeros(3, "uint64"))
