"""The main job: read the inputs, run the gap engine, write the run folder (``lomsong run``).

:func:`run_analysis` is the only place where the stages meet:

1. inputs: commune boundaries, the population surface, measurements (files read through the same
   readers and validation as ``lomsong ingest`` without storing them, or the store), an optional
   village layer, the configuration;
2. :func:`lomsong.analysis.engine.analyse` (pure);
3. :func:`lomsong.products.tables.write_run`: tables, downloads and ``run.json`` written into a staging
   folder, the maps built there from :func:`lomsong.tables.results.load_run`, then swapped in.

``run.json`` records every input with its sha256 (and the ingest report of each measurement
file), the configuration, counts, library versions, the time of each stage, the period the
measurements span and whether any input is synthetic.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib
import importlib.util
import json
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from lomsong import __version__, paths
from lomsong.errors import LomsongError, RunError
from lomsong.jobs._maps_process import maps_in_parallel
from lomsong.reference.boundaries import read_communes
from lomsong.reference.population import load_population
from lomsong.settings import Config, load_config
from lomsong.tables import results
from lomsong.tables.measurements import (
    MEASUREMENT_SCHEMA,
    conform_speed_tiles,
    conform_table,
    empty_measurements,
)

if TYPE_CHECKING:
    from lomsong.jobs._maps_process import MapsProcess

#: Libraries whose versions go into run.json.
_LIBRARIES = [
    "numpy",
    "pandas",
    "pyarrow",
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "rasterio",
    "exactextract",
    "h3",
    "h3ronpy",
    "scipy",
    "openpyxl",
    "xlsxwriter",
    "folium",
]

#: Names of files in the measurements folder that are not measurements.
_NOT_MEASUREMENTS = ("village", "readme")



@dataclass
class RunSummary:
    """What a run did.

    Attributes
    ----------
    out : Path
        The run folder.
    files : list of str
        Files of the run, relative to ``out``.
    counts : dict
        Counts of the analysis (measurements, cells, gaps …).
    timings : dict
        Seconds per stage.
    synthetic : bool
        Any input was simulated.
    largest_gaps : pandas.DataFrame
        The ten largest gaps of the lõm-sóng view (``all`` × ``any``) by population.
    seconds : float
        Wall time of the whole run.
    maps : bool
        The maps were built.
    meta : dict
        ``run.json``.
    """

    out: Path
    files: list[str]
    counts: dict[str, Any]
    timings: dict[str, Any]
    synthetic: bool
    largest_gaps: pd.DataFrame
    seconds: float
    maps: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def sha256_of(path: str | Path) -> str:
    """Return the sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _metadata_says_synthetic(path: Path) -> bool:
    """True when a JSON file beside ``path`` declares ``"synthetic": true`` (for it or for its folder)."""
    for candidate in sorted(path.parent.glob("*.json")):
        if candidate == path:
            continue
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("synthetic") is not True:
            continue
        listed = data.get("files")
        if not listed:
            return True
        names = {
            Path(str(item if not isinstance(item, dict) else item.get("name", item.get("path", "")))).name
            for item in listed
        }
        if path.name in names:
            return True
    return False


def is_synthetic_file(path: str | Path) -> bool:
    """Return True when a file is simulated data: its name says ``synthetic`` or metadata beside it does."""
    path = Path(path)
    return "synthetic" in path.name.lower() or _metadata_says_synthetic(path)


def table_says_synthetic(frame: pd.DataFrame | None) -> bool:
    """Return True when a table marks its own rows simulated (a true ``synthetic`` column).

    The simulator's village layer carries that column, so a renamed copy is still labelled synthetic.
    """
    if frame is None or "synthetic" not in frame.columns or not len(frame):
        return False
    return bool(frame["synthetic"].astype("string").str.strip().str.lower().isin(["true", "1", "yes"]).any())


def demo_measurement_files(folder: str | Path | None = None) -> list[Path]:
    """Return the bundled measurement files (``data/measurements/``), without metadata and village files.

    Parameters
    ----------
    folder : str or Path, optional
        Default :func:`lomsong.paths.measurements_dir`.

    Returns
    -------
    list of Path
        Sorted by name.
    """
    folder = Path(folder) if folder else paths.measurements_dir()
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower() not in {".json", ".md", ".txt.sha256"}
        and not any(word in p.name.lower() for word in _NOT_MEASUREMENTS)
    )


def demo_villages_file(folder: str | Path | None = None) -> Path | None:
    """Return the bundled (synthetic) village file, if there is one.

    The simulator's (``data/villages/``) by default, else a file named ``*village*`` in ``folder``.
    """
    if folder is None:
        try:
            from lomsong.simulate.demo import demo_villages_path

            if demo_villages_path().exists():
                return demo_villages_path()
        except ImportError:
            pass
    folder = Path(folder) if folder else paths.measurements_dir()
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_file() and "village" in p.name.lower())
    found = [p for p in found if p.suffix.lower() in {".csv", ".geojson", ".json", ".gpkg"}]
    return found[0] if found else None


def demo_sites_file() -> Path | None:
    """Return the bundled (synthetic) operators' site list beside the demo villages, if there is one."""
    village = demo_villages_file()
    if village is None:
        return None
    candidate = village.parent / "daknong_synthetic_sites.csv"
    return candidate if candidate.exists() else None


def _read_sites(
    sites: str | Path | None, store: str | Path | bool | None, inputs: list[dict[str, Any]]
) -> pd.DataFrame | None:
    """The known sites for the radio map: the site list given, plus OpenCelliD cells of the store."""
    from lomsong.tables.sites import combine_sites

    site_list = None
    if sites is not None:
        from lomsong.readers.sites import read_sites

        site_path = Path(sites)
        site_list = read_sites(site_path)
        inputs.append(_input_record(site_path, "sites", synthetic=is_synthetic_file(site_path), rows=len(site_list)))
    cells = None
    if store:
        from lomsong.tables.store import MeasurementStore

        cells = MeasurementStore(paths.store_dir() if store is True else Path(store)).read_cells()
    combined = combine_sites(site_list, cells)
    return combined if len(combined) else None


def _input_record(path: Path, role: str, *, sha256: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "role": role,
        "path": str(path),
        "name": path.name,
        "bytes": path.stat().st_size,
        "sha256": sha256 or sha256_of(path),
        **extra,
    }


@dataclass
class _Measurements:
    frame: pd.DataFrame
    speed_tiles: pd.DataFrame | None
    inputs: list[dict[str, Any]]
    synthetic: bool
    source: str
    partitions: list[Path] = field(default_factory=list)
    cell_ids: np.ndarray | None = None  # each row's H3 cell, found while the files were read


def _read_measurement_files(
    files: Sequence[Path], communes: gpd.GeoDataFrame, resolution: int | None = None
) -> _Measurements:
    """Read and validate measurement files as ``lomsong ingest`` does, without storing them.

    Many files are read in parallel (:func:`lomsong.readers.many.read_files`); the files are taken
    in the order of their content (sha256), so that the measurement table and ``run.json`` are the
    same whatever order the files were given in. With ``resolution``, the logs read together are
    indexed on H3 on their batches' threads, where the reading leaves a core some time.
    """
    from lomsong.analysis.aggregate import ANALYSIS_COLUMNS
    from lomsong.analysis.grid import index_points
    from lomsong.readers import ReaderError
    from lomsong.readers.many import read_many

    for path in files:
        if not path.exists():
            raise RunError(f"{path}: measurement file not found")
    try:
        # the logs read together keep only the columns the analysis reads (as from the store,
        # _read_stored_measurements): fewer to copy when the accepted rows are taken
        locate = partial(index_points, resolution=resolution) if resolution is not None else None
        many = read_many(files, communes=communes, columns=ANALYSIS_COLUMNS, locate=locate)
    except ReaderError as exc:
        raise RunError(str(exc)) from None
    reads = many.reads
    frames, tiles, inputs = [], [], []
    synthetic = False
    for read in reads:
        path, result = read.path, read.result
        report = result.report.to_dict()
        file_synthetic = bool(report.get("synthetic")) or is_synthetic_file(path)
        synthetic |= file_synthetic
        inputs.append(_input_record(path, "measurements", sha256=read.sha256, synthetic=file_synthetic, ingest=report))
        if len(result.measurements):
            frames.append(result.measurements)
        if result.speed_tiles is not None and len(result.speed_tiles):
            tiles.append(result.speed_tiles)
    if many.tables is not None and sum(map(len, many.tables)):
        # the logs read as batches: already canonical, in this order
        measurements = many.table(ANALYSIS_COLUMNS)
    elif frames:
        # the logs read together hold those columns only, the files read alone all of them
        joined = pd.concat([frame[ANALYSIS_COLUMNS] for frame in frames], ignore_index=True)
        measurements = conform_table(joined, [entry for entry in MEASUREMENT_SCHEMA if entry[0] in ANALYSIS_COLUMNS])
    else:
        measurements = empty_measurements()[ANALYSIS_COLUMNS]
    speed = conform_speed_tiles(pd.concat(tiles, ignore_index=True)) if tiles else None
    cell_ids = many.locations() if many.tables is not None else None
    return _Measurements(measurements, speed, inputs, synthetic, "files", cell_ids=cell_ids)


def _read_store(
    store: str | Path | None, since: pd.Timestamp | None, until: pd.Timestamp | None, lazy: bool = False
) -> _Measurements:
    """Read the measurement store (and its speed tiles) for the period.

    With ``lazy`` the measurements are not loaded: ``partitions`` lists the store's Parquet files
    for an engine that reads them where it runs (Dask workers).
    """
    from lomsong.tables.store import MeasurementStore

    folder = Path(store) if store else paths.store_dir()
    if not (folder / "ledger.sqlite").exists():
        raise RunError(f"{folder}: no measurement store here; add files with `lomsong ingest` first")
    measurement_store = MeasurementStore(folder)
    frame = empty_measurements() if lazy else _read_stored_measurements(measurement_store, since, until)
    speed = measurement_store.read_speed_tiles()
    ledger = measurement_store.files()
    synthetic = bool(ledger["synthetic"].any()) if "synthetic" in ledger else False
    synthetic |= bool(ledger["file"].astype(str).str.lower().str.contains("synthetic").any()) if len(ledger) else False
    inputs = [{"role": "store", "path": str(folder), "files": _jsonable(ledger), "synthetic": synthetic}]
    speed = conform_speed_tiles(speed) if speed is not None and len(speed) else None
    partitions = [Path(p) for p in measurement_store.partitions] if lazy else []
    return _Measurements(frame, speed, inputs, synthetic, "store", partitions)


def _read_stored_measurements(
    measurement_store: Any, since: pd.Timestamp | None, until: pd.Timestamp | None
) -> pd.DataFrame:
    """Read only the columns the analysis uses, text columns as Parquet dictionaries (pandas categoricals).

    At 10 million rows this is ~0.6 s and ~1 GB instead of ~4 s and ~3.7 GB for the whole canonical
    table: the analysis then works on the dictionary codes with no per-row string work.
    """
    import pyarrow.parquet as pq

    from lomsong.analysis.aggregate import ANALYSIS_COLUMNS, CATEGORY_COLUMNS

    files = [str(f) for f in measurement_store.partitions]
    if not files:
        return empty_measurements()[ANALYSIS_COLUMNS]
    bounds = [("time", op, bound.tz_convert("UTC")) for op, bound in ((">=", since), ("<", until)) if bound is not None]
    with measurement_store.reading("measurements"):  # a broken stored file is named, with the repair
        table = pq.read_table(
            files, columns=ANALYSIS_COLUMNS, filters=bounds or None, read_dictionary=CATEGORY_COLUMNS
        )
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    if frame["time"].dtype != "datetime64[ns, UTC]":
        frame["time"] = pd.to_datetime(frame["time"], utc=True).dt.as_unit("ns")
    return frame


def _jsonable(value: Any) -> Any:
    """Turn a store's file listing (DataFrame, records …) into plain JSON data."""
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records", date_format="iso"))
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _filter_period(frame: pd.DataFrame, since: pd.Timestamp | None, until: pd.Timestamp | None) -> pd.DataFrame:
    """Keep measurements with ``since <= time < until`` (bounds optional)."""
    if since is None and until is None:  # nothing to filter: no 10-million-row copy
        return frame
    keep = pd.Series(True, index=frame.index)
    if since is not None:
        keep &= (frame["time"] >= since).to_numpy(bool, na_value=False)
    if until is not None:
        keep &= (frame["time"] < until).to_numpy(bool, na_value=False)
    return frame[keep.to_numpy(bool)].reset_index(drop=True)


def _timestamp(value: str | dt.date | pd.Timestamp | None, name: str) -> pd.Timestamp | None:
    """Parse a bound; naive times are Vietnam local time (like the periods)."""
    if value is None or value == "":
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise RunError(f"--{name}: expected a date such as 2026-10-01, got {value!r}") from None
    return stamp.tz_localize("Asia/Ho_Chi_Minh") if stamp.tzinfo is None else stamp


def library_versions() -> dict[str, str]:
    """Return the versions of Python, lomsong, GDAL and the main libraries."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version(), "lomsong": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    try:
        import pyogrio

        versions["gdal"] = pyogrio.__gdal_version_string__
    except (ImportError, AttributeError):
        pass
    return versions


@dataclass
class _Claims:
    frame: gpd.GeoDataFrame | None
    inputs: list[dict[str, Any]]
    synthetic: bool


def _read_claim_inputs(
    claim_paths: Sequence[str | Path] | None,
    store: str | Path | bool | None,
    communes: gpd.GeoDataFrame,
    *,
    demo: bool,
    operator: str | None = None,
    technology: str | None = None,
    claim_date: str | None = None,
) -> _Claims:
    """The claimed-coverage maps of a run: the files given (not stored), else the store's latest
    map per operator × technology, else (with the demo measurements) the synthetic demo claims."""
    from lomsong.readers.claims import read_claims
    from lomsong.tables.claims import conform_claims, latest_claims

    if claim_paths:
        frames, inputs = [], []
        for path in map(Path, claim_paths):
            try:
                reading = read_claims(path, operator=operator, technology=technology, claim_date=claim_date)
            except LomsongError as exc:
                raise RunError(str(exc)) from None
            frames.append(reading.claims)
            report = reading.report
            inputs.append(_input_record(path, "claims", synthetic=report.synthetic, ingest=report.to_dict()))
        claims = latest_claims(conform_claims(pd.concat(frames, ignore_index=True)))
        return _Claims(claims, inputs, bool(claims["synthetic"].any()))
    folder = (Path(store) if store and store is not True else paths.store_dir()) if store or not demo else None
    if folder is not None and (folder / "ledger.sqlite").exists():
        from lomsong.tables.store import MeasurementStore

        claims = MeasurementStore(folder).read_claims()
        if len(claims):
            maps = claims[["operator", "technology", "claim_date", "source_file", "sha256"]].drop_duplicates()
            inputs = [{"role": "claims", "path": str(folder), "maps": _jsonable(pd.DataFrame(maps))}]
            return _Claims(claims, inputs, bool(claims["synthetic"].any()))
    if demo:
        from lomsong.simulate.claims import demo_claim_files, ensure_demo_claims

        sites = paths.data_dir() / "villages" / "daknong_synthetic_sites.csv"
        files = demo_claim_files() or (ensure_demo_claims(sites, communes) if sites.exists() else [])
        if files:
            return _read_claim_inputs(files, None, communes, demo=False)
    return _Claims(None, [], False)


# ---------------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunEvent:
    """Where a run is, for a progress display.

    Attributes
    ----------
    kind : str
        ``start`` (a stage begins), ``note`` (a sub-step of the current stage) or ``done``.
    stage : str
        Machine name of the stage (``inputs``, ``analysis``, ``write``, ``maps``).
    label : str
        What the stage does, for a person.
    message : str
        The sub-step (``note``), else empty.
    seconds : float
        How long the stage took (``done``), else 0.
    """

    kind: str
    stage: str
    label: str
    message: str = ""
    seconds: float = 0.0


class _Stages:
    """Times stages and reports them to a progress callback (the command line renders it)."""

    def __init__(self, progress: Callable[[RunEvent], None] | None) -> None:
        self.timings: dict[str, float] = {}
        self._say = progress or (lambda _event: None)
        self._name, self._label = "", ""
        self._at_end: list[Callable[[], None]] = []

    def __enter__(self) -> _Stages:
        return self

    def __exit__(self, *exc: object) -> None:
        for clean_up in self._at_end:
            clean_up()

    def at_end(self, clean_up: Callable[[], None]) -> None:
        """Call ``clean_up`` when the stages end, however they end (work left in another process)."""
        self._at_end.append(clean_up)

    def note(self, message: str) -> None:
        """Report a sub-step of the current stage."""
        self._say(RunEvent("note", self._name, self._label, message))

    @contextmanager
    def stage(self, name: str, label: str) -> Iterator[None]:
        """Time one stage, reporting its start and its end."""
        self._name, self._label = name, label
        self._say(RunEvent("start", name, label))
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - started, 3)
            self._say(RunEvent("done", name, label, seconds=self.timings[name]))


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def largest_gaps(gaps: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Return the ``n`` largest gaps (by population) of the lõm-sóng view (``all`` × ``any``)."""
    if gaps.empty:
        return pd.DataFrame(gaps.drop(columns="geometry", errors="ignore"))
    view = gaps[
        (gaps["operator"].astype(str) == results.ALL_OPERATORS)
        & (gaps["technology"].astype(str) == results.ANY_TECHNOLOGY)
    ]
    top = view.sort_values(["population", "gap_id"], ascending=[False, True]).head(n)
    return pd.DataFrame(top.drop(columns="geometry", errors="ignore")).reset_index(drop=True)


def _data_period(measurements: pd.DataFrame) -> dict[str, str | None]:
    times = measurements["time"].dropna()
    if times.empty:
        return {"start": None, "end": None}
    return {"start": times.min().isoformat(), "end": times.max().isoformat()}


#: Bump when the grid's construction changes, so that kept grids are rebuilt.
GRID_CACHE_VERSION = 2


def province_grid(
    communes: gpd.GeoDataFrame,
    surface: Any,
    resolution: int,
    inputs_sha256: Sequence[str],
    cache_dir: Path | None = None,
) -> tuple[Any, bool]:
    """Return the province grid, kept on disk between runs with the same inputs.

    The grid (cells, people per cell, commune shares) depends only on the boundaries, the
    population surface and the resolution, so monthly runs and reruns after an upload load it
    instead of building it again. It is keyed by the inputs' sha256 and :data:`GRID_CACHE_VERSION`.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    surface : PopulationSurface
        Population surface.
    resolution : int
        H3 resolution.
    inputs_sha256 : sequence of str
        sha256 of the boundary file and of the population raster.
    cache_dir : Path, optional
        Where grids are kept (default ``data/cache/``).

    Returns
    -------
    tuple
        The :class:`lomsong.analysis.grid.Grid` and whether it came from the cache.
    """
    from lomsong.analysis.grid import build_grid, load_grid, save_grid

    key = hashlib.sha256(f"{GRID_CACHE_VERSION}:{resolution}:{':'.join(inputs_sha256)}".encode()).hexdigest()[:16]
    folder = (cache_dir or paths.data_dir() / "cache") / f"grid-r{resolution}-{key}"
    if folder.exists():
        try:
            return load_grid(folder), True
        except (OSError, KeyError, ValueError):
            pass  # a damaged copy: build it again below
    grid = build_grid(communes.reset_index(drop=True), surface, resolution)
    with contextlib.suppress(OSError):  # a read-only data folder only costs the next run the build
        save_grid(grid, folder)
    return grid, False


def _data_period_of_cells(cells: pd.DataFrame) -> dict[str, str | None]:
    """First and last measurement dates, from the cell table (when the rows stayed on the cluster)."""
    first, last = cells["first_date"].dropna(), cells["last_date"].dropna()
    if first.empty:
        return {"start": None, "end": None}
    return {"start": str(first.min()), "end": str(last.max())}


def _no_measurements_message(
    read: _Measurements, out_folder: Path, since: pd.Timestamp | None, until: pd.Timestamp | None
) -> str:
    """The one line saying that a run has nothing to analyse, why, and that nothing was replaced."""
    names = []
    for record in read.inputs:
        listed = record.get("files") if isinstance(record.get("files"), list) else None
        names += [str(f.get("file", "")) for f in listed] if listed else [Path(str(record.get("path", ""))).name]
    window = ""
    if since is not None or until is not None:
        start, end = (bound.date() if bound is not None else "…" for bound in (since, until))
        window = f" between {start} and {end}"
    kept = f"{out_folder} is left as it was" if (out_folder / results.RUN_JSON).exists() else "nothing was written"
    return (
        f"no usable measurements{window} in {', '.join(n for n in names if n) or 'the inputs'}: "
        f"check the files with `lomsong ingest FILE` (it says why each row was refused); {kept}"
    )


def _start_maps_process(stages: _Stages) -> MapsProcess:
    """Start the maps' process now (or take the one the command line started), so that its imports
    use the core this process leaves idle while it imports; it is stopped when the stages end,
    whether or not it was used."""
    from lomsong.jobs._maps_process import take

    process = take()
    stages.at_end(process.stop)
    return process


def _prepare_maps(process: MapsProcess, communes: gpd.GeoDataFrame, stages: _Stages) -> None:
    """Give the maps' process the run's communes (it prepares their part of the pages meanwhile)."""
    n_units = communes["unit_2025"].nunique() if "unit_2025" in communes else 0
    n_pages = len(communes) + n_units + 1
    process.on_page = lambda n: stages.note(f"maps: page {n} of {n_pages}")
    process.prepare(communes)


def _begin_maps(
    process: MapsProcess, analysis: Any, stages: _Stages, staging: Path, meta: dict[str, Any]
) -> MapsProcess:
    """``write_run``'s ``alongside`` (with the first three bound): give the maps' process the staging
    folder and the tables it draws, as the folder would give them back, at once (it neither waits
    for the machine tables nor reads them; the maps draw the cells' any-technology views only)."""
    from lomsong.products.run_results import run_results

    stages.note("maps: building in a second process")
    drawn = run_results(analysis, staging, meta, cell_technologies=[results.ANY_TECHNOLOGY])
    return process.begin(staging, drawn)


def _maps_builder() -> Callable[..., Any] | None:
    """Return :func:`lomsong.products.maps.build.build_maps` when the maps module is installed."""
    if importlib.util.find_spec("lomsong.products.maps.build") is None:
        return None
    return importlib.import_module("lomsong.products.maps.build").build_maps


#: The order ``auto`` takes the population sources in, when their input is given.
AUTO_ORDER = ("buildings", "raster", "villages", "even")


def choose_population_source(requested: str, *, villages: bool, buildings: bool, raster: bool) -> str:
    """Return the population source of a run, checking that its input is given.

    Parameters
    ----------
    requested : {"auto", "villages", "buildings", "raster", "even"}
        The user's choice; ``auto`` takes the first of buildings, raster, villages whose input is
        given, else ``even`` (the census spread evenly over each commune): a surface file asked for
        explicitly wins over the village list, which also serves the village statuses.
    villages, buildings, raster : bool
        Whether a village layer, building footprints, a population raster were given.

    Returns
    -------
    str
        One of :data:`lomsong.reference.population.SOURCES`.

    Raises
    ------
    RunError
        Unknown source, or a source whose input is missing.
    """
    from lomsong.reference.population import SOURCES

    given = {"villages": villages, "buildings": buildings, "raster": raster, "even": True}
    if requested == "auto":
        return next(source for source in AUTO_ORDER if given[source])
    if requested not in SOURCES:
        raise RunError(f"unknown population source {requested!r}: use auto, {', '.join(SOURCES)}")
    if not given[requested]:
        option = {"villages": "--villages", "buildings": "--buildings", "raster": "--population"}[requested]
        raise RunError(f"population source {requested} needs {option} FILE")
    return requested


def population_surface(
    source: str,
    communes: Any,
    raster_or_even: Any,
    settings: Config,
    *,
    villages: Any = None,
    buildings: str | Path | None = None,
) -> Any:
    """Return the run's population surface for ``source`` (the raster or even one is given ready).

    Parameters
    ----------
    source : str
        From :func:`choose_population_source`.
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    raster_or_even : PopulationSurface
        The surface :func:`lomsong.reference.population.load_population` gave (raster or even).
    settings : Config
        Village kernel σ and population rule.
    villages : geopandas.GeoDataFrame, optional
        Canonical village table, for ``villages``.
    buildings : path, optional
        Footprint file, for ``buildings``.

    Returns
    -------
    PopulationSurface
    """
    from lomsong.reference import population as population_module

    if source == "villages":
        from lomsong.reference.villages import locate_villages

        return population_module.village_surface(
            communes, locate_villages(villages, communes), sigma_m=settings.village_kernel_sigma_m,
            rule=settings.village_population_rule,
        )  # fmt: skip
    if source == "buildings":
        footprints = population_module.read_buildings(buildings, within=communes)
        return population_module.buildings_surface(communes, footprints, file_name=Path(buildings).name)
    return raster_or_even


def run_analysis(
    measurement_paths: Sequence[str | Path] | None = None,
    store: str | Path | bool | None = None,
    boundaries: str | Path | None = None,
    population: str | Path | None = None,
    villages: str | Path | None = None,
    config: Config | str | Path | None = None,
    calibrate_population: bool = False,
    resolution: int | None = None,
    out: str | Path | None = None,
    since: str | dt.date | pd.Timestamp | None = None,
    until: str | dt.date | pd.Timestamp | None = None,
    period: str | None = None,
    progress: Callable[[RunEvent], None] | None = None,
    maps: bool = True,
    engine: str = "local",
    scheduler: str | None = None,
    *,
    claims: Sequence[str | Path] | None = None,
    claims_operator: str | None = None,
    claims_technology: str | None = None,
    claims_date: str | None = None,
    population_source: str = "auto",
    buildings: str | Path | None = None,
    sites: str | Path | None = None,
    dem: str | Path | None = None,
) -> RunSummary:
    """Run the whole job and write the run folder.

    Parameters
    ----------
    measurement_paths : sequence of path, optional
        Measurement files (any format the readers know); read and validated, not stored. Default:
        the bundled demo files in ``data/measurements/`` (unless ``store`` is given).
    store : path or True, optional
        Read the measurement store instead (``True``: the default store folder).
    boundaries : path, optional
        Commune boundaries (default: the bundled Đắk Nông communes).
    population : path, optional
        Population raster (default: the census surface).
    calibrate_population : bool
        With ``population``: scale the raster's people in each commune to its 2019 census total.
    villages : path, optional
        Village layer (CSV or GeoJSON). Default with the bundled measurements: the bundled
        synthetic village file when present.
    config : Config or path, optional
        Options (default: the documented defaults).
    resolution : int, optional
        H3 resolution overriding the configuration's.
    out : path, optional
        Run folder (default ``maps/``). With ``period``: ``<out>/periods/<YYYY-MM>/``.
    since, until : date or time, optional
        Keep measurements with ``since <= time < until`` (naive values are Vietnam local time).
    period : str, optional
        A month ``YYYY-MM``: sets ``since``/``until`` and writes the run to the period's folder.
    progress : callable, optional
        Called with a :class:`RunEvent` as each stage starts, reports a sub-step and ends.
    maps : bool
        Build the maps into the run folder when :mod:`lomsong.products.maps.build` is installed.
    engine : {"local", "dask"}
        ``"dask"`` indexes and aggregates the store's Parquet files on a Dask cluster
        (:mod:`lomsong.analysis.dask_engine`) and finishes here; it needs ``store``. Same results.
    scheduler : str, optional
        With ``engine="dask"``: the scheduler address; a local cluster when None.
    claims : sequence of path, optional
        Claimed-coverage maps (:mod:`lomsong.readers.claims`), read and not stored; the latest
        per operator × technology is used. Default: the store's latest claim maps when the store
        holds any, else with the bundled demo measurements the synthetic demo claims.
    claims_operator, claims_technology, claims_date : str, optional
        What the ``claims`` files' features do not say themselves.
    population_source : {"auto", "villages", "buildings", "raster", "even"}
        Where the people come from (:func:`choose_population_source`); recorded in ``run.json``
        ``population``. ``auto``: the buildings or the raster when given, else the villages when a
        village layer is given (the demo's too), else the census spread evenly.
    buildings : path, optional
        Building footprints (GeoParquet, GPKG, GeoJSON, FlatGeobuf) for the ``buildings`` source.
    sites : path, optional
        Operators' site list (CSV/XLSX, :mod:`lomsong.readers.sites`) for the radio map, joined
        with the store's OpenCelliD cells. Default with the bundled measurements: the synthetic
        demo site list when present.
    dem : path, optional
        DEM GeoTIFF: adds the effective-antenna-height terrain term to the radio map's prior.

    Returns
    -------
    RunSummary

    Raises
    ------
    RunError
        Missing or unusable inputs (also raised for reader errors, with the file and line).
    """
    started = time.perf_counter()
    settings = config if isinstance(config, Config) else load_config(config)
    if resolution is not None:
        settings = settings.with_options(resolution=resolution)
    out_folder = Path(out) if out is not None else paths.out_dir()
    period_name = None
    if period is not None:
        from lomsong.tables.periods import parse_period, period_dir

        parsed = parse_period(period)
        period_name = parsed.name
        since, until = parsed.since, parsed.until
        out_folder = period_dir(parsed, out_folder)
    if out_folder.exists() and not out_folder.is_dir():
        raise RunError(f"{out_folder}: --out names a file; give a folder for the run (created when missing)")
    if engine not in ("local", "dask"):
        raise RunError(f"unknown engine {engine!r}: use local or dask")
    if engine == "dask" and not store:
        raise RunError("the dask engine reads the measurement store: give --store (after `lomsong ingest`)")
    since_ts, until_ts = _timestamp(since, "since"), _timestamp(until, "until")
    if since_ts is not None and until_ts is not None and since_ts >= until_ts:
        raise RunError(f"the period is empty: since {since_ts} is not before until {until_ts}")

    with _Stages(progress or None) as stages:
        # before this process imports its analysis: the maps' process imports its own meanwhile
        maps_process = _start_maps_process(stages) if maps and maps_in_parallel() else None
        from lomsong.analysis.engine import analyse
        from lomsong.products.tables import write_run

        with stages.stage("inputs", "Reading boundaries, population and measurements"):
            boundary_path = Path(boundaries) if boundaries else paths.boundaries_path()
            communes = read_communes(boundary_path)
            if calibrate_population and population is None:
                raise RunError("--calibrate applies to a raster given with --population")
            if population is not None and not Path(population).exists():
                raise RunError(f"{population}: population raster not found")
            if buildings is not None and not Path(buildings).exists():
                raise RunError(f"{buildings}: building footprint file not found")
            surface = load_population(communes, population, calibrate=calibrate_population)
            population_path = Path(population) if population else paths.population_raster_path()
            inputs = [
                _input_record(boundary_path, "boundaries"),
                _input_record(population_path, "population", calibrated=bool(calibrate_population)),
            ]
            if store:
                read = _read_store(None if store is True else store, since_ts, until_ts, lazy=engine == "dask")
            else:
                files = [Path(p) for p in measurement_paths] if measurement_paths else demo_measurement_files()
                if not files:
                    raise RunError(
                        f"no measurement files in {paths.measurements_dir()}: run `lomsong demo` to create the "
                        "synthetic demo set, or pass --measurements FILE or --store DIR"
                    )
                # the cells are found while reading when every row read is analysed (no period cut)
                whole = since_ts is None and until_ts is None
                read = _read_measurement_files(files, communes, settings.resolution if whole else None)
                if villages is None and not measurement_paths:
                    villages = demo_villages_file()
                if sites is None and not measurement_paths:
                    sites = demo_sites_file()
            measurements = _filter_period(read.frame, since_ts, until_ts)
            inputs += read.inputs
            synthetic = read.synthetic
            village_table = None
            if villages is not None:
                from lomsong.reference.villages import read_villages

                village_path = Path(villages)
                if not village_path.exists():
                    raise RunError(f"{village_path}: village file not found")
                village_table = read_villages(village_path)
                village_synthetic = is_synthetic_file(village_path) or table_says_synthetic(village_table)
                inputs.append(_input_record(village_path, "villages", synthetic=village_synthetic))
                synthetic |= village_synthetic
            claim_read = _read_claim_inputs(
                claims,
                store,
                communes,
                demo=not store and not measurement_paths,
                operator=claims_operator,
                technology=claims_technology,
                claim_date=claims_date,
            )
            inputs += claim_read.inputs
            synthetic |= claim_read.synthetic
            source = choose_population_source(
                population_source, villages=village_table is not None, buildings=buildings is not None,
                raster=population is not None,
            )  # fmt: skip
            surface = population_surface(source, communes, surface, settings, villages=village_table,
                                         buildings=buildings)  # fmt: skip
            if buildings is not None:
                inputs.append(_input_record(Path(buildings), "buildings"))
            site_table = _read_sites(sites, store, inputs)
            ground_at = None
            if dem is not None:
                from lomsong.reference.dem import dem_sampler

                ground_at = dem_sampler(dem)
                inputs.append(_input_record(Path(dem), "dem"))
            if isinstance(config, str | Path):
                inputs.append(_input_record(Path(config), "config"))
            stages.note(f"{len(measurements):,} measurements from {len(read.inputs)} source(s)")
            if engine == "local" and len(measurements) == 0:
                raise RunError(_no_measurements_message(read, out_folder, since_ts, until_ts))

        # the maps' process prepares the communes' part of the pages while the analysis runs
        if maps_process is not None:
            _prepare_maps(maps_process, communes, stages)
        label = f"{len(read.partitions)} stored file(s) on Dask" if engine == "dask" else f"{len(measurements):,}"
        with stages.stage("analysis", f"Analysing {label} measurements"):
            grid_started = time.perf_counter()
            surface_key = [inputs[0]["sha256"], inputs[1]["sha256"], "calibrated" if calibrate_population else "as-is"]
            if surface.source in ("villages", "buildings"):
                # Built from the village list or the footprints with the run's settings: key it by its people.
                people_sha = hashlib.sha256(surface.people.tobytes()).hexdigest()
                surface_key = [inputs[0]["sha256"], people_sha, surface.source]
            grid, grid_cached = province_grid(communes, surface, settings.resolution, surface_key)
            grid_seconds = time.perf_counter() - grid_started
            stages.note(f"province grid {'loaded' if grid_cached else 'built'} ({len(grid.cells):,} cells)")
            shared = {"villages": village_table, "speed_tiles": read.speed_tiles, "progress": stages.note, "grid": grid}
            shared["claims"] = claim_read.frame
            shared["sites"] = site_table
            shared["ground_at"] = ground_at
            if engine == "dask":
                from lomsong.analysis.dask_engine import analyse_partitions
                from lomsong.tables.store import MeasurementStore

                # the workers read the stored files: a broken one is named, with the repair, as locally
                with MeasurementStore(read.inputs[0]["path"]).reading("measurements"):
                    analysis = analyse_partitions(
                        read.partitions, communes, surface, settings, scheduler=scheduler, since=since_ts,
                        until=until_ts, **shared,
                    )  # fmt: skip
            else:
                # the cells found while reading are those of these rows unless the period dropped some
                cell_ids = read.cell_ids if measurements is read.frame else None
                analysis = analyse(measurements, communes, surface, settings, cell_ids=cell_ids, **shared)
            analysis.timings["grid"] = grid_seconds
            analysis.counts["grid_cached"] = grid_cached
        n_measurements = int(analysis.counts.get("measurements", 0)) if engine == "dask" else len(measurements)
        if n_measurements == 0:
            raise RunError(_no_measurements_message(read, out_folder, since_ts, until_ts))

        meta: dict[str, Any] = {
            "tool": "lomsong",
            "version": __version__,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "synthetic": synthetic,
            "period": period_name,
            "data_period": _data_period(measurements) if engine == "local" else _data_period_of_cells(analysis.cells),
            "engine": engine,
            "filter": {
                "since": since_ts.isoformat() if since_ts is not None else None,
                "until": until_ts.isoformat() if until_ts is not None else None,
            },
            "measurement_source": read.source,
            "inputs": inputs,
            "population": analysis.population,
            "configuration": settings.to_dict(),
            "counts": {"measurements": n_measurements, **analysis.counts},
            # Every headline figure with its denominator: in gaps, covered, without evidence.
            "headline": results.headline_figures(analysis.counts),
            "prediction": analysis.prediction,
            "versions": library_versions(),
            "timings": {
                **stages.timings,
                "analysis_stages": {k: round(float(v), 3) for k, v in analysis.timings.items()},
            },
        }

        alongside = partial(_begin_maps, maps_process, analysis, stages) if maps_process is not None else None
        build_maps = _maps_builder() if maps and alongside is None else None
        maps_built = alongside is not None

        def finish(staging: Path) -> dict[str, Any]:
            # run.json is final once swapped in, so the write and maps times are recorded here.
            nonlocal maps_built
            timings = {"write": round(time.perf_counter() - write_started, 3)}
            if build_maps is None:
                timings["total"] = round(time.perf_counter() - started, 3)
                return {"timings": timings} if maps_built else {"maps": None, "timings": timings}
            stages.note("building the maps")
            maps_started = time.perf_counter()
            pages = [0]

            def on_page(_page: Path) -> None:
                pages[0] += 1
                n_units = communes["unit_2025"].nunique() if "unit_2025" in communes else 0
                stages.note(f"maps: page {pages[0]} of {len(communes) + n_units + 1}")

            # the tables in memory, as read back (not read back: 0.5 s on the demo), the same pages
            from lomsong.products.run_results import run_results

            build_maps(run_results(analysis, staging), staging, communes=communes, on_page=on_page)
            maps_built = True
            timings["maps"] = round(time.perf_counter() - maps_started, 3)
            timings["total"] = round(time.perf_counter() - started, 3)
            return {"maps": "index.html", "timings": timings}

        write_started = time.perf_counter()
        with stages.stage("write", f"Writing the products into {out_folder}"):
            files = write_run(
                analysis, out_folder, meta, synthetic=synthetic, finish=finish, on_file=stages.note, alongside=alongside
            )

    final_meta = json.loads((out_folder / results.RUN_JSON).read_text(encoding="utf-8"))
    return RunSummary(
        out=out_folder,
        files=files,
        counts=final_meta["counts"],
        timings=final_meta["timings"],
        synthetic=synthetic,
        largest_gaps=largest_gaps(analysis.gaps),
        seconds=round(time.perf_counter() - started, 2),
        maps=maps_built,
        meta=final_meta,
    )
