"""Thresholds and the evidence rule: which samples are weak, and each cell's state per view.

The thresholds and the rule come from :class:`lomsong.settings.Config` (their defaults and
sources are documented there). Rules, applied as whole-array operations:

Samples
    A sample is *weak* when the phone had no service, or its signal is below the threshold of
    its technology, or (speed-only sources, no signal) its download speed is below the speed
    threshold. A sample with neither a no-service flag, nor a signal with a known technology,
    nor a download speed says nothing about coverage and is not counted.

Operator × technology views
    ``no_data`` without samples; ``insufficient`` below the evidence rule (fewer than
    ``min_samples`` samples or ``min_devices`` devices); else ``covered`` when at least
    ``covered_share`` of the samples are not weak, ``weak`` otherwise.

Operator views (technology ``any``)
    ``covered`` when any technology view of the operator is covered, or when the operator's
    samples pooled over its technologies meet the rule and at least ``covered_share`` of them are
    not weak; ``weak`` when not covered and the pooled samples meet the rule; else
    ``insufficient`` / ``no_data``.

The ``all`` view (vùng lõm sóng)
    ``covered`` when any operator's ``any`` view is covered; ``weak`` when none is and at least
    one operator is weak with enough evidence; ``insufficient`` when some operator has samples but
    neither holds; ``no_data`` otherwise. An operator without samples in the cell neither covers it
    nor counts as evidence. Only Vietnamese operators (:data:`lomsong.operators.OPERATOR_IDS`) take
    part: a foreign network (``plmn:…``, e.g. roaming near the border) does not serve residents.

Evidence still needed
    ``samples_needed`` = max(0, min_samples − samples), ``devices_needed`` = max(0, min_devices −
    devices) in operator views. In the ``all`` view they are 0 for a covered cell, else the largest
    shortfall among the operators seen anywhere in the province's data: measuring that much more
    with every one of them settles the cell and tests every operator there.
"""

from __future__ import annotations

import numpy as np

from lomsong.settings import TECHNOLOGIES, Config

#: Cell states, in the order of their integer codes.
STATES = ["no_data", "insufficient", "covered", "weak"]
NO_DATA, INSUFFICIENT, COVERED, WEAK = range(4)


def sample_evidence(
    technology: np.ndarray,
    signal_dbm: np.ndarray,
    dl_kbps: np.ndarray,
    no_service: np.ndarray,
    config: Config,
) -> tuple[np.ndarray, np.ndarray]:
    """Classify samples as weak or not, and say which ones are evidence at all.

    Parameters
    ----------
    technology : numpy.ndarray
        Technology code per sample: index into :data:`lomsong.settings.TECHNOLOGIES`, -1 unknown.
    signal_dbm, dl_kbps : numpy.ndarray
        Signal level and download speed (NaN when missing).
    no_service : numpy.ndarray
        Boolean no-service flag.
    config : Config
        Thresholds.

    Returns
    -------
    tuple of numpy.ndarray
        ``(weak, usable)`` booleans.
    """
    thresholds = np.array([config.thresholds[t] for t in TECHNOLOGIES] + [np.nan])
    threshold = thresholds[np.where(technology >= 0, technology, len(TECHNOLOGIES))]
    has_signal = np.isfinite(signal_dbm) & (technology >= 0)
    speed_only = ~np.isfinite(signal_dbm) & np.isfinite(dl_kbps)
    weak = (
        no_service
        | (has_signal & (signal_dbm < np.where(has_signal, threshold, 0)))
        | (speed_only & (dl_kbps < config.speed_threshold_kbps))
    )
    usable = no_service | has_signal | speed_only
    return weak & usable, usable


def sufficient(n_samples: np.ndarray, n_devices: np.ndarray, config: Config) -> np.ndarray:
    """Return True where the evidence rule is met."""
    return (n_samples >= config.min_samples) & (n_devices >= config.min_devices)


def technology_states(n_samples: np.ndarray, n_devices: np.ndarray, n_weak: np.ndarray, config: Config) -> np.ndarray:
    """Return the state code of operator × technology view cells (arrays of any shape)."""
    enough = sufficient(n_samples, n_devices, config)
    covered = enough & ((n_samples - n_weak) >= config.covered_share * n_samples)
    state = np.where(n_samples > 0, INSUFFICIENT, NO_DATA)
    state = np.where(enough, np.where(covered, COVERED, WEAK), state)
    return state.astype("int8")


def operator_states(
    technology_state: np.ndarray,
    n_samples: np.ndarray,
    n_devices: np.ndarray,
    n_weak: np.ndarray,
    config: Config,
) -> np.ndarray:
    """Return the state of an operator's ``any`` view.

    Parameters
    ----------
    technology_state : numpy.ndarray
        ``(n_technologies, n_cells)`` states of the operator's technology views (may have 0 rows).
    n_samples, n_devices, n_weak : numpy.ndarray
        ``(n_cells,)`` pooled counts over all the operator's samples.
    config : Config
        Evidence rule.

    Returns
    -------
    numpy.ndarray
        ``(n_cells,)`` state codes.
    """
    pooled = technology_states(n_samples, n_devices, n_weak, config)
    any_covered = (technology_state == COVERED).any(axis=0) if len(technology_state) else False
    return np.where(any_covered, COVERED, pooled).astype("int8")


def all_states(operator_state: np.ndarray, n_samples: np.ndarray) -> np.ndarray:
    """Return the state of the ``all`` view from the ``(n_operators, n_cells)`` operator states."""
    if len(operator_state) == 0:
        return np.where(n_samples > 0, INSUFFICIENT, NO_DATA).astype("int8")
    covered = (operator_state == COVERED).any(axis=0)
    weak = (operator_state == WEAK).any(axis=0)
    state = np.where(n_samples > 0, INSUFFICIENT, NO_DATA)
    return np.where(covered, COVERED, np.where(weak, WEAK, state)).astype("int8")


def shortfall(n_samples: np.ndarray, n_devices: np.ndarray, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(samples_needed, devices_needed)`` to meet the evidence rule (0 when met)."""
    samples_needed = np.maximum(0, config.min_samples - n_samples).astype("int64")
    devices_needed = np.maximum(0, config.min_devices - n_devices).astype("int64")
    return samples_needed, devices_needed
