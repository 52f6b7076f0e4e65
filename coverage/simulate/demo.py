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

:func:`simulate` is pure (tables in, tables out) and :func:`ensure_demo_data` keeps the bundled
demo set current. The model lives in topical modules beside this one: ``parameters`` (every
number of the model), ``geography`` (the province in metres, villages), ``sites``, ``radio``
(propagation formulas), ``signals`` (what a phone measures at a point), ``samples`` (devices,
their samples, the written tables and junk), ``result`` (what :func:`simulate` returns, file
names) and ``writers`` (the files, written atomically).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time as time_module
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong import __version__, paths
from lomsong.reference.population import PopulationSurface
from lomsong.simulate.defaults import (
    DEFAULT_DEVICES,
    DEFAULT_END,
    DEFAULT_GNETTRACK_DEVICES,
    DEFAULT_POINTS,
    DEFAULT_SEED,
    DEFAULT_START,
)
from lomsong.simulate.geography import Geography, province_geography, villages_on
from lomsong.simulate.parameters import (
    DEFAULT_OPERATORS,
    DEMO_NEW_SITES_FROM,
    DEMO_OUTAGE_FROM,
    GMOBILE_SUBSCRIBER_SHARE,
    GNETTRACK_JUNK_RATES,
    JUNK_RATES,
    LICENCE_NOTE,
    LOCAL_TZ,
    OUTAGE_COMMUNE,
    OUTAGE_RADIUS_KM,
    SHADOW_COMMON_DB,
    SHADOW_CORRELATION_M,
    SHADOW_OPERATOR_DB,
    SIMULATOR_VERSION,
    SUBSCRIBER_SHARE,
    TOWN_SITE_SPACING_KM,
    UNDERSERVED_COMMUNES,
    VILLAGE_SITE_MIN_PEOPLE,
)
from lomsong.simulate.radio import (
    TECHNOLOGY_PARAMETERS,
)
from lomsong.simulate.result import SimulationResult
from lomsong.simulate.samples import crowd_samples, drive_sessions, gnettrack_table, inject_junk, measurement_table
from lomsong.simulate.signals import evaluate_signals, shadowing
from lomsong.simulate.sites import place_sites
from lomsong.simulate.writers import write_outputs, write_sites, write_villages


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
    geo = province_geography(communes, surface)
    streams = [np.random.default_rng([seed, part]) for part in range(8)]
    villages = villages_on(geo, streams[1])
    operators = [*DEFAULT_OPERATORS, "gmobile"] if gmobile else list(DEFAULT_OPERATORS)
    subscriber_share = {o: v * (1.0 - GMOBILE_SUBSCRIBER_SHARE) for o, v in SUBSCRIBER_SHARE.items()}
    subscriber_share = dict(subscriber_share, gmobile=GMOBILE_SUBSCRIBER_SHARE) if gmobile else SUBSCRIBER_SHARE
    sites = place_sites(geo, villages, streams[2], switch_on, switch_off, exclude_sites_within, operators)
    radio = shadowing(geo, streams[3])
    radio.sites = sites
    lap("network")

    say(f"{n_points:,} crowd-sourced samples")
    samples = crowd_samples(geo, villages, n_points, n_devices, first, after, seed, streams[4], subscriber_share)
    lap("samples")
    say("radio")
    radio_out = evaluate_signals(
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
    measurements = measurement_table(samples, radio_out, streams[6])
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
        measurements, truth = inject_junk(measurements, truth, streams[7])
    lap("tables")

    say("G-NetTrack drive tests")
    sessions = drive_sessions(geo, n_gnettrack_devices, first, after, seed, np.random.default_rng([seed, 9]))
    drive_rng = np.random.default_rng([seed, 10])
    drive_out = evaluate_signals(
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
    gnettrack = gnettrack_table(sessions, drive_out, sites, np.random.default_rng([seed, 11]), junk)
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
    geo: Geography = kw["geo"]
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
