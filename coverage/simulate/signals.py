"""What a phone measures at a point: shadowing, terrain, best server per technology, camping (SYNTHETIC)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

from lomsong.simulate.geography import Geography
from lomsong.simulate.parameters import (
    CHUNK,
    FAST_FADING_DB,
    HILL_LOSS_DB_PER_KM,
    HILL_LOSS_FROM_KM,
    NEIGHBOURS,
    OPERATOR_ORDER,
    REMOTE_TERRAIN_FULL_KM,
    REMOTE_TERRAIN_LOSS_DB,
    REMOTE_TERRAIN_START_KM,
    SHADOW_COMMON_DB,
    SHADOW_CORRELATION_M,
    SHADOW_GRID_M,
    SHADOW_OPERATOR_DB,
    TECHNOLOGY_CODES,
    UNDERSERVED_COMMUNES,
)
from lomsong.simulate.radio import (
    TECHNOLOGY_PARAMETERS,
    TECHNOLOGY_PREFERENCE,
    cost231_hata_db,
    sinr_db,
    smooth_random_field,
)


@dataclass
class ShadowFields:
    """Spatially correlated shadowing (dB) on a grid, and the sites it goes with."""

    sites: pd.DataFrame
    fields: np.ndarray  # (1 + n_operators, rows, cols) shadowing in dB
    origin: tuple[float, float]  # x of column 0, y of row 0 (north-up, rows go south)


def shadowing(geo: Geography, rng: np.random.Generator) -> ShadowFields:
    """Draw the shadowing fields: one common to all operators (relief, clutter) and one per operator.

    Parameters
    ----------
    geo : Geography
        The province in metres (the fields cover its bounds and a margin).
    rng : numpy.random.Generator
        The simulator's generator.

    Returns
    -------
    ShadowFields
    """
    minx, miny, maxx, maxy = geo.bounds
    margin = 20_000.0
    cols = int(np.ceil((maxx - minx + 2 * margin) / SHADOW_GRID_M))
    rows = int(np.ceil((maxy - miny + 2 * margin) / SHADOW_GRID_M))
    correlation = SHADOW_CORRELATION_M / SHADOW_GRID_M
    fields = [smooth_random_field(rng, (rows, cols), correlation, SHADOW_COMMON_DB)]
    fields += [smooth_random_field(rng, (rows, cols), correlation, SHADOW_OPERATOR_DB) for _ in OPERATOR_ORDER]
    return ShadowFields(pd.DataFrame(), np.stack(fields), (minx - margin, maxy + margin))


def _shadow_at(radio: ShadowFields, which: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    col = (x - radio.origin[0]) / SHADOW_GRID_M
    row = (radio.origin[1] - y) / SHADOW_GRID_M
    return map_coordinates(radio.fields[which], [row, col], order=1, mode="nearest").astype("float32")


def _terrain_loss(geo: Geography, commune: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Extra loss (dB) of hills and forest in the under-served communes, growing away from the centre."""
    inside = commune >= 0
    remote = np.zeros(x.shape, bool)
    remote[inside] = np.isin(geo.codes[commune[inside]], list(UNDERSERVED_COMMUNES))
    where = np.maximum(commune, 0)
    distance_km = np.hypot(x - geo.centre_x[where], y - geo.centre_y[where]) / 1000.0
    ramp = np.clip((distance_km - REMOTE_TERRAIN_START_KM) / (REMOTE_TERRAIN_FULL_KM - REMOTE_TERRAIN_START_KM), 0, 1)
    return np.where(remote, REMOTE_TERRAIN_LOSS_DB * ramp, 0.0).astype("float32")


def _nanoseconds(stamps: pd.Series, missing: int) -> np.ndarray:
    """UTC nanoseconds of tz-aware timestamps, ``missing`` for NaT."""
    values = pd.to_datetime(stamps, utc=True).dt.tz_convert(None).to_numpy("datetime64[ns]").view(np.int64)
    return np.where(stamps.isna().to_numpy(), missing, values)


def evaluate_signals(
    x: np.ndarray,
    y: np.ndarray,
    time_ns: np.ndarray,
    operator_index: np.ndarray,
    capability: np.ndarray,
    extra_loss_db: np.ndarray,
    geo: Geography,
    radio: ShadowFields,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Return what each phone reports: technology code (-1 = no service), level, quality, SINR, site."""
    n = x.shape[0]
    out = {
        "tech": np.full(n, -1, np.int8),
        "level": np.full(n, np.nan, "float32"),
        "sinr": np.full(n, np.nan, "float32"),
        "site": np.full(n, -1, np.int64),
    }
    commune = geo.commune_at(x, y)
    urban = np.where(commune >= 0, geo.urban[np.maximum(commune, 0)], False)
    loss = extra_loss_db + _shadow_at(radio, 0, x, y) + _terrain_loss(geo, commune, x, y)
    sites = radio.sites
    active_from = _nanoseconds(sites["active_from"], np.iinfo(np.int64).min)
    active_until = _nanoseconds(sites["active_until"], np.iinfo(np.int64).max)
    edges = np.unique(np.concatenate([active_from, active_until]))
    has = sites[["has_2g", "has_3g", "has_4g", "has_5g"]].to_numpy(bool)
    site_operator = sites["operator"].map({op: i for i, op in enumerate(OPERATOR_ORDER)}).to_numpy()
    epoch = np.searchsorted(edges, time_ns, side="right")
    for e in np.unique(epoch):  # loops over periods and operators, not measurements
        instant = edges[e - 1] if e > 0 else np.iinfo(np.int64).min
        active = (active_from <= instant) & (instant < active_until)
        for op_index in range(len(OPERATOR_ORDER)):
            rows = np.flatnonzero((epoch == e) & (operator_index == op_index))
            candidates = np.flatnonzero(active & (site_operator == op_index))
            if rows.size == 0:
                continue
            if candidates.size == 0:
                continue  # nobody serves: no service
            tree = cKDTree(sites[["x", "y"]].to_numpy()[candidates])
            k = min(NEIGHBOURS, candidates.size)
            for begin in range(0, rows.size, CHUNK):
                chunk = rows[begin : begin + CHUNK]
                distance, neighbour = tree.query(np.column_stack([x[chunk], y[chunk]]), k=k)
                distance = distance.reshape(chunk.size, k)
                neighbour = candidates[neighbour.reshape(chunk.size, k)]
                chunk_loss = loss[chunk] + _shadow_at(radio, 1 + op_index, x[chunk], y[chunk])
                _serve(out, chunk, distance, neighbour, has, urban[chunk], chunk_loss, capability[chunk], rng)
    return out


def _serve(out, chunk, distance, neighbour, has, urban, loss, capability, rng) -> None:
    """Fill ``out`` for one chunk of phones of one operator: best cell per technology, then camp."""
    levels = {}
    # Hills between a distant site and the phone (the plateau is rolling, the valleys deep): Hata
    # knows no terrain, so links longer than HILL_LOSS_FROM_KM lose HILL_LOSS_DB_PER_KM more per km.
    hills = (HILL_LOSS_DB_PER_KM * np.maximum(distance / 1000.0 - HILL_LOSS_FROM_KM, 0.0)).astype("float32")
    for code, technology in enumerate(TECHNOLOGY_CODES):
        parameters = TECHNOLOGY_PARAMETERS[technology]
        level = parameters.reference_eirp_dbm - cost231_hata_db(distance, parameters.frequency_mhz, urban[:, None])
        level = level - loss[:, None] - hills
        levels[code] = np.where(has[neighbour, code], level, -np.inf).astype("float32")
    chosen = np.full(chunk.size, -1, np.int8)
    best_level = np.full(chunk.size, np.nan, "float32")
    for technology in TECHNOLOGY_PREFERENCE:  # newest first: a phone camps on the newest it can
        code = TECHNOLOGY_CODES.index(technology)
        best = levels[code].max(axis=1) + rng.normal(0.0, FAST_FADING_DB, chunk.size).astype("float32")
        can = (chosen < 0) & (capability >= code) & (best >= TECHNOLOGY_PARAMETERS[technology].camp_threshold_dbm)
        chosen[can] = code
        best_level[can] = best[can]
    for code in range(len(TECHNOLOGY_CODES)):
        rows = np.flatnonzero(chosen == code)
        if rows.size == 0:
            continue
        level = levels[code][rows]
        serving = level.argmax(axis=1)
        others = level.copy()
        others[np.arange(rows.size), serving] = -np.inf
        out["sinr"][chunk[rows]] = sinr_db(level[np.arange(rows.size), serving], others)
        out["site"][chunk[rows]] = neighbour[rows, serving]
        low, high = TECHNOLOGY_PARAMETERS[TECHNOLOGY_CODES[code]].valid_range
        out["level"][chunk[rows]] = np.clip(np.round(best_level[rows]), low, high)
    out["tech"][chunk] = chosen
