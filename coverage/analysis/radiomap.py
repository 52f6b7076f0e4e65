"""The radio map: a predicted signal level, its uncertainty and the chance of coverage in every cell.

Pure functions on cell aggregates (never on samples): the measured cells of a view (operator ×
technology) with their median signal, and the known sites of that operator and technology.

Model (one per operator × technology view)
    1. **Path-loss prior.** ``level(d) = a - b log10(d / 1 km)``, with ``d`` the distance from the
       cell centre to the nearest known site of the view (at least :data:`MIN_DISTANCE_M`). This is
       the log-distance form of COST-231 Hata / Okumura-Hata (whose slope is ``44.9 - 6.55 log10
       hb`` = :data:`HATA_SLOPE_DB` at hb = 30 m); the intercept ``a`` (EIRP, frequency, antenna
       heights, clutter) and the slope ``b`` are fitted to the run's own measured cells by weighted
       least squares (weights: samples, capped at :data:`MAX_WEIGHT`). With fewer than
       :data:`MIN_SLOPE_CELLS` measured cells, or a fitted slope outside 10 … 60 dB/decade, the slope
       is held at the Hata value and only ``a`` is fitted. Without known sites the prior is a
       constant (the weighted mean).
    2. **Residual field.** The measured cells' residuals from the prior are interpolated by ordinary
       kriging with a variogram ``γ(h) = nugget + sill (1 - ρ(h / range))`` fitted to their
       empirical semivariogram, ρ the best-fitting of exponential, Matérn 3/2 and Gaussian
       (:func:`fit_variogram`). Kriging is local: each
       cell uses its :data:`NEIGHBOURS` nearest measured cells, solved as one batched linear
       system (numpy), so a province of 10⁴ cells takes well under a second per view.
    3. ``predicted_signal_dbm`` = prior + kriged residual; ``predicted_sd_db`` = √(kriging
       variance + nugget): the spread of what a measuring team would find as the cell's median.
       It grows with distance from data to about √(sill + nugget) (a little more: far from data
       the ordinary-kriging local mean is itself uncertain).

Coverage probability
    A measured cell × technology view is covered when at least ``covered_share`` (default 0.5) of
    its samples are at or above the threshold, i.e. when its median is. So ``p_covered`` =
    Φ((predicted − threshold) / sd). An operator's ``any`` view is covered when any of its
    technologies is; the ``all`` view when any Vietnamese operator is. The technologies'
    (operators') prediction errors share the terrain and are strongly correlated, so the
    combination takes the **maximum** of the parts' probabilities (the exact value when the
    errors are fully correlated, a lower bound otherwise); the combined view shows the signal and
    sd of the part that gives that maximum. ``predicted_state`` is ``covered`` when p_covered ≥
    ``predicted_covered_p`` (0.8), ``weak`` when ≤ ``predicted_weak_p`` (0.2), else ``uncertain``.

No service
    A cell where half or more of the view's samples had no service has no meaningful median: it is
    weak by the measured rule. It enters the model at ``threshold - CENSORED_MARGIN_DB`` (or its
    median of the remaining samples, if lower).

OpenCelliD positions
    OpenCelliD/MLS cell positions are averages of where phones saw a cell, pulled towards roads and
    villages. The model copes in three ways: an operators' site list, when given, replaces
    OpenCelliD for that operator; the slope and intercept are fitted to measurements (absorbing a
    systematic distance bias); and the kriged residual corrects what distance cannot explain near
    measured cells. The validation below measures what is left.

Validation
    :func:`blocked_validation` holds out ~5 km square blocks of measured cells, five folds, refits
    the whole model on the rest, and scores the held-out cells that meet the evidence rule:
    ``rmse_db``, ``bias_db`` (predicted − measured), ``interval80_coverage``, ``accuracy`` of the
    predicted state where decided, ``decided_share`` and ``n_cells`` — for the model and for two
    baselines, the path-loss prior alone and the nearest measured cell.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist
from scipy.special import ndtr

from lomsong.analysis.grid import Grid
from lomsong.settings import Config

#: Nearest distance the path-loss prior is evaluated at (m): closer, Hata predicts more than phones report.
MIN_DISTANCE_M = 50.0
#: COST-231 Hata distance slope (dB per decade) at a 30 m base station: 44.9 - 6.55 log10(30).
HATA_SLOPE_DB = 44.9 - 6.55 * np.log10(30.0)
#: Plausible fitted slopes (dB per decade); outside, the Hata slope is kept.
SLOPE_RANGE_DB = (10.0, 60.0)
#: Measured cells needed to fit the slope (fewer: the Hata slope, intercept only).
MIN_SLOPE_CELLS = 30
#: Antenna height assumed when a site list gives none (m), and the least effective height (m).
DEFAULT_ANTENNA_M = 30.0
MIN_EFFECTIVE_HEIGHT_M = 10.0
#: Measured cells needed to predict a view at all.
MIN_CELLS = 12
#: A cell's weight in the fits is its number of samples, capped here (a busy cell is not 100 cells).
MAX_WEIGHT = 10.0
#: A no-service cell enters the model this far below the threshold (dB).
CENSORED_MARGIN_DB = 5.0
#: Measured cells each kriging prediction uses.
NEIGHBOURS = 12
#: Measured cells the empirical variogram is computed from (a seeded subsample beyond).
VARIOGRAM_POINTS = 1000
#: Longest lag of the empirical variogram (m) and its number of bins.
VARIOGRAM_MAX_LAG_M = 20_000.0
VARIOGRAM_BINS = 20
#: Side of the cross-validation blocks (m) and number of folds.
BLOCK_M = 5000.0
FOLDS = 5
#: z of the two-sided 80 % interval.
Z80 = 1.2815515655446004
#: Targets solved per batch (bounds memory: batch × (k+1)² float64).
_BATCH = 20_000
#: Views fitted at once, on threads (two cores: the machine the department has).
VIEW_THREADS = 2


@dataclass(frozen=True)
class Links:
    """Each target's link to its nearest site: distance, and (with a DEM) the effective height term."""

    distance_m: np.ndarray
    height: np.ndarray | None = None


@dataclass(frozen=True)
class PathLoss:
    """A fitted log-distance prior ``level = intercept - slope log10(d / 1 km) + height_db · H``.

    ``H = log10(h_eff / 30 m)`` with ``h_eff`` the site's ground plus its antenna height minus the
    cell's ground (at least :data:`MIN_EFFECTIVE_HEIGHT_M`): Hata's base-station height term, read
    from a DEM; 0 without one.

    Attributes
    ----------
    intercept_dbm : float
        Level at 1 km (dBm).
    slope_db : float
        Loss per decade of distance (dB); 0 for a constant prior (no sites).
    slope_fitted : bool
        False when the slope was held at :data:`HATA_SLOPE_DB` (or 0 without sites).
    height_db : float
        Gain per decade of effective height (dB), fitted when a DEM was given, else 0.
    """

    intercept_dbm: float
    slope_db: float
    slope_fitted: bool
    height_db: float = 0.0

    def level(self, links: Links | None, n: int) -> np.ndarray:
        """Return the prior level of the links (``n`` copies of the intercept without sites)."""
        if links is None or self.slope_db == 0.0:
            return np.full(n, self.intercept_dbm)
        value = self.intercept_dbm - self.slope_db * np.log10(np.maximum(links.distance_m, MIN_DISTANCE_M) / 1000.0)
        if links.height is not None and self.height_db:
            value = value + self.height_db * links.height
        return value


#: Variogram families tried, by name: correlation as a function of h / range.
VARIOGRAM_MODELS = {
    "exponential": lambda u: np.exp(-u),
    "matern32": lambda u: (1.0 + np.sqrt(3.0) * u) * np.exp(-np.sqrt(3.0) * u),
    "gaussian": lambda u: np.exp(-(u**2)),
}


@dataclass(frozen=True)
class Variogram:
    """Variogram ``γ(h) = nugget + sill (1 - ρ(h / range_m))`` (dB², m), ρ of :data:`VARIOGRAM_MODELS`."""

    nugget: float
    sill: float
    range_m: float
    model: str = "exponential"

    def covariance(self, distance_m: np.ndarray) -> np.ndarray:
        """Covariance of the spatially correlated part at the given distances."""
        return self.sill * VARIOGRAM_MODELS[self.model](np.asarray(distance_m) / self.range_m)


@dataclass(frozen=True)
class ViewModel:
    """The fitted model of one view (recorded in ``run.json``)."""

    path_loss: PathLoss
    variogram: Variogram
    n_cells: int
    n_sites: int

    def to_dict(self) -> dict[str, float | int | bool]:
        """JSON-ready parameters."""
        return {
            "intercept_dbm": round(self.path_loss.intercept_dbm, 2),
            "slope_db_per_decade": round(self.path_loss.slope_db, 2),
            "slope_fitted": self.path_loss.slope_fitted,
            "height_db_per_decade": round(self.path_loss.height_db, 2),
            "nugget_db2": round(self.variogram.nugget, 2),
            "sill_db2": round(self.variogram.sill, 2),
            "range_m": round(self.variogram.range_m, 0),
            "variogram": self.variogram.model,
            "n_cells": self.n_cells,
            "n_sites": self.n_sites,
        }


def observed_level(median_signal_dbm: np.ndarray, no_service_share: np.ndarray, threshold_dbm: float) -> np.ndarray:
    """Return the level each measured cell enters the model with (NaN: not usable).

    The median signal, except where half or more of the samples had no service: there
    ``threshold - CENSORED_MARGIN_DB``, or the median if lower.
    """
    median = np.asarray(median_signal_dbm, dtype="float64")
    share = np.nan_to_num(np.asarray(no_service_share, dtype="float64"), nan=0.0)
    censored = threshold_dbm - CENSORED_MARGIN_DB
    return np.where(share >= 0.5, np.fmin(median, censored), median)


def site_links(
    target_xy: np.ndarray,
    site_xy: np.ndarray,
    *,
    target_ground_m: np.ndarray | None = None,
    site_ground_m: np.ndarray | None = None,
    site_height_m: np.ndarray | None = None,
) -> Links | None:
    """Link of each target to its nearest site (None without sites); the height term with a DEM."""
    if len(site_xy) == 0:
        return None
    distance, nearest = cKDTree(site_xy).query(target_xy, k=1)
    height = None
    if target_ground_m is not None and site_ground_m is not None:
        antenna = np.full(len(site_xy), DEFAULT_ANTENNA_M) if site_height_m is None else site_height_m
        antenna = np.where(np.isfinite(antenna), antenna, DEFAULT_ANTENNA_M)
        effective = site_ground_m[nearest] + antenna[nearest] - target_ground_m
        effective = np.where(np.isfinite(effective), effective, DEFAULT_ANTENNA_M)
        height = np.log10(np.maximum(effective, MIN_EFFECTIVE_HEIGHT_M) / DEFAULT_ANTENNA_M)
    return Links(np.asarray(distance, dtype="float64"), height)


def fit_path_loss(links: Links | None, level_dbm: np.ndarray, weight: np.ndarray) -> PathLoss:
    """Fit the log-distance prior by weighted least squares (see the module docstring)."""
    weight = np.asarray(weight, dtype="float64")
    if links is None:
        return PathLoss(float(np.average(level_dbm, weights=weight)), 0.0, False)
    log_d = np.log10(np.maximum(links.distance_m, MIN_DISTANCE_M) / 1000.0)
    root = np.sqrt(weight)
    if len(level_dbm) >= MIN_SLOPE_CELLS and np.ptp(log_d) > 0.3:
        columns = [np.ones_like(log_d), -log_d]
        with_height = links.height is not None and np.ptp(links.height) > 0.05
        if with_height:
            columns.append(links.height)
        design = np.column_stack(columns) * root[:, None]
        solution, *_ = np.linalg.lstsq(design, level_dbm * root, rcond=None)
        if SLOPE_RANGE_DB[0] <= solution[1] <= SLOPE_RANGE_DB[1] and (not with_height or 0 <= solution[2] <= 60):
            height_db = float(solution[2]) if with_height else 0.0
            return PathLoss(float(solution[0]), float(solution[1]), True, height_db)
    intercept = np.average(level_dbm + HATA_SLOPE_DB * log_d, weights=weight)
    return PathLoss(float(intercept), float(HATA_SLOPE_DB), False)


def fit_variogram(xy: np.ndarray, residual: np.ndarray, *, seed: int = 0) -> Variogram:
    """Fit a variogram (best of the families) to the empirical semivariogram of the residuals.

    Pairs up to :data:`VARIOGRAM_MAX_LAG_M` apart, in :data:`VARIOGRAM_BINS` lag bins, from at most
    :data:`VARIOGRAM_POINTS` cells (a seeded subsample, so the same data give the same fit); bins are
    weighted by their number of pairs, for each family of :data:`VARIOGRAM_MODELS` and 40 ranges
    from 300 m to the longest lag (nugget and sill by closed-form least squares); the best fit
    wins. Bounds: nugget 1 % … 2 ×, sill 0 … 2 ×
    variance, range 300 m … the longest lag. With too few pairs to fit, half the variance is nugget
    and half sill, range 3 km.
    """
    residual = np.asarray(residual, dtype="float64")
    variance = float(np.var(residual)) if len(residual) > 1 else 25.0
    variance = max(variance, 1e-6)
    fallback = Variogram(0.5 * variance, 0.5 * variance, 3000.0)
    if len(residual) < MIN_CELLS:
        return fallback
    if len(residual) > VARIOGRAM_POINTS:
        keep = np.random.default_rng(seed).choice(len(residual), VARIOGRAM_POINTS, replace=False)
        xy, residual = xy[keep], residual[keep]
    lag = pdist(xy)
    half_square = 0.5 * pdist(residual[:, None], "sqeuclidean")
    near = lag <= VARIOGRAM_MAX_LAG_M
    bins = np.minimum((lag[near] / VARIOGRAM_MAX_LAG_M * VARIOGRAM_BINS).astype("int64"), VARIOGRAM_BINS - 1)
    pairs = np.bincount(bins, minlength=VARIOGRAM_BINS)
    gamma_sum = np.bincount(bins, weights=half_square[near], minlength=VARIOGRAM_BINS)
    lag_sum = np.bincount(bins, weights=lag[near], minlength=VARIOGRAM_BINS)
    used = pairs >= 10
    if used.sum() < 4:
        return fallback
    h = lag_sum[used] / pairs[used]
    gamma = gamma_sum[used] / pairs[used]
    weight = pairs[used].astype("float64")
    # For a given family and range the variogram is linear in nugget and sill: solve those in
    # closed form (weighted least squares) for every family × range on a log grid at once, and
    # keep the best fit. The nugget is floored at 1 % of the variance: it keeps the kriging
    # systems of smooth families well conditioned.
    ranges = np.geomspace(300.0, VARIOGRAM_MAX_LAG_M, 40)
    names = list(VARIOGRAM_MODELS)
    shape_ = np.stack([1.0 - VARIOGRAM_MODELS[name](h[None, :] / ranges[:, None]) for name in names])  # (f, r, bins)
    floor = 0.01 * variance
    sw, sg = weight.sum(), (weight * gamma).sum()
    sx = (weight * shape_).sum(axis=-1)
    sxx = (weight * shape_**2).sum(axis=-1)
    sxg = (weight * shape_ * gamma).sum(axis=-1)
    det = sw * sxx - sx**2
    with np.errstate(divide="ignore", invalid="ignore"):
        nugget = (sxx * sg - sx * sxg) / det
        sill = (sw * sxg - sx * sg) / det
        low = ~(nugget >= floor)  # also NaN: refit the sill with the nugget at its floor
        sill = np.where(low, (sxg - floor * sx) / sxx, sill)
    nugget = np.where(low, floor, nugget)
    sill = np.clip(np.nan_to_num(sill, nan=1e-6), 1e-6, 2.0 * variance)
    nugget = np.clip(nugget, floor, 2.0 * variance)
    misfit = (weight * (nugget[..., None] + sill[..., None] * shape_ - gamma) ** 2).sum(axis=-1)
    family, which = np.unravel_index(int(np.argmin(misfit)), misfit.shape)
    return Variogram(float(nugget[family, which]), float(sill[family, which]), float(ranges[which]), names[family])


def krige(
    train_xy: np.ndarray,
    residual: np.ndarray,
    target_xy: np.ndarray,
    variogram: Variogram,
    *,
    neighbours: int = NEIGHBOURS,
) -> tuple[np.ndarray, np.ndarray]:
    """Local ordinary kriging of residuals at the targets.

    Each target solves the ordinary-kriging system of its ``neighbours`` nearest training cells,
    the nugget on the diagonal (measurements are noisy, so a measured cell is smoothed, not
    reproduced). All systems of a batch are solved at once (``numpy.linalg.solve`` on a stack).

    Parameters
    ----------
    train_xy : numpy.ndarray
        ``(n, 2)`` metric coordinates of the measured cells.
    residual : numpy.ndarray
        ``(n,)`` their residuals from the prior.
    target_xy : numpy.ndarray
        ``(m, 2)`` metric coordinates to predict at.
    variogram : Variogram
        Fitted variogram.
    neighbours : int
        Measured cells per prediction.

    Returns
    -------
    tuple of numpy.ndarray
        Kriged residual and kriging variance of the correlated part (dB²), each ``(m,)``.
    """
    k = int(min(neighbours, len(train_xy)))
    tree = cKDTree(train_xy)
    mean = np.empty(len(target_xy))
    variance = np.empty(len(target_xy))
    # the neighbours' distances to each other are symmetric: each pair is computed once, for both
    # halves of the system (the same values as the full square: hypot(-x, -y) == hypot(x, y))
    first, second = np.triu_indices(k, 1)
    diagonal = np.arange(k)
    on_diagonal = float(variogram.covariance(np.zeros(1))[0]) + variogram.nugget
    for start in range(0, len(target_xy), _BATCH):  # batches of targets, each solved as one stack
        chunk = target_xy[start : start + _BATCH]
        distance, index = tree.query(chunk, k=k)
        distance = distance.reshape(len(chunk), k)
        index = index.reshape(len(chunk), k)
        px, py = train_xy[index, 0], train_xy[index, 1]
        pair = variogram.covariance(np.hypot(px[:, first] - px[:, second], py[:, first] - py[:, second]))
        system = np.ones((len(chunk), k + 1, k + 1))
        system[:, first, second] = pair
        system[:, second, first] = pair
        system[:, diagonal, diagonal] = on_diagonal
        system[:, k, k] = 0.0
        right = np.ones((len(chunk), k + 1))
        right[:, :k] = variogram.covariance(distance)
        solution = np.linalg.solve(system, right[:, :, None])[:, :, 0]
        weights, lagrange = solution[:, :k], solution[:, k]
        mean[start : start + len(chunk)] = (weights * residual[index]).sum(axis=1)
        variance[start : start + len(chunk)] = variogram.sill - (weights * right[:, :k]).sum(axis=1) - lagrange
    return mean, np.maximum(variance, 0.0)


@dataclass(frozen=True)
class Prediction:
    """Predictions of one view at the targets."""

    signal_dbm: np.ndarray
    sd_db: np.ndarray
    prior_dbm: np.ndarray
    model: ViewModel


def fit_and_predict(
    train_xy: np.ndarray,
    level_dbm: np.ndarray,
    weight: np.ndarray,
    site_xy: np.ndarray,
    target_xy: np.ndarray,
    *,
    seed: int = 0,
    train_ground_m: np.ndarray | None = None,
    target_ground_m: np.ndarray | None = None,
    site_ground_m: np.ndarray | None = None,
    site_height_m: np.ndarray | None = None,
) -> Prediction:
    """Fit the prior and the residual field to measured cells and predict at the targets.

    Parameters
    ----------
    train_xy : numpy.ndarray
        ``(n, 2)`` metric coordinates of the measured cells (n ≥ :data:`MIN_CELLS`).
    level_dbm : numpy.ndarray
        Their levels (:func:`observed_level`).
    weight : numpy.ndarray
        Their samples (capped at :data:`MAX_WEIGHT` here).
    site_xy : numpy.ndarray
        ``(s, 2)`` metric coordinates of the view's sites (may be empty).
    target_xy : numpy.ndarray
        ``(m, 2)`` where to predict.
    seed : int
        Seed of the variogram subsample.
    train_ground_m, target_ground_m, site_ground_m : numpy.ndarray, optional
        Ground elevation (m, from a DEM) of the measured cells, the targets and the sites: with
        all three the prior gets the effective-height term (:class:`PathLoss`).
    site_height_m : numpy.ndarray, optional
        Antenna heights (NaN: :data:`DEFAULT_ANTENNA_M`).

    Returns
    -------
    Prediction
    """
    weight = np.minimum(np.asarray(weight, dtype="float64"), MAX_WEIGHT)
    terrain = {"site_ground_m": site_ground_m, "site_height_m": site_height_m}
    train_links = site_links(train_xy, site_xy, target_ground_m=train_ground_m, **terrain)
    path_loss = fit_path_loss(train_links, level_dbm, weight)
    residual = level_dbm - path_loss.level(train_links, len(train_xy))
    variogram = fit_variogram(train_xy, residual, seed=seed)
    kriged, variance = krige(train_xy, residual, target_xy, variogram)
    target_links = site_links(target_xy, site_xy, target_ground_m=target_ground_m, **terrain)
    prior = path_loss.level(target_links, len(target_xy))
    model = ViewModel(path_loss, variogram, int(len(train_xy)), int(len(site_xy)))
    return Prediction(prior + kriged, np.sqrt(variance + variogram.nugget), prior, model)


def coverage_probability(signal_dbm: np.ndarray, sd_db: np.ndarray, threshold_dbm: float) -> np.ndarray:
    """Φ((signal − threshold) / sd): the chance the cell's median is at or above the threshold."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.asarray(signal_dbm) - threshold_dbm) / np.asarray(sd_db)
    return ndtr(z)


#: Predicted states, in the order of their integer codes (-1 = no prediction).
PREDICTED_STATES = ["covered", "weak", "uncertain"]
P_COVERED, P_WEAK, P_UNCERTAIN = range(3)


def predicted_states(p_covered: np.ndarray, *, covered_at: float = 0.8, weak_at: float = 0.2) -> np.ndarray:
    """Return predicted state codes: covered, weak, uncertain; -1 where p_covered is NaN."""
    p = np.asarray(p_covered, dtype="float64")
    state = np.where(p >= covered_at, P_COVERED, np.where(p <= weak_at, P_WEAK, P_UNCERTAIN))
    return np.where(np.isfinite(p), state, -1).astype("int8")


def spatial_blocks(xy: np.ndarray, *, block_m: float = BLOCK_M, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Assign each point's ``block_m`` square block to one of ``folds`` folds (seeded, balanced by blocks)."""
    block = np.floor(xy / block_m).astype("int64")
    _, block_id = np.unique(block, axis=0, return_inverse=True)
    block_id = block_id.ravel()
    n_blocks = int(block_id.max()) + 1 if len(block_id) else 0
    fold_of_block = np.random.default_rng(seed).permutation(n_blocks) % folds
    return fold_of_block[block_id]


def _scores(
    predicted: np.ndarray,
    sd: np.ndarray,
    observed: np.ndarray,
    measured_covered: np.ndarray,
    threshold_dbm: float,
    covered_at: float,
    weak_at: float,
) -> dict[str, float | int | None]:
    error = predicted - observed
    state = predicted_states(coverage_probability(predicted, sd, threshold_dbm), covered_at=covered_at, weak_at=weak_at)
    decided = (state == P_COVERED) | (state == P_WEAK)
    right = np.where(state == P_COVERED, measured_covered, ~measured_covered)[decided]
    n = len(observed)
    return {
        "rmse_db": round(float(np.sqrt(np.mean(error**2))), 2) if n else None,
        "bias_db": round(float(np.mean(error)), 2) if n else None,
        "interval80_coverage": round(float(np.mean(np.abs(error) <= Z80 * sd)), 3) if n else None,
        "accuracy": round(float(right.mean()), 3) if right.size else None,
        "decided_share": round(float(decided.mean()), 3) if n else None,
        "n_cells": int(n),
    }


def blocked_validation(
    train_xy: np.ndarray,
    level_dbm: np.ndarray,
    weight: np.ndarray,
    scored: np.ndarray,
    measured_covered: np.ndarray,
    site_xy: np.ndarray,
    threshold_dbm: float,
    *,
    covered_at: float = 0.8,
    weak_at: float = 0.2,
    block_m: float = BLOCK_M,
    folds: int = FOLDS,
    seed: int = 0,
    ground_m: np.ndarray | None = None,
    site_ground_m: np.ndarray | None = None,
    site_height_m: np.ndarray | None = None,
) -> dict[str, dict[str, float | int | None]]:
    """Spatially blocked cross-validation of the model and the two baselines.

    Parameters
    ----------
    train_xy, level_dbm, weight : numpy.ndarray
        The measured cells, as for :func:`fit_and_predict`.
    scored : numpy.ndarray
        Boolean: the cells that are scored when held out (those meeting the evidence rule).
    measured_covered : numpy.ndarray
        Boolean: the measured state is covered (scored cells are covered or weak).
    site_xy : numpy.ndarray
        The view's sites.
    threshold_dbm : float
        The technology's threshold.
    covered_at, weak_at : float
        Decision probabilities.
    block_m, folds, seed : optional
        Blocks, folds and the seed of their assignment.
    ground_m, site_ground_m, site_height_m : numpy.ndarray, optional
        DEM ground of the measured cells and the sites, antenna heights (the terrain term).

    Returns
    -------
    dict
        ``{"model": scores, "path_loss": scores, "nearest_cell": scores}``, each with ``rmse_db``,
        ``bias_db``, ``interval80_coverage``, ``accuracy``, ``decided_share``, ``n_cells``.
    """
    fold = spatial_blocks(train_xy, block_m=block_m, folds=folds, seed=seed)
    n = len(level_dbm)
    out = {name: (np.full(n, np.nan), np.full(n, np.nan)) for name in ("model", "path_loss", "nearest_cell")}
    for held in range(folds):  # one loop step per fold
        test = (fold == held) & scored
        train = fold != held
        if not test.any() or train.sum() < MIN_CELLS:
            continue
        terrain = {"site_ground_m": site_ground_m, "site_height_m": site_height_m}
        if ground_m is not None:
            terrain.update(train_ground_m=ground_m[train], target_ground_m=ground_m[test])
        prediction = fit_and_predict(
            train_xy[train], level_dbm[train], weight[train], site_xy, train_xy[test], seed=seed, **terrain
        )
        out["model"][0][test], out["model"][1][test] = prediction.signal_dbm, prediction.sd_db
        train_links = site_links(
            train_xy[train],
            site_xy,
            target_ground_m=None if ground_m is None else ground_m[train],
            site_ground_m=site_ground_m,
            site_height_m=site_height_m,
        )
        train_residual = level_dbm[train] - prediction.model.path_loss.level(train_links, int(train.sum()))
        out["path_loss"][0][test] = prediction.prior_dbm
        out["path_loss"][1][test] = np.sqrt(
            np.average(train_residual**2, weights=np.minimum(weight[train], MAX_WEIGHT))
        )
        # Nearest measured cell: its level; sd = spread between training cells and their nearest neighbour.
        tree = cKDTree(train_xy[train])
        _, nearest = tree.query(train_xy[test], k=1)
        out["nearest_cell"][0][test] = level_dbm[train][nearest]
        _, pair = tree.query(train_xy[train], k=2)
        out["nearest_cell"][1][test] = np.sqrt(np.mean((level_dbm[train] - level_dbm[train][pair[:, 1]]) ** 2))
    done = np.isfinite(out["model"][0])
    return {
        name: _scores(
            values[done], sd[done], level_dbm[done], measured_covered[done], threshold_dbm, covered_at, weak_at
        )
        for name, (values, sd) in out.items()
    }


# --------------------------------------------------------------------------------------------
# the province's radio map: every view × cell of a run


@dataclass
class RadioMap:
    """Predictions of every view × cell of a run (dense ``(n_views, n_cells)`` arrays).

    Attributes
    ----------
    signal_dbm, sd_db, p_covered : numpy.ndarray
        Predicted level, its sd, and the coverage probability (NaN where the view has no model).
    state : numpy.ndarray
        Predicted state code (:data:`PREDICTED_STATES`, -1 = no prediction).
    meta : dict
        For ``run.json`` ``prediction``: the method, per-view models, ``validation`` and seconds.
    """

    signal_dbm: np.ndarray
    sd_db: np.ndarray
    p_covered: np.ndarray
    state: np.ndarray
    meta: dict


def metric_xy(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Project lon/lat (EPSG:4326) to ``(n, 2)`` UTM 48N metres."""
    from pyproj import Transformer

    from lomsong.reference.boundaries import METRIC_CRS

    transformer = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    x, y = transformer.transform(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))
    return np.column_stack([x, y])


def province_radio_map(
    cells_xy: np.ndarray,
    views: pd.DataFrame,
    operators: list[str],
    *,
    median_signal_dbm: np.ndarray,
    no_service_share: np.ndarray,
    n_samples: np.ndarray,
    measured_state: np.ndarray,
    meets_rule: np.ndarray,
    sites: pd.DataFrame | None,
    config: Config,
    cell_ground_m: np.ndarray | None = None,
) -> RadioMap:
    """Predict every view × cell from the measured cells and the known sites.

    Parameters
    ----------
    cells_xy : numpy.ndarray
        ``(n_cells, 2)`` metric coordinates of the cell centres.
    views : pandas.DataFrame
        The run's views (``operator``, ``technology``, ``kind``, ``operator_code``).
    operators : list of str
        Operators present (index = operator code).
    median_signal_dbm, no_service_share, n_samples : numpy.ndarray
        ``(n_views, n_cells)`` measured statistics (NaN / 0 where nothing was measured).
    measured_state, meets_rule : numpy.ndarray
        ``(n_views, n_cells)`` measured state codes and the evidence rule.
    sites : pandas.DataFrame, optional
        Sites, one row per site × technology (:func:`lomsong.tables.sites.site_technologies`).
    config : Config
        Thresholds and decision probabilities.
    cell_ground_m : numpy.ndarray, optional
        Ground elevation of each cell centre (m, from a DEM); with a ``ground_m`` column in
        ``sites`` it adds the effective-height terrain term to the prior.

    Returns
    -------
    RadioMap
    """
    from lomsong.analysis.evidence import COVERED, WEAK

    started = time.perf_counter()
    shape = measured_state.shape
    signal = np.full(shape, np.nan)
    sd = np.full(shape, np.nan)
    p = np.full(shape, np.nan)
    kind = views["kind"].to_numpy(object)
    models: dict[str, dict] = {}
    validation: dict[str, dict] = {}
    terrain = cell_ground_m is not None and sites is not None and "ground_m" in sites
    if sites is not None and len(sites):
        site_xy_all = metric_xy(sites["lon"].to_numpy("float64"), sites["lat"].to_numpy("float64"))
        site_ground_all = sites["ground_m"].to_numpy("float64") if terrain else None
        site_height_all = sites["height_m"].to_numpy("float64") if "height_m" in sites else None
        site_key = (
            sites["operator"].astype(str).to_numpy(object) + "/" + sites["technology"].astype(str).to_numpy(object)
        )
    else:
        site_xy_all, site_key = np.zeros((0, 2)), np.zeros(0, dtype=object)
        site_ground_all = site_height_all = None
    def one_view(view_code: int) -> tuple[str, Prediction, np.ndarray, dict, dict] | None:
        operator = str(views["operator"].iat[view_code])
        technology = str(views["technology"].iat[view_code])
        key = f"{operator}/{technology}"
        threshold = config.thresholds[technology]
        level = observed_level(median_signal_dbm[view_code], no_service_share[view_code], threshold)
        measured = (n_samples[view_code] > 0) & np.isfinite(level)
        if measured.sum() < MIN_CELLS:
            return None
        own = site_key == key
        site_xy = site_xy_all[own]
        view_terrain = {
            "site_ground_m": site_ground_all[own] if terrain else None,
            "site_height_m": site_height_all[own] if site_height_all is not None else None,
        }
        weight = n_samples[view_code][measured]
        prediction = fit_and_predict(
            cells_xy[measured],
            level[measured],
            weight,
            site_xy,
            cells_xy,
            train_ground_m=cell_ground_m[measured] if terrain else None,
            target_ground_m=cell_ground_m if terrain else None,
            **view_terrain,
        )
        model = {
            **prediction.model.to_dict(),
            "threshold_dbm": threshold,
            "prior": "log-distance" if len(site_xy) else "constant",
        }
        state = measured_state[view_code][measured]
        scored = meets_rule[view_code][measured] & ((state == COVERED) | (state == WEAK))
        checked = blocked_validation(
            cells_xy[measured],
            level[measured],
            weight,
            scored,
            state == COVERED,
            site_xy,
            threshold,
            covered_at=config.predicted_covered_p,
            weak_at=config.predicted_weak_p,
            ground_m=cell_ground_m[measured] if terrain else None,
            **view_terrain,
        )
        return key, prediction, coverage_probability(prediction.signal_dbm, prediction.sd_db, threshold), model, checked

    # the views are independent (each fit seeded by itself): two at a time, on threads (kriging is
    # numpy and cKDTree work that lets go of the GIL); their results are kept in view order
    technology_views = [int(code) for code in np.flatnonzero(kind == "technology")]
    with ThreadPoolExecutor(max(1, min(VIEW_THREADS, len(technology_views)))) as pool:
        done = list(pool.map(one_view, technology_views))
    for view_code, result in zip(technology_views, done, strict=True):
        if result is None:
            continue
        key, prediction, covered_p, model, checked = result
        signal[view_code], sd[view_code], p[view_code] = prediction.signal_dbm, prediction.sd_db, covered_p
        models[key] = model
        validation[key] = checked
    _combine(views, operators, signal, sd, p)
    state = predicted_states(p, covered_at=config.predicted_covered_p, weak_at=config.predicted_weak_p)
    meta = {
        "method": "log-distance path loss fitted to the measured cells + ordinary kriging of the residuals",
        "terrain": "effective antenna height from the DEM (site ground + antenna − cell ground), fitted per view"
        if terrain
        else None,
        "covered_p": config.predicted_covered_p,
        "weak_p": config.predicted_weak_p,
        "block_km": BLOCK_M / 1000.0,
        "folds": FOLDS,
        "n_sites": int(len(site_xy_all)),
        "models": models,
        "validation": validation,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return RadioMap(signal, sd, p, state, meta)


def _combine(views: pd.DataFrame, operators: list[str], signal: np.ndarray, sd: np.ndarray, p: np.ndarray) -> None:
    """Fill the ``any`` and ``all`` views in place: the part with the highest p_covered (see the module)."""
    from lomsong.operators import OPERATOR_IDS

    kind = views["kind"].to_numpy(object)
    operator_code = views["operator_code"].to_numpy()

    def take_best(target: int, parts: np.ndarray) -> None:
        if len(parts) == 0:
            return
        stack = p[parts]
        has = np.isfinite(stack).any(axis=0)
        best = np.argmax(np.where(np.isfinite(stack), stack, -1.0), axis=0)
        columns = np.arange(stack.shape[1])
        p[target] = np.where(has, stack[best, columns], np.nan)
        signal[target] = np.where(has, signal[parts][best, columns], np.nan)
        sd[target] = np.where(has, sd[parts][best, columns], np.nan)

    technology_rows = np.flatnonzero(kind == "technology")
    operator_rows = np.flatnonzero(kind == "operator")
    for row in operator_rows:  # one loop step per operator
        take_best(row, technology_rows[operator_code[technology_rows] == operator_code[row]])
    national = [r for r in operator_rows if operators[int(operator_code[r])] in OPERATOR_IDS]
    for row in np.flatnonzero(kind == "all"):
        take_best(row, np.asarray(national, dtype="int64"))


def predicted_gaps(
    grid: Grid,
    views: pd.DataFrame,
    radio: RadioMap,
    measured_state: np.ndarray,
    communes: pd.DataFrame,
    *,
    village_cells: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Merge connected predicted-weak cells without a measured state into predicted gap areas.

    A cell enters when its prediction is ``weak`` and its measured state is ``no_data`` or
    ``insufficient``: measured cells keep their measured state, a prediction never overrides it.

    Parameters
    ----------
    grid : Grid
        Province grid.
    views : pandas.DataFrame
        The run's views.
    radio : RadioMap
        Predictions.
    measured_state : numpy.ndarray
        ``(n_views, n_cells)`` measured state codes.
    communes : pandas.DataFrame
        Canonical commune table.
    village_cells : numpy.ndarray, optional
        Grid position of each village's centre (-1 outside), to count villages per gap.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`lomsong.tables.results.PREDICTED_GAP_COLUMNS`, EPSG:4326, by view then rank.
    """

    from lomsong.analysis.evidence import INSUFFICIENT, NO_DATA
    from lomsong.analysis.gaps import merge_areas
    from lomsong.reference.boundaries import STORAGE_CRS
    from lomsong.tables.results import PREDICTED_GAP_COLUMNS

    open_cell = (measured_state == NO_DATA) | (measured_state == INSUFFICIENT)
    view, cell = np.nonzero((radio.state == P_WEAK) & open_cell)
    view, cell = view.astype("int64"), cell.astype("int64")
    areas = merge_areas(view, cell, grid, views, communes)
    label, n_gaps = areas.label, areas.count
    if n_gaps == 0:
        empty = gpd.GeoDataFrame({c: [] for c in PREDICTED_GAP_COLUMNS[:-1]}, geometry=[], crs=STORAGE_CRS)
        return empty[PREDICTED_GAP_COLUMNS]
    villages = np.zeros(n_gaps, dtype="int64")
    if village_cells is not None and len(village_cells):
        per_cell = np.bincount(village_cells[village_cells >= 0], minlength=len(grid.cells))
        villages = np.bincount(label, weights=per_cell[cell], minlength=n_gaps).astype("int64")
    columns = areas.columns
    gaps = gpd.GeoDataFrame(
        {
            "gap_id": "predicted-" + columns["operator"] + "-" + columns["technology"] + "-" + areas.hashes,
            "rank": 0,
            **columns,
            "n_villages": villages,
            "mean_p_covered": np.bincount(label, weights=radio.p_covered[view, cell], minlength=n_gaps)
            / columns["n_cells"],
            "_view": areas.view,
        },
        geometry=areas.geometry,
        crs=STORAGE_CRS,
    )
    gaps = gaps.sort_values(["_view", "population", "gap_id"], ascending=[True, False, True], kind="stable")
    gaps["rank"] = (gaps.groupby("_view").cumcount() + 1).astype("int64")
    for column in PREDICTED_GAP_COLUMNS:
        if gaps[column].dtype == object and column != "geometry":
            gaps[column] = gaps[column].astype("string")
    return gaps.drop(columns="_view").reset_index(drop=True)[PREDICTED_GAP_COLUMNS]
