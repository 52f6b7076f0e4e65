"""Reading a request: formats, filters, time, order and pages, as boolean masks over a collection.

Every parse function raises :class:`api.errors.QueryError` naming the offending parameter;
:func:`select` returns the row positions matching a :class:`FeatureQuery`, :func:`page` and
:func:`page_links` cut them into pages with ``next`` and ``prev`` links.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import shapely

from api.errors import QueryError
from api.places import PlaceIndex, bare_series
from api.prepare import Collection
from lomsong._text import fold
from lomsong.operators import OPERATOR_IDS, operator_from_name
from lomsong.readers._parse import TECHNOLOGY_ALIASES
from lomsong.settings import TECHNOLOGIES
from lomsong.tables.results import (
    ALL_OPERATORS,
    ANY_TECHNOLOGY,
)

#: Media types clients put in Accept → format.
_ACCEPT_TO_FORMAT = {
    "application/json": "json",
    "application/geo+json": "geojson",
    "text/csv": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/geopackage+sqlite3": "gpkg",
    "application/x-sqlite3": "gpkg",
    "text/html": "html",
}

#: Names people use for a format in ``f=``.
_FORMAT_ALIASES = {"excel": "xlsx", "geopackage": "gpkg", "gpkg": "gpkg", "text": "csv"}

#: Largest page size of the lists (/gaps, /communes …); a request for more gets a 400 naming ``limit``.
MAX_LIMIT = 10_000

DEFAULT_LIMIT = 100

#: Largest page of OGC items (``/collections/{id}/items``). GDAL ≥ 3.8 takes as its page size the
#: ``maximum`` of the ``limit`` declared on the collection's own path when no ``default`` is declared
#: there (``DeterminePageSizeFromAPI`` in GDAL's ogroapifdriver.cpp), so the 163,020 demo cells come
#: in 9 pages instead of 164. Pages this large are streamed (:func:`feature_collection_chunks`).
ITEMS_MAX_LIMIT = 20_000

def parse_format(value: str | None, accept: str | None, allowed: Sequence[str], default: str) -> str:
    """Choose the output format from ``f=`` (wins) or the Accept header.

    Parameters
    ----------
    value : str or None
        The ``f`` query parameter.
    accept : str or None
        The Accept header.
    allowed : sequence of str
        Formats this endpoint offers.
    default : str
        Format when neither asks for one of ``allowed``.

    Returns
    -------
    str
    """
    if value is not None and value != "":
        name = value.strip().lower()
        name = _FORMAT_ALIASES.get(name, name)
        if name not in allowed:
            raise QueryError(
                f"unknown format {value!r}; use one of {list(allowed)}", code="unsupported_format", field="f"
            )
        return name
    if accept:
        choices: list[tuple[float, int, str]] = []
        for order, part in enumerate(accept.split(",")):
            media, *params = [p.strip() for p in part.split(";")]
            quality = 1.0
            for param in params:
                if param.startswith("q="):
                    try:
                        quality = float(param[2:])
                    except ValueError:
                        quality = 0.0
            fmt = _ACCEPT_TO_FORMAT.get(media.lower())
            if fmt in allowed and quality > 0:
                choices.append((-quality, order, fmt))
        if choices:
            return min(choices)[2]
    return default

def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """Parse ``minLon,minLat,maxLon,maxLat`` (WGS84; a 6-number 3D box keeps its 2D part).

    Raises
    ------
    QueryError
        Not 4 or 6 finite numbers, latitudes outside ±90, or min above max.
    """
    if value is None or value == "":
        return None
    parts = value.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise QueryError(f"bbox must be numbers minLon,minLat,maxLon,maxLat, got {value!r}", field="bbox") from None
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise QueryError(f"bbox must be 4 finite numbers minLon,minLat,maxLon,maxLat, got {value!r}", field="bbox")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    min_x, min_y, max_x, max_y = numbers
    if not (-90 <= min_y <= 90 and -90 <= max_y <= 90):
        raise QueryError(f"bbox latitudes must be within -90…90, got {value!r}", field="bbox")
    if min_x > max_x or min_y > max_y:
        raise QueryError(f"bbox minimum above maximum in {value!r}", field="bbox")
    return min_x, min_y, max_x, max_y

def parse_operator(value: str | None) -> str | None:
    """Return the canonical view operator (any spelling; ``all``) or None."""
    if value is None or value == "":
        return None
    if value.strip().lower() == ALL_OPERATORS:
        return ALL_OPERATORS
    operator = operator_from_name(value)
    if operator not in OPERATOR_IDS:
        raise QueryError(f"unknown operator {value!r}; use one of {[*OPERATOR_IDS, ALL_OPERATORS]}", field="operator")
    return operator

def parse_technology(value: str | None) -> str | None:
    """Return the view technology (``4g`` → ``4G``; ``any``) or None."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.lower() == ANY_TECHNOLOGY:
        return ANY_TECHNOLOGY
    if text.upper() in TECHNOLOGIES:
        return text.upper()
    # the names ingest accepts (LTE, NR, UMTS, GSM …) name the same generations here
    alias = TECHNOLOGY_ALIASES.get(fold(text))
    if alias is not None:
        return alias
    raise QueryError(
        f"unknown technology {value!r}; use one of {[*TECHNOLOGIES, ANY_TECHNOLOGY]} or an alias such as LTE, NR, UMTS",
        field="technology",
    )

@dataclass
class FeatureQuery:
    """Filters, order and page of a list request (every field optional).

    Attributes
    ----------
    operator, technology : str or None
        View (canonical values from :func:`parse_operator`, :func:`parse_technology`).
    commune : str or None
        GSO code or name (diacritics optional); a gap matches when it touches the commune.
    district : str or None
        GSO code or name of a district (2019 history).
    unit : str or None
        Code or name of a 2025 unit of Lâm Đồng (``24615`` or ``Nam Gia Nghĩa``); a feature
        matches when it touches one of the old communes mapped to that unit.
    min_population : float or None
        Keep features with at least this many people.
    evidence : str or None
        ``confirmed`` or ``likely`` (gaps).
    state : str or None
        Cell state (cells).
    bbox : tuple or None
        WGS84 box; features intersecting it.
    sort : str or None
        Comma-separated columns, ``-`` before a column for descending.
    limit : int or None
        Page size (None: every match).
    offset : int
        Rows skipped.
    datetime : tuple or None
        ``(first, last)`` local dates ``YYYY-MM-DD`` (either open: None), from
        :func:`parse_datetime`; features measured on some day in it.
    period : str or None
        The monthly run asked for (``YYYY-MM``); kept in the paging links.
    """

    operator: str | None = None
    technology: str | None = None
    commune: str | None = None
    district: str | None = None
    unit: str | None = None
    min_population: float | None = None
    evidence: str | None = None
    state: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    sort: str | None = None
    limit: int | None = None
    offset: int = 0
    datetime: tuple[str | None, str | None] | None = None
    period: str | None = None

    def __post_init__(self) -> None:
        # the largest page any endpoint takes; each route declares (and checks) its own maximum
        if self.limit is not None and not 1 <= self.limit <= ITEMS_MAX_LIMIT:
            raise QueryError(f"limit must be 1…{ITEMS_MAX_LIMIT}, got {self.limit}", field="limit")
        if self.offset < 0:
            raise QueryError(f"offset must be 0 or more, got {self.offset}", field="offset")
        if self.min_population is not None and not (math.isfinite(self.min_population) and self.min_population >= 0):
            raise QueryError(f"min_population must be a number ≥ 0, got {self.min_population}", field="min_population")
        if self.evidence is not None and self.evidence not in ("confirmed", "likely"):
            raise QueryError(f"evidence must be confirmed or likely, got {self.evidence!r}", field="evidence")

    def filter_params(self) -> dict[str, Any]:
        """Return the filters as query parameters (for links), omitting empty ones."""
        params = {
            "operator": self.operator,
            "technology": self.technology,
            "commune": self.commune,
            "district": self.district,
            "unit": self.unit,
            "min_population": self.min_population,
            "evidence": self.evidence,
            "state": self.state,
            "bbox": ",".join(f"{v:g}" for v in self.bbox) if self.bbox else None,
            "sort": self.sort,
            "datetime": datetime_text(self.datetime) if self.datetime else None,
            "period": self.period,
        }
        return {k: v for k, v in params.items() if v is not None and v != ""}

def _place_mask(collection: Collection, places: pd.DataFrame, level: str, text: str) -> np.ndarray:
    """Rows of the collection in the given communes (``level="commune"``) or districts."""
    frame = collection.frame
    code_column = f"{level}_code"
    codes = set(places[code_column].dropna().tolist())
    if level == "commune" and "commune_codes" in frame.columns:
        # A gap spanning communes belongs to each of them.
        listed = frame["commune_codes"].astype("string").fillna("").str.split(";").explode()
        hit = listed.str.strip().isin(codes).groupby(level=0).any()
        return hit.reindex(range(len(frame)), fill_value=False).to_numpy(bool)
    if code_column in frame.columns:
        return frame[code_column].astype("string").isin(codes).to_numpy(bool, na_value=False)
    if level in collection.folded:
        key_column = "key" if level == "commune" else "district_key"
        names = set(places[key_column].tolist()) | set(
            places["bare" if level == "commune" else "district_bare"].tolist()
        )
        folded = collection.folded[level]
        return (folded.isin(names) | bare_series(folded).isin(names)).to_numpy(bool, na_value=False)
    if len(frame):
        raise QueryError(f"{collection.id} cannot be filtered by {level}", field=level)
    return np.zeros(0, dtype=bool)

def select(collection: Collection, query: FeatureQuery, places: PlaceIndex | None = None) -> np.ndarray:
    """Return the row positions matching the query's filters, in the query's order.

    Parameters
    ----------
    collection : Collection
    query : FeatureQuery
    places : PlaceIndex, optional
        Resolves commune and district names (default: built from the collection itself).

    Returns
    -------
    numpy.ndarray
        Positions into the collection (all matches; page them with :func:`page`).

    Raises
    ------
    QueryError
        A filter the collection cannot apply, or a commune or district nobody knows.
    """
    frame = collection.frame
    mask = np.ones(len(frame), dtype=bool)
    for column, value in (
        ("operator", query.operator),
        ("technology", query.technology),
        ("evidence", query.evidence),
        ("state", query.state),
    ):
        if value is None:
            continue
        if column not in frame.columns:
            if len(frame):
                raise QueryError(f"{collection.id} cannot be filtered by {column}", field=column)
            continue
        mask &= (frame[column].astype("string") == value).to_numpy(bool, na_value=False)
    for level, text in (("commune", query.commune), ("district", query.district), ("unit", query.unit)):
        if not text:
            continue
        places = places if places is not None else PlaceIndex.from_frame(frame)
        found = {"commune": places.communes, "district": places.districts, "unit": places.units}[level](text)
        if found.empty:
            raise QueryError(f"no {level} {text!r} in this run; give its GSO code or name", "unknown_" + level, level)
        # A 2025 unit is the old communes mapped to it: a feature matches when it touches one.
        mask &= _place_mask(collection, found, "commune" if level == "unit" else level, text)
    if query.min_population is not None:
        if "population" not in frame.columns:
            if len(frame):
                raise QueryError(f"{collection.id} has no population to filter by", field="min_population")
        else:
            population = frame["population"].astype("float64").to_numpy(na_value=np.nan)
            mask &= np.nan_to_num(population, nan=-1.0) >= query.min_population
    if query.bbox is not None:
        min_x, min_y, max_x, max_y = query.bbox
        bounds = collection.bounds
        with np.errstate(invalid="ignore"):
            near = (bounds[:, 0] <= max_x) & (bounds[:, 2] >= min_x) & (bounds[:, 1] <= max_y) & (bounds[:, 3] >= min_y)
        candidates = np.flatnonzero(mask & near)
        exact = shapely.intersects(collection.geometry[candidates], shapely.box(*query.bbox))
        mask = np.zeros(len(frame), dtype=bool)
        mask[candidates[np.asarray(exact, dtype=bool)]] = True
    if query.datetime is not None:
        mask &= _datetime_mask(collection, query.datetime)
    positions = np.flatnonzero(mask)
    if query.sort:
        positions = _sorted(collection, positions, query.sort)
    return positions

#: Columns giving a feature's time: the first and the last day it was measured (local dates).
TIME_COLUMNS = ("first_date", "last_date")

def has_time(collection: Collection) -> bool:
    """True when the collection's features carry measurement dates (``datetime`` applies)."""
    return all(c in collection.frame.columns for c in TIME_COLUMNS)

#: An RFC 3339 date or date-time starts with its full date.
_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}(?:$|[Tt ])")

def _local_date(text: str, name: str) -> str:
    """Return the Vietnam-local ``YYYY-MM-DD`` of an RFC 3339 date or date-time."""
    stamp = None
    if _RFC3339_START.match(text):  # pandas alone would read "October" as this year's 1 October
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError):
            stamp = None
    if stamp is None or pd.isna(stamp):
        raise QueryError(
            f"datetime: {text!r} is not an RFC 3339 date or date-time (e.g. 2026-10-01 or 2026-10-01T00:00:00Z)",
            field="datetime",
        )
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("Asia/Ho_Chi_Minh")
    return stamp.strftime("%Y-%m-%d")

def parse_datetime(value: str | None) -> tuple[str | None, str | None] | None:
    """Parse the OGC ``datetime`` parameter: an instant, or an interval ``start/end`` (``..`` open).

    Times with a zone are taken to Vietnam's local date, the dates the runs record.

    Returns
    -------
    tuple or None
        ``(first, last)`` inclusive local dates, either None when open.

    Raises
    ------
    QueryError
        Not a date, an interval with more than two ends, both ends open, or the end before the start.
    """
    if value is None or value.strip() == "":
        return None
    parts = [p.strip() for p in value.split("/")]
    if len(parts) > 2:
        raise QueryError(f"datetime: expected an instant or start/end, got {value!r}", field="datetime")
    if len(parts) == 1:
        day = _local_date(parts[0], "datetime")
        return day, day
    ends = [None if p in ("", "..") else _local_date(p, "datetime") for p in parts]
    if ends[0] is None and ends[1] is None:
        raise QueryError(f"datetime: both ends of {value!r} are open", field="datetime")
    if ends[0] is not None and ends[1] is not None and ends[0] > ends[1]:
        raise QueryError(f"datetime: the end of {value!r} is before its start", field="datetime")
    return ends[0], ends[1]

def datetime_text(interval: tuple[str | None, str | None]) -> str:
    """Return the ``datetime`` parameter text of a parsed interval (for links)."""
    first, last = interval
    if first is not None and first == last:
        return first
    return f"{first or '..'}/{last or '..'}"

def _datetime_mask(collection: Collection, interval: tuple[str | None, str | None]) -> np.ndarray:
    """Rows measured on some day of the interval.

    A collection without time (communes, villages) matches every ``datetime``: OGC API - Features
    Part 1 (17-069r3, 7.15.4, /req/core/fc-time-response) has the parameter "match all features in the
    collection that are not associated with a temporal geometry". In a collection with time, a
    feature without dates (a no-data cell: nothing was measured there) matches none, so that a month's
    filter gives that month's measured cells, as people ask it to.
    """
    frame = collection.frame
    if not has_time(collection):
        return np.ones(len(frame), dtype=bool)
    # ISO dates compare as text; the first 10 characters are the day of a date-time too
    first_day = frame["first_date"].astype("string").str.slice(0, 10)
    last_day = frame["last_date"].astype("string").str.slice(0, 10)
    keep = first_day.notna() & last_day.notna()
    start, end = interval
    if start is not None:
        keep &= last_day >= start
    if end is not None:
        keep &= first_day <= end
    return keep.to_numpy(bool, na_value=False)

def _sorted(collection: Collection, positions: np.ndarray, sort: str) -> np.ndarray:
    columns: list[str] = []
    ascending: list[bool] = []
    for part in sort.split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.lstrip("+-").strip()
        if name not in collection.frame.columns:
            sortable = [c for c in collection.frame.columns if c != "synthetic"]
            raise QueryError(f"cannot sort {collection.id} by {name!r}; columns: {sortable}", field="sort")
        columns.append(name)
        ascending.append(not descending)
    subset = collection.frame.iloc[positions][columns].assign(_position=positions)
    ordered = subset.sort_values(columns, ascending=ascending, kind="stable", na_position="last")
    return ordered["_position"].to_numpy()

def page(positions: np.ndarray, limit: int | None, offset: int) -> np.ndarray:
    """Return one page of positions (``limit`` None: everything after ``offset``)."""
    end = None if limit is None else offset + limit
    return positions[offset:end]

def page_links(
    base_url: str, params: Mapping[str, Any], matched: int, limit: int | None, offset: int, media_type: str
) -> list[dict[str, str]]:
    """Return ``self``, ``next`` and ``prev`` links for a page.

    Parameters
    ----------
    base_url : str
        URL of the list without its query.
    params : mapping
        Query parameters other than ``limit`` and ``offset`` to keep in the links.
    matched : int
        Features matching the filters.
    limit : int or None
        Page size (None: one page holding everything).
    offset : int
        Current offset.
    media_type : str
        Media type of the linked pages.

    Returns
    -------
    list of dict
    """

    def url(new_offset: int) -> str:
        query = {**{k: v for k, v in params.items() if v is not None}, "offset": new_offset}
        if limit is not None:
            query["limit"] = limit
        return f"{base_url}?{urlencode(query)}"

    links = [{"rel": "self", "type": media_type, "title": "this page", "href": url(offset)}]
    if limit is not None and offset + limit < matched:
        links.append({"rel": "next", "type": media_type, "title": "next page", "href": url(offset + limit)})
    if limit is not None and offset > 0:
        links.append({"rel": "prev", "type": media_type, "title": "previous page", "href": url(max(0, offset - limit))})
    return links
