"""Turning core results into HTTP responses: lists in every format, JSON bodies, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from api import core
from api.core import Collection, FeatureQuery, PreparedResults
from api.html import items_page
from api.run_files import enclosure_links


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, media_type: str = "application/json"
) -> Response:
    """Return ``body`` serialised with orjson (numpy values and dates allowed)."""
    content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=str)
    return Response(content, status_code=status, media_type=media_type, headers=headers)


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """Return the JSON error body every 4xx/5xx uses (``headers`` such as ``Allow`` on a 405)."""
    return json_response({"code": code, "message": message, "field": field}, status=status, headers=headers)


def base_url(request: Request) -> str:
    """Return the request URL without its query."""
    return str(request.url.replace(query=""))


def run_stamp(prepared: PreparedResults) -> dict[str, Any]:
    """Return the top-level members that tell which run answered (and whether it is synthetic)."""
    meta = prepared.meta
    run = {k: meta[k] for k in ("run_id", "created_at", "finished_at", "period") if k in meta}
    return {"synthetic": prepared.synthetic, "run": run}


def list_response(
    request: Request,
    prepared: PreparedResults,
    collection: Collection,
    query: FeatureQuery,
    fmt: str,
    html_title: str | None = None,
    item_href: str | None = None,
) -> Response:
    """Answer a list request in ``fmt`` (json, geojson, csv, xlsx, gpkg or html).

    JSON and GeoJSON pages carry ``numberMatched``, ``numberReturned`` and ``next`` links. The
    file formats (csv, xlsx, gpkg) are downloads named after the filters.
    """
    positions = core.select(collection, query, prepared.places)
    matched = len(positions)
    page_positions = core.page(positions, query.limit, query.offset)
    headers = {"X-Lomsong-Synthetic": "true" if prepared.synthetic else "false"}
    if fmt in core.DOWNLOAD_FORMATS:
        name = core.download_name(collection.id, query, prepared.synthetic, fmt)
        headers["Content-Disposition"] = core.content_disposition(name)
        headers["X-Number-Matched"] = str(matched)
        if fmt == "csv":
            content = core.csv_bytes(collection, page_positions, prepared.synthetic)
        elif fmt == "xlsx":
            content = core.xlsx_bytes(collection, page_positions, prepared.meta, prepared.synthetic)
        else:
            content = core.gpkg_bytes(collection, page_positions, prepared.synthetic)
        return Response(content, media_type=core.MEDIA_TYPES[fmt], headers=headers)
    params = {**query.filter_params(), "f": fmt}
    media_type = core.MEDIA_TYPES[fmt]
    links = core.page_links(base_url(request), params, matched, query.limit, query.offset, media_type)
    links.extend(enclosure_links(str(request.base_url).rstrip("/"), prepared, collection.id, query.period))
    extra = run_stamp(prepared)
    if fmt == "geojson":
        if len(page_positions) > core.STREAM_CHUNK:  # a large page goes out chunk by chunk (bounded memory)
            chunks = core.feature_collection_chunks(collection, page_positions, matched, links, extra)
            return StreamingResponse(chunks, media_type=media_type, headers=headers)
        content = core.feature_collection_bytes(collection, page_positions, matched, links, extra)
        return Response(content, media_type=media_type, headers=headers)
    if fmt == "html":
        content = items_page(
            html_title or collection.title,
            collection,
            np.asarray(page_positions),
            links,
            matched=matched,
            item_href=item_href,
            synthetic=prepared.synthetic,
        )
        return Response(content, media_type=media_type, headers=headers)
    content = core.records_bytes(collection, page_positions, matched, links, extra)
    return Response(content, media_type=media_type, headers=headers)
