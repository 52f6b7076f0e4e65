"""The FastAPI application: :func:`create_app`.

Routes are thin: they parse parameters, call :mod:`api.core` (filters, pages, serialisers), the
measurement store (:mod:`lomsong.tables.store`) or the pipeline (:mod:`lomsong.jobs.run`), and answer.
Every error is JSON ``{"code", "message", "field"}``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import core
from api.context import (
    AppContext,
    FeatureBody,
    FeatureCollectionBody,
    HealthBody,
    ItemsPage,
    ResultsHolder,
    RunManager,
    RunRequest,
    RunStateBody,
    SummaryBody,
    UploadList,
    admin,
    context,
    default_runner,
    default_store,
    error_responses,
    reader,
    reject_unknown_parameters,
    uploader,
)
from api.core import QueryError
from api.keys import ApiKey, KeyStore
from api.params import BoxParams, PageParams, PlaceParams, PopulationParams, TimeParams, ViewParams, list_query
from api.reruns import RunOptions
from api.responses import error_response, json_response, list_response
from api.settings import ApiSettings
from api.uploads import (
    BodyLimitMiddleware,
    labelled_reasons,
    nothing_usable_reason,
    remove_stale_uploads,
    rows_location,
    stored_operator_counts,
    upload_name,
    upload_temp_prefix,
)
from lomsong import __version__, paths
from lomsong.errors import AttributionError, LomsongError
from lomsong.jobs.ingest import ingest_files
from lomsong.operators import operator_from_name

log = logging.getLogger("lomsong.api")

ListFormat = Literal["json", "geojson", "csv", "xlsx", "gpkg"]
LIST_FORMATS = ("json", "geojson", "csv", "xlsx", "gpkg")

#: Media types a list endpoint answers with, for the OpenAPI document.
_LIST_CONTENT = {
    "application/json": {"schema": {"$ref": "#/components/schemas/ItemsPage"}},
    "application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollectionBody"}},
    "text/csv": {"schema": {"type": "string"}},
    core.MEDIA_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
    core.MEDIA_TYPES["gpkg"]: {"schema": {"type": "string", "format": "binary"}},
}


def _boundaries_loader(settings: ApiSettings) -> Callable[[], Any]:
    @cache
    def load() -> Any:
        from lomsong.reference.boundaries import read_communes

        path = settings.boundaries or paths.boundaries_path()
        if not Path(path).exists():
            log.warning("no commune boundaries at %s: the communes collection has no geometry", path)
            return None
        return read_communes(path)

    return load


def create_app(
    settings: ApiSettings | None = None,
    runner: Callable[[ApiSettings], Any] | None = None,
    store_factory: Callable[[ApiSettings], Any] | None = None,
) -> FastAPI:
    """Build the API application.

    Parameters
    ----------
    settings : ApiSettings, optional
        Configuration (default: :meth:`ApiSettings.load`, i.e. file named by
        ``$LOMSONG_API_CONFIG`` and environment variables).
    runner : callable, optional
        ``runner(settings)`` that reruns the analysis for ``POST /runs`` (default: the pipeline).
    store_factory : callable, optional
        ``store_factory(settings)`` returning the measurement store (default:
        :class:`lomsong.tables.store.MeasurementStore` on ``settings.store_dir``).

    Returns
    -------
    fastapi.FastAPI
    """
    settings = settings or ApiSettings.load()
    holder = ResultsHolder(settings.run_folder, _boundaries_loader(settings))
    ctx = AppContext(
        settings=settings,
        keys=KeyStore(settings.keys_db),
        results=holder,
        runs=RunManager(runner or default_runner, settings, holder),
        store_factory=store_factory or default_store,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(remove_stale_uploads)  # copies left by a killed server
        await run_in_threadpool(holder.reload)
        if holder.last_error:
            log.warning("%s", holder.last_error)
        yield
        ctx.runs.shutdown()

    app = FastAPI(
        title="lomsong API: vùng lõm sóng Đắk Nông",
        version=__version__,
        description=(
            "Vùng lõm sóng (mobile-coverage gaps) where people live in Đắk Nông: gap lists, "
            "OGC API - Features collections, map pages, drive-test uploads. Send keys in `X-API-Key`."
        ),
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_parameters)],
        docs_url=None,  # served below from the vendored Swagger UI and ReDoc: /docs works offline
        redoc_url=None,
    )
    app.state.context = ctx
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes, paths=("/measurements", "/claim-maps"))
    _install_error_handlers(app)
    _add_read_routes(app)
    _add_claim_routes(app)
    _add_claim_upload_route(app)
    _add_upload_routes(app)
    _add_run_routes(app)
    _add_period_routes(app)

    from api.ogc import add_ogc_routes

    add_ogc_routes(app)
    from api.tiles import add_tile_routes

    add_tile_routes(app)
    from api.mappages import add_map_routes

    add_map_routes(app)
    from api.plans import add_plan_routes

    add_plan_routes(app)
    from api.files import add_file_routes

    add_file_routes(app)
    _add_docs_routes(app)
    _install_openapi(app)
    return app


def _add_docs_routes(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from the npm packages vendored at set-up, never a CDN."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    from api.mappages import ASSET_PREFIX
    from lomsong.products.maps.assets import ASSETS

    def url(key: str) -> str:
        return f"{ASSET_PREFIX}/{ASSETS[key].path}"

    def offline(page: Response) -> Response:
        page.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return page

    @app.get("/docs", include_in_schema=False)
    def swagger() -> Response:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: Swagger UI",
            swagger_js_url=url("swagger-ui.js"),
            swagger_css_url=url("swagger-ui.css"),
            swagger_favicon_url=url("swagger-favicon.png"),
        )
        return offline(page)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        page = get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: ReDoc",
            redoc_js_url=url("redoc.js"),
            redoc_favicon_url=url("swagger-favicon.png"),
            with_google_fonts=False,
        )
        return offline(page)


#: The documentation pages load nothing from another host: ReDoc's bundle hard-codes its footer logo
#: at cdn.redoc.ly; the browser refuses it before any request (the image hides itself on error).
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


# ----------------------------------------------------------------------------------------------
# Errors


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QueryError)
    async def _query_error(request: Request, exc: QueryError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.exception_handler(LomsongError)
    async def _input_error(request: Request, exc: LomsongError) -> Response:
        # a library error on a request's input (a file, a period, a run folder): its message is for a person
        status = 404 if isinstance(exc, FileNotFoundError) else 422
        return error_response(status, type(exc).__name__.removesuffix("Error").lower() or "error", str(exc), None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        location = [str(part) for part in first.get("loc", ())]
        field = location[-1] if location else None
        message = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
            for e in errors[:5]
        )
        code = "missing_parameter" if first.get("type") == "missing" else "invalid_parameter"
        return error_response(400, code, message or "invalid request", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.url.path}; see /docs"
        # keep the exception's headers: a 405 must say which methods are allowed (Allow)
        headers = dict(exc.headers) if getattr(exc, "headers", None) else None
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), message, None, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Last resort: log it for us, answer JSON to the client (tests make sure none happens).
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"unexpected error: {type(exc).__name__}", None)


#: The shared page-size parameter: QGIS reads its maximum to choose its page size, GDAL to clamp.
LIMIT_PARAMETER: dict[str, Any] = {
    "name": "limit",
    "in": "query",
    "description": f"page size: {core.DEFAULT_LIMIT} features by default, at most {core.MAX_LIMIT:,}",
    "required": False,
    "style": "form",
    "explode": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": core.MAX_LIMIT, "default": core.DEFAULT_LIMIT},
}


def _share_limit_parameter(schema: dict[str, Any]) -> None:
    """Declare ``limit`` once in ``components/parameters`` and refer to it from every list operation."""
    schema.setdefault("components", {}).setdefault("parameters", {})["limit"] = LIMIT_PARAMETER
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            parameters = operation.get("parameters", [])
            for position, parameter in enumerate(parameters):
                if parameter.get("name") == "limit" and parameter.get("in") == "query":
                    parameters[position] = {"$ref": "#/components/parameters/limit"}


def _add_referenced_models(schema: dict[str, Any]) -> None:
    """Add the response models only named in ``$ref``s (not in a route's response_model) to the components.

    Without them the document has dangling references, which ReDoc refuses to render.
    """
    from api.context import ErrorBody, FeatureBody

    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (FeatureBody, FeatureCollectionBody, ItemsPage, ErrorBody):
        if model.__name__ in components:
            continue
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in body.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components[model.__name__] = body


def _document_bodies_and_keys(schema: dict[str, Any], read_requires_key: bool) -> None:
    """Add the response bodies named by hand-written ``$ref``s, and say which reads need no key.

    Routes answering raw bytes name their bodies (``ItemsPage``, ``FeatureCollectionBody``,
    ``FeatureBody``) by reference; FastAPI only adds the models it serialises itself. Reads are
    open unless ``read_requires_key``: their security is then optional (``{}`` or a key).
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ItemsPage, FeatureCollectionBody, FeatureBody):
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in body.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components.setdefault(model.__name__, body)
    if read_requires_key:
        return
    for path, item in schema.get("paths", {}).items():
        if path.startswith(("/measurements", "/runs")):
            continue
        for operation in item.values():
            if operation.get("security"):
                operation["security"] = [{}, *operation["security"]]


def _install_openapi(app: FastAPI) -> None:
    """Document JSON errors instead of FastAPI's 422 validation body (the API answers 400)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses", {})
                responses.pop("422", None)
                responses.setdefault(
                    "400",
                    {
                        "description": "invalid parameter",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    },
                )
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        _share_limit_parameter(schema)
        from api.ogc import document_collection_paths

        document_collection_paths(schema)  # after the shared limit: the items take larger pages
        _add_referenced_models(schema)
        _document_bodies_and_keys(schema, app.state.context.settings.read_requires_key)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


# ----------------------------------------------------------------------------------------------
# Read endpoints


def _add_read_routes(app: FastAPI) -> None:
    read_errors = error_responses(400, 401, 503)
    list_responses = {200: {"content": _LIST_CONTENT, "description": "a page or a download"}, **read_errors}

    @app.get("/health", response_model=HealthBody, tags=["service"], responses=error_responses(400))
    def health(ctx: AppContext = Depends(context)) -> Response:
        """Is the service up, and does it have results to serve? (Public: it names no server path.)"""
        prepared = ctx.results.current()
        message = ctx.results.last_error
        if message:  # the server's folders are nobody's business but the department's
            message = message.replace(str(ctx.settings.run_folder), "the run folder")
        return json_response(
            {
                "status": "ok",
                "results_loaded": prepared is not None,
                "synthetic": prepared.synthetic if prepared else None,
                "message": message,
            }
        )

    @app.get("/summary", response_model=SummaryBody, tags=["results"], responses=read_errors)
    def summary(
        period: str | None = Query(None, max_length=7, description="a monthly run YYYY-MM (see /periods)"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """Province totals per view (operator × technology) and the run's metadata (``period``: a month's)."""
        return json_response(ctx.results_for(period).require().summary)

    @app.get("/gaps", tags=["results"], responses=list_responses, response_class=Response)
    def gaps(
        request: Request,
        view: ViewParams = Depends(),
        place: PlaceParams = Depends(),
        box: BoxParams = Depends(),
        population: PopulationParams = Depends(),
        time: TimeParams = Depends(),
        paging: PageParams = Depends(),
        evidence: Literal["confirmed", "likely"] | None = Query(None),
        f: ListFormat | None = Query(None, description="json, geojson, csv, xlsx or gpkg (else the Accept header)"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """Gaps: filter, sort, page; JSON, GeoJSON, CSV, Excel or GeoPackage."""
        fmt = core.parse_format(f, request.headers.get("accept"), LIST_FORMATS, "json")
        query = list_query(fmt, view, place, box, population, time, paging, evidence=evidence)
        prepared = ctx.results_for(time.period).require()
        return list_response(request, prepared, prepared.collection("gaps"), query, fmt)

    @app.get(
        "/gaps/{gap_id}",
        tags=["results"],
        responses={
            200: {"content": {"application/geo+json": {}, "application/json": {}}, "description": "the gap"},
            **error_responses(400, 401, 404, 503),
        },
        response_class=Response,
    )
    def gap(
        request: Request,
        gap_id: str = PathParam(..., max_length=200),
        f: Literal["json", "geojson"] | None = Query(None),
        period: str | None = Query(None, max_length=7, description="a monthly run YYYY-MM (see /periods)"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """One gap: its row (json) or its Feature (geojson)."""
        fmt = core.parse_format(f, request.headers.get("accept"), ("json", "geojson"), "json")
        collection = ctx.results_for(period).require().collection("gaps")
        position = collection.position(gap_id)
        if fmt == "geojson":
            return Response(core.feature_bytes(collection, position), media_type="application/geo+json")
        return Response(collection.properties[position].encode("utf-8"), media_type="application/json")

    @app.get("/communes", tags=["results"], responses=list_responses, response_class=Response)
    def communes(
        request: Request,
        view: ViewParams = Depends(),
        place: PlaceParams = Depends(),
        box: BoxParams = Depends(),
        population: PopulationParams = Depends(),
        time: TimeParams = Depends(),
        paging: PageParams = Depends(),
        f: ListFormat | None = Query(None),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """Commune summaries, one row per commune and view (people in gaps, covered share, largest gap).

        ``datetime`` matches every commune: a summary has no time of its own (OGC API - Features 7.15.4).
        """
        fmt = core.parse_format(f, request.headers.get("accept"), LIST_FORMATS, "json")
        query = list_query(fmt, view, place, box, population, time, paging)
        prepared = ctx.results_for(time.period).require()
        return list_response(request, prepared, prepared.collection("communes"), query, fmt)

    @app.get("/communes/{code}", tags=["results"], responses=error_responses(400, 401, 404, 503))
    def commune(
        code: str = PathParam(..., max_length=100, description="GSO code or name"),
        period: str | None = Query(None, max_length=7, description="a monthly run YYYY-MM (see /periods)"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """One commune: its summary in every view and the gaps touching it."""
        return json_response(core.commune_detail(ctx.results_for(period).require(), code))

    @app.get("/villages", tags=["results"], responses=list_responses, response_class=Response)
    def villages(
        request: Request,
        view: ViewParams = Depends(),
        place: PlaceParams = Depends(),
        box: BoxParams = Depends(),
        time: TimeParams = Depends(),
        paging: PageParams = Depends(),
        f: ListFormat | None = Query(None),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """Villages with their coverage status (empty when the run had no village layer)."""
        fmt = core.parse_format(f, request.headers.get("accept"), LIST_FORMATS, "json")
        query = list_query(fmt, view, place, box, time, paging)
        prepared = ctx.results_for(time.period).require()
        return list_response(request, prepared, prepared.collection("villages"), query, fmt)


def _claim_collection(prepared: Any, collection_id: str) -> Any:
    """The run's claims collection, or a 404 that says how to get one."""
    if collection_id not in prepared.collections:
        raise core.NotFoundError(
            "this run was made without claimed-coverage maps: store one with `lomsong ingest --claims FILE "
            "--operator OP --technology 4G --claim-date YYYY-MM-DD`, then rerun",
            field="run",
        )
    return prepared.collection(collection_id)


def _add_claim_upload_route(app: FastAPI) -> None:
    """``POST /claim-maps``: an operator (or admin) sends a claimed-coverage map; stored and ledgered."""

    @app.post("/claim-maps", tags=["claims"], responses=error_responses(400, 401, 403, 413))
    def upload_claim_map(
        file: UploadFile = File(..., description="claim map: GeoJSON, KML/KMZ, zipped shapefile, GPKG or GeoTIFF"),
        technology: str | None = Form(None, max_length=10, description="2G, 3G, 4G or 5G, when the file does not say"),
        claim_date: str | None = Form(None, max_length=40, description="publication date, when the file does not say"),
        operator: str | None = Form(None, max_length=40, description="admin only: the operator of the map"),
        ctx: AppContext = Depends(context),
        key: ApiKey = Depends(uploader),
    ) -> Response:
        """Upload a claimed-coverage map (operator key: its own operator's map only); returns the ingest report.

        The next run (``POST /runs``) uses the latest map per operator × technology.
        """
        from lomsong.jobs.ingest import ingest_claims
        from lomsong.operators import operator_from_name

        if key.role == "operator":
            if operator and operator_from_name(operator) != key.operator:
                raise QueryError(
                    f"an operator key sends its own operator's map ({key.operator}), not {operator!r}",
                    code="forbidden_operator",
                    field="operator",
                )
            operator = key.operator
        name = Path(file.filename or "upload").name or "upload"
        folder = Path(tempfile.mkdtemp(prefix="lomsong-claim-"))
        try:
            path = folder / name
            with path.open("wb") as out:
                shutil.copyfileobj(file.file, out, length=1024 * 1024)
            if path.stat().st_size == 0:
                raise QueryError(f"{name}: the file is empty", code="empty_file", field="file")
            with ctx.store_lock:
                reports = ingest_claims(
                    ctx.store(),
                    [path],
                    operator=operator,
                    technology=technology,
                    claim_date=claim_date,
                    owner=key.owner,
                )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        report = _report_dict(reports[0])
        if report.get("error"):
            message = str(report["error"]).replace(str(folder) + "/", "")  # name the file as sent
            raise QueryError(message, code="unreadable_file", field="file")
        return json_response({**report, "file": name, "owner": key.owner})


def _add_claim_routes(app: FastAPI) -> None:
    """``/claims`` and ``/challenges``: the operators' claimed coverage against the measurements."""
    list_responses = {
        200: {"content": _LIST_CONTENT, "description": "a page or a download"},
        **error_responses(400, 401, 404, 503),
    }

    @app.get("/claims", tags=["claims"], responses=list_responses, response_class=Response)
    def claims(
        request: Request,
        view: ViewParams = Depends(),
        commune: str | None = Query(None, max_length=100, description="GSO code or name (diacritics optional)"),
        district: str | None = Query(None, max_length=100, description="GSO code or name"),
        paging: PageParams = Depends(),
        f: ListFormat | None = Query(None, description="json, geojson, csv, xlsx or gpkg (else the Accept header)"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """Claimed, verified, over-claimed and unverified people and km² per operator, technology and commune."""
        fmt = core.parse_format(f, request.headers.get("accept"), LIST_FORMATS, "json")
        query = list_query(fmt, view, paging, commune=commune, district=district)
        prepared = ctx.results.require()
        return list_response(request, prepared, _claim_collection(prepared, "claims"), query, fmt)

    @app.get("/challenges", tags=["claims"], responses=list_responses, response_class=Response)
    def challenges(
        request: Request,
        view: ViewParams = Depends(),
        commune: str | None = Query(None, max_length=100),
        district: str | None = Query(None, max_length=100),
        box: BoxParams = Depends(),
        population: PopulationParams = Depends(),
        paging: PageParams = Depends(),
        f: ListFormat | None = Query(None),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """Over-claimed areas (the list to send an operator), with people, area and evidence."""
        fmt = core.parse_format(f, request.headers.get("accept"), LIST_FORMATS, "json")
        query = list_query(fmt, view, box, population, paging, commune=commune, district=district)
        prepared = ctx.results.require()
        return list_response(request, prepared, _claim_collection(prepared, "challenges"), query, fmt)


# ----------------------------------------------------------------------------------------------
# Periods (the monthly runs on disk)


def _add_period_routes(app: FastAPI) -> None:
    read_errors = error_responses(400, 401, 404, 503)

    @app.get("/periods", tags=["periods"], responses=error_responses(400, 401))
    def periods(request: Request, ctx: AppContext = Depends(context), key: ApiKey | None = Depends(reader)) -> Response:
        """The monthly runs stored beside the served run, oldest first, with their counts and links."""
        from lomsong.tables.periods import list_periods

        root = str(request.base_url).rstrip("/")
        items = []
        for name in list_periods(ctx.settings.run_folder):
            meta = ctx.results_for(name).require().meta
            counts = meta.get("counts", {}) if isinstance(meta.get("counts"), dict) else {}
            items.append(
                {
                    "period": name,
                    "synthetic": bool(meta.get("synthetic", False)),
                    "created": meta.get("created"),
                    "measurements": counts.get("measurements"),
                    "gaps": counts.get("gaps"),
                    "gaps_all": counts.get("gaps_all"),
                    "links": [
                        {"rel": "gaps", "type": "application/json", "href": f"{root}/gaps?period={name}"},
                        {"rel": "communes", "type": "application/json", "href": f"{root}/communes?period={name}"},
                        {"rel": "data", "type": "application/json", "href": f"{root}/collections?period={name}"},
                    ],
                }
            )
        return json_response({"items": items})

    @app.get("/compare", tags=["periods"], responses=read_errors)
    def compare(
        before: str = Query(..., max_length=7, description="the earlier month YYYY-MM"),
        after: str = Query(..., max_length=7, description="the later month YYYY-MM"),
        operator: str | None = Query(None, max_length=40),
        technology: str | None = Query(None, max_length=10),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """The change between two monthly runs: gaps closed, new, persisting; people newly covered."""
        from lomsong.analysis.compare import compare_runs

        first, second = ctx.results_for(before), ctx.results_for(after)
        names = (first.require().meta.get("period"), second.require().meta.get("period"))
        before_name, after_name = str(names[0] or before), str(names[1] or after)
        if before_name >= after_name:
            raise QueryError(f"compare {before_name} {after_name}: before must be the earlier month", field="before")
        comparison = compare_runs(first.require().results, second.require().results, before_name, after_name)
        wanted_operator, wanted_technology = core.parse_operator(operator), core.parse_technology(technology)
        summary = comparison.summary
        changes = pd.DataFrame(comparison.changes.drop(columns="geometry", errors="ignore"))
        for column, value in (("operator", wanted_operator), ("technology", wanted_technology)):
            if value is not None:
                summary = summary[summary[column].astype("string") == value]
                if column in changes.columns:
                    changes = changes[changes[column].astype("string") == value]
        return json_response(
            {
                "before": before_name,
                "after": after_name,
                "synthetic": comparison.synthetic,
                "summary": _frame_records(summary),
                "changes": _frame_records(changes),
            }
        )


def _frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    import orjson

    if frame is None or len(frame) == 0:
        return []
    return orjson.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))


# ----------------------------------------------------------------------------------------------
# Uploads


def _ledger_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    import orjson

    if frame is None or len(frame) == 0:
        return []
    # The server-side path of the uploaded copy means nothing to the client.
    frame = frame.drop(columns=["path"], errors="ignore")
    return orjson.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False))


def _report_dict(report: Any) -> dict[str, Any]:
    return report.to_dict() if hasattr(report, "to_dict") else dict(report)


def _visible_upload(ctx: AppContext, key: ApiKey, sha256: str) -> dict[str, Any]:
    owner = None if key.role == "admin" else key.owner
    ledger = ctx.store().files(owner=owner)
    rows = _ledger_records(ledger[ledger["sha256"].astype("string") == sha256]) if len(ledger) else []
    if not rows:
        # Same answer whether the file is someone else's or absent: nothing leaks.
        raise QueryError(f"no upload {sha256} among yours", code="not_found", field="sha256", status=404)
    return rows[0]


def _refuse_if_nothing_usable(
    store: Any, key: ApiKey, name: str, path: Path, report: dict[str, Any], fmt: str | None, operator: str | None
) -> None:
    """A measurement file with no usable row is not kept: withdraw it and answer 422 with the reason."""
    if report.get("duplicate_file") or report.get("kind", "measurements") != "measurements":
        return
    if int(report.get("accepted") or 0) > 0:
        return
    sha256 = str(report.get("sha256", ""))
    if sha256:
        store.remove(sha256, owner=None if key.role == "admin" else key.owner)
    location = rows_location(path, fmt, operator) if report.get("outside_province") else None
    raise QueryError(nothing_usable_reason(name, report, location), code="nothing_usable", field="file", status=422)


def _add_upload_routes(app: FastAPI) -> None:
    sha_param = PathParam(..., pattern="^[0-9a-fA-F]{64}$", description="sha256 of the uploaded file")

    @app.post("/measurements", tags=["uploads"], responses=error_responses(400, 401, 403, 413, 422))
    def upload(
        file: UploadFile = File(..., description="measurement file in any format the readers know"),
        format: str | None = Form(None, max_length=40, description="reader format (default: detected)"),
        operator: str | None = Form(None, max_length=40, description="operator, when the file does not say"),
        ctx: AppContext = Depends(context),
        key: ApiKey = Depends(uploader),
    ) -> Response:
        """Upload a measurement file (operator or admin key); returns the ingest report.

        The same file twice stores nothing new (files are recognised by their sha256).
        """
        name = upload_name(file.filename)
        own_network = key.owner if key.role == "operator" else None
        if own_network is not None and operator and operator_from_name(operator) != own_network:
            raise QueryError(
                f"operator {operator!r}: a {own_network} key may only upload {own_network} measurements",
                code="other_operator",
                field="operator",
                status=403,
            )
        folder = Path(tempfile.mkdtemp(prefix=upload_temp_prefix()))
        path = folder / "upload.bin"  # never the client's name: it may be anything (.., NUL, 300 chars)

        def hide(text: object) -> str:
            # Messages name the file as the client sent it, never the server's temporary copy.
            return str(text).replace(str(path), name).replace(str(folder), "")

        try:
            with path.open("wb") as out:
                shutil.copyfileobj(file.file, out, length=1024 * 1024)
            if path.stat().st_size == 0:
                raise QueryError(f"{name}: the file is empty", code="empty_file", field="file")
            with ctx.store_lock:
                store = ctx.store()
                try:
                    reports = ingest_files(
                        store,
                        [path],
                        format=format or None,
                        operator=operator or None,
                        owner=key.owner,
                        own_network=own_network,
                        file_name=name,
                    )
                except AttributionError as exc:
                    raise QueryError(hide(exc), code="other_operator", field="file", status=403) from None
                except ValueError as exc:  # ReaderError and the readers' option errors
                    raise QueryError(f"{name}: {hide(exc)}", code="unreadable_file", field="file") from None
                report = _report_dict(reports[0]) if reports else {}
                if report.get("error"):
                    raise QueryError(
                        hide(report["error"]), code="unreadable_file", field="format" if format else "file"
                    )
                _refuse_if_nothing_usable(store, key, name, path, report, format, operator)
                per_operator = stored_operator_counts(store, str(report.get("sha256", "")))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        # rows naming another network than an operator key's own were refused above (AttributionError)
        checks: dict[str, Any] = {"operators": per_operator, "reasons": labelled_reasons(report)}
        # The report names the file as the client sent it, not the server's temporary copy.
        return json_response({**report, **checks, "file": name, "owner": key.owner})

    @app.get("/measurements", response_model=UploadList, tags=["uploads"], responses=error_responses(401, 403))
    def uploads(ctx: AppContext = Depends(context), key: ApiKey = Depends(uploader)) -> Response:
        """Uploads of this key's operator (admin: every upload)."""
        owner = None if key.role == "admin" else key.owner
        return json_response({"items": _ledger_records(ctx.store().files(owner=owner))})

    @app.get("/measurements/{sha256}", tags=["uploads"], responses=error_responses(401, 403, 404))
    def upload_detail(
        sha256: str = sha_param, ctx: AppContext = Depends(context), key: ApiKey = Depends(uploader)
    ) -> Response:
        """One upload's ledger entry (only your own; admin: any)."""
        return json_response(_visible_upload(ctx, key, sha256.lower()))

    @app.delete("/measurements/{sha256}", tags=["uploads"], responses=error_responses(401, 403, 404))
    def delete_upload(
        sha256: str = sha_param, ctx: AppContext = Depends(context), key: ApiKey = Depends(uploader)
    ) -> Response:
        """Delete an upload and its measurements (only your own; admin: any)."""
        sha256 = sha256.lower()
        with ctx.store_lock:
            _visible_upload(ctx, key, sha256)
            removed = ctx.store().remove(sha256, owner=None if key.role == "admin" else key.owner)
        if not removed:
            raise QueryError(f"no upload {sha256} among yours", code="not_found", field="sha256", status=404)
        return json_response({"sha256": sha256, "deleted": True})


# ----------------------------------------------------------------------------------------------
# Runs


def _add_run_routes(app: FastAPI) -> None:
    @app.post(
        "/runs",
        status_code=202,
        response_model=RunStateBody,
        tags=["runs"],
        responses=error_responses(400, 401, 403),
    )
    def start_run(
        body: RunRequest | None = None,
        ctx: AppContext = Depends(context),
        key: ApiKey = Depends(admin),
    ) -> Response:
        """Rerun the analysis on the store in the background (admin only); poll ``/runs/{id}``.

        Takes the options of ``lomsong run`` (period, since/until, villages, resolution) and keeps
        the served run's other inputs. The new run is written beside the served one and replaces
        it only when it has usable measurements; one much smaller than what is served stays a
        ``candidate`` (``POST /runs/{id}/promote``) unless ``replace`` is true.
        """
        options = RunOptions(**(body.model_dump() if body is not None else {}))
        record = ctx.runs.submit(requested_by=key.name, options=options)
        return json_response(record.to_dict(), status=202, headers={"Location": f"/runs/{record.id}"})

    @app.post(
        "/runs/{run_id}/promote",
        response_model=RunStateBody,
        tags=["runs"],
        responses=error_responses(401, 403, 404, 409),
    )
    def promote_run(
        run_id: str = PathParam(..., max_length=64), ctx: AppContext = Depends(context), key: ApiKey = Depends(admin)
    ) -> Response:
        """Serve a kept candidate run (admin only): it replaces the served run atomically."""
        return json_response(ctx.runs.promote(run_id).to_dict())

    @app.get("/runs/{run_id}", response_model=RunStateBody, tags=["runs"], responses=error_responses(401, 403, 404))
    def run_state(
        run_id: str = PathParam(..., max_length=64), ctx: AppContext = Depends(context), key: ApiKey = Depends(admin)
    ) -> Response:
        """State of a run: queued, running, done or failed (with the error)."""
        record = ctx.runs.get(run_id)
        if record is None:
            raise QueryError(f"no run {run_id!r}", code="not_found", field="run_id", status=404)
        return json_response(record.to_dict())


__all__ = ["FeatureCollectionBody", "ItemsPage", "create_app"]
