"""Query parameters shared by the list routes, declared once (FastAPI class dependencies).

``/gaps``, ``/communes``, ``/villages``, ``/claims``, ``/challenges`` and the OGC items take the
same view, place and page parameters; each route names the groups it takes (``Depends()``), so a
description or a bound is written once and the OpenAPI document stays the same for all. The
app-wide unknown-parameter check reads the dependencies' names too (:mod:`api.context`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Query

from api.query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    FeatureQuery,
    parse_bbox,
    parse_datetime,
    parse_operator,
    parse_technology,
)

OPERATOR_DESCRIPTION = "viettel, vinaphone, … or all (any spelling: Viettel, VNPT)"
TECHNOLOGY_DESCRIPTION = "2G, 3G, 4G, 5G or any (aliases as in ingest: LTE, NR, UMTS, GSM)"
UNIT_DESCRIPTION = "Code or name of a 2025 unit of Lâm Đồng (e.g. 24615, Nam Gia Nghĩa): features in its old communes."
DATETIME_DESCRIPTION = "instant or interval (RFC 3339, `..` open): features measured then"
PERIOD_DESCRIPTION = "a monthly run YYYY-MM (see /periods); default: the served run"
BBOX_DESCRIPTION = "minLon,minLat,maxLon,maxLat (CRS84)"
SORT_DESCRIPTION = "Columns, comma-separated; `-` before one for descending."


class ViewParams:
    """``operator`` and ``technology``: the view (canonical values after parsing)."""

    def __init__(
        self,
        operator: str | None = Query(None, max_length=40, description=OPERATOR_DESCRIPTION),
        technology: str | None = Query(None, max_length=10, description=TECHNOLOGY_DESCRIPTION),
    ):
        self.operator = parse_operator(operator)
        self.technology = parse_technology(technology)


class PlaceParams:
    """``commune``, ``district`` (2019 history) and ``unit`` (2025): GSO code or name, diacritics optional."""

    def __init__(
        self,
        commune: str | None = Query(None, max_length=100, description="GSO code or name (diacritics optional)"),
        district: str | None = Query(None, max_length=100, description="GSO code or name"),
        unit: str | None = Query(None, max_length=100, description=UNIT_DESCRIPTION),
    ):
        self.commune, self.district, self.unit = commune, district, unit


class PageParams:
    """``sort``, ``limit`` (None: the route's default) and ``offset`` of a list."""

    def __init__(
        self,
        sort: str | None = Query(None, max_length=200, description=SORT_DESCRIPTION),
        limit: int | None = Query(
            None, ge=1, le=MAX_LIMIT, description=f"page size ({DEFAULT_LIMIT} by default, at most {MAX_LIMIT:,})"
        ),
        offset: int = Query(0, ge=0, le=10**9),
    ):
        self.sort, self.limit, self.offset = sort, limit, offset


class BoxParams:
    """``bbox``: features whose geometry intersects the box."""

    def __init__(self, bbox: str | None = Query(None, max_length=200, description=BBOX_DESCRIPTION)):
        self.bbox = parse_bbox(bbox)


class PopulationParams:
    """``min_population``: features with at least this many people."""

    def __init__(self, min_population: float | None = Query(None, ge=0, le=1e9)):
        self.min_population = min_population


class TimeParams:
    """``datetime`` (an instant or an interval) and ``period`` (a monthly run)."""

    def __init__(
        self,
        datetime: str | None = Query(None, max_length=80, description=DATETIME_DESCRIPTION),
        period: str | None = Query(None, max_length=7, description=PERIOD_DESCRIPTION),
    ):
        self.datetime = parse_datetime(datetime)
        self.period = period or None


class PeriodParams:
    """``period`` alone (lists without time)."""

    def __init__(self, period: str | None = Query(None, max_length=7, description=PERIOD_DESCRIPTION)):
        self.period = period or None


def list_query(fmt: str, *groups: Any, limit: int | None = None, offset: int = 0, **filters: Any) -> FeatureQuery:
    """Return the :class:`FeatureQuery` of a list request from its parameter groups.

    Parameters
    ----------
    fmt : str
        The answer's format: JSON, GeoJSON and HTML are pages (``DEFAULT_LIMIT`` when no ``limit``);
        the downloads (csv, xlsx, gpkg) hold every match.
    *groups
        :class:`ViewParams`, :class:`PlaceParams`, :class:`PageParams`, … (their attributes are
        the query's fields).
    limit, offset : int
        Page, when no :class:`PageParams` gives it.
    **filters
        Other fields of the query (``evidence``, ``state`` …).
    """
    values: dict[str, Any] = {"limit": limit, "offset": offset}
    for group in groups:
        values.update(vars(group))
    values.update(filters)
    if values["limit"] is None and fmt in ("json", "geojson", "html"):
        # pages, like the collections (a `next` link); the whole table is a download (f=csv/xlsx/gpkg, /files)
        values["limit"] = DEFAULT_LIMIT
    return FeatureQuery(**values)


__all__ = [
    "BoxParams",
    "PageParams",
    "PeriodParams",
    "PlaceParams",
    "PopulationParams",
    "TimeParams",
    "ViewParams",
    "list_query",
]
