"""Thresholds and the evidence rule, checked on hand-made (synthetic) measurements."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from lomsong.analysis.engine import analyse
from lomsong.analysis.evidence import (
    COVERED,
    INSUFFICIENT,
    NO_DATA,
    WEAK,
    all_states,
    sample_evidence,
    technology_states,
)
from lomsong.settings import Config
from lomsong.testing import samples_in_cell

CELL = h3.latlng_to_cell(12.30, 107.90, 8)  # inside Đắk Nông
OTHER = h3.latlng_to_cell(12.00, 107.60, 8)
STRONG, WEAK_4G = -80.0, -120.0


def state_of(analysis, operator, technology, cell=CELL):
    row = analysis.cells[
        (analysis.cells["h3"] == cell)
        & (analysis.cells["operator"] == operator)
        & (analysis.cells["technology"] == technology)
    ]
    assert len(row) == 1, (operator, technology, cell)
    return row.iloc[0]


@pytest.fixture
def run(communes, population_surface):
    def _run(*frames, config=None):
        return analyse(pd.concat(frames, ignore_index=True), communes, population_surface, config or Config())

    return _run


def test_sample_rules_follow_the_thresholds():
    config = Config()
    technology = np.array([2, 2, 1, 0, -1, -1, -1, 3])
    signal = np.array([-111, -109, -101, -99, np.nan, np.nan, -90, np.nan])
    dl = np.array([np.nan] * 4 + [4000, np.nan, np.nan, np.nan])
    no_service = np.array([False, False, False, False, False, True, False, False])
    weak, usable = sample_evidence(technology, signal.astype(float), dl.astype(float), no_service, config)
    assert list(weak) == [True, False, True, False, True, True, False, False]
    # a signal without technology, or a row with nothing measured, is not evidence
    assert list(usable) == [True, True, True, True, True, True, False, False]


def test_state_codes_follow_the_evidence_rule():
    config = Config()
    n = np.array([0, 4, 5, 5, 5, 10])
    d = np.array([0, 2, 1, 2, 2, 3])
    w = np.array([0, 0, 0, 0, 5, 5])
    assert list(technology_states(n, d, w, config)) == [NO_DATA, INSUFFICIENT, INSUFFICIENT, COVERED, WEAK, COVERED]
    operators = np.array([[COVERED, WEAK, NO_DATA], [WEAK, INSUFFICIENT, NO_DATA]])
    assert list(all_states(operators, np.array([5, 5, 0]))) == [COVERED, WEAK, NO_DATA]


def test_one_operator_covered_makes_the_all_view_covered(run):
    analysis = run(
        samples_in_cell(CELL, "viettel", "4G", STRONG, 6),
        samples_in_cell(CELL, "vinaphone", "4G", WEAK_4G, 6),
    )
    assert state_of(analysis, "viettel", "4G").state == "covered"
    assert state_of(analysis, "vinaphone", "4G").state == "weak"
    assert state_of(analysis, "vinaphone", "any").state == "weak"
    assert state_of(analysis, "all", "any").state == "covered"
    assert state_of(analysis, "all", "any").samples_needed == 0


def test_all_view_weak_when_no_operator_covers_and_the_evidence_says_so(run):
    analysis = run(
        samples_in_cell(CELL, "viettel", "4G", WEAK_4G, 6),
        samples_in_cell(CELL, "mobifone", "3G", -105.0, 5),
    )
    row = state_of(analysis, "all", "any")
    assert row.state == "weak"
    assert row.n_samples == 11
    gap = analysis.gaps[analysis.gaps["gap_id"] == row.gap_id].iloc[0]
    assert gap.evidence == "confirmed"  # both operators seen in the data were tested here
    assert gap.n_samples == 11 and gap.n_devices == 2


def test_untested_operator_leaves_the_gap_likely_and_needs_samples(run):
    analysis = run(
        samples_in_cell(CELL, "viettel", "4G", WEAK_4G, 6),
        samples_in_cell(OTHER, "vinaphone", "4G", STRONG, 6),  # vinaphone seen elsewhere only
    )
    row = state_of(analysis, "all", "any")
    assert row.state == "weak"  # an operator with no data neither covers nor counts
    assert (row.samples_needed, row.devices_needed) == (5, 2)  # vinaphone still to test here
    gap = analysis.gaps[analysis.gaps["gap_id"] == row.gap_id].iloc[0]
    assert gap.evidence == "likely"
    assert state_of(analysis, "vinaphone", "4G").state == "no_data"


def test_every_operator_tested_over_the_gap_confirms_it(run):
    neighbour = sorted(h3.grid_ring(CELL, 1))[0]
    analysis = run(
        samples_in_cell(CELL, "viettel", "4G", WEAK_4G, 6),
        samples_in_cell(neighbour, "viettel", "4G", WEAK_4G, 6),
        # three vinaphone samples in each cell: too few for either cell, enough for the gap
        samples_in_cell(CELL, "vinaphone", "4G", WEAK_4G, 3),
        samples_in_cell(neighbour, "vinaphone", "4G", WEAK_4G, 3),
    )
    assert state_of(analysis, "vinaphone", "4G").state == "insufficient"
    row = state_of(analysis, "all", "any")
    gap = analysis.gaps[analysis.gaps["gap_id"] == row.gap_id].iloc[0]
    assert gap.n_cells == 2
    assert gap.evidence == "confirmed"
    # the cell-level plan still asks for vinaphone samples in each cell
    assert row.samples_needed == 2


def test_below_the_rule_is_insufficient_with_what_is_missing(run):
    analysis = run(
        samples_in_cell(CELL, "viettel", "4G", WEAK_4G, 4, devices=2),
        samples_in_cell(OTHER, "viettel", "4G", WEAK_4G, 7, devices=1),
    )
    row = state_of(analysis, "viettel", "4G")
    assert (row.state, row.samples_needed, row.devices_needed) == ("insufficient", 1, 0)
    other = state_of(analysis, "viettel", "4G", OTHER)
    assert (other.state, other.samples_needed, other.devices_needed) == ("insufficient", 0, 1)
    assert state_of(analysis, "all", "any").state == "insufficient"
    assert len(analysis.gaps) == 0
    # the measurement plan lists the populated, undecided cells with the operators to test
    plan = analysis.campaign.set_index("h3")
    assert plan.loc[CELL, "operators_to_test"] == "viettel"
    assert plan.loc[CELL, "samples_needed"] == 1


def test_no_service_without_technology_counts_against_every_technology(run):
    analysis = run(
        samples_in_cell(CELL, "viettel", None, np.nan, 6, no_service=True),
        samples_in_cell(OTHER, "viettel", "3G", STRONG, 6),
        samples_in_cell(OTHER, "viettel", "4G", STRONG, 6),
    )
    for technology in ("3G", "4G", "any"):
        row = state_of(analysis, "viettel", technology)
        assert (row.state, row.n_samples, row.no_service_share) == ("weak", 6, 1.0)
    assert state_of(analysis, "all", "any").n_samples == 6  # counted once, not per technology


def test_operator_is_covered_when_any_technology_covers(run):
    analysis = run(
        samples_in_cell(CELL, "viettel", "4G", WEAK_4G, 6),
        samples_in_cell(CELL, "viettel", "3G", -90.0, 6),
    )
    assert state_of(analysis, "viettel", "4G").state == "weak"
    assert state_of(analysis, "viettel", "3G").state == "covered"
    assert state_of(analysis, "viettel", "any").state == "covered"
    assert state_of(analysis, "all", "any").state == "covered"


def test_pooled_technologies_can_settle_the_operator_view(run):
    # 3 strong 4G and 3 strong 3G samples: neither technology meets the rule, together they do
    analysis = run(
        samples_in_cell(CELL, "viettel", "4G", STRONG, 3),
        samples_in_cell(CELL, "viettel", "3G", -90.0, 3),
    )
    assert state_of(analysis, "viettel", "4G").state == "insufficient"
    assert state_of(analysis, "viettel", "any").state == "covered"


def test_speed_only_samples_use_the_speed_threshold(run):
    analysis = run(
        samples_in_cell(CELL, "viettel", "4G", np.nan, 6, dl_kbps=1000),
        samples_in_cell(OTHER, "viettel", "4G", np.nan, 6, dl_kbps=20000),
    )
    assert state_of(analysis, "viettel", "4G").state == "weak"
    assert state_of(analysis, "viettel", "4G", OTHER).state == "covered"


def test_thresholds_come_from_the_configuration(run):
    frame = samples_in_cell(CELL, "viettel", "4G", -105.0, 6)
    assert state_of(run(frame), "viettel", "4G").state == "covered"
    assert state_of(run(frame, config=Config(thresholds={"4G": -100})), "viettel", "4G").state == "weak"


def test_foreign_networks_do_not_take_part_in_the_all_view(run):
    analysis = run(
        samples_in_cell(CELL, "plmn:45606", "4G", STRONG, 6),
        samples_in_cell(CELL, "viettel", "4G", WEAK_4G, 6),
    )
    assert state_of(analysis, "plmn:45606", "4G").state == "covered"
    row = state_of(analysis, "all", "any")
    assert (row.state, row.n_samples) == ("weak", 6)
    assert analysis.operators == ["viettel", "plmn:45606"]
