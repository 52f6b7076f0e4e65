"""A seeded simulator of crowd-sourced mobile measurements for Đắk Nông (SYNTHETIC data).

Nothing this module produces was measured: every file name, every metadata file and the
``synthetic`` flags say so. The data exist for the demo, the tests and the benchmarks, and are
made to look like the real thing (the model is documented in ``docs/simulator.md``):

- **Villages** (thôn, bon, buôn) on populated pixels of each commune; the commune's census
  population is split among them. They are the settlements people and phones live in and sites
  serve: phones stay around their home village with the σ of the village population surface
  (:data:`lomsong.reference.population.VILLAGE_KERNEL_SIGMA_M`), so a run with the demo's village
  list (the default) counts people where the phones are.
- **Sites** per operator: a lattice about every kilometre in the towns, commune centres and the
  larger villages elsewhere (Viettel densest, then VinaPhone, MobiFone; Vietnamobile sparse;
  Gmobile only on request), each with some of 2G/3G/4G and 5G in Gia Nghĩa's wards;
  **under-served communes** (:data:`UNDERSERVED_COMMUNES`) keep only one Viettel and one
  VinaPhone site at their centre, and hills and forest dim every signal away from it.
- **Radio**: COST-231 Hata path loss (:mod:`lomsong.simulate.radio`) with a hill loss on long links,
  spatially correlated log-normal shadowing (σ 6.4 dB), indoor and in-vehicle losses, best
  server per technology, and the phone camps on the newest technology it supports whose signal
  is above the camping threshold, else reports no service.
- **Measurements** from a few hundred devices, each with one operator and a home village: near
  home, elsewhere in the home commune, and along routes between neighbouring commune centres,
  over several months; a few devices are drive testers logging with G-NetTrack Pro.
- **Junk** as real files contain it (:data:`JUNK_RATES`): sentinels, swapped and zero
  coordinates, unparseable times, exact duplicates.
- **Scenarios**: new sites switching on from a month (a gap closes), an outage from a month (a
  gap opens), and sites removed around given points (a planted dead zone).

:func:`simulate` is pure (tables in, tables out); the ``write_*`` functions and
:func:`ensure_demo_data` do the I/O.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time as time_module
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

from lomsong import __version__, paths
from lomsong.operators import OPERATORS
from lomsong.reference.boundaries import METRIC_CRS
from lomsong.reference.population import VILLAGE_KERNEL_SIGMA_M, PopulationSurface, commune_labels
from lomsong.simulate.defaults import (  # noqa: F401  (re-exported: the simulator's public defaults)
    DEFAULT_DEVICES,
    DEFAULT_END,
    DEFAULT_GNETTRACK_DEVICES,
    DEFAULT_POINTS,
    DEFAULT_SEED,
    DEFAULT_START,
)
from lomsong.simulate.radio import (
    TECHNOLOGY_PARAMETERS,
    TECHNOLOGY_PREFERENCE,
    cost231_hata_db,
    quality_db,
    sinr_db,
    smooth_random_field,
    throughput,
)
from lomsong.tables.measurements import MEASUREMENT_COLUMNS, conform_measurements

LOCAL_TZ = "Asia/Ho_Chi_Minh"
#: Bumped whenever the model changes, so that a stale demo set is regenerated.
SIMULATOR_VERSION = 2
LOCAL_OFFSET = np.timedelta64(7, "h")
#: The demo scenario: new sites in a gap and an outage, both from the last month.
DEMO_NEW_SITES_FROM = "2026-10"
DEMO_OUTAGE_FROM = "2026-10"

#: Columns of the generic CSV the simulator writes: the canonical names minus the reader's own.
GENERIC_CSV_COLUMNS = [c for c in MEASUREMENT_COLUMNS if c not in ("source", "source_file", "source_row")]
#: Header of a G-NetTrack Pro log, exactly as in the real sample (data/samples/gnettrack/Yas_log.txt).
GNETTRACK_COLUMNS = [
    "Timestamp",
    "Longitude",
    "Latitude",
    "Operatorname",
    "Operator",
    "Cellname",
    "Node",
    "CellID",
    "LAC",
    "NetworkTech",
    "Level",
    "Qual",
    "SNR",
    "CQI",
    "LTERSSI",
    "ARFCN",
    "PSC",
    "Altitude",
    "Distance",
    "TA",
    "BAND",
]

OPERATOR_ORDER = ["viettel", "vinaphone", "mobifone", "vietnamobile", "gmobile"]
#: Operators simulated by default. Gmobile has next to no network or subscribers in Đắk Nông: it is
#: opt-in (``simulate(..., gmobile=True)``, ``lomsong simulate --gmobile``).
DEFAULT_OPERATORS = ["viettel", "vinaphone", "mobifone", "vietnamobile"]
#: Town sites: a jittered hexagonal lattice with this spacing (km) over every town commune (the
#: wards of Gia Nghĩa, the thị trấn, and communes with at least :data:`URBAN_DENSITY` people per
#: km²): district towns have a site about every kilometre. Vietnamobile is sparse, Gmobile has none.
TOWN_SITE_SPACING_KM = {"viettel": 1.0, "vinaphone": 1.1, "mobifone": 1.3, "vietnamobile": 2.5}
#: Rural sites: one at each commune centre (UBND xã) for these operators …
CENTRE_SITE_OPERATORS = ("viettel", "vinaphone", "mobifone")
#: … and one at each village with at least this many people (larger villages first: Viettel
#: reaches most villages, MobiFone only the large ones; Vietnamobile and Gmobile none).
VILLAGE_SITE_MIN_PEOPLE = {"viettel": 350, "vinaphone": 500, "mobifone": 800}
#: Gmobile (opt-in): this many 2G/3G sites at the most populous villages.
GMOBILE_SITES = 12
#: A rural site stands this far (σ, m) from the village it serves (on a hill, by the road).
VILLAGE_SITE_JITTER_M = 250.0
#: Share of a site's chance to carry 2G, 3G, 4G (independently; a site with none gets 4G, Gmobile 2G).
SITE_TECHNOLOGY_SHARE = {
    "viettel": (0.6, 0.7, 0.98),
    "vinaphone": (0.8, 0.8, 0.95),
    "mobifone": (0.8, 0.85, 0.95),
    "vietnamobile": (0.9, 0.8, 0.7),
    "gmobile": (1.0, 0.5, 0.0),
}
#: Share of the sites in Gia Nghĩa's wards (phường) that carry 5G.
SITE_5G_SHARE = {"viettel": 0.6, "vinaphone": 0.35, "mobifone": 0.25}
#: Subscribers' operators (share of devices), about the operators' market shares.
SUBSCRIBER_SHARE = {"viettel": 0.5, "vinaphone": 0.25, "mobifone": 0.18, "vietnamobile": 0.07}
#: With ``gmobile=True`` Gmobile takes this share of the devices (the others shrink in proportion).
GMOBILE_SUBSCRIBER_SHARE = 0.02
#: Newest technology a device supports (share of devices).
DEVICE_CAPABILITY_SHARE = {"5G": 0.25, "4G": 0.70, "3G": 0.04, "2G": 0.01}

#: Remote forest communes kept under-served on purpose: only one Viettel and one VinaPhone site,
#: at the commune centre. Codes are GSO commune codes.
UNDERSERVED_COMMUNES = {
    "24736": "Xã Quảng Trực (Huyện Tuy Đức)",
    "24634": "Xã Đắk Plao (Huyện Đăk Glong)",
    "24625": "Xã Đắk R'Măng (Huyện Đăk Glong)",
    "24694": "Xã Buôn Choah (Huyện Krông Nô)",
    "24706": "Xã Đức Xuyên (Huyện Krông Nô)",
}
#: Where new sites switch on (``new_sites_from``): the two most populous villages at least
#: :data:`NEW_SITE_MIN_DISTANCE_KM` from the centre of each of these communes get a Viettel and a
#: VinaPhone site.
NEW_SITE_COMMUNES = ["24634", "24736"]
NEW_SITE_MIN_DISTANCE_KM = 5.0
#: Where the outage hits (``outage_from``): every site within this radius of the commune centre.
OUTAGE_COMMUNE = "24728"  # Xã Nâm N'Jang (Huyện Đắk Song)
OUTAGE_RADIUS_KM = 7.0

#: Junk per generic-CSV row (rates of the realised rows are in the metadata).
JUNK_RATES = {
    "sentinel_-999": 0.004,  # signal_dbm = -999 (app's "invalid")
    "sentinel_0": 0.003,  # signal_dbm = 0
    "swapped_lat_lon": 0.003,
    "zero_coordinates": 0.001,  # lon = lat = 0 (no GPS fix)
    "bad_time": 0.002,  # unparseable time text
    "duplicate": 0.005,  # an exact copy of the previous row
}
#: Junk per G-NetTrack row with service (-340) and per 3G row (-24): impossible levels seen in real
#: logs (FORMATS.md).
GNETTRACK_JUNK_RATES = {"level_-340": 0.002, "3g_level_-24": 0.001}
_BAD_TIMES = np.array(["", "N/A", "0000-00-00 00:00:00", "2026-13-45T25:61:00+07:00", "31/02/2026 24:00"])

#: Where a measurement is taken (share of a device's samples).
PLACE_SHARE = {"home": 0.55, "commune": 0.25, "route": 0.20}
#: Phones live around their home village as the village surface puts people there (the same σ).
HOME_JITTER_M = VILLAGE_KERNEL_SIGMA_M
#: Phones per operator of the digital technology team of each under-served commune, and where they
#: measure (they walk the villages and roads of their commune more than other people).
TEAM_PHONES_PER_OPERATOR = 2
TEAM_PLACE_SHARE = {"home": 0.3, "commune": 0.5, "route": 0.2}
#: Trips within the home commune: share spent at another village, on the road to it, and on the road
#: between home and the commune centre.
VILLAGE_TRIP_SHARE = [0.4, 0.3, 0.3]
ROUTE_JITTER_M = 60.0
#: Communes with at least this many people per km² count as towns for the path-loss model.
URBAN_DENSITY = 300.0
#: Shadowing: a field common to all operators (clutter, relief) plus one per operator; √(5²+4²) ≈ 6.4 dB.
SHADOW_COMMON_DB = 5.0
SHADOW_OPERATOR_DB = 4.0
SHADOW_GRID_M = 200.0
SHADOW_CORRELATION_M = 500.0
FAST_FADING_DB = 2.0
#: Terrain on long links (see :func:`_serve`): extra loss per km beyond this distance.
HILL_LOSS_FROM_KM = 2.0
HILL_LOSS_DB_PER_KM = 3.0
#: Hills and forest of the under-served communes: away from the commune centre (which sits in the
#: valley, by the road) a phone gets this much extra loss from every site, rising linearly from 0 dB
#: at :data:`REMOTE_TERRAIN_START_KM` to the full value at :data:`REMOTE_TERRAIN_FULL_KM`.
REMOTE_TERRAIN_LOSS_DB = 20.0
REMOTE_TERRAIN_START_KM = 1.0
REMOTE_TERRAIN_FULL_KM = 3.0
#: Indoor (home) and in-vehicle (route) losses: probability, mean dB, sd dB.
INDOOR_LOSS = (0.5, 8.0, 3.0)
VEHICLE_LOSS = (0.7, 6.0, 2.0)
#: Share of service samples that include a speed test.
SPEED_TEST_SHARE = 0.12
#: Hourly weights of activity (local time 0 … 23).
HOURLY_WEIGHTS = np.array([1, 0.5, 0.3, 0.3, 0.5, 2, 4, 6, 7, 7, 6, 6, 7, 6, 5, 5, 6, 7, 8, 8, 7, 5, 3, 2], float)
NEIGHBOURS = 8
CHUNK = 500_000

LICENCE_NOTE = (
    "SYNTHETIC data made by the lomsong simulator: no value was measured. Free to use (CC0-1.0). "
    "Built on the GSO 2019 census by commune and the censusVN2009 commune boundaries (MIT); see "
    "data/SOURCES.md."
)

_TECH_CODES = ["2G", "3G", "4G", "5G"]  # index = code; -1 = no service


@dataclass
class SimulationResult:
    """What :func:`simulate` returns (all SYNTHETIC).

    Attributes
    ----------
    measurements : pandas.DataFrame
        The generic CSV exactly as :func:`write_generic_csv` writes it, junk included: columns
        :data:`GENERIC_CSV_COLUMNS`; ``time`` is ISO 8601 text with the +07:00 offset.
    truth : pandas.DataFrame
        Row-aligned with ``measurements``: ``junk`` (kind or ""), ``time_utc``, ``x``, ``y``
        (true position, EPSG:32648), ``commune_code`` of the true position ("" outside),
        ``place`` (home, commune, route), ``site_id`` of the serving site.
    gnettrack : pandas.DataFrame
        Drive-test rows of the G-NetTrack devices (one file each): ``device``, ``time_utc``,
        ``lon``, ``lat``, ``operator``, ``plmn``, ``technology``, ``level``, ``qual``, ``snr``,
        ``site_id``, ``sector``, ``junk``.
    sites : pandas.DataFrame
        One row per site: ``site_id``, ``operator``, ``lon``, ``lat``, ``x``, ``y``,
        ``commune_code``, ``has_2g`` … ``has_5g``, ``active_from``, ``active_until`` (UTC, NaT =
        always), ``note``.
    villages : geopandas.GeoDataFrame
        Synthetic village layer (see :func:`write_villages`).
    metadata : dict
        Seed, parameters, counts, scenario, licence; ``"synthetic": true``.
    """

    measurements: pd.DataFrame
    truth: pd.DataFrame
    gnettrack: pd.DataFrame
    sites: pd.DataFrame
    villages: gpd.GeoDataFrame
    metadata: dict[str, Any] = field(default_factory=dict)

    def canonical(self, source_file: str | None = None) -> pd.DataFrame:
        """Return the junk-free generic-CSV rows as the canonical measurement table.

        A shortcut for tests and benchmarks that need analysis input without the readers:
        rows with junk are left out, ``time`` is UTC, ``source`` is ``generic_csv`` and
        ``source_row`` the row's data-line number in the written file.

        Parameters
        ----------
        source_file : str, optional
            Name recorded in ``source_file`` (default: the file name :func:`write_outputs` uses).

        Returns
        -------
        pandas.DataFrame
            Canonical measurement table (:data:`lomsong.tables.measurements.MEASUREMENT_SCHEMA`).
        """
        clean = (self.truth["junk"] == "").to_numpy(bool, na_value=False)
        frame = self.measurements.loc[clean].copy()
        frame["time"] = pd.to_datetime(self.truth.loc[clean, "time_utc"].to_numpy(), utc=True)
        frame["source"] = "generic_csv"
        frame["source_file"] = source_file or generic_csv_name(self.metadata)
        frame["source_row"] = np.flatnonzero(clean) + 1
        return conform_measurements(frame)


# --------------------------------------------------------------------------------------------
# periods


def month_start(month: str | pd.Timestamp) -> pd.Timestamp:
    """Return local midnight of the first day of a month (``"2026-10"``) as a UTC timestamp.

    Raises
    ------
    ValueError
        The text is not a month ``YYYY-MM``.
    """
    try:
        stamp = pd.Timestamp(month)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{month!r} is not a month (expected YYYY-MM)") from exc
    stamp = stamp.tz_localize(None) if stamp.tzinfo else stamp
    return pd.Timestamp(year=stamp.year, month=stamp.month, day=1).tz_localize(LOCAL_TZ).tz_convert("UTC")


def parse_months(text: str) -> tuple[str, str]:
    """Parse ``"2026-08..2026-10"``, ``"2026-08:2026-10"`` or ``"2026-09"`` into (first, last) months.

    Raises
    ------
    ValueError
        Not months, or the last is before the first.
    """
    for separator in ("..", ":", "/"):
        if separator in text:
            first, last = (part.strip() for part in text.split(separator, 1))
            break
    else:
        first = last = text.strip()
    start, end = month_start(first), month_start(last)
    if end < start:
        raise ValueError(f"months {text!r}: {last} is before {first}")
    return start.tz_convert(LOCAL_TZ).strftime("%Y-%m"), end.tz_convert(LOCAL_TZ).strftime("%Y-%m")


def _period_bounds(start: str, end: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return UTC [first instant, first instant after the last month)."""
    first = month_start(start)
    last = month_start(end).tz_convert(LOCAL_TZ)
    after = (last + pd.offsets.MonthBegin(1)).tz_convert("UTC")
    if after <= first:
        raise ValueError(f"period {start} … {end} is empty")
    return first, after


# --------------------------------------------------------------------------------------------
# geography


@dataclass
class _Geography:
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


def _geography(communes: gpd.GeoDataFrame, surface: PopulationSurface) -> _Geography:
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
    return _Geography(
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


def _to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    transformer = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def _to_metric(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    transformer = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    x, y = transformer.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x), np.asarray(y)


def _pick_within_groups(group_of_items: np.ndarray, weights: np.ndarray, groups: np.ndarray, rng) -> np.ndarray:
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


# --------------------------------------------------------------------------------------------
# villages

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
    return _make_villages(_geography(communes, surface), np.random.default_rng([seed, 1]))


def _make_villages(geo: _Geography, rng: np.random.Generator) -> gpd.GeoDataFrame:
    communes = geo.communes
    population = communes["population"].fillna(0).to_numpy("float64")
    n_villages = np.maximum(3, np.round(population / 1000.0)).astype(np.int64)
    commune_of = np.repeat(np.arange(len(communes)), n_villages)
    first = np.concatenate([[0], np.cumsum(n_villages)[:-1]])
    is_first = np.zeros(commune_of.shape[0], bool)
    is_first[first] = True
    pixel = _pick_within_groups(geo.pixel_commune, geo.pixel_people, commune_of, rng)
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
    lon, lat = _to_lonlat(x, y)
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


# --------------------------------------------------------------------------------------------
# sites


def _lattice(geo: _Geography, spacing_m: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
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


def _place_sites(
    geo: _Geography,
    villages: gpd.GeoDataFrame,
    rng: np.random.Generator,
    new_sites_from: pd.Timestamp | None,
    outage_from: pd.Timestamp | None,
    exclude_sites_within: Sequence[tuple[float, float, float]] | None,
    operators: Sequence[str] = tuple(DEFAULT_OPERATORS),
) -> pd.DataFrame:
    vx, vy = _to_metric(villages["lon"].to_numpy(), villages["lat"].to_numpy())
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
        cx, cy = _to_metric(np.array([lon]), np.array([lat]))
        sites = sites.loc[np.hypot(sites["x"] - cx[0], sites["y"] - cy[0]) > radius_km * 1000.0]
    sites = sites.reset_index(drop=True)
    number = sites.groupby("operator").cumcount() + 1
    sites.insert(0, "site_id", sites["operator"] + "-" + number.map("{:04d}".format))
    lon, lat = _to_lonlat(sites["x"].to_numpy(), sites["y"].to_numpy())
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
    geo: _Geography, villages: gpd.GeoDataFrame, vx: np.ndarray, vy: np.ndarray, start: pd.Timestamp
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


def _technologies(sites: pd.DataFrame, geo: _Geography, rng: np.random.Generator) -> pd.DataFrame:
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


# --------------------------------------------------------------------------------------------
# radio


@dataclass
class _Radio:
    sites: pd.DataFrame
    fields: np.ndarray  # (1 + n_operators, rows, cols) shadowing in dB
    origin: tuple[float, float]  # x of column 0, y of row 0 (north-up, rows go south)


def _shadowing(geo: _Geography, rng: np.random.Generator) -> _Radio:
    minx, miny, maxx, maxy = geo.bounds
    margin = 20_000.0
    cols = int(np.ceil((maxx - minx + 2 * margin) / SHADOW_GRID_M))
    rows = int(np.ceil((maxy - miny + 2 * margin) / SHADOW_GRID_M))
    correlation = SHADOW_CORRELATION_M / SHADOW_GRID_M
    fields = [smooth_random_field(rng, (rows, cols), correlation, SHADOW_COMMON_DB)]
    fields += [smooth_random_field(rng, (rows, cols), correlation, SHADOW_OPERATOR_DB) for _ in OPERATOR_ORDER]
    return _Radio(pd.DataFrame(), np.stack(fields), (minx - margin, maxy + margin))


def _shadow_at(radio: _Radio, which: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    col = (x - radio.origin[0]) / SHADOW_GRID_M
    row = (radio.origin[1] - y) / SHADOW_GRID_M
    return map_coordinates(radio.fields[which], [row, col], order=1, mode="nearest").astype("float32")


def _terrain_loss(geo: _Geography, commune: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
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


def _evaluate(
    x: np.ndarray,
    y: np.ndarray,
    time_ns: np.ndarray,
    operator_index: np.ndarray,
    capability: np.ndarray,
    extra_loss_db: np.ndarray,
    geo: _Geography,
    radio: _Radio,
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
    for code, technology in enumerate(_TECH_CODES):
        parameters = TECHNOLOGY_PARAMETERS[technology]
        level = parameters.reference_eirp_dbm - cost231_hata_db(distance, parameters.frequency_mhz, urban[:, None])
        level = level - loss[:, None] - hills
        levels[code] = np.where(has[neighbour, code], level, -np.inf).astype("float32")
    chosen = np.full(chunk.size, -1, np.int8)
    best_level = np.full(chunk.size, np.nan, "float32")
    for technology in TECHNOLOGY_PREFERENCE:  # newest first: a phone camps on the newest it can
        code = _TECH_CODES.index(technology)
        best = levels[code].max(axis=1) + rng.normal(0.0, FAST_FADING_DB, chunk.size).astype("float32")
        can = (chosen < 0) & (capability >= code) & (best >= TECHNOLOGY_PARAMETERS[technology].camp_threshold_dbm)
        chosen[can] = code
        best_level[can] = best[can]
    for code in range(len(_TECH_CODES)):
        rows = np.flatnonzero(chosen == code)
        if rows.size == 0:
            continue
        level = levels[code][rows]
        serving = level.argmax(axis=1)
        others = level.copy()
        others[np.arange(rows.size), serving] = -np.inf
        out["sinr"][chunk[rows]] = sinr_db(level[np.arange(rows.size), serving], others)
        out["site"][chunk[rows]] = neighbour[rows, serving]
        low, high = TECHNOLOGY_PARAMETERS[_TECH_CODES[code]].valid_range
        out["level"][chunk[rows]] = np.clip(np.round(best_level[rows]), low, high)
    out["tech"][chunk] = chosen


# --------------------------------------------------------------------------------------------
# devices and samples


def _device_ids(prefix: str, seed: int, count: int) -> np.ndarray:
    return np.array([f"syn-{hashlib.sha256(f'{prefix}:{seed}:{i}'.encode()).hexdigest()[:12]}" for i in range(count)])


def _random_times(n: int, start: pd.Timestamp, end: pd.Timestamp, rng: np.random.Generator) -> np.ndarray:
    """UTC nanoseconds, uniform over local days, hours by :data:`HOURLY_WEIGHTS`."""
    first_day = start.tz_convert(LOCAL_TZ).tz_localize(None).to_datetime64().astype("datetime64[ns]")
    n_days = int(round((end - start) / pd.Timedelta(days=1)))
    day = rng.integers(0, n_days, n)
    hour = rng.choice(24, size=n, p=HOURLY_WEIGHTS / HOURLY_WEIGHTS.sum())
    seconds = day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n)
    local = first_day + seconds.astype("timedelta64[s]")
    return (local - LOCAL_OFFSET).astype("datetime64[ns]").view(np.int64)


def _crowd_samples(
    geo: _Geography,
    villages: gpd.GeoDataFrame,
    n_points: int,
    n_devices: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    rng: np.random.Generator,
    subscriber_share: dict[str, float] = SUBSCRIBER_SHARE,
) -> dict[str, np.ndarray]:
    vx, vy = _to_metric(villages["lon"].to_numpy(), villages["lat"].to_numpy())
    village_people = villages["population"].to_numpy("float64")
    village_commune = pd.Index(geo.codes).get_indexer(villages["commune_code"].to_numpy())
    # Devices: home village by people, operator by subscriber share, capability, activity.
    # Every commune has at least two resident phones (its community digital team measures); in the
    # under-served communes the team measures with TEAM_PHONES_PER_OPERATOR phones of each network.
    # The rest live where people live, with operators drawn so that all devices together follow the
    # subscriber shares.
    n_communes = len(geo.codes)
    operator_codes = [OPERATOR_ORDER.index(o) for o in OPERATOR_ORDER if subscriber_share.get(o, 0.0) > 0]
    team_of = np.flatnonzero(np.isin(geo.codes, list(UNDERSERVED_COMMUNES)))
    team_commune = np.repeat(team_of, TEAM_PHONES_PER_OPERATOR * len(operator_codes))
    team_operator = np.tile(np.repeat(operator_codes, TEAM_PHONES_PER_OPERATOR), team_of.size)
    other_communes = np.repeat(np.setdiff1d(np.arange(n_communes), team_of), 2)
    resident = np.concatenate([team_commune, other_communes])[:n_devices]
    fixed_operator = np.concatenate([team_operator, np.full(other_communes.size, -1)])[:n_devices]
    home = _pick_within_groups(village_commune, village_people, resident, rng)
    known = home >= 0
    home, fixed_operator = home[known], fixed_operator[known]
    others = rng.choice(len(villages), size=n_devices - home.size, p=village_people / village_people.sum())
    home = np.concatenate([home, others])
    fixed_operator = np.concatenate([fixed_operator, np.full(others.size, -1)])
    team = fixed_operator >= 0
    share = np.array([subscriber_share.get(o, 0.0) for o in OPERATOR_ORDER])
    wanted = share / share.sum() * n_devices - np.bincount(fixed_operator[team], minlength=len(OPERATOR_ORDER))
    wanted = np.maximum(wanted, 0.0) + 1e-9 * share
    operator = np.where(team, fixed_operator, rng.choice(len(OPERATOR_ORDER), size=n_devices, p=wanted / wanted.sum()))
    order = rng.permutation(n_devices)
    home, team, operator = home[order], team[order], operator[order]
    capability_names = list(DEVICE_CAPABILITY_SHARE)
    capability = rng.choice(len(capability_names), size=n_devices, p=list(DEVICE_CAPABILITY_SHARE.values()))
    capability = np.array([_TECH_CODES.index(capability_names[c]) for c in capability], np.int8)
    activity = rng.lognormal(0.0, 0.5, n_devices)
    device_ids = _device_ids("crowd", seed, n_devices)

    device = rng.choice(n_devices, size=n_points, p=activity / activity.sum())
    place = rng.choice(3, size=n_points, p=list(PLACE_SHARE.values()))  # 0 home, 1 commune, 2 route
    team_place = rng.choice(3, size=n_points, p=list(TEAM_PLACE_SHARE.values()))
    place = np.where(team[device], team_place, place)
    anchor = home[device]
    home_commune = village_commune[anchor]
    other = _pick_within_groups(village_commune, village_people, home_commune, rng)
    anchor = np.where((place == 1) & (other >= 0), other, anchor)
    x = vx[anchor] + rng.normal(0.0, HOME_JITTER_M, n_points)
    y = vy[anchor] + rng.normal(0.0, HOME_JITTER_M, n_points)
    # Trips within the commune: some at the other village, the others on the way there or to the
    # commune centre (market, school, UBND xã), uniform along a straight road.
    trip = rng.choice(3, size=n_points, p=VILLAGE_TRIP_SHARE)  # 0 at the village, 1 road to it, 2 road to centre
    on_road = (place == 1) & (trip > 0)
    along = rng.uniform(size=n_points)
    home_x, home_y = vx[home[device]], vy[home[device]]
    end_x = np.where(trip == 1, vx[anchor], geo.centre_x[home_commune])
    end_y = np.where(trip == 1, vy[anchor], geo.centre_y[home_commune])
    road_x = home_x + along * (end_x - home_x) + rng.normal(0.0, ROUTE_JITTER_M, n_points)
    road_y = home_y + along * (end_y - home_y) + rng.normal(0.0, ROUTE_JITTER_M, n_points)
    x = np.where(on_road, road_x, x)
    y = np.where(on_road, road_y, y)
    # Routes: a segment between neighbouring commune centres, mostly one that starts at home.
    segments = geo.segments
    ends = np.concatenate([segments[:, 0], segments[:, 1]])
    order = np.argsort(ends, kind="stable")
    incident_segment = np.concatenate([np.arange(len(segments))] * 2)[order]
    local_segment = _pick_within_groups(ends[order], np.ones(order.size), home_commune, rng)
    any_segment = rng.integers(0, len(segments), n_points)
    segment = np.where(
        (local_segment >= 0) & (rng.uniform(size=n_points) < 0.7), incident_segment[local_segment], any_segment
    )
    t = rng.uniform(size=n_points)
    a, b = segments[segment, 0], segments[segment, 1]
    route_x = geo.centre_x[a] + t * (geo.centre_x[b] - geo.centre_x[a]) + rng.normal(0.0, ROUTE_JITTER_M, n_points)
    route_y = geo.centre_y[a] + t * (geo.centre_y[b] - geo.centre_y[a]) + rng.normal(0.0, ROUTE_JITTER_M, n_points)
    on_route = place == 2
    x = np.where(on_route, route_x, x)
    y = np.where(on_route, route_y, y)
    indoor_p, indoor_mean, indoor_sd = INDOOR_LOSS
    vehicle_p, vehicle_mean, vehicle_sd = VEHICLE_LOSS
    indoor = ~on_route & (rng.uniform(size=n_points) < indoor_p)
    in_vehicle = on_route & (rng.uniform(size=n_points) < vehicle_p)
    extra = np.where(indoor, np.maximum(rng.normal(indoor_mean, indoor_sd, n_points), 2.0), 0.0)
    extra = np.where(in_vehicle, np.maximum(rng.normal(vehicle_mean, vehicle_sd, n_points), 1.0), extra)
    return {
        "time_ns": _random_times(n_points, start, end, rng),
        "x": x,
        "y": y,
        "operator": operator[device],
        "capability": capability[device],
        "extra_loss": extra.astype("float32"),
        "device_id": device_ids[device],
        "place": np.array(["home", "commune", "route"])[place],
    }


def _drive_sessions(
    geo: _Geography,
    n_devices: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """G-NetTrack drive tests: 2 sessions per device, 3 legs between neighbouring commune centres."""
    neighbours: dict[int, list[int]] = {}
    for a, b in geo.segments:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    underserved = [int(i) for i in np.flatnonzero(np.isin(geo.codes, list(UNDERSERVED_COMMUNES)))]
    operators = ["viettel", "vinaphone", "mobifone", "vietnamobile"]
    names = [f"dev{i + 1:02d}_{operators[i % len(operators)]}" for i in range(n_devices)]
    pieces = []
    for device in range(n_devices):  # loops over devices and sessions (files), not samples
        for session in range(2):
            node = int(rng.choice(underserved)) if (session == 0 and underserved) else int(rng.integers(len(geo.codes)))
            path = [node]
            for _ in range(3):
                path.append(int(rng.choice(neighbours.get(path[-1], [path[-1]]))))
            px, py = geo.centre_x[path], geo.centre_y[path]
            leg = np.hypot(np.diff(px), np.diff(py))
            along = np.concatenate([[0.0], np.cumsum(leg)])
            speed = rng.uniform(8.0, 12.0)  # m/s, 30-43 km/h on provincial roads
            step = rng.integers(2, 6, size=int(along[-1] / speed / 2) + 2)  # 2-5 s between logs
            elapsed = np.cumsum(step) - step[0]
            elapsed = elapsed[elapsed * speed <= along[-1]]
            distance = elapsed * speed
            x = np.interp(distance, along, px) + rng.normal(0.0, 8.0, elapsed.size)
            y = np.interp(distance, along, py) + rng.normal(0.0, 8.0, elapsed.size)
            begin = _random_times(1, start, end, rng)[0]
            pieces.append(
                pd.DataFrame(
                    {
                        "device": names[device],
                        "time_ns": begin + elapsed.astype(np.int64) * 1_000_000_000,
                        "x": x,
                        "y": y,
                        "operator": OPERATOR_ORDER.index(operators[device % len(operators)]),
                    }
                )
            )
    frame = (
        pd.concat(pieces, ignore_index=True)
        if pieces
        else pd.DataFrame(
            {"device": [], "time_ns": np.array([], np.int64), "x": [], "y": [], "operator": np.array([], np.int64)}
        )
    )
    n = len(frame)
    in_vehicle = np.maximum(rng.normal(VEHICLE_LOSS[1], VEHICLE_LOSS[2], n), 1.0)
    return {
        "device": frame["device"].to_numpy(),
        "time_ns": frame["time_ns"].to_numpy(np.int64),
        "x": frame["x"].to_numpy(float),
        "y": frame["y"].to_numpy(float),
        "operator": frame["operator"].to_numpy(np.int64),
        "capability": np.full(n, _TECH_CODES.index("4G"), np.int8),
        "extra_loss": in_vehicle.astype("float32"),
    }


# --------------------------------------------------------------------------------------------
# tables


def _local_iso(time_ns: np.ndarray) -> np.ndarray:
    local = (time_ns.view("datetime64[ns]") + LOCAL_OFFSET).astype("datetime64[s]")
    return np.char.add(np.datetime_as_string(local, unit="s"), "+07:00")


def _measurement_table(
    samples: dict[str, np.ndarray], radio_out: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    n = samples["x"].shape[0]
    tech = radio_out["tech"]
    service = tech >= 0
    quality = np.full(n, np.nan)
    sinr = np.full(n, np.nan)
    dl = np.full(n, np.nan)
    ul = np.full(n, np.nan)
    latency = np.full(n, np.nan)
    speed_test = service & (rng.uniform(size=n) < SPEED_TEST_SHARE)
    for code, technology in enumerate(_TECH_CODES):
        rows = np.flatnonzero(tech == code)
        if rows.size == 0:
            continue
        tech_sinr = radio_out["sinr"][rows].astype(float)
        quality[rows] = np.round(quality_db(tech_sinr, technology), 0 if technology != "3G" else 1)
        if technology in ("4G", "5G"):
            sinr[rows] = np.round(tech_sinr, 1)
        tested = rows[speed_test[rows]]
        if tested.size:
            d, u, lat_ms = throughput(radio_out["sinr"][tested].astype(float), technology, rng)
            dl[tested], ul[tested], latency[tested] = d, u, lat_ms
    lon, lat = _to_lonlat(samples["x"], samples["y"])
    operator = np.array(OPERATOR_ORDER)[samples["operator"]]
    plmn = np.array([OPERATORS[o][0] for o in OPERATOR_ORDER])[samples["operator"]]
    technology = np.where(service, np.array(_TECH_CODES + [""])[tech], "")
    frame = pd.DataFrame(
        {
            "time": _local_iso(samples["time_ns"]),
            "lon": lon.round(6),
            "lat": lat.round(6),
            "operator": operator,
            "plmn": plmn,
            "technology": pd.array(np.where(service, technology, None), dtype="string"),
            "signal_dbm": radio_out["level"].astype(float),
            "quality_db": quality,
            "sinr_db": sinr,
            "dl_kbps": dl,
            "ul_kbps": ul,
            "latency_ms": latency,
            "no_service": ~service,
            "device_id": samples["device_id"],
        }
    )
    return frame[GENERIC_CSV_COLUMNS]


def _inject_junk(
    frame: pd.DataFrame, truth: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Spoil a few rows as real files are spoiled; each row gets at most one kind of junk."""
    n = len(frame)
    kinds = list(JUNK_RATES)
    rates = np.array([JUNK_RATES[k] for k in kinds])
    draw = rng.choice(len(kinds) + 1, size=n, p=np.concatenate([rates, [1.0 - rates.sum()]]))
    junk = np.where(draw < len(kinds), np.array(kinds + [""])[draw], "")
    frame = frame.copy()
    frame["time"] = frame["time"].astype(object)
    service = ~frame["no_service"].to_numpy(bool)
    # A sentinel needs a signal to replace: on a no-service row it becomes nothing.
    junk = np.where(np.char.startswith(junk.astype(str), "sentinel") & ~service, "", junk)
    frame.loc[junk == "sentinel_-999", "signal_dbm"] = -999.0
    frame.loc[junk == "sentinel_0", "signal_dbm"] = 0.0
    swap = junk == "swapped_lat_lon"
    frame.loc[swap, ["lon", "lat"]] = frame.loc[swap, ["lat", "lon"]].to_numpy()
    frame.loc[junk == "zero_coordinates", ["lon", "lat"]] = 0.0
    bad_time = junk == "bad_time"
    frame.loc[bad_time, "time"] = rng.choice(_BAD_TIMES, size=int(bad_time.sum()))
    truth = truth.assign(junk=np.where(junk == "duplicate", "", junk))
    # Duplicates: the chosen rows appear twice in a row; the copy is the junk.
    copies = np.repeat(np.arange(n), np.where(junk == "duplicate", 2, 1))
    is_copy = np.zeros(copies.size, bool)
    is_copy[1:] = copies[1:] == copies[:-1]
    frame = frame.iloc[copies].reset_index(drop=True)
    truth = truth.iloc[copies].reset_index(drop=True)
    truth.loc[is_copy, "junk"] = "duplicate"
    frame["time"] = frame["time"].astype("string")
    return frame, truth


def _gnettrack_table(
    sessions: dict[str, np.ndarray],
    radio_out: dict[str, np.ndarray],
    sites: pd.DataFrame,
    rng: np.random.Generator,
    junk_on: bool,
) -> pd.DataFrame:
    n = sessions["x"].shape[0]
    lon, lat = _to_lonlat(sessions["x"], sessions["y"])
    tech = radio_out["tech"]
    service = tech >= 0
    quality = np.full(n, np.nan)
    for code, technology in enumerate(_TECH_CODES):
        rows = np.flatnonzero(tech == code)
        if rows.size:
            quality[rows] = np.round(quality_db(radio_out["sinr"][rows].astype(float), technology))
    site = radio_out["site"]
    sx = sites["x"].to_numpy()[np.maximum(site, 0)]
    sy = sites["y"].to_numpy()[np.maximum(site, 0)]
    bearing = np.degrees(np.arctan2(sessions["x"] - sx, sessions["y"] - sy)) % 360.0
    level = radio_out["level"].astype(float)
    junk = np.full(n, "", dtype=object)
    to_340 = junk_on & service & (rng.uniform(size=n) < GNETTRACK_JUNK_RATES["level_-340"])
    to_24 = junk_on & (tech == 1) & ~to_340 & (rng.uniform(size=n) < GNETTRACK_JUNK_RATES["3g_level_-24"])
    level[to_340] = -340.0
    level[to_24] = -24.0
    junk[to_340] = "level_-340"
    junk[to_24] = "3g_level_-24"
    operator = np.array(OPERATOR_ORDER)[sessions["operator"]]
    return pd.DataFrame(
        {
            "device": sessions["device"],
            "time_utc": pd.to_datetime(sessions["time_ns"], utc=True),
            "lon": lon.round(6),
            "lat": lat.round(6),
            "operator": operator,
            "plmn": np.array([OPERATORS[o][0] for o in OPERATOR_ORDER])[sessions["operator"]],
            "technology": np.where(service, np.array(_TECH_CODES + ["--"])[tech], "--"),
            "level": np.where(service, level, -200.0),
            "qual": quality,
            "snr": np.where(np.isin(tech, [2, 3]), np.round(radio_out["sinr"].astype(float), 1), np.nan),
            "site_id": np.where(service, sites["site_id"].to_numpy()[np.maximum(site, 0)], ""),
            "sector": (bearing // 120).astype(np.int64) + 1,
            "junk": junk,
        }
    ).sort_values(["device", "time_utc"], kind="stable", ignore_index=True)


# --------------------------------------------------------------------------------------------
# the simulator


def simulate(
    communes: gpd.GeoDataFrame,
    surface: PopulationSurface,
    n_points: int = DEFAULT_POINTS,
    seed: int = DEFAULT_SEED,
    start: str = DEFAULT_START,
    end: str = DEFAULT_END,
    new_sites_from: str | None = None,
    outage_from: str | None = None,
    exclude_sites_within: Sequence[tuple[float, float, float]] | None = None,
    n_devices: int = DEFAULT_DEVICES,
    n_gnettrack_devices: int = DEFAULT_GNETTRACK_DEVICES,
    junk: bool = True,
    gmobile: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SimulationResult:
    """Simulate SYNTHETIC crowd-sourced measurements for the given communes.

    The same arguments always give the same result: villages, sites and shadowing depend only on
    ``seed`` (not on ``n_points``), so runs of different sizes share one network.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table (:func:`lomsong.reference.boundaries.read_communes`).
    surface : PopulationSurface
        Population surface in EPSG:32648 (:func:`lomsong.reference.population.load_population`).
    n_points : int
        Rows of the generic CSV before duplicates are added.
    seed : int
        Random seed.
    start, end : str
        First and last month (``YYYY-MM``, both included), local time.
    new_sites_from : str, optional
        Month from which new Viettel and VinaPhone sites serve villages of
        :data:`NEW_SITE_COMMUNES` (a gap closes).
    outage_from : str, optional
        Month from which every site within :data:`OUTAGE_RADIUS_KM` of the centre of
        :data:`OUTAGE_COMMUNE` is off air (a gap opens).
    exclude_sites_within : sequence of (lon, lat, radius_km), optional
        Remove every site within ``radius_km`` of each point (a planted dead zone).
    n_devices : int
        Crowd-sourcing phones (a few hundred).
    n_gnettrack_devices : int
        Drive-test phones logging with G-NetTrack Pro (0 for none).
    junk : bool
        Add the junk of :data:`JUNK_RATES` and :data:`GNETTRACK_JUNK_RATES`.
    gmobile : bool
        Also simulate Gmobile (a few sites, :data:`GMOBILE_SUBSCRIBER_SHARE` of the devices); off by
        default, Gmobile being negligible in the province.
    progress : callable, optional
        Called with a short message at each stage.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        Bad months, sizes or an empty commune table.
    """
    if n_points < 0 or n_devices < 1 or n_gnettrack_devices < 0:
        raise ValueError("n_points must be ≥ 0, n_devices ≥ 1 and n_gnettrack_devices ≥ 0")
    if communes.empty:
        raise ValueError("no communes to simulate")
    first, after = _period_bounds(start, end)
    switch_on = month_start(new_sites_from) if new_sites_from else None
    switch_off = month_start(outage_from) if outage_from else None
    say = progress or (lambda message: None)
    timings: dict[str, float] = {}
    clock = time_module.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time_module.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    say("geography")
    geo = _geography(communes, surface)
    streams = [np.random.default_rng([seed, part]) for part in range(8)]
    villages = _make_villages(geo, streams[1])
    operators = [*DEFAULT_OPERATORS, "gmobile"] if gmobile else list(DEFAULT_OPERATORS)
    subscriber_share = {o: v * (1.0 - GMOBILE_SUBSCRIBER_SHARE) for o, v in SUBSCRIBER_SHARE.items()}
    subscriber_share = dict(subscriber_share, gmobile=GMOBILE_SUBSCRIBER_SHARE) if gmobile else SUBSCRIBER_SHARE
    sites = _place_sites(geo, villages, streams[2], switch_on, switch_off, exclude_sites_within, operators)
    radio = _shadowing(geo, streams[3])
    radio.sites = sites
    lap("network")

    say(f"{n_points:,} crowd-sourced samples")
    samples = _crowd_samples(geo, villages, n_points, n_devices, first, after, seed, streams[4], subscriber_share)
    lap("samples")
    say("radio")
    radio_out = _evaluate(
        samples["x"],
        samples["y"],
        samples["time_ns"],
        samples["operator"],
        samples["capability"],
        samples["extra_loss"],
        geo,
        radio,
        streams[5],
    )
    lap("radio")
    say("tables")
    measurements = _measurement_table(samples, radio_out, streams[6])
    commune = geo.commune_at(samples["x"], samples["y"])
    truth = pd.DataFrame(
        {
            "junk": "",
            "time_utc": pd.to_datetime(samples["time_ns"], utc=True),
            "x": samples["x"],
            "y": samples["y"],
            "commune_code": np.where(commune >= 0, geo.codes[np.maximum(commune, 0)], ""),
            "place": samples["place"],
            "site_id": np.where(
                radio_out["site"] >= 0, sites["site_id"].to_numpy()[np.maximum(radio_out["site"], 0)], ""
            ),
        }
    )
    order = np.argsort(samples["time_ns"], kind="stable")
    measurements = measurements.iloc[order].reset_index(drop=True)
    truth = truth.iloc[order].reset_index(drop=True)
    if junk:
        measurements, truth = _inject_junk(measurements, truth, streams[7])
    lap("tables")

    say("G-NetTrack drive tests")
    sessions = _drive_sessions(geo, n_gnettrack_devices, first, after, seed, np.random.default_rng([seed, 9]))
    drive_rng = np.random.default_rng([seed, 10])
    drive_out = _evaluate(
        sessions["x"],
        sessions["y"],
        sessions["time_ns"],
        sessions["operator"],
        sessions["capability"],
        sessions["extra_loss"],
        geo,
        radio,
        drive_rng,
    )
    gnettrack = _gnettrack_table(sessions, drive_out, sites, np.random.default_rng([seed, 11]), junk)
    lap("gnettrack")

    metadata = _metadata(
        seed=seed,
        n_points=n_points,
        start=start,
        end=end,
        new_sites_from=new_sites_from,
        outage_from=outage_from,
        exclude_sites_within=exclude_sites_within,
        n_devices=n_devices,
        n_gnettrack_devices=n_gnettrack_devices,
        junk=junk,
        gmobile=gmobile,
        measurements=measurements,
        truth=truth,
        gnettrack=gnettrack,
        sites=sites,
        villages=villages,
        geo=geo,
        timings=timings,
    )
    return SimulationResult(measurements, truth, gnettrack, sites, villages, metadata)


def _metadata(**kw: Any) -> dict[str, Any]:
    measurements: pd.DataFrame = kw["measurements"]
    truth: pd.DataFrame = kw["truth"]
    gnettrack: pd.DataFrame = kw["gnettrack"]
    sites: pd.DataFrame = kw["sites"]
    villages: gpd.GeoDataFrame = kw["villages"]
    geo: _Geography = kw["geo"]
    junk_counts = truth["junk"].value_counts()
    gnettrack_junk = gnettrack["junk"].value_counts()
    known = set(geo.codes)
    return {
        "synthetic": True,
        "description": "SYNTHETIC crowd-sourced mobile measurements for Đắk Nông (lomsong simulate); not measured",
        "generator": f"lomsong {__version__} lomsong.simulate.demo",
        "simulator_version": SIMULATOR_VERSION,
        "licence": LICENCE_NOTE,
        "seed": kw["seed"],
        "parameters": {
            "n_points": kw["n_points"],
            "start": kw["start"],
            "end": kw["end"],
            "new_sites_from": kw["new_sites_from"],
            "outage_from": kw["outage_from"],
            "exclude_sites_within": [list(map(float, item)) for item in kw["exclude_sites_within"] or []],
            "n_devices": kw["n_devices"],
            "n_gnettrack_devices": kw["n_gnettrack_devices"],
            "junk": kw["junk"],
            "gmobile": kw["gmobile"],
            "town_site_spacing_km": TOWN_SITE_SPACING_KM,
            "village_site_min_people": VILLAGE_SITE_MIN_PEOPLE,
            "subscriber_share": SUBSCRIBER_SHARE,
            "junk_rates": JUNK_RATES,
            "gnettrack_junk_rates": GNETTRACK_JUNK_RATES,
            "path_loss": "COST-231 Hata, base 30 m, phone 1.5 m, suburban correction outside towns",
            "frequencies_mhz": {t: p.frequency_mhz for t, p in TECHNOLOGY_PARAMETERS.items()},
            "reference_eirp_dbm": {t: p.reference_eirp_dbm for t, p in TECHNOLOGY_PARAMETERS.items()},
            "shadowing_sigma_db": round(float(np.hypot(SHADOW_COMMON_DB, SHADOW_OPERATOR_DB)), 2),
            "shadowing_correlation_m": SHADOW_CORRELATION_M,
        },
        "scenario": {
            "underserved_communes": {c: n for c, n in UNDERSERVED_COMMUNES.items() if c in known},
            "new_sites": sites.loc[sites["active_from"].notna(), ["site_id", "lon", "lat", "note"]].to_dict("records"),
            "outage": None
            if kw["outage_from"] is None
            else {
                "commune_code": OUTAGE_COMMUNE,
                "radius_km": OUTAGE_RADIUS_KM,
                "from": kw["outage_from"],
                "sites_off": int(sites["active_until"].notna().sum()),
            },
        },
        "counts": {
            "generic_csv_rows": len(measurements),
            "no_service": int(measurements["no_service"].sum()),
            "by_operator": {k: int(v) for k, v in measurements["operator"].value_counts().items()},
            "by_technology": {k: int(v) for k, v in measurements["technology"].value_counts().items()},
            "junk": {k: int(v) for k, v in junk_counts.items() if k},
            "devices": int(measurements["device_id"].nunique()),
            "gnettrack_rows": len(gnettrack),
            "gnettrack_no_service": int((gnettrack["technology"] == "--").sum()),
            "gnettrack_junk": {k: int(v) for k, v in gnettrack_junk.items() if k},
            "gnettrack_devices": int(gnettrack["device"].nunique()),
            "sites": {k: int(v) for k, v in sites["operator"].value_counts().items()},
            "villages": len(villages),
        },
        "seconds": kw["timings"],
    }


# --------------------------------------------------------------------------------------------
# writers


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same folder, then rename (readers never see half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def generic_csv_name(metadata: dict[str, Any]) -> str:
    """Return the generic CSV's file name, e.g. ``daknong_synthetic_measurements_2026-08_2026-10.csv``."""
    parameters = metadata.get("parameters", {})
    return f"daknong_synthetic_measurements_{parameters.get('start')}_{parameters.get('end')}.csv"


#: The first line of every simulated generic CSV: the mark that survives a rename or an upload
#: (the reader labels a file whose comment lines say ``synthetic`` as simulated).
SYNTHETIC_CSV_COMMENT = "# SYNTHETIC data made by lomsong simulate: no value was measured (dữ liệu mô phỏng)"
#: The ``Cellname`` of every row of a simulated G-NetTrack log (real logs leave it empty or name a
#: cell); the G-NetTrack reader labels such a file as simulated, whatever its name.
SYNTHETIC_CELLNAME = "SYNTHETIC"


def write_generic_csv(result: SimulationResult, path: str | Path) -> Path:
    """Write the generic CSV (UTF-8, comma, header = canonical names, missing = empty).

    The first line is the comment :data:`SYNTHETIC_CSV_COMMENT`, so the file says it is simulated
    even once renamed.

    Parameters
    ----------
    result : SimulationResult
        From :func:`simulate`.
    path : str or Path
        Target file (written atomically).

    Returns
    -------
    Path
    """
    frame = result.measurements.copy()
    frame["no_service"] = np.where(frame["no_service"].to_numpy(bool), "true", "false")
    for column in ("signal_dbm", "dl_kbps", "ul_kbps", "latency_ms", "quality_db"):
        values = frame[column].to_numpy(float)
        finite = values[~np.isnan(values)]
        if np.array_equal(finite, np.round(finite)):  # whole numbers: write -95, not -95.0
            frame[column] = pd.array(np.round(values), dtype="Float64").astype("Int64")

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(SYNTHETIC_CSV_COMMENT + "\n")
            frame.to_csv(handle, index=False, lineterminator="\n")

    return _atomic_write(Path(path), write)


_GNETTRACK_OPERATOR_NAMES = {
    "viettel": "Viettel",
    "vinaphone": "VINAPHONE",
    "mobifone": "MOBIFONE",
    "vietnamobile": "Vietnamobile",
    "gmobile": "Gmobile",
}
_ARFCN = {"2G": "62", "3G": "10812", "4G": "1650", "5G": "-"}
_BAND = {"2G": "EGSM", "3G": "", "4G": "L3", "5G": ""}


def gnettrack_lines(rows: pd.DataFrame) -> list[str]:
    """Return the lines of one G-NetTrack Pro log (header first, CRLF not included).

    Quirks as in the real sample: tab-separated, 21 header names, each data row ending with an
    extra tab, ``-`` for missing values, ``YYYY.MM.DD_HH.MM.SS`` local time, ``Operator`` the PLMN;
    a no-service row has ``NetworkTech`` ``--``, ``Level`` -200, ``Operatorname`` ``NO_COVERAGE``
    and an empty ``Operator``.
    """
    n = len(rows)
    local = (rows["time_utc"].to_numpy("datetime64[ns]") + LOCAL_OFFSET).astype("datetime64[s]")
    text = np.datetime_as_string(local, unit="s")
    stamp = pd.Series(text).str.replace("-", ".", regex=False).str.replace("T", "_", regex=False)
    stamp = stamp.str.replace(":", ".", regex=False).to_numpy()
    tech = rows["technology"].to_numpy(str)
    service = tech != "--"
    site_number = pd.Series(rows["site_id"].to_numpy(str)).str.extract(r"(\d+)$")[0].fillna("0").astype(int).to_numpy()
    sector = rows["sector"].to_numpy()

    def num(values: np.ndarray, digits: int = 0) -> np.ndarray:
        values = np.asarray(values, float)
        formatted = np.char.mod(f"%.{digits}f", np.nan_to_num(values))
        return np.where(np.isnan(values), "-", formatted)

    is4 = np.isin(tech, ["4G", "5G"])
    is3 = tech == "3G"
    node = np.where(is4, (10_000 + site_number).astype(str), np.where(is3, (500 + site_number // 100).astype(str), ""))
    cell_id = np.where(is4, sector.astype(str), (site_number * 10 + sector).astype(str))
    lac = (6_700 + site_number // 50).astype(str)
    level = rows["level"].to_numpy(float)
    lte_rssi = np.where(is4 & (level > -300), num(level + 12.0), "-")
    psc = np.where(
        is4, ((site_number * 3 + sector) % 504).astype(str), np.where(is3, ((site_number * 7) % 512).astype(str), "0")
    )
    altitude = np.round(
        600 + 250 * np.abs(np.sin(rows["lon"].to_numpy() * 37.0 + rows["lat"].to_numpy() * 53.0))
    ).astype(int)
    columns = {
        "Timestamp": stamp,
        "Longitude": rows["lon"].map("{:.6f}".format).str.rstrip("0").str.rstrip(".").to_numpy(),
        "Latitude": rows["lat"].map("{:.6f}".format).str.rstrip("0").str.rstrip(".").to_numpy(),
        "Operatorname": np.where(service, rows["operator"].map(_GNETTRACK_OPERATOR_NAMES).to_numpy(str), "NO_COVERAGE"),
        "Operator": np.where(service, rows["plmn"].to_numpy(str), ""),
        "Cellname": np.full(n, SYNTHETIC_CELLNAME),  # the simulated mark inside the file
        "Node": np.where(service, node, ""),
        "CellID": np.where(service, cell_id, ""),
        "LAC": np.where(service, lac, ""),
        "NetworkTech": tech,
        "Level": num(level),
        "Qual": np.where(tech == "2G", "-", num(rows["qual"].to_numpy())),
        "SNR": num(rows["snr"].to_numpy(), 1),
        "CQI": np.full(n, "-"),
        "LTERSSI": lte_rssi,
        "ARFCN": np.where(service, pd.Series(tech).map(_ARFCN).fillna("").to_numpy(str), ""),
        "PSC": np.where(service, psc, ""),
        "Altitude": altitude.astype(str),
        "Distance": np.full(n, "-1"),
        "TA": np.full(n, ""),
        "BAND": np.where(service, pd.Series(tech).map(_BAND).fillna("").to_numpy(str), ""),
    }
    body = pd.DataFrame(columns)[GNETTRACK_COLUMNS].agg("\t".join, axis=1) + "\t"
    return ["\t".join(GNETTRACK_COLUMNS), *body.tolist()]


def gnettrack_name(device: str) -> str:
    """Return the file name of one device's G-NetTrack log (``gnettrack_synthetic_<device>.txt``)."""
    return f"gnettrack_synthetic_{device}.txt"


def write_gnettrack(result: SimulationResult, folder: str | Path) -> list[Path]:
    """Write one G-NetTrack Pro log per drive-test device (UTF-8, CRLF), atomically.

    Parameters
    ----------
    result : SimulationResult
        From :func:`simulate`.
    folder : str or Path
        Target folder.

    Returns
    -------
    list of Path
        The files written, one per device.
    """
    written = []
    for device, rows in result.gnettrack.groupby("device", sort=True):  # one file per device
        lines = gnettrack_lines(rows)

        def write(tmp: Path, lines: list[str] = lines) -> None:
            tmp.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))

        written.append(_atomic_write(Path(folder) / gnettrack_name(str(device)), write))
    return written


def write_villages(villages: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write the synthetic village layer as CSV (UTF-8) or GeoJSON, by the file's suffix.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        From :func:`make_villages` or ``SimulationResult.villages``.
    path : str or Path
        ``.csv`` or ``.geojson`` (written atomically).

    Returns
    -------
    Path
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".geojson", ".json"):
        raise ValueError(f"{path}: village layer must be .csv or .geojson")

    def write(tmp: Path) -> None:
        if suffix == ".csv":
            villages.drop(columns="geometry").to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
        else:
            tmp.write_text(villages.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")

    return _atomic_write(path, write)


def write_sites(sites: pd.DataFrame, path: str | Path) -> Path:
    """Write the synthetic sites (the simulator's ground truth) as CSV, atomically.

    Besides the simulator's own columns it has ``technologies`` (``2G;4G``), so the file is also an
    operators' site list that ``lomsong run --sites`` reads (:mod:`lomsong.readers.sites`).
    """
    frame = sites.copy()
    flags = frame[["has_2g", "has_3g", "has_4g", "has_5g"]].to_numpy(bool)
    names = np.array(["2G;", "3G;", "4G;", "5G;"], dtype=object)
    joined = pd.Series(np.where(flags, names, "").sum(axis=1), index=frame.index).str.rstrip(";")
    frame.insert(4, "technologies", joined)
    for column in ("active_from", "active_until"):
        frame[column] = frame[column].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%dT%H:%M:%S%z").fillna("")
    return _atomic_write(Path(path), lambda tmp: frame.to_csv(tmp, index=False, lineterminator="\n"))


def metadata_name(metadata: dict[str, Any]) -> str:
    """Return the sidecar metadata file name (``daknong_synthetic_measurements_…_metadata.json``)."""
    return generic_csv_name(metadata).removesuffix(".csv") + ".metadata.json"


def write_outputs(
    result: SimulationResult, folder: str | Path, formats: Iterable[str] = ("generic_csv", "gnettrack")
) -> list[Path]:
    """Write the measurement files and the sidecar metadata JSON into ``folder``.

    Parameters
    ----------
    result : SimulationResult
        From :func:`simulate`.
    folder : str or Path
        Target folder.
    formats : iterable of str
        ``generic_csv`` and/or ``gnettrack``.

    Returns
    -------
    list of Path
        Measurement files, then the metadata file (written last).
    """
    folder = Path(folder)
    formats = list(formats)
    unknown = set(formats) - {"generic_csv", "gnettrack"}
    if unknown:
        raise ValueError(f"unknown format(s): {', '.join(sorted(unknown))}")
    written = []
    if "generic_csv" in formats:
        written.append(write_generic_csv(result, folder / generic_csv_name(result.metadata)))
    if "gnettrack" in formats:
        written += write_gnettrack(result, folder)
    metadata = dict(result.metadata, files=[p.name for p in written])
    text = json.dumps(metadata, ensure_ascii=False, indent=2, default=str)
    written.append(_atomic_write(folder / metadata_name(result.metadata), lambda tmp: tmp.write_text(text, "utf-8")))
    return written


# --------------------------------------------------------------------------------------------
# the bundled demo set


def demo_villages_path() -> Path:
    """Return the path of the synthetic demo village layer (``data/villages/…synthetic….geojson``)."""
    return paths.data_dir() / "villages" / "daknong_synthetic_villages.geojson"


def demo_parameters() -> dict[str, Any]:
    """Return the fixed parameters of the bundled demo set."""
    return {
        "n_points": DEFAULT_POINTS,
        "seed": DEFAULT_SEED,
        "start": DEFAULT_START,
        "end": DEFAULT_END,
        "new_sites_from": DEMO_NEW_SITES_FROM,
        "outage_from": DEMO_OUTAGE_FROM,
    }


def ensure_demo_data(
    force: bool = False,
    communes: gpd.GeoDataFrame | None = None,
    surface: PopulationSurface | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Generate the bundled SYNTHETIC demo set if it is missing (or ``force``).

    Writes the generic CSV, the G-NetTrack logs and the metadata into
    :func:`lomsong.paths.measurements_dir`, and the village layer (GeoJSON and CSV) and the sites
    beside it in ``data/villages/``. Idempotent: when the metadata file exists with the demo
    parameters and lists files that all exist, nothing is written. Atomic: everything is written
    into a temporary folder first and moved in afterwards, the metadata last, so an interrupted run
    leaves either the old complete set or no metadata (and the next call regenerates).

    Parameters
    ----------
    force : bool
        Regenerate even if the set is complete.
    communes, surface : optional
        Default: the bundled communes and population surface.
    progress : callable, optional
        Called with a short message at each stage.

    Returns
    -------
    list of Path
        Every file of the demo set.
    """
    from lomsong.reference.boundaries import read_communes
    from lomsong.reference.population import load_population

    target = paths.measurements_dir()
    parameters = demo_parameters()
    metadata_file = target / f"daknong_synthetic_measurements_{parameters['start']}_{parameters['end']}.metadata.json"
    village_files = [demo_villages_path(), demo_villages_path().with_suffix(".csv")]
    sites_file = demo_villages_path().parent / "daknong_synthetic_sites.csv"
    if metadata_file.exists() and not force:
        try:
            existing = json.loads(metadata_file.read_text("utf-8"))
            files = [target / name for name in existing.get("files", [])]
            same = (
                existing.get("simulator_version") == SIMULATOR_VERSION
                and existing.get("seed") == parameters["seed"]
                and all(existing.get("parameters", {}).get(k) == v for k, v in parameters.items() if k != "seed")
            )
            if same and files and all(f.exists() for f in [*files, *village_files, sites_file]):
                return [*files, *village_files, sites_file, metadata_file]
        except (OSError, ValueError):
            pass  # unreadable metadata: regenerate
    communes = communes if communes is not None else read_communes()
    surface = surface if surface is not None else load_population(communes)
    result = simulate(
        communes,
        surface,
        n_points=parameters["n_points"],
        seed=parameters["seed"],
        start=parameters["start"],
        end=parameters["end"],
        new_sites_from=parameters["new_sites_from"],
        outage_from=parameters["outage_from"],
        progress=progress,
    )
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target, prefix=".synthetic-demo-"))
    try:
        written = write_outputs(result, staging)
        extra = [write_villages(result.villages, staging / p.name) for p in village_files]
        extra.append(write_sites(result.sites, staging / sites_file.name))
        final = []
        for path in [*written[:-1], *extra, written[-1]]:  # metadata last: it marks the set complete
            destination = target / path.name if path in written else demo_villages_path().parent / path.name
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
            final.append(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
