"""OGC API - Features (Part 1: core, GeoJSON, HTML, OpenAPI 3.0) over the served run.

Collections: ``communes``, ``gaps``, ``cells``, ``villages``. QGIS and GDAL (``OAPIF:`` driver)
connect to the landing page ``/`` and page through ``/collections/{id}/items`` with ``next``
links. Besides ``bbox``, ``limit`` and ``offset``, the items accept the same filters as
``/gaps`` (operator, technology, commune, district, min_population, evidence, state, sort).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from api import core
from api.context import AppContext, FeatureBody, context, declared_query_names, error_responses, reader
from api.html import document_page, items_page
from api.keys import ApiKey
from api.params import BoxParams, PlaceParams, PopulationParams, TimeParams, ViewParams, list_query
from api.responses import json_response, list_response
from lomsong.products.words import text

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
OgcFormat = Literal["json", "geojson", "html"]
ItemsFormat = Literal["json", "geojson", "html", "gpkg"]
_GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
#: Collections also served as vector tiles (:mod:`api.tiles`).
TILED_COLLECTIONS = ("cells", "gaps")
PeriodParam = Query(None, max_length=7, description="a monthly run YYYY-MM (see /periods); default: the served run")
#: Documents that are not features (landing page, conformance, collections) come as JSON or HTML.
DocumentFormat = Literal["json", "html"]
_JSON = "application/json"
_GEOJSON = "application/geo+json"
_HTML = "text/html"


def _fmt(f: str | None, request: Request, json_name: str = "json") -> str:
    """``f=`` wins; else Accept; JSON by default (what GDAL and QGIS expect)."""
    return core.parse_format(f, request.headers.get("accept"), (json_name, "json", "html"), json_name)


def _root(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _page(
    title: str,
    links: list[dict[str, str]],
    *,
    description: str | None = None,
    items: list[str] | None = None,
    items_heading: str = "",
    synthetic: bool = False,
) -> Response:
    page = document_page(
        title, links, description=description, items=items or [], items_heading=items_heading, synthetic=synthetic
    )
    return Response(page, media_type="text/html; charset=utf-8")


_SCHEMA_JSON = "application/schema+json"
#: Filter parameters of the items besides bbox, datetime, limit, offset (the queryables).
ITEM_FILTERS = ("operator", "technology", "commune", "district", "min_population", "evidence", "state")


def _period_query(period: str | None) -> str:
    return f"?period={period}" if period else ""


def collection_description(root: str, collection: core.Collection, period: str | None = None) -> dict[str, Any]:
    """Return the OGC collection document of one collection (of a monthly run with ``period``)."""
    base = f"{root}/collections/{collection.id}"
    query = _period_query(period)
    items = f"{base}/items{query}"
    html_items = f"{items}&f=html" if query else f"{items}?f=html"
    description: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            {"rel": "self", "type": _JSON, "title": "this collection", "href": f"{base}{query}"},
            {"rel": "items", "type": _GEOJSON, "title": "features (GeoJSON)", "href": items},
            {"rel": "items", "type": _HTML, "title": "features (HTML)", "href": html_items},
            {
                # GDAL before 3.8 (Debian's 3.6) matches this spelling only; relation types compare
                # case-insensitively (RFC 8288), and GDAL ≥ 3.8 reads it too
                "rel": "describedBy",
                "type": _SCHEMA_JSON,
                "title": "JSON Schema of a GeoJSON feature (GDAL types its fields from it)",
                "href": f"{base}/feature-schema{query}",
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/schema",
                "type": _SCHEMA_JSON,
                "title": "schema of the features",
                "href": f"{base}/schema{query}",
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": _SCHEMA_JSON,
                "title": "what the items can be filtered by",
                "href": f"{base}/queryables{query}",
            },
        ],
    }
    if collection.id in TILED_COLLECTIONS:
        description["links"].append(
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "type": _JSON,
             "title": "vector tiles (Mapbox Vector Tiles, WebMercatorQuad)", "href": f"{base}/tiles{query}"}
        )
    extent = collection.extent()
    if extent is not None:
        description["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
    interval = collection.time_extent() if core.has_time(collection) else None
    if interval is not None:
        description.setdefault("extent", {})["temporal"] = {"interval": [interval], "trs": _GREGORIAN}
    return description


#: Every collection a run may serve: the API document lists each one's own items path, which is
#: where GDAL looks for the page size (it does not read ``/collections/{collectionId}/items``).
DOCUMENTED_COLLECTIONS = (*core.COLLECTION_IDS, "claims", "challenges", "predicted_gaps")
ITEMS_LIMIT_REF = "#/components/parameters/items-limit"
#: ``limit`` of the items: no ``default`` in the schema on purpose, so GDAL ≥ 3.8 pages by the maximum
#: (with a default it takes min(max(1000, default), maximum)); the default is in the description.
ITEMS_LIMIT_PARAMETER: dict[str, Any] = {
    "name": "limit",
    "in": "query",
    "description": f"page size: {core.DEFAULT_LIMIT} features when not given, at most {core.ITEMS_MAX_LIMIT:,} "
    "(large pages are streamed; GDAL ≥ 3.8 asks for the maximum)",
    "required": False,
    "style": "form",
    "explode": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": core.ITEMS_MAX_LIMIT},
}


def document_collection_paths(schema: dict[str, Any]) -> None:
    """Give each collection its own items path in the OpenAPI document, ``limit`` by reference.

    GDAL's OAPIF driver looks up ``paths["/collections/<id>/items"]`` literally and follows a
    ``$ref`` naming ``limit`` to choose its page size; the template path alone leaves it at 1,000.
    """
    schema.setdefault("components", {}).setdefault("parameters", {})["items-limit"] = ITEMS_LIMIT_PARAMETER
    template = schema.get("paths", {}).get("/collections/{collectionId}/items", {}).get("get")
    if template is None:
        return
    template["parameters"] = [
        {"$ref": ITEMS_LIMIT_REF} if _is_limit(parameter) else parameter for parameter in template.get("parameters", [])
    ]
    for collection_id in DOCUMENTED_COLLECTIONS:
        operation = copy.deepcopy(template)
        operation["parameters"] = [p for p in operation["parameters"] if p.get("name") != "collectionId"]
        operation["operationId"] = f"get_{collection_id}_items"
        operation["summary"] = f"Features of {collection_id}"
        schema["paths"][f"/collections/{collection_id}/items"] = {"get": operation}


def _is_limit(parameter: dict[str, Any]) -> bool:
    return parameter.get("$ref", "").endswith("/limit") or (
        parameter.get("name") == "limit" and parameter.get("in") == "query"
    )


def add_ogc_routes(app: FastAPI) -> None:
    """Register the OGC API - Features routes on ``app``."""
    errors = error_responses(400, 401, 404, 503)
    json_or_html = {200: {"description": "JSON, or HTML with f=html", "content": {_JSON: {}, _HTML: {}}}}

    @app.get("/", tags=["OGC API - Features"], responses={**json_or_html, **error_responses(400)})
    def landing(request: Request, f: DocumentFormat | None = Query(None)) -> Response:
        """Landing page: links to the API definition, the conformance classes and the collections."""
        root = _root(request)
        links = [
            {"rel": "self", "type": _JSON, "title": "this document", "href": f"{root}/?f=json"},
            {"rel": "alternate", "type": _HTML, "title": "this document as HTML", "href": f"{root}/?f=html"},
            {
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "the API definition",
                "href": f"{root}/openapi.json",
            },
            {"rel": "service-doc", "type": _HTML, "title": "the API documentation", "href": f"{root}/docs"},
            {"rel": "conformance", "type": _JSON, "title": "conformance classes", "href": f"{root}/conformance"},
            {"rel": "data", "type": _JSON, "title": "collections", "href": f"{root}/collections"},
        ]
        title = "lomsong: vùng lõm sóng Đắk Nông"
        if _fmt(f, request) == "html":
            return _page(title, links)
        return json_response(
            {
                "title": title,
                "description": "Mobile-coverage gaps where people live in Đắk Nông (OGC API - Features)",
                "links": links,
            }
        )

    @app.get("/conformance", tags=["OGC API - Features"], responses={**json_or_html, **error_responses(400)})
    def conformance(request: Request, f: DocumentFormat | None = Query(None)) -> Response:
        """Conformance classes this API implements."""
        if _fmt(f, request) == "html":
            return _page(text("vi", "api_conformance"), [], items=CONFORMANCE)
        return json_response({"conformsTo": CONFORMANCE})

    @app.get("/collections", tags=["OGC API - Features"], responses={**json_or_html, **error_responses(400, 401, 503)})
    def collections(
        request: Request,
        f: DocumentFormat | None = Query(None),
        period: str | None = PeriodParam,
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """The feature collections: communes, gaps, cells, villages (of a monthly run with ``period``)."""
        prepared = ctx.results_for(period).require()
        root = _root(request)
        documents = [collection_description(root, c, period) for c in prepared.collections.values()]
        query = _period_query(period)
        links = [
            {"rel": "self", "type": _JSON, "title": "this document", "href": f"{root}/collections{query}"},
            {"rel": "alternate", "type": _HTML, "title": "as HTML", "href": f"{root}/collections?f=html"},
        ]
        if _fmt(f, request) == "html":
            listed = [
                {
                    "rel": "collection",
                    "type": _HTML,
                    "title": d["title"],
                    "href": f"{root}/collections/{d['id']}?f=html",
                }
                for d in documents
            ]
            return _page(text("vi", "api_collections"), listed, synthetic=prepared.synthetic)
        return json_response({"links": links, "collections": documents})

    @app.get("/collections/{collectionId}", tags=["OGC API - Features"], responses={**json_or_html, **errors})
    def collection(
        request: Request,
        collection_id: str = PathParam(..., alias="collectionId", max_length=40),
        f: DocumentFormat | None = Query(None),
        period: str | None = PeriodParam,
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """One collection's description, extent (space and time) and links."""
        prepared = ctx.results_for(period).require()
        document = collection_description(_root(request), prepared.collection(collection_id), period)
        if _fmt(f, request) == "html":
            return _page(
                document["title"], document["links"], description=document["description"], synthetic=prepared.synthetic
            )
        return json_response(document)

    schema_responses = {
        200: {"description": "JSON Schema of the features", "content": {_SCHEMA_JSON: {}}},
        **errors,
    }

    @app.get("/collections/{collectionId}/schema", tags=["OGC API - Features"], responses=schema_responses)
    def schema(
        request: Request,
        collection_id: str = PathParam(..., alias="collectionId", max_length=40),
        period: str | None = PeriodParam,
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """JSON Schema of the features' properties: number, integer, date or string, each nullable."""
        target = ctx.results_for(period).require().collection(collection_id)
        body = core.collection_schema(target, f"{_root(request)}/collections/{collection_id}/schema")
        return json_response(body, media_type=_SCHEMA_JSON)

    @app.get("/collections/{collectionId}/feature-schema", tags=["OGC API - Features"], responses=schema_responses)
    def geojson_feature_schema(
        request: Request,
        collection_id: str = PathParam(..., alias="collectionId", max_length=40),
        period: str | None = PeriodParam,
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """JSON Schema of a whole GeoJSON Feature (the collection's ``describedby``, as GDAL reads it)."""
        target = ctx.results_for(period).require().collection(collection_id)
        body = core.feature_schema(target, f"{_root(request)}/collections/{collection_id}/feature-schema")
        return json_response(body, media_type=_SCHEMA_JSON)

    @app.get("/collections/{collectionId}/queryables", tags=["OGC API - Features"], responses=schema_responses)
    def queryables(
        request: Request,
        collection_id: str = PathParam(..., alias="collectionId", max_length=40),
        period: str | None = PeriodParam,
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """The properties the items can be filtered by (as query parameters), typed like the schema."""
        target = ctx.results_for(period).require().collection(collection_id)
        href = f"{_root(request)}/collections/{collection_id}/queryables"
        return json_response(core.collection_queryables(target, href, ITEM_FILTERS), media_type=_SCHEMA_JSON)

    @app.get(
        "/collections/{collectionId}/items",
        tags=["OGC API - Features"],
        responses={
            200: {
                "description": "a page of features",
                "content": {
                    _GEOJSON: {"schema": {"$ref": "#/components/schemas/FeatureCollectionBody"}},
                    _HTML: {"schema": {"type": "string"}},
                },
            },
            **errors,
        },
        response_class=Response,
    )
    def items(
        request: Request,
        collection_id: str = PathParam(..., alias="collectionId", max_length=40),
        limit: int = Query(core.DEFAULT_LIMIT, ge=1, le=core.ITEMS_MAX_LIMIT),
        offset: int = Query(0, ge=0, le=10**9),
        view: ViewParams = Depends(),
        place: PlaceParams = Depends(),
        box: BoxParams = Depends(),
        population: PopulationParams = Depends(),
        time: TimeParams = Depends(),
        evidence: Literal["confirmed", "likely"] | None = Query(None),
        state: Literal["no_data", "insufficient", "covered", "weak"] | None = Query(None),
        sort: str | None = Query(None, max_length=200),
        f: ItemsFormat | None = Query(None, description="geojson, html, or gpkg (a GeoPackage download)"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """Features of a collection, paged with ``next`` links (GeoJSON, HTML, or a GeoPackage download)."""
        fmt = core.parse_format(f, request.headers.get("accept"), ("geojson", "json", "html", "gpkg"), "geojson")
        fmt = "geojson" if fmt == "json" else fmt
        if fmt == "gpkg" and "limit" not in request.query_params:
            limit = None  # a download holds every match unless a page is asked for
        prepared = ctx.results_for(time.period).require()
        target = prepared.collection(collection_id)
        groups = (view, place, box, population, time)
        query = list_query(fmt, *groups, limit=limit, offset=offset, evidence=evidence, state=state, sort=sort)
        response = list_response(
            request,
            prepared,
            target,
            query,
            fmt,
            item_href=f"{_root(request)}/collections/{collection_id}/items/{{}}?f=html",
        )
        return response

    @app.get(
        "/collections/{collectionId}/items/{featureId}",
        tags=["OGC API - Features"],
        responses={
            200: {
                "description": "one feature",
                "content": {_GEOJSON: {"schema": {"$ref": "#/components/schemas/FeatureBody"}}, _HTML: {}},
            },
            **errors,
        },
        response_class=Response,
    )
    def item(
        request: Request,
        collection_id: str = PathParam(..., alias="collectionId", max_length=40),
        feature_id: str = PathParam(..., alias="featureId", max_length=200),
        f: OgcFormat | None = Query(None),
        period: str | None = PeriodParam,
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """One feature."""
        prepared = ctx.results_for(period).require()
        target = prepared.collection(collection_id)
        position = target.position(feature_id)
        root = _root(request)
        href = f"{root}/collections/{collection_id}/items/{feature_id}"
        links = [
            {"rel": "self", "type": _GEOJSON, "title": "this feature", "href": href},
            {"rel": "alternate", "type": _HTML, "title": "as HTML", "href": f"{href}?f=html"},
            {"rel": "collection", "type": _JSON, "title": target.title, "href": f"{root}/collections/{collection_id}"},
        ]
        if _fmt(f, request, json_name="geojson") == "html":
            import numpy as np

            title = f"{target.id} {feature_id}"
            page = items_page(title, target, np.array([position]), links, synthetic=prepared.synthetic)
            return Response(page, media_type="text/html; charset=utf-8")
        return Response(core.feature_bytes(target, position, links), media_type=_GEOJSON)

    items_route = next(r for r in app.routes if getattr(r, "path_format", None) == "/collections/{collectionId}/items")
    item_names = declared_query_names(items_route)
    pass_through = app.state.__dict__.setdefault("query_pass_through", {})
    for path in (
        "/",  # GDAL asks the landing page for the API document with the connection string's query
        "/collections/{collectionId}",
        "/collections/{collectionId}/schema",
        "/collections/{collectionId}/feature-schema",
        "/collections/{collectionId}/queryables",
        "/collections/{collectionId}/items/{featureId}",
    ):
        pass_through[path] = item_names


__all__ = ["CONFORMANCE", "FeatureBody", "add_ogc_routes", "collection_description", "document_collection_paths"]
