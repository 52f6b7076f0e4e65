"""Radio-propagation helpers of the simulator: path loss, link budgets, quality and throughput.

Everything here is plain vectorised numpy on arrays of distances and powers; the simulator
(:mod:`lomsong.simulate.demo`) decides where sites and phones are. The numbers are documented in
``docs/simulator.md`` and in :data:`TECHNOLOGY_PARAMETERS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Base-station antenna height (m) used in the path-loss model.
BASE_HEIGHT_M = 30.0
#: Phone antenna height (m).
MOBILE_HEIGHT_M = 1.5
#: Shortest distance the model is evaluated at (m); COST-231 Hata is meant for 1-20 km and
#: closer than this it would predict more power than any phone reports.
MIN_DISTANCE_M = 50.0


@dataclass(frozen=True)
class TechnologyParameters:
    """Link budget of one technology.

    Attributes
    ----------
    frequency_mhz : float
        Carrier frequency used in the path-loss model.
    reference_eirp_dbm : float
        EIRP of the quantity the phone reports: BCCH carrier (2G RSSI), CPICH (3G RSCP),
        one reference-signal resource element (4G RSRP, 5G SS-RSRP, beamforming gain included).
    camp_threshold_dbm : float
        Below this level a phone does not stay on the technology (it falls back to an older one
        or reports no service).
    valid_range : tuple of float
        Range a phone reports (FORMATS.md); simulated values are clipped to it.
    """

    frequency_mhz: float
    reference_eirp_dbm: float
    camp_threshold_dbm: float
    valid_range: tuple[float, float]


#: Link budgets. EIRP = transmit power of the reported channel + 17 dBi sector-antenna gain - 2 dB
#: feeder loss: 2G 40 dBm BCCH → 55 dBm; 3G 33 dBm CPICH (10 % of 43 dBm) → 48 dBm; 4G 18 dBm per
#: reference-signal resource element (46 dBm over 20 MHz) → 33 dBm; 5G 18 dBm per SSB resource
#: element + 10 dB beamforming gain → 43 dBm. Camp thresholds are typical idle-mode
#: minimums: LTE -120 dBm (operators set q-RxLevMin about -120 … -124 and phones reselect to 3G/2G
#: below about -120), UMTS -115, GSM reference sensitivity -104 dBm.
TECHNOLOGY_PARAMETERS: dict[str, TechnologyParameters] = {
    "2G": TechnologyParameters(900.0, 55.0, -104.0, (-113.0, -51.0)),
    "3G": TechnologyParameters(2100.0, 48.0, -115.0, (-120.0, -25.0)),
    "4G": TechnologyParameters(1800.0, 33.0, -120.0, (-140.0, -44.0)),
    "5G": TechnologyParameters(2600.0, 43.0, -120.0, (-156.0, -31.0)),
}
#: Preference order of a phone: the newest technology whose signal it can camp on.
TECHNOLOGY_PREFERENCE = ["5G", "4G", "3G", "2G"]


def cost231_hata_db(distance_m: np.ndarray, frequency_mhz: float, urban: np.ndarray) -> np.ndarray:
    """Return the COST-231 Hata path loss in dB.

    ``L = 46.3 + 33.9 log f - 13.82 log hb - a(hm) + (44.9 - 6.55 log hb) log d + C``, with f in
    MHz, d in km, hb = :data:`BASE_HEIGHT_M`, hm = :data:`MOBILE_HEIGHT_M`,
    ``a(hm) = (1.1 log f - 0.7) hm - (1.56 log f - 0.8)`` (small/medium city). ``C`` is 0 dB in
    towns (``urban``) and the Hata suburban correction ``-2 (log(f/28))² - 5.4`` elsewhere
    (-9.9 dB at 900 MHz, -12.0 dB at 1800 MHz). COST-231 is defined for 1500-2000 MHz; at
    900 MHz it agrees with Okumura-Hata within 0.5 dB, at 2100-2600 MHz it is an extrapolation.

    Parameters
    ----------
    distance_m : numpy.ndarray
        Distances in metres (any shape); clipped below at :data:`MIN_DISTANCE_M`.
    frequency_mhz : float
        Carrier frequency.
    urban : numpy.ndarray
        Boolean, broadcastable to ``distance_m``: the phone is in a town (phường, thị trấn).

    Returns
    -------
    numpy.ndarray
        Path loss in dB, float32, shape of ``distance_m``.
    """
    log_f = np.log10(frequency_mhz)
    log_hb = np.log10(BASE_HEIGHT_M)
    a_hm = (1.1 * log_f - 0.7) * MOBILE_HEIGHT_M - (1.56 * log_f - 0.8)
    suburban = -2.0 * np.log10(frequency_mhz / 28.0) ** 2 - 5.4
    distance_km = np.maximum(distance_m, MIN_DISTANCE_M) / 1000.0
    loss = 46.3 + 33.9 * log_f - 13.82 * log_hb - a_hm + (44.9 - 6.55 * log_hb) * np.log10(distance_km)
    return (loss + np.where(urban, 0.0, suburban)).astype("float32")


def power_sum_dbm(levels_dbm: np.ndarray, axis: int = -1) -> np.ndarray:
    """Return the power sum (in dBm) of levels along ``axis``; -inf entries contribute nothing."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.sum(10.0 ** (levels_dbm / 10.0), axis=axis))


#: Thermal noise plus a 7 dB phone noise figure per 15 kHz resource element (dBm).
NOISE_PER_RESOURCE_ELEMENT_DBM = -174.0 + 10.0 * np.log10(15e3) + 7.0
#: Share of neighbour-cell resource elements carrying traffic (interference load).
NEIGHBOUR_LOAD = 0.5


def sinr_db(serving_dbm: np.ndarray, others_dbm: np.ndarray) -> np.ndarray:
    """Return the downlink SINR: serving level over loaded neighbours plus thermal noise.

    Parameters
    ----------
    serving_dbm : numpy.ndarray
        Serving level per sample, shape ``(n,)``.
    others_dbm : numpy.ndarray
        Levels of the other candidate cells, shape ``(n, k)`` (-inf where absent).

    Returns
    -------
    numpy.ndarray
        SINR in dB, clipped to -23 … 40 (the range a phone reports).
    """
    interference_mw = NEIGHBOUR_LOAD * np.sum(10.0 ** (others_dbm / 10.0), axis=1)
    noise_mw = 10.0 ** (NOISE_PER_RESOURCE_ELEMENT_DBM / 10.0)
    value = serving_dbm - 10.0 * np.log10(interference_mw + noise_mw)
    return np.clip(value, -23.0, 40.0)


def quality_db(technology_sinr_db: np.ndarray, technology: str) -> np.ndarray:
    """Return RSRQ (4G/5G) or Ec/No (3G) from SINR; NaN for 2G.

    RSRQ ≈ 10 log(1 / (12 (ρ + 1/SINR))) with own-cell load ρ = 0.5, clipped to -20 … -3 dB;
    Ec/No ≈ 10 log(0.1 / (0.6 + 1/SINR)) (CPICH is 10 % of the power, 60 % load), clipped to
    -24 … 0 dB.
    """
    linear = 10.0 ** (technology_sinr_db / 10.0)
    if technology in ("4G", "5G"):
        return np.clip(10.0 * np.log10(1.0 / (12.0 * (0.5 + 1.0 / linear))), -20.0, -3.0)
    if technology == "3G":
        return np.clip(10.0 * np.log10(0.1 / (0.6 + 1.0 / linear)), -24.0, 0.0)
    return np.full(technology_sinr_db.shape, np.nan)


#: Bandwidth (Hz), share of the cell a phone gets, cap (kbit/s) and typical latency (ms) per technology.
_THROUGHPUT = {
    "2G": (0.2e6, 0.5, 236.0, 450.0),
    "3G": (5e6, 0.25, 21_000.0, 90.0),
    "4G": (20e6, 0.2, 150_000.0, 38.0),
    "5G": (100e6, 0.2, 1_000_000.0, 18.0),
}


def throughput(
    technology_sinr_db: np.ndarray, technology: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return download, upload (kbit/s) and latency (ms) of a speed test.

    Download = bandwidth × log2(1 + SINR) × the phone's share of the cell × a log-normal
    busy-hour factor (σ 0.5), capped per technology; upload is 15-40 % of it; latency is the
    technology's typical value times a log-normal factor (σ 0.3).
    """
    bandwidth, share, cap, latency = _THROUGHPUT[technology]
    n = technology_sinr_db.shape[0]
    spectral = np.log2(1.0 + 10.0 ** (np.clip(technology_sinr_db, -10, 30) / 10.0))
    download = bandwidth * spectral * share / 1000.0 * rng.lognormal(0.0, 0.5, n)
    download = np.minimum(download, cap)
    upload = download * rng.uniform(0.15, 0.4, n)
    latency_ms = latency * rng.lognormal(0.0, 0.3, n)
    return download.round(0), upload.round(0), latency_ms.round(0)


def smooth_random_field(
    rng: np.random.Generator, shape: tuple[int, int], correlation_cells: float, sigma_db: float
) -> np.ndarray:
    """Return a Gaussian random field with a given spatial correlation and standard deviation.

    White noise smoothed by a Gaussian kernel of ``correlation_cells`` grid cells, rescaled to
    zero mean and ``sigma_db`` standard deviation.
    """
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.standard_normal(shape), sigma=correlation_cells, mode="wrap")
    field = (field - field.mean()) / field.std()
    return (field * sigma_db).astype("float32")
