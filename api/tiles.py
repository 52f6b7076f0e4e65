"""OGC API - Tiles: the big layers (cells, gaps) as Mapbox Vector Tiles in WebMercatorQuad.

QGIS ("Vector Tiles" connection) and web maps (MapLibre, OpenLayers) draw the 163,000 cells of a
run from ``/collections/cells/tiles/WebMercatorQuad/{z}/{y}/{x}`` without paging through the
features. A tile is cut from the prepared collection of :mod:`api.core`: rows are chosen by their
bounding boxes (vectorised), projected to the tile's 4096-unit grid with one array expression, and
clipped to the tile with a small buffer; :mod:`mapbox_vector_tile` writes the protobuf.

The tile path follows OGC API - Tiles: ``{tileMatrix}/{tileRow}/{tileCol}`` is ``z/y/x``.
"""

from __future__ import annotations

import math
from typing import Any

import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from api import core
from api.context import AppContext, context, error_responses, reader
from api.core import ALL_OPERATORS, ANY_TECHNOLOGY, Collection, FeatureQuery, QueryError
from api.keys import ApiKey
from api.responses import json_response

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
TILE_MATRIX_SET = "WebMercatorQuad"
TILE_MATRIX_SET_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
#: Tile grid units per side (the MVT default) and the clip buffer around a tile, in those units.
EXTENT = 4096
BUFFER = 64
MIN_ZOOM, MAX_ZOOM = 0, 18
#: Collections served as tiles and the properties each tile feature carries (a tile stays small).
TILE_PROPERTIES: dict[str, tuple[str, ...]] = {
    "cells": (
        "h3",
        "operator",
        "technology",
        "state",
        "n_samples",
        "n_devices",
        "median_signal_dbm",
        "no_service_share",
        "population",
        "gap_id",
        "synthetic",
    ),
    "gaps": (
        "gap_id",
        "operator",
        "technology",
        "rank",
        "population",
        "area_km2",
        "evidence",
        "commune",
        "district",
        "synthetic",
    ),
}
_EARTH_RADIUS = 6378137.0
_HALF_WORLD = math.pi * _EARTH_RADIUS


def tile_bounds(zoom: int, row: int, col: int) -> tuple[float, float, float, float]:
    """Return ``(west, south, east, north)`` in degrees of a WebMercatorQuad tile."""
    n = 2**zoom
    west = col / n * 360.0 - 180.0
    east = (col + 1) / n * 360.0 - 180.0
    north = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))
    south = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (row + 1) / n))))
    return west, south, east, north


def _to_tile_grid(zoom: int, row: int, col: int):
    """Return a function mapping (n, 2) lon/lat arrays to the tile's grid (y down, 0…EXTENT)."""
    size = 2 * _HALF_WORLD / 2**zoom
    left = -_HALF_WORLD + col * size
    top = _HALF_WORLD - row * size

    def project(lonlat: np.ndarray) -> np.ndarray:
        x = np.radians(lonlat[:, 0]) * _EARTH_RADIUS
        lat = np.clip(lonlat[:, 1], -85.05112878, 85.05112878)
        y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * _EARTH_RADIUS
        return np.column_stack(((x - left) / size * EXTENT, (top - y) / size * EXTENT))

    return project


def tile_positions(collection: Collection, positions: np.ndarray, zoom: int, row: int, col: int) -> np.ndarray:
    """Return the positions (of ``positions``) whose geometry meets the tile (exact test on candidates)."""
    west, south, east, north = tile_bounds(zoom, row, col)
    bounds = collection.bounds[positions]
    with np.errstate(invalid="ignore"):
        near = (bounds[:, 0] <= east) & (bounds[:, 2] >= west) & (bounds[:, 1] <= north) & (bounds[:, 3] >= south)
    candidates = positions[near]
    inside = shapely.intersects(collection.geometry[candidates], shapely.box(west, south, east, north))
    return candidates[np.asarray(inside, dtype=bool)]


def encode_tile(collection: Collection, positions: np.ndarray, zoom: int, row: int, col: int) -> bytes:
    """Return the Mapbox Vector Tile of the given rows: one layer named after the collection.

    Parameters
    ----------
    collection : Collection
    positions : numpy.ndarray
        Rows already filtered (view, state, period); those meeting the tile are drawn.
    zoom, row, col : int
        WebMercatorQuad tile matrix, row and column.

    Returns
    -------
    bytes
        The protobuf (empty layer when nothing meets the tile).
    """
    chosen = tile_positions(collection, positions, zoom, row, col)
    projected = shapely.transform(collection.geometry[chosen], _to_tile_grid(zoom, row, col))
    clipped = shapely.clip_by_rect(projected, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
    keep = ~shapely.is_empty(clipped)
    chosen, clipped = chosen[keep], clipped[keep]
    columns = [c for c in TILE_PROPERTIES.get(collection.id, ()) if c in collection.frame.columns]
    table = collection.frame.iloc[chosen][columns].reset_index(drop=True)
    table = table.astype(object).where(table.notna(), None)  # MVT has no null: a missing value is left out
    records = table.to_dict("records")
    ids = collection.feature_ids[chosen]
    features = [
        {"geometry": geometry, "properties": {"id": fid, **{k: v for k, v in record.items() if v is not None}}}
        for geometry, fid, record in zip(clipped.tolist(), ids.tolist(), records, strict=True)
    ]
    layer = {"name": collection.id, "features": features}
    return mapbox_vector_tile.encode(
        [layer], default_options={"y_coord_down": True, "extents": EXTENT, "on_invalid_geometry": None}
    )


def tile_matrix_set() -> dict[str, Any]:
    """Return the WebMercatorQuad tile matrix set (OGC 2D TMS 2.0 JSON), zoom 0 to 18."""
    matrices = []
    for zoom in range(MIN_ZOOM, MAX_ZOOM + 1):
        n = 2**zoom
        cell = 2 * _HALF_WORLD / (256 * n)
        matrices.append(
            {
                "id": str(zoom),
                "scaleDenominator": cell / 0.00028,
                "cellSize": cell,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-_HALF_WORLD, _HALF_WORLD],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": n,
                "matrixHeight": n,
            }
        )
    return {
        "id": TILE_MATRIX_SET,
        "title": "Google Maps Compatible for the World",
        "uri": TILE_MATRIX_SET_URI,
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": matrices,
    }


def add_tile_routes(app: FastAPI) -> None:
    """Register the OGC API - Tiles routes (tile matrix sets, tilesets, tiles) on ``app``."""
    errors = error_responses(400, 401, 404, 503)
    tags = ["OGC API - Tiles"]

    @app.get("/tileMatrixSets", tags=tags, responses=error_responses(400))
    def tile_matrix_sets(request: Request) -> Response:
        """The tile matrix sets the tiles use: WebMercatorQuad."""
        root = str(request.base_url).rstrip("/")
        href = f"{root}/tileMatrixSets/{TILE_MATRIX_SET}"
        return json_response(
            {
                "tileMatrixSets": [
                    {"id": TILE_MATRIX_SET, "uri": TILE_MATRIX_SET_URI, "links": [{"rel": "self", "href": href}]}
                ]
            }
        )

    @app.get("/tileMatrixSets/{tileMatrixSetId}", tags=tags, responses=error_responses(400, 404))
    def tile_matrix_set_document(tile_matrix_set_id: str = PathParam(..., alias="tileMatrixSetId", max_length=40)):
        """The WebMercatorQuad definition."""
        _check_set(tile_matrix_set_id)
        return json_response(tile_matrix_set())

    @app.get("/collections/{collectionId}/tiles", tags=tags, responses=errors)
    def tilesets(
        request: Request,
        collection_id: str = PathParam(..., alias="collectionId", max_length=40),
        period: str | None = Query(None, max_length=7),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """The vector tilesets of a collection (one: WebMercatorQuad)."""
        target = _tiled(ctx, collection_id, period)
        return json_response({"tilesets": [_tileset(request, target, period)]})

    @app.get("/collections/{collectionId}/tiles/{tileMatrixSetId}", tags=tags, responses=errors)
    def tileset(
        request: Request,
        collection_id: str = PathParam(..., alias="collectionId", max_length=40),
        tile_matrix_set_id: str = PathParam(..., alias="tileMatrixSetId", max_length=40),
        period: str | None = Query(None, max_length=7),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """One tileset: its tile URL template, zoom levels and layer."""
        _check_set(tile_matrix_set_id)
        return json_response(_tileset(request, _tiled(ctx, collection_id, period), period))

    @app.get(
        "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
        tags=tags,
        responses={200: {"description": "a Mapbox Vector Tile", "content": {MVT_MEDIA_TYPE: {}}}, **errors},
        response_class=Response,
    )
    def tile(
        collection_id: str = PathParam(..., alias="collectionId", max_length=40),
        tile_matrix_set_id: str = PathParam(..., alias="tileMatrixSetId", max_length=40),
        zoom: int = PathParam(..., alias="tileMatrix", ge=MIN_ZOOM, le=MAX_ZOOM),
        row: int = PathParam(..., alias="tileRow", ge=0),
        col: int = PathParam(..., alias="tileCol", ge=0),
        operator: str = Query(
            ALL_OPERATORS, max_length=40, description="the view's operator (default: all, the vùng lõm sóng view)"
        ),
        technology: str = Query(ANY_TECHNOLOGY, max_length=10, description="the view's technology (default: any)"),
        state: str | None = Query(None, max_length=20, description="cells: no_data, insufficient, covered or weak"),
        evidence: str | None = Query(None, max_length=20, description="gaps: confirmed or likely"),
        period: str | None = Query(None, max_length=7, description="a monthly run YYYY-MM"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """One vector tile of one view (default all × any); features carry their id and main fields.

        One view a tile: the 20 views of a run share their hexagons, so a tile of every view would
        draw each cell 20 times (3 MB at zoom 10 on the demo).
        """
        _check_set(tile_matrix_set_id)
        if row >= 2**zoom or col >= 2**zoom:
            raise QueryError(f"tile {zoom}/{row}/{col} is outside the matrix ({2**zoom} × {2**zoom})", field="tileRow")
        target = _tiled(ctx, collection_id, period)
        query = FeatureQuery(
            operator=core.parse_operator(operator),
            technology=core.parse_technology(technology),
            state=state or None,
            evidence=evidence or None,
        )
        positions = core.select(target, query)
        content = encode_tile(target, positions, zoom, row, col)
        prepared = ctx.results_for(period).require()
        headers = {
            "X-Lomsong-Synthetic": "true" if prepared.synthetic else "false",
            "Cache-Control": "public, max-age=300",
        }
        return Response(content, media_type=MVT_MEDIA_TYPE, headers=headers)


def _check_set(tile_matrix_set_id: str) -> None:
    if tile_matrix_set_id != TILE_MATRIX_SET:
        raise QueryError(
            f"no tile matrix set {tile_matrix_set_id!r}; use {TILE_MATRIX_SET}",
            code="not_found",
            field="tileMatrixSetId",
            status=404,
        )


def _tiled(ctx: AppContext, collection_id: str, period: str | None) -> Collection:
    if collection_id not in TILE_PROPERTIES:
        raise QueryError(
            f"no tiles for {collection_id!r}; tiled collections: {list(TILE_PROPERTIES)}",
            code="not_found",
            field="collectionId",
            status=404,
        )
    return ctx.results_for(period).require().collection(collection_id)


def _tileset(request: Request, collection: Collection, period: str | None) -> dict[str, Any]:
    root = str(request.base_url).rstrip("/")
    base = f"{root}/collections/{collection.id}/tiles/{TILE_MATRIX_SET}"
    query = f"?period={period}" if period else ""
    fields = {
        name: _field_type(collection.frame[name])
        for name in TILE_PROPERTIES[collection.id]
        if name in collection.frame.columns
    }
    return {
        "title": collection.title,
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TILE_MATRIX_SET_URI,
        "minzoom": MIN_ZOOM,
        "maxzoom": MAX_ZOOM,
        "layers": [{"id": collection.id, "dataType": "vector", "geometryDimension": 2, "propertiesSchema": fields}],
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{base}{query}"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                "type": "application/json",
                "href": f"{root}/tileMatrixSets/{TILE_MATRIX_SET}",
            },
            {
                "rel": "item",
                "type": MVT_MEDIA_TYPE,
                "templated": True,
                "href": f"{base}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}{query}",
            },
        ],
    }


def _field_type(values: pd.Series) -> dict[str, str]:
    if pd.api.types.is_bool_dtype(values.dtype):
        return {"type": "boolean"}
    if pd.api.types.is_integer_dtype(values.dtype):
        return {"type": "integer"}
    if pd.api.types.is_float_dtype(values.dtype):
        return {"type": "number"}
    return {"type": "string"}


__all__ = ["MVT_MEDIA_TYPE", "add_tile_routes", "encode_tile", "tile_bounds", "tile_matrix_set", "tile_positions"]
