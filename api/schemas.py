"""JSON Schemas of the collections (OGC API - Features Part 5 style ``/schema`` and ``/queryables``,
and the ``describedBy`` schema of a whole GeoJSON Feature that GDAL types its fields from).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from api.prepare import Collection
from api.query import TIME_COLUMNS, has_time
from lomsong.tables.results import (
    CELL_STATE_SCHEMA,
    COMMUNE_SUMMARY_SCHEMA,
    GAP_SCHEMA,
)

#: Column → meaning, from the run folder's schemas (for the JSON Schema's descriptions).
_MEANINGS: dict[str, str] = {
    name: meaning
    for schema in (COMMUNE_SUMMARY_SCHEMA, CELL_STATE_SCHEMA, GAP_SCHEMA)
    for name, meaning in schema
}

def _property_schema(name: str, values: pd.Series) -> dict[str, Any]:
    """JSON Schema of one property from its dtype; every property may be null (no data)."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        kind: dict[str, Any] = {"type": "boolean"}
    elif pd.api.types.is_integer_dtype(dtype):
        kind = {"type": "integer"}
    elif pd.api.types.is_float_dtype(dtype):
        present = values.dropna()
        whole = name.startswith(("n_", "samples_", "devices_")) and bool((present == present.round()).all())
        kind = {"type": "integer" if whole else "number"}
    elif name in TIME_COLUMNS or name.endswith("_date"):
        kind = {"type": "string", "format": "date"}
    else:
        kind = {"type": "string"}
    schema = {"title": name, **kind}
    schema["type"] = [kind["type"], "null"]
    if name in _MEANINGS:
        schema["description"] = _MEANINGS[name]
    return schema

def collection_schema(collection: Collection, schema_id: str) -> dict[str, Any]:
    """Return the JSON Schema (2020-12) of a collection's features' properties.

    The types come from the served columns: numbers are ``number``, counts ``integer``, dates
    ``string`` with ``format: date``; every property may be null, and every feature has every
    property, so GDAL and QGIS type their fields from this whatever the first page holds.

    Parameters
    ----------
    collection : Collection
    schema_id : str
        URL of the schema document (``$id``).

    Returns
    -------
    dict
    """
    properties: dict[str, Any] = {
        name: _property_schema(name, collection.frame[name]) for name in collection.frame.columns
    }
    if has_time(collection):
        properties["first_date"]["x-ogc-role"] = "primary-interval-start"
        properties["last_date"]["x-ogc-role"] = "primary-interval-end"
    properties["geometry"] = {"x-ogc-role": "primary-geometry", "format": "geometry-any"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "type": "object",
        "title": collection.title,
        "description": collection.description,
        "properties": properties,
    }

def feature_schema(collection: Collection, schema_id: str) -> dict[str, Any]:
    """Return the JSON Schema of a whole GeoJSON Feature of the collection, as GDAL reads ``describedby``.

    GDAL's OAPIF driver types its fields from this document (it looks for
    ``properties.properties.properties``) instead of guessing from the first page, which holds only
    no-data cells in the ``cells`` collection. It reads one type name per property, not the
    ``[type, "null"]`` pairs of :func:`collection_schema`: no data is ``null`` all the same.
    """
    full = collection_schema(collection, schema_id)
    properties = {}
    for name, schema in full["properties"].items():
        if name == "geometry":
            continue
        single = {k: v for k, v in schema.items() if k != "x-ogc-role"}
        single["type"] = schema["type"][0]
        properties[name] = single
    return {
        "$schema": full["$schema"],
        "$id": schema_id,
        "title": full["title"],
        "description": f"{full['description']} Each property is null where there is no data.",
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "string"},
            "geometry": {"type": "object", "description": "GeoJSON geometry, CRS84, 6 decimals"},
            "properties": {"type": "object", "required": sorted(properties), "properties": properties},
        },
    }

def collection_queryables(collection: Collection, schema_id: str, filters: Iterable[str]) -> dict[str, Any]:
    """Return the queryables: the properties the items can be filtered by, typed like the schema.

    Parameters
    ----------
    collection : Collection
    schema_id : str
        URL of the queryables document.
    filters : iterable of str
        Names of the filter parameters the items take.
    """
    full = collection_schema(collection, schema_id)
    wanted = [name for name in filters if name in full["properties"]]
    queryables = {name: full["properties"][name] for name in wanted}
    queryables["geometry"] = full["properties"]["geometry"]
    if has_time(collection):
        queryables["datetime"] = {
            "title": "datetime",
            "type": "string",
            "format": "date",
            "description": "an instant or start/end: features measured on some day in it (first_date…last_date)",
        }
    return {**full, "properties": queryables, "additionalProperties": False}
