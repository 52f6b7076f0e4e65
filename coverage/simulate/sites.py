"""Simulated operators' sites: town lattices, commune centres, villages, new sites and their technologies."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong.simulate.geography import Geography, to_lonlat, to_metric
from lomsong.simulate.parameters import (
    CENTRE_SITE_OPERATORS,
    DEFAULT_OPERATORS,
    GMOBILE_SITES,
    LOCAL_TZ,
    NEW_SITE_COMMUNES,
    NEW_SITE_MIN_DISTANCE_KM,
    OUTAGE_COMMUNE,
    OUTAGE_RADIUS_KM,
    SITE_5G_SHARE,
    SITE_TECHNOLOGY_SHARE,
    TOWN_SITE_SPACING_KM,
    UNDERSERVED_COMMUNES,
    VILLAGE_SITE_JITTER_M,
    VILLAGE_SITE_MIN_PEOPLE,
)


def _lattice(geo: Geography, spacing_m: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points of a hexagonal lattice over the province's box, randomly offset, each jittered by 15 %."""
    minx, miny, maxx, maxy = geo.bounds
    row_step = spacing_m * np.sqrt(3.0) / 2.0
    cols = np.arange(minx - spacing_m, maxx + spacing_m, spacing_m)
    rows = np.arange(miny - row_step, maxy + row_step, row_step)
    grid_x, grid_y = np.meshgrid(cols, rows)
    grid_x = grid_x + (np.arange(rows.size)[:, None] % 2) * spacing_m / 2.0  # odd rows shifted half a step
    offset = rng.uniform(0.0, spacing_m, 2)
    x = grid_x.ravel() + offset[0] + rng.normal(0.0, 0.15 * spacing_m, grid_x.size)
    y = grid_y.ravel() + offset[1] + rng.normal(0.0, 0.15 * spacing_m, grid_y.size)
    return x, y


def place_sites(
    geo: Geography,
    villages: gpd.GeoDataFrame,
    rng: np.random.Generator,
    new_sites_from: pd.Timestamp | None,
    outage_from: pd.Timestamp | None,
    exclude_sites_within: Sequence[tuple[float, float, float]] | None,
    operators: Sequence[str] = tuple(DEFAULT_OPERATORS),
) -> pd.DataFrame:
    """Every operator's sites: town lattices, commune centres, villages, and the scenarios' changes.

    Parameters
    ----------
    geo : Geography
        The province in metres.
    villages : geopandas.GeoDataFrame
        The simulated villages (rural sites stand near the larger ones).
    rng : numpy.random.Generator
        The simulator's generator.
    new_sites_from, outage_from : pandas.Timestamp or None
        When the new sites switch on and the outage starts (None: never).
    exclude_sites_within : sequence of (lon, lat, radius_km), optional
        Sites removed around these points (a planted dead zone).
    operators : sequence of str
        Operators to place sites for.

    Returns
    -------
    pandas.DataFrame
        See :attr:`lomsong.simulate.result.SimulationResult.sites`.
    """
    vx, vy = to_metric(villages["lon"].to_numpy(), villages["lat"].to_numpy())
    people = villages["population"].to_numpy("float64")
    town_index = np.flatnonzero(geo.town)
    parts = []
    for operator in operators:  # a loop over operators, not sites
        if operator in TOWN_SITE_SPACING_KM:  # towns: a lattice about every kilometre
            x, y = _lattice(geo, TOWN_SITE_SPACING_KM[operator] * 1000.0, rng)
            keep = np.isin(geo.commune_at(x, y), town_index)
            parts.append(pd.DataFrame({"operator": operator, "x": x[keep], "y": y[keep], "note": "town"}))
        rural = ~np.isin(pd.Index(geo.codes).get_indexer(villages["commune_code"].to_numpy()), town_index)
        if operator in CENTRE_SITE_OPERATORS:  # the commune centre (UBND xã) of every rural commune
            centre = np.flatnonzero(~geo.town)
            parts.append(
                pd.DataFrame({"operator": operator, "x": geo.centre_x[centre], "y": geo.centre_y[centre], "note": ""})
            )
        if operator in VILLAGE_SITE_MIN_PEOPLE:  # the larger villages
            at = np.flatnonzero(rural & (people >= VILLAGE_SITE_MIN_PEOPLE[operator]))
        elif operator == "gmobile":
            at = np.argsort(-people, kind="stable")[:GMOBILE_SITES]
        else:
            at = np.zeros(0, np.int64)
        x = vx[at] + rng.normal(0.0, VILLAGE_SITE_JITTER_M, at.size)
        y = vy[at] + rng.normal(0.0, VILLAGE_SITE_JITTER_M, at.size)
        parts.append(pd.DataFrame({"operator": operator, "x": x, "y": y, "note": ""}))
    sites = pd.concat(parts, ignore_index=True)
    commune = geo.commune_at(sites["x"].to_numpy(), sites["y"].to_numpy())
    underserved_index = np.flatnonzero(np.isin(geo.codes, list(UNDERSERVED_COMMUNES)))
    sites = sites.loc[~np.isin(commune, underserved_index)]
    # Under-served communes keep one Viettel and one VinaPhone site at their centre.
    kept = pd.DataFrame(
        {
            "operator": np.repeat(["viettel", "vinaphone"], len(underserved_index)),
            "x": np.tile(geo.centre_x[underserved_index], 2),
            "y": np.tile(geo.centre_y[underserved_index], 2),
            "note": "only site of an under-served commune",
        }
    )
    sites = pd.concat([sites, kept], ignore_index=True)
    sites["active_from"] = pd.Series(pd.NaT, index=sites.index, dtype="datetime64[ns, UTC]")
    sites["active_until"] = pd.Series(pd.NaT, index=sites.index, dtype="datetime64[ns, UTC]")
    if new_sites_from is not None:
        sites = pd.concat([sites, _new_sites(geo, villages, vx, vy, new_sites_from)], ignore_index=True)
    sites = _technologies(sites, geo, rng)
    if outage_from is not None and OUTAGE_COMMUNE in set(geo.codes):
        where = int(np.flatnonzero(geo.codes == OUTAGE_COMMUNE)[0])
        distance = np.hypot(sites["x"] - geo.centre_x[where], sites["y"] - geo.centre_y[where])
        hit = (distance <= OUTAGE_RADIUS_KM * 1000.0).to_numpy()
        sites.loc[hit, "active_until"] = outage_from
        sites.loc[hit, "note"] = f"off air from {outage_from.tz_convert(LOCAL_TZ):%Y-%m} (synthetic outage)"
    for lon, lat, radius_km in exclude_sites_within or []:
        cx, cy = to_metric(np.array([lon]), np.array([lat]))
        sites = sites.loc[np.hypot(sites["x"] - cx[0], sites["y"] - cy[0]) > radius_km * 1000.0]
    sites = sites.reset_index(drop=True)
    number = sites.groupby("operator").cumcount() + 1
    sites.insert(0, "site_id", sites["operator"] + "-" + number.map("{:04d}".format))
    lon, lat = to_lonlat(sites["x"].to_numpy(), sites["y"].to_numpy())
    sites.insert(2, "lon", lon.round(6))
    sites.insert(3, "lat", lat.round(6))
    commune = geo.commune_at(sites["x"].to_numpy(), sites["y"].to_numpy())
    sites["commune_code"] = np.where(commune >= 0, geo.codes[np.maximum(commune, 0)], "")
    sites["active_from"] = pd.to_datetime(sites["active_from"], utc=True)
    sites["active_until"] = pd.to_datetime(sites["active_until"], utc=True)
    columns = ["site_id", "operator", "lon", "lat", "x", "y", "commune_code"]
    columns += ["has_2g", "has_3g", "has_4g", "has_5g", "active_from", "active_until", "note"]
    return sites[columns]


def _new_sites(
    geo: Geography, villages: gpd.GeoDataFrame, vx: np.ndarray, vy: np.ndarray, start: pd.Timestamp
) -> pd.DataFrame:
    rows = []
    for code in NEW_SITE_COMMUNES:
        if code not in set(geo.codes):
            continue
        where = int(np.flatnonzero(geo.codes == code)[0])
        mine = (villages["commune_code"] == code).to_numpy(bool)
        far = np.hypot(vx - geo.centre_x[where], vy - geo.centre_y[where]) >= NEW_SITE_MIN_DISTANCE_KM * 1000.0
        candidates = np.flatnonzero(mine & far)
        best = candidates[np.argsort(-villages["population"].to_numpy()[candidates], kind="stable")[:2]]
        for village in best:
            for operator in ("viettel", "vinaphone"):
                note = f"new site from {start.tz_convert(LOCAL_TZ):%Y-%m} at {villages['name'].iat[village]}"
                rows.append({"operator": operator, "x": vx[village], "y": vy[village], "note": note})
    frame = pd.DataFrame(rows, columns=["operator", "x", "y", "note"])
    frame["active_from"] = pd.Series(start, index=frame.index, dtype="datetime64[ns, UTC]")
    frame["active_until"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    return frame


def _technologies(sites: pd.DataFrame, geo: Geography, rng: np.random.Generator) -> pd.DataFrame:
    n = len(sites)
    share = np.array([SITE_TECHNOLOGY_SHARE[op] for op in sites["operator"]]).reshape(n, 3)
    has = rng.uniform(size=(n, 3)) < share
    none = ~has.any(axis=1)
    gmobile = (sites["operator"] == "gmobile").to_numpy()
    has[none & gmobile, 0] = True
    has[none & ~gmobile, 2] = True
    new = sites["note"].str.startswith("new site").to_numpy(bool, na_value=False)
    has[new] = [True, False, True]  # new rural sites: 2G for voice + 4G
    commune = geo.commune_at(sites["x"].to_numpy(), sites["y"].to_numpy())
    ward_of_gia_nghia = np.zeros(n, bool)
    inside = commune >= 0
    district = geo.communes["district_code"].astype(str).to_numpy()
    kind = geo.communes["commune_type"].astype(str).to_numpy()
    ward_of_gia_nghia[inside] = (district[commune[inside]] == "660") & (kind[commune[inside]] == "Phường")
    chance_5g = sites["operator"].map(SITE_5G_SHARE).fillna(0.0).to_numpy(float)
    has_5g = ward_of_gia_nghia & (rng.uniform(size=n) < chance_5g) & has[:, 2]
    return sites.assign(has_2g=has[:, 0], has_3g=has[:, 1], has_4g=has[:, 2], has_5g=has_5g)
