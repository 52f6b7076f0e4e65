"""Devices and their samples (crowd phones, drive testers) and the tables written from them, junk included."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong.operators import OPERATORS
from lomsong.simulate.geography import Geography, pick_within_groups, to_lonlat, to_metric
from lomsong.simulate.parameters import (
    BAD_TIMES,
    DEVICE_CAPABILITY_SHARE,
    GENERIC_CSV_COLUMNS,
    GNETTRACK_JUNK_RATES,
    HOME_JITTER_M,
    HOURLY_WEIGHTS,
    INDOOR_LOSS,
    JUNK_RATES,
    LOCAL_OFFSET,
    LOCAL_TZ,
    OPERATOR_ORDER,
    PLACE_SHARE,
    ROUTE_JITTER_M,
    SPEED_TEST_SHARE,
    SUBSCRIBER_SHARE,
    TEAM_PHONES_PER_OPERATOR,
    TEAM_PLACE_SHARE,
    TECHNOLOGY_CODES,
    UNDERSERVED_COMMUNES,
    VEHICLE_LOSS,
    VILLAGE_TRIP_SHARE,
)
from lomsong.simulate.radio import (
    quality_db,
    throughput,
)


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


def crowd_samples(
    geo: Geography,
    villages: gpd.GeoDataFrame,
    n_points: int,
    n_devices: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    rng: np.random.Generator,
    subscriber_share: dict[str, float] = SUBSCRIBER_SHARE,
) -> dict[str, np.ndarray]:
    """Crowd samples: devices with a home village and an operator, and where and when each sample is taken.

    Parameters
    ----------
    geo : Geography
        The province in metres (:func:`lomsong.simulate.geography.province_geography`).
    villages : geopandas.GeoDataFrame
        The simulated villages (homes of the devices).
    n_points, n_devices : int
        Samples and devices to draw.
    start, end : pandas.Timestamp
        The measured period (UTC).
    seed : int
        Seed of the device identifiers.
    rng : numpy.random.Generator
        The simulator's generator.
    subscriber_share : dict of str to float
        Share of the devices per operator.

    Returns
    -------
    dict of str to numpy.ndarray
        Row-aligned sample arrays (position, time, device, operator, capability, place).
    """
    vx, vy = to_metric(villages["lon"].to_numpy(), villages["lat"].to_numpy())
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
    home = pick_within_groups(village_commune, village_people, resident, rng)
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
    capability = np.array([TECHNOLOGY_CODES.index(capability_names[c]) for c in capability], np.int8)
    activity = rng.lognormal(0.0, 0.5, n_devices)
    device_ids = _device_ids("crowd", seed, n_devices)

    device = rng.choice(n_devices, size=n_points, p=activity / activity.sum())
    place = rng.choice(3, size=n_points, p=list(PLACE_SHARE.values()))  # 0 home, 1 commune, 2 route
    team_place = rng.choice(3, size=n_points, p=list(TEAM_PLACE_SHARE.values()))
    place = np.where(team[device], team_place, place)
    anchor = home[device]
    home_commune = village_commune[anchor]
    other = pick_within_groups(village_commune, village_people, home_commune, rng)
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
    local_segment = pick_within_groups(ends[order], np.ones(order.size), home_commune, rng)
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


def drive_sessions(
    geo: Geography,
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
        "capability": np.full(n, TECHNOLOGY_CODES.index("4G"), np.int8),
        "extra_loss": in_vehicle.astype("float32"),
    }


def _local_iso(time_ns: np.ndarray) -> np.ndarray:
    local = (time_ns.view("datetime64[ns]") + LOCAL_OFFSET).astype("datetime64[s]")
    return np.char.add(np.datetime_as_string(local, unit="s"), "+07:00")


def measurement_table(
    samples: dict[str, np.ndarray], radio_out: dict[str, np.ndarray], rng: np.random.Generator
) -> pd.DataFrame:
    """The generic CSV's rows from the samples and what each one measured (junk not yet injected).

    Parameters
    ----------
    samples : dict of str to numpy.ndarray
        Output of :func:`crowd_samples`.
    radio_out : dict of str to numpy.ndarray
        Output of :func:`lomsong.simulate.signals.evaluate_signals` for these samples.
    rng : numpy.random.Generator
        The simulator's generator.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`lomsong.simulate.parameters.GENERIC_CSV_COLUMNS` and the truth columns.
    """
    n = samples["x"].shape[0]
    tech = radio_out["tech"]
    service = tech >= 0
    quality = np.full(n, np.nan)
    sinr = np.full(n, np.nan)
    dl = np.full(n, np.nan)
    ul = np.full(n, np.nan)
    latency = np.full(n, np.nan)
    speed_test = service & (rng.uniform(size=n) < SPEED_TEST_SHARE)
    for code, technology in enumerate(TECHNOLOGY_CODES):
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
    lon, lat = to_lonlat(samples["x"], samples["y"])
    operator = np.array(OPERATOR_ORDER)[samples["operator"]]
    plmn = np.array([OPERATORS[o][0] for o in OPERATOR_ORDER])[samples["operator"]]
    technology = np.where(service, np.array(TECHNOLOGY_CODES + [""])[tech], "")
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


def inject_junk(
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
    frame.loc[bad_time, "time"] = rng.choice(BAD_TIMES, size=int(bad_time.sum()))
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


def gnettrack_table(
    sessions: dict[str, np.ndarray],
    radio_out: dict[str, np.ndarray],
    sites: pd.DataFrame,
    rng: np.random.Generator,
    junk_on: bool,
) -> pd.DataFrame:
    """The drive testers' rows as G-NetTrack Pro logs them (one device per file).

    Parameters
    ----------
    sessions : dict of str to numpy.ndarray
        Output of :func:`drive_sessions`.
    radio_out : dict of str to numpy.ndarray
        Output of :func:`lomsong.simulate.signals.evaluate_signals` for these rows.
    sites : pandas.DataFrame
        The simulated sites (serving cell identifiers).
    rng : numpy.random.Generator
        The simulator's generator.
    junk_on : bool
        Whether to write the impossible levels real logs hold.

    Returns
    -------
    pandas.DataFrame
        See :attr:`lomsong.simulate.result.SimulationResult.gnettrack`.
    """
    n = sessions["x"].shape[0]
    lon, lat = to_lonlat(sessions["x"], sessions["y"])
    tech = radio_out["tech"]
    service = tech >= 0
    quality = np.full(n, np.nan)
    for code, technology in enumerate(TECHNOLOGY_CODES):
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
            "technology": np.where(service, np.array(TECHNOLOGY_CODES + ["--"])[tech], "--"),
            "level": np.where(service, level, -200.0),
            "qual": quality,
            "snr": np.where(np.isin(tech, [2, 3]), np.round(radio_out["sinr"].astype(float), 1), np.nan),
            "site_id": np.where(service, sites["site_id"].to_numpy()[np.maximum(site, 0)], ""),
            "sector": (bearing // 120).astype(np.int64) + 1,
            "junk": junk,
        }
    ).sort_values(["device", "time_utc"], kind="stable", ignore_index=True)
