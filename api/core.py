"""The API's core, free of any web framework: prepare a run once, then filter, page and serialise.

:func:`prepare_results` turns a :class:`lomsong.tables.results.RunResults` into
:class:`PreparedResults`: one :class:`Collection` per feature table (gaps, cells, communes,
villages) whose features are serialised to GeoJSON text once (vectorised with
:func:`shapely.to_geojson` and :meth:`pandas.DataFrame.to_json`), so that a request only selects
rows with boolean masks and joins ready-made strings. The route functions in :mod:`api.app` and
:mod:`api.ogc` call these functions and nothing else; a bad query raises :class:`QueryError`
naming the offending parameter.
"""

from __future__ import annotations

import html
import io
import math
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from lomsong._text import fold, fold_series
from lomsong.errors import LomsongError
from lomsong.operators import OPERATOR_IDS, display_name, operator_from_name
from lomsong.products.tables import SYNTHETIC_NOTE_VI, tidy_table, write_gpkg, write_table_csv
from lomsong.products.workbook import Sheet, readable_values, write_workbook
from lomsong.readers._parse import TECHNOLOGY_ALIASES
from lomsong.settings import TECHNOLOGIES
from lomsong.tables.results import (
    ALL_OPERATORS,
    ANY_TECHNOLOGY,
    CELL_STATE_SCHEMA,
    COMMUNE_SUMMARY_SCHEMA,
    GAP_SCHEMA,
    RunResults,
)

#: Output formats → media type.
MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "gpkg": "application/geopackage+sqlite3",
    "html": "text/html; charset=utf-8",
}
#: Formats delivered as a file download (Content-Disposition: attachment).
DOWNLOAD_FORMATS = {"csv", "xlsx", "gpkg"}
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
#: Features per chunk of a streamed page: the server holds one chunk's text at a time, not the page's.
STREAM_CHUNK = 2_000

COLLECTION_IDS = ("communes", "gaps", "cells", "villages")

#: Decimals of every coordinate served (as in the run's own files: about 0.1 m).
COORDINATE_DECIMALS = 6
#: Attribute columns that hold coordinates (rounded like the geometries).
COORDINATE_COLUMNS = ("centroid_lon", "centroid_lat", "lon", "lat")


class QueryError(LomsongError, ValueError):
    """A request cannot be answered as asked.

    Parameters
    ----------
    message : str
        What is wrong, for a person.
    code : str
        Machine code (``invalid_parameter``, ``not_found``, …).
    field : str or None
        The offending parameter or field.
    status : int
        HTTP status the web layer should answer with.
    """

    def __init__(self, message: str, code: str = "invalid_parameter", field: str | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.status = status

    def to_dict(self) -> dict[str, Any]:
        """Return the error body: ``{"code", "message", "field"}``."""
        return {"code": self.code, "message": self.message, "field": self.field}


class NotFoundError(QueryError):
    """The named item does not exist (HTTP 404)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, code="not_found", field=field, status=404)


@dataclass
class Collection:
    """One feature table prepared for serving.

    Attributes
    ----------
    id : str
        Collection id (``gaps``, ``cells``, ``communes``, ``villages``).
    title : str
        Title for people (Vietnamese first).
    description : str
        What a feature is.
    frame : pandas.DataFrame
        Attribute columns (no geometry), in serving order, index 0..n-1.
    geometry : numpy.ndarray
        Shapely geometries (EPSG:4326), aligned with ``frame``; None where missing.
    bounds : numpy.ndarray
        (n, 4) bounding boxes of the geometries (NaN where missing).
    feature_ids : numpy.ndarray
        Feature id of each row (strings).
    features : numpy.ndarray
        Pre-serialised GeoJSON Feature text of each row.
    properties : numpy.ndarray
        Pre-serialised JSON object of each row's attributes.
    folded : dict
        Column → diacritic-insensitive folded names, for name filters.
    """

    id: str
    title: str
    description: str
    frame: pd.DataFrame
    geometry: np.ndarray
    bounds: np.ndarray
    feature_ids: np.ndarray
    features: np.ndarray
    properties: np.ndarray
    folded: dict[str, pd.Series] = field(default_factory=dict)
    _positions: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def position(self, feature_id: str) -> int:
        """Return the row of a feature id; raise :class:`NotFoundError` when absent."""
        if self._positions is None:
            self._positions = {fid: i for i, fid in enumerate(self.feature_ids.tolist())}
        try:
            return self._positions[feature_id]
        except KeyError:
            raise NotFoundError(f"{self.id}: no feature with id {feature_id!r}", field="id") from None

    def time_extent(self) -> list[str | None] | None:
        """Return ``[first day, last day]`` measured in the collection (RFC 3339), None without dates."""
        if not len(self) or "first_date" not in self.frame or "last_date" not in self.frame:
            return None
        first = self.frame["first_date"].dropna().astype("string").str.slice(0, 10)
        last = self.frame["last_date"].dropna().astype("string").str.slice(0, 10)
        if first.empty or last.empty:
            return None
        return [f"{first.min()}T00:00:00+07:00", f"{last.max()}T23:59:59+07:00"]

    def extent(self) -> list[float] | None:
        """Return the bounding box of all features, or None when there are none with geometry."""
        if not len(self) or np.isnan(self.bounds).all():
            return None
        return [
            float(np.nanmin(self.bounds[:, 0])),
            float(np.nanmin(self.bounds[:, 1])),
            float(np.nanmax(self.bounds[:, 2])),
            float(np.nanmax(self.bounds[:, 3])),
        ]


@dataclass
class PreparedResults:
    """A finished run ready to serve: collections with pre-serialised features, plus the summary.

    Attributes
    ----------
    results : RunResults
        The loaded run.
    collections : dict
        Collection id → :class:`Collection`.
    summary : dict
        Province totals per view and the run metadata (:func:`province_summary`).
    places : PlaceIndex
        The run's communes and districts, for name filters.
    """

    results: RunResults
    collections: dict[str, Collection]
    summary: dict[str, Any]
    places: PlaceIndex

    @property
    def synthetic(self) -> bool:
        """True when the run's measurements came from the simulator."""
        return self.results.synthetic

    @property
    def meta(self) -> dict[str, Any]:
        """The run's ``run.json``."""
        return self.results.meta

    def collection(self, collection_id: str) -> Collection:
        """Return a collection by id; raise :class:`NotFoundError` for an unknown id."""
        try:
            return self.collections[collection_id]
        except KeyError:
            raise NotFoundError(
                f"no collection {collection_id!r}; collections: {list(self.collections)}", field="collectionId"
            ) from None


# ----------------------------------------------------------------------------------------------
# Preparation (once per run)


def _json_lines(frame: pd.DataFrame) -> np.ndarray:
    """Return one JSON object text per row (vectorised by pandas' C serialiser)."""
    if frame.empty:
        return np.array([], dtype=object)
    if frame.columns.empty:
        return np.full(len(frame), "{}", dtype=object)
    text = frame.to_json(orient="records", lines=True, force_ascii=False, date_format="iso", double_precision=10)
    lines = text.rstrip("\n").split("\n")
    return np.array(lines, dtype=object)


def _json_values(values: pd.Series) -> np.ndarray:
    """Return the JSON text of each value (a string id → ``"id"`` with escapes)."""
    wrapped = _json_lines(pd.DataFrame({"v": values.to_numpy()}))
    # Each line is {"v":<value>}: cut the fixed wrapper off.
    return pd.Series(wrapped, dtype=object).str.slice(5, -1).to_numpy(dtype=object)


def _plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the attribute columns with JSON-friendly values (dates as ISO text)."""
    out = frame.drop(columns=[c for c in frame.columns if c == "geometry"], errors="ignore").reset_index(drop=True)
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%dT%H:%M:%S").astype("string")
    return out


#: A coordinate GEOS wrote with more than 6 decimals (it prints 12.17096 as 12.170959999999999).
_LONG_DECIMALS = r"-?\d+\.\d{7,}"


def _geojson_geometries(geoms: np.ndarray) -> np.ndarray:
    """Return the GeoJSON text of each geometry ("null" where missing), coordinates at 6 decimals.

    The coordinates are rounded before; GEOS' writer does not print the shortest text of a double,
    so the few long ones it writes (about 2 % of the cells) are rewritten, once per run. Finding
    them uses RE2 through pyarrow, linear in the text (Python's regex took 7 s on 163,020 cells).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pd.Series(shapely.to_geojson(geoms), dtype=object)
    present = text.notna().to_numpy()
    long_numbers = np.zeros(len(text), dtype=bool)
    if present.any():
        found = pc.match_substring_regex(pa.array(text[present].tolist(), pa.string()), r"\.\d{7}")
        long_numbers[present] = found.to_numpy(zero_copy_only=False)
    if long_numbers.any():
        text[long_numbers] = text[long_numbers].str.replace(
            _LONG_DECIMALS, lambda match: repr(round(float(match.group(0)), COORDINATE_DECIMALS)), regex=True
        )
    return text.fillna("null").to_numpy(dtype=object)


def make_collection(
    collection_id: str,
    frame: pd.DataFrame,
    geometry: Sequence | np.ndarray | None,
    feature_ids: pd.Series,
    title: str,
    description: str,
    synthetic: bool,
    name_columns: Iterable[str] = (),
) -> Collection:
    """Prepare one collection: serialise every feature once.

    Parameters
    ----------
    collection_id : str
        Collection id.
    frame : pandas.DataFrame
        Attribute table (a ``geometry`` column is ignored; pass geometries separately).
    geometry : array-like of shapely geometries or None
        EPSG:4326 geometries aligned with ``frame`` (None: no geometries).
    feature_ids : pandas.Series
        Unique feature id of each row.
    title, description : str
        Shown on collection pages.
    synthetic : bool
        Label every feature with ``synthetic`` (simulated data is labelled wherever it appears).
    name_columns : iterable of str
        Columns of names to fold for diacritic-insensitive filters.

    Returns
    -------
    Collection
    """
    attributes = _plain_frame(frame)
    attributes["synthetic"] = bool(synthetic)
    for column in COORDINATE_COLUMNS:
        if column in attributes.columns:
            attributes[column] = attributes[column].astype("float64").round(COORDINATE_DECIMALS)
    n = len(attributes)
    geoms = np.full(n, None, dtype=object) if geometry is None else np.asarray(geometry, dtype=object)
    if n and geometry is not None:
        # 6 decimals (~0.1 m), as in the run's own files: no 15-digit noise in what clients read
        geoms = shapely.transform(geoms, lambda xy: np.round(xy, COORDINATE_DECIMALS))
    ids = pd.Series(feature_ids, dtype="string").reset_index(drop=True).fillna("")
    if n and ids.duplicated().any():
        raise ValueError(f"{collection_id}: feature ids are not unique, e.g. {ids[ids.duplicated()].iloc[0]!r}")
    properties = _json_lines(attributes)
    if n:
        geometry_text = _geojson_geometries(geoms)
        id_text = _json_values(ids)
        features = '{"type":"Feature","id":' + id_text + ',"geometry":' + geometry_text + ',"properties":'
        features = features + properties + "}"
        bounds = shapely.bounds(geoms)
    else:
        features = np.array([], dtype=object)
        bounds = np.empty((0, 4))
    folded = {c: fold_series(attributes[c]).fillna("") for c in name_columns if c in attributes.columns}
    return Collection(
        id=collection_id,
        title=title,
        description=description,
        frame=attributes,
        geometry=geoms,
        bounds=np.asarray(bounds, dtype=float),
        feature_ids=ids.to_numpy(dtype=object),
        features=np.asarray(features, dtype=object),
        properties=properties,
        folded=folded,
    )


def claim_collections(results: RunResults, label: str = "") -> dict[str, Collection]:
    """The claims check of a run as two collections: ``claims`` (figures per operator, technology
    and commune, province rows included) and ``challenges`` (over-claimed areas with their evidence).

    A run made without claim maps has neither (``/claims`` and ``/challenges`` then answer 404).
    """
    if results.claims is None:
        return {}
    synthetic = results.synthetic
    summary = pd.DataFrame(results.claims) if results.claims is not None else pd.DataFrame()
    if len(summary):
        summary = summary.sort_values(["operator", "technology", "level", "commune_code"], kind="stable")
        summary = summary.reset_index(drop=True)
        ids = summary["operator"].astype("string") + "_" + summary["technology"].astype("string") + "_"
        # a 2025 unit's code can equal a 2019 commune's: the level is part of the id
        place = summary["commune_code"].astype("string").fillna(summary["unit_2025_code"].astype("string"))
        suffix = place.map(lambda code: f"_{code}", na_action="ignore").fillna("")
        ids = ids + summary["level"].astype("string") + suffix
    else:
        ids = pd.Series([], dtype="string")
    claims = make_collection(
        "claims",
        summary,
        None,
        ids,
        title=f"Vùng phủ khai báo so với số đo / claimed coverage against the measurements{label}",
        description="Per operator, technology and commune (and province rows): claimed, verified, "
        "over-claimed and unverified people and km²; columns as in CLAIM_SUMMARY_SCHEMA.",
        synthetic=synthetic,
        name_columns=("commune", "district"),
    )
    challenges = results.challenges
    if challenges is not None and len(challenges):
        challenges = challenges.to_crs(4326).sort_values(["operator", "technology", "rank"], kind="stable")
        challenges = challenges.reset_index(drop=True)
        geometry, challenge_ids = challenges.geometry.to_numpy(), challenges["challenge_id"]
    else:
        challenges, geometry, challenge_ids = pd.DataFrame(), None, pd.Series([], dtype="string")
    challenge_collection = make_collection(
        "challenges",
        challenges,
        geometry,
        challenge_ids,
        title=f"Vùng khai báo vượt / over-claimed areas{label}",
        description="Connected areas an operator claims to cover where the measurements show weak signal, "
        "with their evidence; columns as in CHALLENGE_SCHEMA.",
        synthetic=synthetic,
        name_columns=("commune", "district"),
    )
    return {"claims": claims, "challenges": challenge_collection}


def _village_ids(villages: pd.DataFrame) -> pd.Series:
    for column in ("village_id", "id", "code"):
        if column in villages.columns and not villages[column].isna().any() and villages[column].is_unique:
            return villages[column].astype("string")
    return pd.Series(np.arange(1, len(villages) + 1).astype(str), dtype="string")


def prepare_results(results: RunResults, boundaries: gpd.GeoDataFrame | None = None) -> PreparedResults:
    """Prepare a finished run for serving (done once per run).

    Parameters
    ----------
    results : RunResults
        Loaded run (:func:`lomsong.tables.results.load_run`).
    boundaries : geopandas.GeoDataFrame, optional
        Canonical commune table; gives the communes collection its polygons. Without it the
        commune features have no geometry.

    Returns
    -------
    PreparedResults
    """
    synthetic = results.synthetic
    label = " (dữ liệu mô phỏng / synthetic)" if synthetic else ""

    gaps = results.gaps.to_crs(4326) if results.gaps.crs is not None else results.gaps
    gaps = gaps.sort_values(["operator", "technology", "rank"], kind="stable").reset_index(drop=True)
    gap_collection = make_collection(
        "gaps",
        gaps,
        gaps.geometry.to_numpy(),
        gaps["gap_id"],
        title=f"Vùng lõm sóng có dân cư / coverage gaps where people live{label}",
        description="One feature per gap area and view (operator × technology); columns as in GAP_SCHEMA.",
        synthetic=synthetic,
        name_columns=("commune", "district"),
    )

    cells = results.cells.to_crs(4326) if results.cells.crs is not None else results.cells
    cells = cells.sort_values(["operator", "technology", "h3"], kind="stable").reset_index(drop=True)
    cell_ids = cells["h3"].astype("string") + "_" + cells["operator"].astype("string") + "_"
    cell_ids = cell_ids + cells["technology"].astype("string")
    cell_collection = make_collection(
        "cells",
        cells,
        cells.geometry.to_numpy(),
        cell_ids,
        title=f"Trạng thái ô lưới H3 / H3 cell states{label}",
        description="One feature per H3 cell and view: no_data, insufficient, covered or weak.",
        synthetic=synthetic,
    )

    communes = pd.DataFrame(results.communes).sort_values(["commune_code", "operator", "technology"], kind="stable")
    communes = communes.reset_index(drop=True)
    commune_geometry = None
    if boundaries is not None and len(boundaries):
        shapes = boundaries.to_crs(4326).set_index(boundaries["commune_code"].astype("string")).geometry
        commune_geometry = shapes.reindex(communes["commune_code"].astype("string")).to_numpy()
    commune_ids = communes["commune_code"].astype("string") + "_" + communes["operator"].astype("string") + "_"
    commune_ids = commune_ids + communes["technology"].astype("string")
    commune_collection = make_collection(
        "communes",
        communes,
        commune_geometry,
        commune_ids,
        title=f"Tóm tắt theo xã / commune summary{label}",
        description="One feature per commune and view: people in gaps, covered share, largest gap.",
        synthetic=synthetic,
        name_columns=("commune", "district"),
    )

    villages = results.villages
    if villages is None:
        village_collection = make_collection(
            "villages",
            pd.DataFrame(),
            None,
            pd.Series([], dtype="string"),
            title="Thôn, bon, buôn / villages",
            description="Villages with their coverage status (this run was made without a village layer).",
            synthetic=synthetic,
        )
    else:
        villages = villages.to_crs(4326) if villages.crs is not None else villages
        villages = villages.reset_index(drop=True)
        village_collection = make_collection(
            "villages",
            villages,
            villages.geometry.to_numpy(),
            _village_ids(villages),
            title=f"Thôn, bon, buôn / villages{label}",
            description="Villages with their coverage status in each view.",
            synthetic=synthetic,
            name_columns=("commune", "district"),
        )

    collections = {
        "communes": commune_collection,
        "gaps": gap_collection,
        "cells": cell_collection,
        "villages": village_collection,
        **claim_collections(results, label),
    }
    predicted = results.extras.get("predicted_gaps")
    if predicted is not None:  # runs with a radio map
        predicted = predicted.to_crs(4326) if predicted.crs is not None else predicted
        predicted = predicted.sort_values(["operator", "technology", "rank"], kind="stable").reset_index(drop=True)
        collections["predicted_gaps"] = make_collection(
            "predicted_gaps",
            predicted.assign(prediction=True),
            predicted.geometry.to_numpy(),
            predicted["gap_id"],
            title=f"Vùng dự báo sóng yếu (dự báo, không phải số đo) / predicted weak areas{label}",
            description="Radio map: connected predicted-weak cells without a measured state, one feature per area "
            "and view; a prediction, never evidence. Columns as in PREDICTED_GAP_SCHEMA.",
            synthetic=synthetic,
            name_columns=("commune", "district"),
        )
    return PreparedResults(
        results=results,
        collections=collections,
        summary=province_summary(results),
        places=PlaceIndex.from_frame(communes),
    )


def province_summary(results: RunResults) -> dict[str, Any]:
    """Return province totals per view and the run's metadata.

    Parameters
    ----------
    results : RunResults

    Returns
    -------
    dict
        ``{"synthetic", "run", "views": [{operator, technology, population, people_in_gaps,
        people_covered, people_no_data, n_gaps, gap_population}, …]}``.
    """
    communes = pd.DataFrame(results.communes)
    views = pd.DataFrame(columns=["operator", "technology"])
    if not communes.empty:
        population = communes["population"].astype("float64").fillna(0.0)
        weighted = communes.assign(
            population=population,
            people_in_gaps=communes["people_in_gaps"].astype("float64").fillna(0.0),
            people_covered=population * communes["share_people_covered"].astype("float64").fillna(0.0),
            people_no_data=population * communes["share_people_no_data"].astype("float64").fillna(0.0),
        )
        views = (
            weighted.groupby(["operator", "technology"], observed=True)[
                ["population", "people_in_gaps", "people_covered", "people_no_data"]
            ]
            .sum()
            .reset_index()
        )
    gaps = pd.DataFrame(results.gaps.drop(columns="geometry", errors="ignore"))
    if not gaps.empty:
        per_view = (
            gaps.assign(population=gaps["population"].astype("float64"))
            .groupby(["operator", "technology"], observed=True)
            .agg(n_gaps=("gap_id", "size"), gap_population=("population", "sum"))
            .reset_index()
        )
        views = views.merge(per_view, on=["operator", "technology"], how="outer")
    for column in ("population", "people_in_gaps", "people_covered", "people_no_data", "gap_population"):
        if column not in views.columns:
            views[column] = 0.0
        views[column] = views[column].astype("float64").fillna(0.0).round(1)
    views["n_gaps"] = views["n_gaps"].fillna(0).astype("int64") if "n_gaps" in views.columns else 0
    views["share_people_covered"] = np.where(
        views["population"] > 0, views["people_covered"] / views["population"].where(views["population"] > 0), 0.0
    ).round(4)
    views = views.sort_values(["operator", "technology"]).reset_index(drop=True)
    records = orjson.loads(views.to_json(orient="records", force_ascii=False)) if len(views) else []
    return {"synthetic": results.synthetic, "run": results.meta, "views": records}


# ----------------------------------------------------------------------------------------------
# Query parameters


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


#: Administrative prefixes people may leave out of a name ("Đắk Mil" for "Thị trấn Đắk Mil").
_TYPE_PREFIXES = ("thi tran ", "thanh pho ", "thi xa ", "phuong ", "huyen ", "xa ", "tp. ", "tp ")
#: Columns of the 2025 unit when the run's tables carry them.
_UNIT_COLUMNS = ["unit_2025_code", "unit_2025"]


def _bare(key: str) -> str:
    for prefix in _TYPE_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :].strip()
    return key


def _bare_series(keys: pd.Series) -> pd.Series:
    pattern = "^(?:" + "|".join(p.replace(".", r"\.") for p in _TYPE_PREFIXES) + ")"
    return keys.str.replace(pattern, "", regex=True).str.strip()


@dataclass
class PlaceIndex:
    """Communes and districts of a run, to turn what people type into GSO codes.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per commune: codes, names, and their folded forms with and without the
        administrative prefix (``Xã``, ``Thị trấn``, ``Huyện`` …).
    """

    table: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> PlaceIndex:
        """Build the index from any table with commune and district codes and names."""
        columns = ["commune_code", "commune", "district_code", "district"]
        folded = ["key", "bare", "district_key", "district_bare", "unit_key", "unit_bare"]
        if frame.empty or not set(columns) <= set(frame.columns):
            return cls(pd.DataFrame(columns=[*columns, *_UNIT_COLUMNS, *folded]))
        table = frame[columns + [c for c in _UNIT_COLUMNS if c in frame.columns]]
        table = table.drop_duplicates("commune_code").reset_index(drop=True).astype("string")
        for column in _UNIT_COLUMNS:
            if column not in table:
                table[column] = pd.Series(pd.NA, index=table.index, dtype="string")
        table["key"] = fold_series(table["commune"]).fillna("")
        table["bare"] = _bare_series(table["key"])
        table["district_key"] = fold_series(table["district"]).fillna("")
        table["district_bare"] = _bare_series(table["district_key"])
        table["unit_key"] = fold_series(table["unit_2025"]).fillna("")
        table["unit_bare"] = _bare_series(table["unit_key"])
        return cls(table)

    def communes(self, text: str) -> pd.DataFrame:
        """Rows of the communes a text names: its GSO code, or its name with or without prefix."""
        query = text.strip()
        key = fold(query)
        table = self.table
        hit = (table["commune_code"] == query) | (table["key"] == key) | (table["bare"] == _bare(key))
        return table[hit.to_numpy(bool, na_value=False)]

    def districts(self, text: str) -> pd.DataFrame:
        """Rows (communes) of the districts a text names: code, or name with or without prefix."""
        query = text.strip()
        key = fold(query)
        table = self.table
        hit = (
            (table["district_code"] == query) | (table["district_key"] == key) | (table["district_bare"] == _bare(key))
        )
        return table[hit.to_numpy(bool, na_value=False)]

    def units(self, text: str) -> pd.DataFrame:
        """Rows (old communes) of the 2025 unit a text names: code, or name with or without prefix."""
        query = text.strip()
        key = fold(query)
        table = self.table
        hit = (table["unit_2025_code"] == query) | (table["unit_key"] == key) | (table["unit_bare"] == _bare(key))
        return table[hit.to_numpy(bool, na_value=False)]


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
        return (folded.isin(names) | _bare_series(folded).isin(names)).to_numpy(bool, na_value=False)
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


# ----------------------------------------------------------------------------------------------
# Serialisation


def _join(parts: np.ndarray) -> str:
    return ",".join(parts.tolist())


def feature_collection_bytes(
    collection: Collection,
    positions: np.ndarray,
    matched: int,
    links: list[dict[str, str]],
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """Return a GeoJSON FeatureCollection (RFC 7946) of the given rows, with OGC paging members.

    Parameters
    ----------
    collection : Collection
    positions : numpy.ndarray
        Rows on this page.
    matched : int
        Features matching the filters (``numberMatched``).
    links : list of dict
        Paging links.
    extra : mapping, optional
        More top-level members (e.g. ``synthetic``, ``timeStamp``).

    Returns
    -------
    bytes
    """
    head = {"type": "FeatureCollection", "numberMatched": int(matched), "numberReturned": int(len(positions))}
    head.update(extra or {})
    head["links"] = links
    head_text = orjson.dumps(head).decode("utf-8")[:-1]
    body = f'{head_text},"features":[{_join(collection.features[positions])}]}}'
    return body.encode("utf-8")


def feature_collection_chunks(
    collection: Collection,
    positions: np.ndarray,
    matched: int,
    links: list[dict[str, str]],
    extra: Mapping[str, Any] | None = None,
    *,
    chunk: int = STREAM_CHUNK,
) -> Iterator[bytes]:
    """Yield the bytes of :func:`feature_collection_bytes` a few thousand features at a time.

    The features are already serialised (:func:`make_collection`); a chunk joins ``chunk`` of
    them, so a page of 20,000 cells never exists as one string in the server's memory.
    """
    head = {"type": "FeatureCollection", "numberMatched": int(matched), "numberReturned": int(len(positions))}
    head.update(extra or {})
    head["links"] = links
    yield (orjson.dumps(head).decode("utf-8")[:-1] + ',"features":[').encode("utf-8")
    for start in range(0, len(positions), chunk):
        separator = "," if start else ""
        yield (separator + _join(collection.features[positions[start : start + chunk]])).encode("utf-8")
    yield b"]}"


def records_bytes(
    collection: Collection,
    positions: np.ndarray,
    matched: int,
    links: list[dict[str, str]],
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """Return plain JSON ``{"numberMatched", "numberReturned", …, "items": [{…}, …]}`` (no geometry)."""
    head: dict[str, Any] = {"numberMatched": int(matched), "numberReturned": int(len(positions))}
    head.update(extra or {})
    head["links"] = links
    head_text = orjson.dumps(head).decode("utf-8")[:-1]
    body = f'{head_text},"items":[{_join(collection.properties[positions])}]}}'
    return body.encode("utf-8")


def feature_bytes(collection: Collection, position: int, links: list[dict[str, str]] | None = None) -> bytes:
    """Return one GeoJSON Feature (with ``links`` when given)."""
    text = collection.features[position]
    if links:
        text = text[:-1] + ',"links":' + orjson.dumps(links).decode("utf-8") + "}"
    return text.encode("utf-8")


def _table(collection: Collection, positions: np.ndarray) -> pd.DataFrame:
    """The rows as people read them in a download: rounded like the run's own CSV and XLSX files."""
    frame = collection.frame.iloc[positions].reset_index(drop=True)
    return tidy_table(frame, list(frame.columns))


def csv_bytes(collection: Collection, positions: np.ndarray, synthetic: bool = False) -> bytes:
    """Return the rows as UTF-8 CSV with the machine column names and the ``synthetic`` column.

    Written by the run's own CSV writer (:func:`lomsong.products.tables.write_table_csv`): the same
    rounding, the same trailing ``synthetic`` column. No geometry; gaps keep their centroid.
    """
    buffer = io.StringIO()
    write_table_csv(_table(collection, positions), None, buffer, synthetic=synthetic)
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(collection: Collection, positions: np.ndarray, meta: Mapping[str, Any], synthetic: bool) -> bytes:
    """Return an Excel workbook written like the run's own (:mod:`lomsong.products.workbook`).

    Sheets: the rows with the glossary's Vietnamese headers, a sheet about the run, the legend.
    """
    table = readable_values(_table(collection, positions))
    about = pd.DataFrame(
        {
            "item": ["Bảng", "Dữ liệu mô phỏng", "Số dòng", "Lần chạy"],
            "value": [
                collection.title,
                "CÓ - dữ liệu mô phỏng, không phải đo thực tế" if synthetic else "không",
                str(len(table)),
                orjson.dumps(meta, default=str).decode("utf-8")[:30000],
            ],
        }
    )
    buffer = io.BytesIO()
    write_workbook(
        [
            Sheet(collection.id, table),
            Sheet("thong_tin", about, headers={"item": "Mục", "value": "Giá trị"}, kinds={"value": "text"}),
        ],
        buffer,
        synthetic_note=SYNTHETIC_NOTE_VI if synthetic else "",
    )
    return buffer.getvalue()


def gpkg_bytes(collection: Collection, positions: np.ndarray, synthetic: bool = False) -> bytes:
    """Return the rows as a GeoPackage file (one layer named after the collection, EPSG:4326).

    Written by the run's own GeoPackage writer (:func:`lomsong.products.tables.write_gpkg`).
    """
    table = _table(collection, positions)
    frame = gpd.GeoDataFrame(table, geometry=list(collection.geometry[positions]), crs="EPSG:4326")
    with tempfile.TemporaryDirectory(prefix="lomsong-gpkg-") as folder:
        path = Path(folder) / f"{collection.id}.gpkg"
        write_gpkg(
            frame,
            path,
            layer=collection.id,
            identifier=collection.title,
            description=collection.description,
            synthetic=synthetic,
        )
        return path.read_bytes()


def download_name(collection_id: str, query: FeatureQuery, synthetic: bool, extension: str) -> str:
    """Return a file name telling what is inside, e.g. ``gaps_viettel_4G.csv``."""
    parts = [collection_id]
    for value in (
        query.period,
        query.operator,
        query.technology,
        query.commune,
        query.district,
        query.evidence,
        query.state,
    ):
        if value:
            parts.append(fold(value).replace(" ", "-"))
    if synthetic:
        parts.append("synthetic")
    safe = "_".join(parts)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in safe)[:120]
    if query.technology:
        safe = safe.replace(f"_{query.technology.lower()}", f"_{query.technology}")
    return f"{safe}.{extension}"


def content_disposition(filename: str) -> str:
    """Return an ``attachment`` Content-Disposition header value for ``filename``."""
    return f'attachment; filename="{filename}"'


# ----------------------------------------------------------------------------------------------
# Schemas (OGC API - Features Part 5 style: /schema and /queryables)

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


# ----------------------------------------------------------------------------------------------
# Single items and summaries


def commune_detail(prepared: PreparedResults, code: str) -> dict[str, Any]:
    """Return one commune: its views (summary rows) and the gaps touching it.

    Parameters
    ----------
    prepared : PreparedResults
    code : str
        GSO commune code, or a commune name (diacritics optional) naming exactly one commune.

    Returns
    -------
    dict
    """
    communes = prepared.collection("communes")
    found = prepared.places.communes(code)
    if found.empty:
        raise NotFoundError(f"no commune {code!r} in this run", field="code")
    codes = found["commune_code"].unique()
    if len(codes) > 1:
        raise QueryError(
            f"{code!r} names {len(codes)} communes ({', '.join(codes)}); use the GSO code",
            code="ambiguous_commune",
            field="code",
        )
    commune_code = str(codes[0])
    rows = np.flatnonzero(
        (communes.frame["commune_code"].astype("string") == commune_code).to_numpy(bool, na_value=False)
    )
    first = found.iloc[0]
    gaps = prepared.collection("gaps")
    gap_rows = select(gaps, FeatureQuery(commune=commune_code), prepared.places)
    views = orjson.loads("[" + _join(communes.properties[rows]) + "]")
    return {
        "commune_code": commune_code,
        "commune": first.get("commune"),
        "district_code": first.get("district_code"),
        "district": first.get("district"),
        "population": views[0].get("population") if views else None,
        "synthetic": prepared.synthetic,
        "views": views,
        "gaps": orjson.loads("[" + _join(gaps.properties[gap_rows]) + "]"),
    }


def operator_label(operator: str) -> str:
    """Return the display name of a view operator."""
    return display_name(operator)


def html_page(title: str, body: str, synthetic: bool = False) -> bytes:
    """Return a small self-contained HTML page (Vietnamese first; no external assets)."""
    banner = (
        '<p style="background:#ffe9a8;padding:.5em"><b>Dữ liệu mô phỏng (synthetic data)</b>: '
        "không phải đo thực tế.</p>"
        if synthetic
        else ""
    )
    page_text = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{banner}{body}</body></html>"
    )
    return page_text.encode("utf-8")


def html_links(links: Iterable[Mapping[str, str]]) -> str:
    """Return an HTML list of links."""
    items = "".join(
        f'<li><a href="{html.escape(link["href"])}">{html.escape(link.get("title") or link["rel"])}</a> '
        f"({html.escape(link['rel'])}, {html.escape(link.get('type', ''))})</li>"
        for link in links
    )
    return f"<ul>{items}</ul>"


def html_table(collection: Collection, positions: np.ndarray, item_href: str | None = None) -> str:
    """Return an HTML table of the rows (feature ids linked to ``item_href.format(id)``)."""
    table = _table(collection, positions)
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["id", *table.columns])
    ids = collection.feature_ids[positions]
    cells = table.astype(object).where(table.notna(), "").astype(str).map(html.escape)
    id_cells = [
        f'<a href="{html.escape(item_href.format(fid))}">{html.escape(fid)}</a>' if item_href else html.escape(fid)
        for fid in ids.tolist()
    ]
    cells.insert(0, "id", id_cells)
    rows = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in cells.to_numpy().tolist())
    return f"<table><tr>{header}</tr>{rows}</table>"


__all__ = [
    "COLLECTION_IDS",
    "DEFAULT_LIMIT",
    "DOWNLOAD_FORMATS",
    "GAP_SCHEMA",
    "ITEMS_MAX_LIMIT",
    "MAX_LIMIT",
    "MEDIA_TYPES",
    "Collection",
    "FeatureQuery",
    "NotFoundError",
    "PlaceIndex",
    "PreparedResults",
    "QueryError",
    "collection_queryables",
    "collection_schema",
    "commune_detail",
    "feature_schema",
    "content_disposition",
    "csv_bytes",
    "download_name",
    "feature_bytes",
    "feature_collection_bytes",
    "feature_collection_chunks",
    "gpkg_bytes",
    "html_links",
    "html_page",
    "html_table",
    "make_collection",
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
    "select",
    "xlsx_bytes",
]
