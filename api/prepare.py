"""Preparing a finished run for serving, once: one :class:`Collection` per feature table.

:func:`prepare_results` turns a :class:`lomsong.tables.results.RunResults` into
:class:`PreparedResults`: one :class:`Collection` per feature table (gaps, cells, communes,
villages, claims, predicted gaps) whose features are serialised to GeoJSON text once (vectorised
with :func:`shapely.to_geojson` and :meth:`pandas.DataFrame.to_json`), so that a request only
selects rows with boolean masks (:mod:`api.query`) and joins ready-made strings (:mod:`api.serialise`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from api.errors import NotFoundError
from api.places import PlaceIndex
from lomsong._text import fold_series
from lomsong.tables.results import (
    RunResults,
)

COLLECTION_IDS = ("communes", "gaps", "cells", "villages")

#: Decimals of every coordinate served (as in the run's own files: about 0.1 m).
COORDINATE_DECIMALS = 6

#: Attribute columns that hold coordinates (rounded like the geometries).
COORDINATE_COLUMNS = ("centroid_lon", "centroid_lat", "lon", "lat")

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
