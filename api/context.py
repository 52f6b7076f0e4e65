"""State shared by the routes: the served results (swapped atomically), keys, runs, errors.

:class:`ResultsHolder` keeps one :class:`api.core.PreparedResults` in memory and replaces it under
a lock when a new run finishes, so a request sees either the old run or the new one, never a mix.
:class:`RunManager` reruns the analysis in one background thread; its records are kept in SQLite
so that every server process reports them alike. The FastAPI dependencies
(:func:`reader`, :func:`uploader`, :func:`admin`) turn the ``X-API-Key`` header into an
:class:`api.keys.ApiKey` and refuse with a JSON 401/403.
"""

from __future__ import annotations

import fcntl
import json
import logging
import shutil
import sqlite3
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from api.core import PreparedResults, QueryError, prepare_results
from api.keys import HEADER, ApiKey, KeyStore
from api.reruns import RunOptions, candidate_result, decide, kept_inputs, read_meta, served_target
from api.settings import ApiSettings
from lomsong.products.tables import swap_in
from lomsong.tables.results import RUN_JSON, load_run

log = logging.getLogger("lomsong.api")


# ----------------------------------------------------------------------------------------------
# Response models (documentation and the schema the property test checks responses against)


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer."""

    code: str
    message: str
    field: str | None = None


class Link(BaseModel):
    """A link (OGC API style)."""

    model_config = ConfigDict(extra="allow")
    rel: str
    href: str
    type: str | None = None
    title: str | None = None


class ItemsPage(BaseModel):
    """A page of rows as plain JSON (``f=json``)."""

    model_config = ConfigDict(extra="allow")
    numberMatched: int  # noqa: N815  (OGC API member name)
    numberReturned: int  # noqa: N815
    synthetic: bool
    links: list[Link]
    items: list[dict[str, Any]]


class FeatureCollectionBody(BaseModel):
    """A page of features as GeoJSON (RFC 7946) with OGC paging members."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"]
    numberMatched: int  # noqa: N815
    numberReturned: int  # noqa: N815
    links: list[Link]
    features: list[dict[str, Any]]


class FeatureBody(BaseModel):
    """One GeoJSON Feature."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Feature"]
    id: str | int
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class HealthBody(BaseModel):
    """Health check."""

    status: Literal["ok"]
    results_loaded: bool
    synthetic: bool | None = None
    message: str | None = None


class SummaryBody(BaseModel):
    """Province totals per view and the run metadata."""

    synthetic: bool
    run: dict[str, Any]
    views: list[dict[str, Any]]


class RunStateBody(BaseModel):
    """State of an analysis run started through the API."""

    id: str
    state: Literal["queued", "running", "done", "candidate", "failed"]
    requested_by: str
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None


class RunRequest(BaseModel):
    """Options of ``POST /runs``, as ``lomsong run`` takes them (every one optional)."""

    model_config = ConfigDict(extra="forbid")
    period: str | None = Field(None, max_length=7, description="a month YYYY-MM: its data, as that month's run")
    since: str | None = Field(None, max_length=40, description="only measurements from this date (Vietnam time)")
    until: str | None = Field(None, max_length=40, description="only measurements before this date")
    villages: str | None = Field(None, max_length=500, description="village layer on the server (default: kept)")
    resolution: int | None = Field(None, ge=7, le=10, description="H3 resolution (default: the served run's)")
    replace: bool = Field(False, description="replace the served run even when the new one is much smaller")


class UploadList(BaseModel):
    """Uploads visible to the key."""

    items: list[dict[str, Any]]


#: Error answers documented on every route.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return FastAPI ``responses`` documenting JSON errors with :class:`ErrorBody`."""
    texts = {
        400: "invalid parameter",
        401: "missing or unknown API key",
        403: "the key's role may not do this",
        404: "not found",
        409: "not in a state that allows this",
        413: "upload too large",
        422: "the file has no usable row (nothing was kept)",
        503: "no finished run to serve yet",
    }
    return {status: {"model": ErrorBody, "description": texts.get(status, "error")} for status in statuses}


# ----------------------------------------------------------------------------------------------
# Results


#: How often the served run folder is checked for a new ``run.json`` (a run made outside the API).
DISK_CHECK_SECONDS = 1.0


class ResultsHolder:
    """The results being served, loaded once per run and swapped atomically.

    Parameters
    ----------
    run_folder : Path
        Folder of the finished run.
    boundaries : callable
        Returns the commune boundaries (or None) for the communes collection's geometry.
    """

    def __init__(self, run_folder: Path, boundaries: Callable[[], gpd.GeoDataFrame | None]) -> None:
        self.run_folder = Path(run_folder)
        self._boundaries = boundaries
        self.boundaries = boundaries
        self._swap_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._prepared: PreparedResults | None = None
        self._stamp: float | None = None
        self.last_error: str | None = None
        self._checked_at = float("-inf")

    def _run_stamp(self) -> float | None:
        try:
            return (self.run_folder / RUN_JSON).stat().st_mtime_ns
        except OSError:
            return None

    def reload(self) -> PreparedResults | None:
        """Load and prepare the run folder, then swap it in; keep the old results on failure."""
        with self._load_lock:
            stamp = self._run_stamp()
            if stamp is None:
                self.last_error = f"{self.run_folder}: no finished run here (no {RUN_JSON}); run `lomsong run`"
                return self._prepared
            try:
                prepared = prepare_results(load_run(self.run_folder), self._boundaries())
            except Exception as exc:  # a half-written or foreign folder must not take the API down
                log.exception("cannot load the run in %s", self.run_folder)
                self.last_error = f"{self.run_folder}: cannot load the run: {exc}"
                return self._prepared
            with self._swap_lock:
                self._prepared = prepared
                self._stamp = stamp
            self.last_error = None
            return prepared

    def current(self) -> PreparedResults | None:
        """Return the results being served, reloading first when ``run.json`` changed on disk."""
        with self._swap_lock:
            prepared, stamp = self._prepared, self._stamp
        now = time.monotonic()
        if prepared is not None and now - self._checked_at < DISK_CHECK_SECONDS:
            return prepared  # a stat per request is a tenth of a page's cost under load
        self._checked_at = now
        on_disk = self._run_stamp()
        if on_disk is not None and on_disk != stamp:
            prepared = self.reload()
        return prepared

    def require(self) -> PreparedResults:
        """Return the results being served, or raise a 503 :class:`QueryError` when there are none."""
        prepared = self.current()
        if prepared is None:
            raise QueryError(
                self.last_error or f"{self.run_folder}: no finished run", code="no_results", field=None, status=503
            )
        return prepared


# ----------------------------------------------------------------------------------------------
# Runs


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    """One analysis run requested through the API."""

    id: str
    requested_by: str
    state: str = "queued"
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain data."""
        return asdict(self)


def _summary_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if hasattr(value, "counts") and hasattr(value, "out"):  # lomsong.jobs.run.RunSummary
        return {
            "out": str(value.out),
            "counts": {str(k): v for k, v in dict(value.counts).items()},
            "seconds": float(getattr(value, "seconds", 0.0)),
            "synthetic": bool(getattr(value, "synthetic", False)),
        }
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    elif hasattr(value, "__dataclass_fields__"):
        value = asdict(value)
    if isinstance(value, dict):
        return {
            str(k): (v if isinstance(v, str | int | float | bool | type(None)) else str(v)) for k, v in value.items()
        }
    return {"result": str(value)}


class RunManager:
    """Runs the analysis one at a time in a background thread and swaps the results in.

    Parameters
    ----------
    runner : callable
        ``runner(settings, options, out)`` runs the analysis into the candidate folder ``out``
        (:class:`api.reruns.RunOptions`); its return value goes into the run's summary. The
        candidate replaces the served run only as :func:`api.reruns.decide` says.
    settings : ApiSettings
    holder : ResultsHolder
        Reloaded when a run finishes.
    """

    def __init__(
        self, runner: Callable[[ApiSettings, RunOptions, Path], Any], settings: ApiSettings, holder: ResultsHolder
    ) -> None:
        self._runner = runner
        self._settings = settings
        self._holder = holder
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lomsong-run")
        # Records live in SQLite beside the keys, so every server process (lomsong serve --workers)
        # answers GET /runs/{id} alike, and a file lock lets one run at a time write the run folder.
        self._db = Path(settings.keys_db).with_name("api_runs.sqlite")
        self._lock_file = Path(settings.keys_db).with_name("api_runs.lock")
        self._db.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, requested_by TEXT, state TEXT, "
                "created_at TEXT, started_at TEXT, finished_at TEXT, error TEXT, summary TEXT)"
            )
        self._close_abandoned_runs()

    def _close_abandoned_runs(self) -> None:
        """Mark runs left queued or running by a server that stopped as failed.

        Nobody holds the run lock when no run is executing anywhere, so records still ``queued`` or
        ``running`` then belong to a process that died; without this they would stay so forever.
        """
        with open(self._lock_file, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another process is running one now: its records are alive
            with closing(self._connect()) as connection:
                connection.execute(
                    "UPDATE runs SET state = 'failed', finished_at = ?, "
                    "error = 'the server stopped before this run finished; start it again' "
                    "WHERE state IN ('queued', 'running')",
                    (_now(),),
                )

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._db, timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    def _save(self, record: RunRecord) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.requested_by,
                    record.state,
                    record.created_at,
                    record.started_at,
                    record.finished_at,
                    record.error,
                    json.dumps(record.summary, default=str) if record.summary is not None else None,
                ),
            )

    @staticmethod
    def _record(row: tuple) -> RunRecord:
        summary = json.loads(row[7]) if row[7] is not None else None
        return RunRecord(*row[:7], summary=summary)

    @property
    def candidates(self) -> Path:
        """Folder holding the candidate runs (beside the served run, same file system: atomic swaps)."""
        folder = Path(self._settings.run_folder)
        return folder.with_name(f"{folder.name}-candidates")

    def submit(self, requested_by: str, options: RunOptions | None = None) -> RunRecord:
        """Queue a run and return its record."""
        options = options or RunOptions()
        record = RunRecord(id=uuid.uuid4().hex[:12], requested_by=requested_by, summary={"options": options.to_dict()})
        self._save(record)
        self._executor.submit(self._execute, record, options)
        return record

    def _execute(self, record: RunRecord, options: RunOptions) -> None:
        candidate = self.candidates / record.id
        try:
            with open(self._lock_file, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # runs requested of other processes wait their turn
                record.state, record.started_at = "running", _now()
                self._save(record)
                target = served_target(self._settings.run_folder, options)
                result = self._runner(self._settings, options, candidate)
                written = candidate_result(candidate, options)
                decision = decide(read_meta(written), read_meta(target), options.replace)
                record.summary = {
                    "options": options.to_dict(),
                    **(_summary_dict(result) or {}),
                    "measurements": decision.measurements,
                    "served_measurements": decision.served_measurements,
                    "decision": decision.reason,
                    "replaced": decision.state == "done",
                }
                if decision.state == "done":
                    swap_in(written, target)
                    shutil.rmtree(candidate, ignore_errors=True)
                    record.summary["out"] = str(target)
                elif decision.state == "candidate":
                    record.summary["candidate"] = str(written)
                else:
                    shutil.rmtree(candidate, ignore_errors=True)
                    raise RuntimeError(decision.reason)
            if decision.state == "done" and not options.period:
                self._holder.reload()
                if self._holder.last_error:
                    raise RuntimeError(self._holder.last_error)
            record.state = decision.state
        except BaseException as exc:  # report every failure as the run's state, never crash the worker
            log.error("run %s failed: %s\n%s", record.id, exc, traceback.format_exc())
            record.error = f"{type(exc).__name__}: {exc}"
            record.state = "failed"
        finally:
            record.finished_at = _now()
            self._save(record)

    def promote(self, run_id: str) -> RunRecord:
        """Make a kept candidate the served run (or the served month); raise QueryError otherwise."""
        with open(self._lock_file, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            record = self.get(run_id)
            if record is None:
                raise QueryError(f"no run {run_id!r}", code="not_found", field="run_id", status=404)
            written = Path((record.summary or {}).get("candidate") or "")
            if record.state != "candidate" or not (written / RUN_JSON).exists():
                raise QueryError(
                    f"run {run_id} is {record.state}, not a kept candidate: nothing to promote",
                    code="not_a_candidate",
                    field="run_id",
                    status=409,
                )
            options = RunOptions(**{k: v for k, v in record.summary.get("options", {}).items() if k != "villages"})
            target = served_target(self._settings.run_folder, options)
            swap_in(written, target)
            shutil.rmtree(self.candidates / record.id, ignore_errors=True)
            record.state = "done"
            record.summary = {**record.summary, "replaced": True, "out": str(target), "candidate": None}
            record.summary["decision"] = f"promoted by an admin: {record.summary.get('decision', '')}"
            record.finished_at = _now()
            self._save(record)
        if not options.period:
            self._holder.reload()
        return record

    def get(self, run_id: str) -> RunRecord | None:
        """Return a run's record, None when unknown."""
        with closing(self._connect()) as connection:
            row = connection.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._record(row) if row else None

    def all(self) -> list[RunRecord]:
        """Return every run requested of this service, newest first."""
        with closing(self._connect()) as connection:
            rows = connection.execute("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC").fetchall()
        return [self._record(row) for row in rows]

    def shutdown(self) -> None:
        """Stop accepting runs; wait for the current one."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def default_runner(settings: ApiSettings, options: RunOptions, out: Path) -> Any:
    """Run the analysis on the store into the candidate folder ``out`` (``lomsong run``'s work).

    The served run's inputs (villages, boundaries, population, configuration) are kept unless
    ``options`` names others (:func:`api.reruns.kept_inputs`).
    """
    from lomsong.jobs.run import run_analysis

    served = read_meta(served_target(settings.run_folder, options)) or read_meta(settings.run_folder)
    return run_analysis(
        store=settings.store_dir,
        out=out,
        period=options.period,
        since=options.since,
        until=options.until,
        maps=True,
        **kept_inputs(served, options),
    )


# ----------------------------------------------------------------------------------------------
# The app's context and the key dependencies


@dataclass
class AppContext:
    """Everything the routes need, kept on ``app.state.context``."""

    settings: ApiSettings
    keys: KeyStore
    results: ResultsHolder
    runs: RunManager
    store_factory: Callable[[ApiSettings], Any]
    store_lock: threading.Lock = field(default_factory=threading.Lock)
    page_cache: dict[tuple[Any, ...], bytes] = field(default_factory=dict)

    period_holders: dict[str, ResultsHolder] = field(default_factory=dict)

    def store(self) -> Any:
        """Return the measurement store uploads go into."""
        return self.store_factory(self.settings)

    def results_for(self, period: str | None) -> ResultsHolder:
        """Return the served run (``period`` None) or a monthly run's holder (``<run>/periods/<YYYY-MM>``).

        Raises
        ------
        QueryError
            A malformed period (400), or a month without a stored run (404, naming the stored ones).
        """
        if period is None or period == "":
            return self.results
        from lomsong.errors import PeriodError
        from lomsong.tables.periods import list_periods, parse_period, period_dir

        try:
            name = parse_period(period).name
        except PeriodError as exc:
            raise QueryError(str(exc), field="period") from None
        holder = self.period_holders.get(name)
        if holder is None:
            folder = period_dir(name, self.settings.run_folder)
            if not (folder / RUN_JSON).exists():
                stored = ", ".join(list_periods(self.settings.run_folder)) or "none"
                raise QueryError(
                    f"period {name}: no monthly run stored (stored periods: {stored}); see /periods",
                    code="not_found",
                    field="period",
                    status=404,
                )
            holder = ResultsHolder(folder, self.results.boundaries)
            self.period_holders[name] = holder
        return holder


def default_store(settings: ApiSettings) -> Any:
    """Open the measurement store of the settings."""
    from lomsong.tables.store import MeasurementStore

    return MeasurementStore(settings.store_dir)


def context(request: Request) -> AppContext:
    """FastAPI dependency: the app's :class:`AppContext`."""
    return request.app.state.context


api_key_header = APIKeyHeader(
    name=HEADER, auto_error=False, description="API key (`lomsong keys add`); reads may be open."
)


def optional_key(secret: str | None = Depends(api_key_header), ctx: AppContext = Depends(context)) -> ApiKey | None:
    """The key sent in ``X-API-Key`` (None when none was sent); 401 for an unknown or revoked key."""
    if secret is None or secret == "":
        return None
    key = ctx.keys.authenticate(secret)
    if key is None:
        raise QueryError("unknown or revoked API key", code="invalid_key", field=HEADER, status=401)
    return key


def reader(key: ApiKey | None = Depends(optional_key), ctx: AppContext = Depends(context)) -> ApiKey | None:
    """Dependency of read endpoints: open, or any valid key when reads need one."""
    if key is None and ctx.settings.read_requires_key:
        raise QueryError(f"this server needs an API key to read; send it in {HEADER}", "missing_key", HEADER, 401)
    return key


def _with_article(word: str) -> str:
    """``an operator``, ``a reader``: the article English wants before a role."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def uploader(key: ApiKey | None = Depends(optional_key)) -> ApiKey:
    """Dependency of upload endpoints: an operator or admin key."""
    if key is None:
        raise QueryError(f"uploads need an operator or admin key in {HEADER}", "missing_key", HEADER, 401)
    if key.role not in ("operator", "admin"):
        raise QueryError(
            f"{_with_article(key.role)} key cannot upload; use an operator or admin key", "forbidden", HEADER, 403
        )
    return key


def admin(key: ApiKey | None = Depends(optional_key)) -> ApiKey:
    """Dependency of department-only endpoints: an admin key."""
    if key is None:
        raise QueryError(f"this needs an admin key in {HEADER}", "missing_key", HEADER, 401)
    if key.role != "admin":
        raise QueryError(
            f"{_with_article(key.role)} key cannot do this; only the department's admin keys can",
            "forbidden",
            HEADER,
            403,
        )
    return key


# ----------------------------------------------------------------------------------------------
# Unknown query parameters


def declared_query_names(route: Any) -> frozenset[str]:
    """Query parameter names a route declares, its dependencies' included (walked once per route)."""
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


def reject_unknown_parameters(request: Request) -> None:
    """App-wide dependency: a query parameter the route does not declare is a 400 naming it.

    OGC API - Features asks for this ("unknown parameters → 400"), and it stops a misspelt
    filter (``datetme=``, ``operater=``) from silently returning everything.
    """
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    cache = request.app.state.__dict__.setdefault("query_names", {})
    declared = cache.get(route.path_format)
    if declared is None:
        # GDAL's OAPIF driver sends the query of its connection string (``…/collections/cells?period=…``)
        # with every request, the collection document's too: such routes accept the items' names
        extras = request.app.state.__dict__.get("query_pass_through", {}).get(route.path_format, frozenset())
        declared = cache[route.path_format] = declared_query_names(route) | extras
    unknown = sorted(set(request.query_params.keys()) - declared)
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise QueryError(
            f"unknown parameter {unknown[0]!r} for {route.path_format}; this endpoint takes: {known}",
            code="unknown_parameter",
            field=unknown[0],
        )
