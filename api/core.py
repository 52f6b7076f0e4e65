"""The API's framework-free core, in one name space: prepare a run once, then filter, page and serialise.

The code lives in one module per concern, which the routes in :mod:`api.app` and :mod:`api.ogc`
reach through this module (``from api import core``):

- :mod:`api.errors`: :class:`QueryError`, :class:`NotFoundError`;
- :mod:`api.prepare`: a finished run → :class:`PreparedResults`, one :class:`Collection` per table,
  features serialised once;
- :mod:`api.places`: what people type for a commune, district or 2025 unit;
- :mod:`api.query`: formats, filters, time, order, pages (boolean masks, no Python loop per row);
- :mod:`api.serialise`: GeoJSON and JSON pages, CSV, Excel and GeoPackage downloads;
- :mod:`api.schemas`: JSON Schemas and queryables of the collections;
- :mod:`api.html`: the HTML pages, from the Jinja templates in ``api/templates``.
"""

from __future__ import annotations

from api.errors import NotFoundError, QueryError
from api.html import html_links, html_page, html_table, render_page
from api.places import PlaceIndex
from api.prepare import (
    COLLECTION_IDS,
    COORDINATE_COLUMNS,
    COORDINATE_DECIMALS,
    Collection,
    PreparedResults,
    claim_collections,
    make_collection,
    prepare_results,
    province_summary,
)
from api.query import (
    DEFAULT_LIMIT,
    ITEMS_MAX_LIMIT,
    MAX_LIMIT,
    TIME_COLUMNS,
    FeatureQuery,
    datetime_text,
    has_time,
    page,
    page_links,
    parse_bbox,
    parse_datetime,
    parse_format,
    parse_operator,
    parse_technology,
    select,
)
from api.schemas import collection_queryables, collection_schema, feature_schema
from api.serialise import (
    DOWNLOAD_FORMATS,
    MEDIA_TYPES,
    STREAM_CHUNK,
    commune_detail,
    content_disposition,
    csv_bytes,
    download_name,
    feature_bytes,
    feature_collection_bytes,
    feature_collection_chunks,
    gpkg_bytes,
    operator_label,
    records_bytes,
    table_rows,
    xlsx_bytes,
)
from lomsong.tables.results import ALL_OPERATORS, ANY_TECHNOLOGY, GAP_SCHEMA

__all__ = [
    "ALL_OPERATORS",
    "ANY_TECHNOLOGY",
    "COLLECTION_IDS",
    "COORDINATE_COLUMNS",
    "COORDINATE_DECIMALS",
    "DEFAULT_LIMIT",
    "DOWNLOAD_FORMATS",
    "GAP_SCHEMA",
    "ITEMS_MAX_LIMIT",
    "MAX_LIMIT",
    "MEDIA_TYPES",
    "STREAM_CHUNK",
    "TIME_COLUMNS",
    "Collection",
    "FeatureQuery",
    "NotFoundError",
    "PlaceIndex",
    "PreparedResults",
    "QueryError",
    "claim_collections",
    "collection_queryables",
    "collection_schema",
    "commune_detail",
    "content_disposition",
    "csv_bytes",
    "datetime_text",
    "download_name",
    "feature_bytes",
    "feature_collection_bytes",
    "feature_collection_chunks",
    "feature_schema",
    "gpkg_bytes",
    "has_time",
    "html_links",
    "html_page",
    "html_table",
    "make_collection",
    "operator_label",
    "page",
    "page_links",
    "parse_bbox",
    "parse_datetime",
    "parse_format",
    "parse_operator",
    "parse_technology",
    "prepare_results",
    "province_summary",
    "records_bytes",
    "render_page",
    "select",
    "table_rows",
    "xlsx_bytes",
]
