"""Where the simulated people live: the province in metres, and villages (thôn, bon, buôn) on populated pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong.reference.boundaries import METRIC_CRS
from lomsong.reference.population import PopulationSurface, commune_labels
from lomsong.simulate.defaults import (
    DEFAULT_SEED,
)
from lomsong.simulate.parameters import UNDERSERVED_COMMUNES, URBAN_DENSITY


@dataclass
class Geography:
    """The province in metres as the simulator needs it: communes, populated pixels, centres, roads."""

    communes: gpd.GeoDataFrame  # canonical, EPSG:4326
    codes: np.ndarray  # commune_code per commune index
    urban: np.ndarray  # bool per commune index (≥ URBAN_DENSITY people per km²)
    town: np.ndarray  # bool per commune index: ward, thị trấn or urban (sites on a lattice)
    centre_x: np.ndarray
    centre_y: np.ndarray
    labels: np.ndarray  # 1-based commune index per pixel, 0 outside
    transform: Any
    pixel_rows: np.ndarray  # populated pixels, sorted by commune
    pixel_cols: np.ndarray
    pixel_people: np.ndarray
    pixel_commune: np.ndarray  # 0-based
    segments: np.ndarray  # (m, 2) commune indices of neighbouring centres
    bounds: tuple[float, float, float, float]  # metric bbox of the communes

    def commune_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the 0-based commune index at metric points (-1 outside every commune)."""
        # North-up grid: column from x, row from y (no rotation terms in the surface's transform).
        t = self.transform
        cols = np.floor((np.asarray(x) - t.c) / t.a).astype(np.int64)
        rows = np.floor((np.asarray(y) - t.f) / t.e).astype(np.int64)
        height, width = self.labels.shape
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        out = np.full(rows.shape, -1, dtype=np.int64)
        out[inside] = self.labels[rows[inside], cols[inside]] - 1
        return out


def province_geography(communes: gpd.GeoDataFrame, surface: PopulationSurface) -> Geography:
    """Prepare the province for the simulator from the communes and a metric population surface.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical communes (EPSG:4326).
    surface : PopulationSurface
        Census population surface in :data:`lomsong.reference.boundaries.METRIC_CRS`.

    Returns
    -------
    Geography
    """
    if surface.crs != METRIC_CRS:
        raise ValueError(f"the population surface must be in {METRIC_CRS}, not {surface.crs}")
    communes = communes.reset_index(drop=True)
    metric = communes.to_crs(METRIC_CRS)
    labels = commune_labels(communes, surface.transform, surface.people.shape)
    rows, cols = np.nonzero((surface.people > 0) & (labels > 0))
    pixel_commune = labels[rows, cols] - 1
    order = np.argsort(pixel_commune, kind="stable")
    centres = metric.geometry.representative_point()
    urban = (communes["population"].fillna(0).to_numpy(float) / (metric.area.to_numpy() / 1e6)) >= URBAN_DENSITY
    # Neighbours: polygons within 300 m of each other (the boundaries leave slivers).
    buffered = gpd.GeoDataFrame(geometry=metric.geometry.buffer(300.0), crs=METRIC_CRS)
    pairs = gpd.sjoin(buffered, buffered, predicate="intersects")
    left = pairs.index.to_numpy()
    right = pairs["index_right"].to_numpy()
    keep = left < right
    segments = np.column_stack([left[keep], right[keep]]).astype(np.int64)
    return Geography(
        communes=communes,
        codes=communes["commune_code"].astype(str).to_numpy(),
        urban=urban,
        town=urban | communes["commune_type"].astype(str).isin(["Phường", "Thị trấn"]).to_numpy(bool),
        centre_x=centres.x.to_numpy(),
        centre_y=centres.y.to_numpy(),
        labels=labels,
        transform=surface.transform,
        pixel_rows=rows[order],
        pixel_cols=cols[order],
        pixel_people=surface.people[rows[order], cols[order]].astype("float64"),
        pixel_commune=pixel_commune[order],
        segments=segments,
        bounds=tuple(metric.total_bounds),
    )


def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return longitudes and latitudes of points given in UTM 48N metres."""
    from pyproj import Transformer

    transformer = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def to_metric(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return UTM 48N metres of points given as longitude and latitude."""
    from pyproj import Transformer

    transformer = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    x, y = transformer.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x), np.asarray(y)


def pick_within_groups(group_of_items: np.ndarray, weights: np.ndarray, groups: np.ndarray, rng) -> np.ndarray:
    """Pick one item per query from the items of the query's group, weighted; vectorised.

    ``group_of_items`` must be sorted. Returns item indices, -1 where a group has no items.
    """
    n_groups = int(max(group_of_items.max(initial=-1), groups.max(initial=-1))) + 1
    totals = np.bincount(group_of_items, weights=weights, minlength=n_groups)
    within = np.cumsum(weights) - np.repeat(np.cumsum(totals) - totals, np.bincount(group_of_items, minlength=n_groups))
    safe = np.where(totals[group_of_items] > 0, totals[group_of_items], 1.0)
    keys = group_of_items + within / safe  # increasing; each group's items end at group + 1
    picked = np.searchsorted(keys, groups + rng.uniform(0.0, 1.0, groups.shape[0]) * 0.999999, side="right")
    picked = np.minimum(picked, len(keys) - 1)
    valid = (totals[groups] > 0) & (group_of_items[picked] == groups)
    return np.where(valid, picked, -1)


_KINH_NAMES = [
    "Tân Lập", "Tân Hòa", "Tân Bình", "Tân Tiến", "Đoàn Kết", "Thống Nhất", "Bình Minh", "Hòa Bình",
    "Phú Sơn", "Quảng Hà", "Thuận Tình", "Xuân Trang", "Nam Tiến", "Bắc Sơn", "Đồng Tâm", "Trung Hòa",
    "Thanh Sơn", "Hợp Thành", "Quyết Thắng", "Cao Sơn", "Phú Thịnh", "Sơn Thượng", "Vinh Hương",
    "Nam Thành", "Đông Sơn", "Tân Phú", "Thái Học", "Hà Thông", "Nghĩa Hòa", "Đức Thành",
]  # fmt: skip
_ETHNIC_NAMES = [
    "Bu Prăng", "Bu Sir", "Bu Nơr", "Bu Dấp", "Bu Bong", "Bu Koh", "Bu Rwah", "Ja Ráh", "Ja Lú",
    "N'Jang Bơ", "N'Ting", "N'Dơr", "R'Lang", "R'Moan", "Pi Nao", "Sa Nar", "Mê Ra", "Phi Mur",
    "Đắk Rung", "Ta Mung", "Dơng Jri", "Broih", "R'Cập", "Tul", "Phok", "Bu Đrăm", "Ndung",
    "Ea Rbin", "Trum", "Buôr", "Ea Mar", "K'Ră", "Sar Lú", "Bu Đưng",
]  # fmt: skip
#: Districts where Ê Đê "buôn" outnumber M'Nông "bon" among indigenous villages.
_BUON_DISTRICTS = {"662", "664"}


def make_villages(communes: gpd.GeoDataFrame, surface: PopulationSurface, seed: int = DEFAULT_SEED) -> gpd.GeoDataFrame:
    """Return a SYNTHETIC village layer (thôn, bon, buôn) on the populated pixels.

    Each commune gets about one village per 1,000 people (at least 3); the first sits at the
    commune centre, the others on random populated pixels (weighted by people). The commune's
    census population is split among its villages (Dirichlet, α = 2), households are people /
    U(3.8, 4.6). Names follow local patterns (``Thôn 3``, ``Thôn Tân Lập``, ``Bon Bu Prăng``,
    ``Buôn Trum``) but are invented. Grid power: 97 % of villages, 80 % in the under-served
    communes.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    surface : PopulationSurface
        Population surface in EPSG:32648.
    seed : int
        Random seed.

    Returns
    -------
    geopandas.GeoDataFrame
        ``village_id``, ``name``, ``commune_code``, ``commune``, ``district_code``, ``district``,
        ``lon``, ``lat``, ``households``, ``population``, ``has_grid_power``, ``synthetic``,
        ``geometry`` (EPSG:4326).
    """
    return villages_on(province_geography(communes, surface), np.random.default_rng([seed, 1]))


def villages_on(geo: Geography, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Villages on populated pixels of each commune, about one per thousand people, the centre first.

    Parameters
    ----------
    geo : Geography
        The province in metres.
    rng : numpy.random.Generator
        The simulator's generator.

    Returns
    -------
    geopandas.GeoDataFrame
        See :func:`make_villages`.
    """
    communes = geo.communes
    population = communes["population"].fillna(0).to_numpy("float64")
    n_villages = np.maximum(3, np.round(population / 1000.0)).astype(np.int64)
    commune_of = np.repeat(np.arange(len(communes)), n_villages)
    first = np.concatenate([[0], np.cumsum(n_villages)[:-1]])
    is_first = np.zeros(commune_of.shape[0], bool)
    is_first[first] = True
    pixel = pick_within_groups(geo.pixel_commune, geo.pixel_people, commune_of, rng)
    t = geo.transform
    x = t.c + t.a * (geo.pixel_cols[np.maximum(pixel, 0)] + 0.5) + rng.uniform(-0.45, 0.45, pixel.shape) * t.a
    y = t.f + t.e * (geo.pixel_rows[np.maximum(pixel, 0)] + 0.5) + rng.uniform(-0.45, 0.45, pixel.shape) * t.e
    use_centre = is_first | (pixel < 0)
    x = np.where(use_centre, geo.centre_x[commune_of], x)
    y = np.where(use_centre, geo.centre_y[commune_of], y)
    # Split each commune's census population among its villages (largest remainder keeps the sum).
    share = rng.gamma(2.0, 1.0, commune_of.shape[0])
    share = share / np.bincount(commune_of, weights=share)[commune_of]
    raw = share * population[commune_of]
    people = np.floor(raw).astype(np.int64)
    missing = np.round(population).astype(np.int64) - np.bincount(commune_of, weights=people).astype(np.int64)
    remainder_rank = pd.Series(raw - people).groupby(commune_of).rank(method="first", ascending=False).to_numpy()
    people += (remainder_rank <= missing[commune_of]).astype(np.int64)
    households = np.maximum(1, np.round(people / rng.uniform(3.8, 4.6, people.shape))).astype(np.int64)
    underserved = np.isin(geo.codes[commune_of], list(UNDERSERVED_COMMUNES))
    grid_power = rng.uniform(size=people.shape) < np.where(underserved, 0.80, 0.97)
    names = _village_names(commune_of, communes["district_code"].astype(str).to_numpy(), rng)
    lon, lat = to_lonlat(x, y)
    frame = pd.DataFrame(
        {
            "village_id": [f"syn-v{i:04d}" for i in range(commune_of.shape[0])],
            "name": names,
            "commune_code": geo.codes[commune_of],
            "commune": communes["commune"].to_numpy()[commune_of],
            "district_code": communes["district_code"].astype(str).to_numpy()[commune_of],
            "district": communes["district"].to_numpy()[commune_of],
            "lon": lon.round(6),
            "lat": lat.round(6),
            "households": households,
            "population": people,
            "has_grid_power": grid_power,
            "synthetic": True,
        }
    )
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")


def _village_names(commune_of: np.ndarray, district_codes: np.ndarray, rng: np.random.Generator) -> list[str]:
    names: list[str] = []
    for commune in np.unique(commune_of):  # a loop over communes, not over data
        count = int((commune_of == commune).sum())
        kinds = rng.choice(["number", "kinh", "ethnic"], size=count, p=[0.45, 0.25, 0.30])
        ethnic_prefix = "Buôn" if district_codes[commune] in _BUON_DISTRICTS else "Bon"
        kinh = iter(rng.permutation(_KINH_NAMES))
        ethnic = iter(rng.permutation(_ETHNIC_NAMES))
        number = 0
        for kind in kinds:
            if kind == "kinh" and (name := next(kinh, None)):
                names.append(f"Thôn {name}")
            elif kind == "ethnic" and (name := next(ethnic, None)):
                names.append(f"{ethnic_prefix} {name}")
            else:
                number += 1
                names.append(f"Thôn {number}")
    return names
