"""Claimed coverage: the canonical table of operators' published service areas.

QCVN 36:2022/BTTTT and QCVN 81:2019/BTTTT (Annex B) require each operator to publish its service
area per technology as a digital map. The readers (:mod:`lomsong.readers.claims`) turn such a map
(polygons, or a classified GeoTIFF) into rows of :data:`CLAIM_SCHEMA`; the store keeps them
(:meth:`lomsong.tables.store.MeasurementStore.read_claims`) and the analysis compares them with the
measurements (:mod:`lomsong.analysis.claims`).

One row is one claimed (Multi)Polygon of one operator × technology, EPSG:4326. A claim map is
identified by its file's sha256; :func:`latest_claims` keeps, per operator × technology, the map
with the latest claim date (the latest stored one on a tie).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: Claim table: (column, meaning).
CLAIM_SCHEMA: list[tuple[str, str]] = [
    ("operator", "operator id: viettel, vinaphone, mobifone, vietnamobile, gmobile"),
    ("technology", "technology claimed: 2G, 3G, 4G or 5G"),
    ("claim_date", "the date the operator published the map (YYYY-MM-DD)"),
    ("source_file", "the claim file's name"),
    ("sha256", "sha256 of the claim file's bytes (identifies the claim map)"),
    ("feature", "1-based position of the feature (or raster class) in the file"),
    ("synthetic", "true when the claim map was simulated (demo data)"),
    ("geometry", "claimed area, Polygon or MultiPolygon, EPSG:4326"),
]
CLAIM_COLUMNS = [name for name, _ in CLAIM_SCHEMA]

#: Claim states of a cell in a view, in the order of their integer codes.
CLAIM_STATES = ["not_claimed", "verified", "over_claim", "unverified", "under_claim"]
NOT_CLAIMED, VERIFIED, OVER_CLAIM, UNVERIFIED, UNDER_CLAIM = range(5)

STORAGE_CRS = "EPSG:4326"


def empty_claims() -> gpd.GeoDataFrame:
    """Return an empty claim table with the canonical columns and dtypes."""
    return conform_claims(gpd.GeoDataFrame({c: [] for c in CLAIM_COLUMNS[:-1]}, geometry=[], crs=STORAGE_CRS))


def conform_claims(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return ``frame`` with exactly :data:`CLAIM_COLUMNS`, canonical dtypes, EPSG:4326.

    A ``geometry`` column of WKB bytes (as stored in Parquet) is decoded.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Claim rows.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name == "geometry":
        claims = frame if frame.crs is not None else frame.set_crs(STORAGE_CRS)
        claims = claims.to_crs(STORAGE_CRS)
    else:
        values = frame["geometry"].to_numpy(object) if "geometry" in frame else np.empty(0, dtype=object)
        geometry = shapely.from_wkb(values) if len(values) and isinstance(values[0], bytes) else values
        claims = gpd.GeoDataFrame(frame.drop(columns="geometry", errors="ignore"), geometry=geometry, crs=STORAGE_CRS)
    out = pd.DataFrame(index=claims.index)
    for name in CLAIM_COLUMNS[:-1]:
        column = claims[name] if name in claims else pd.Series(pd.NA, index=claims.index)
        if name == "feature":
            out[name] = column.astype("int64") if len(column) else column.astype("int64")
        elif name == "synthetic":
            out[name] = column.fillna(False).astype(bool)
        else:
            out[name] = column.astype("string")
    return gpd.GeoDataFrame(out, geometry=claims.geometry.values, crs=STORAGE_CRS).reset_index(drop=True)


def claims_for_storage(claims: gpd.GeoDataFrame) -> pd.DataFrame:
    """Return the claim table with WKB geometry, as the store writes it to Parquet."""
    plain = pd.DataFrame(conform_claims(claims).drop(columns="geometry"))
    plain["geometry"] = shapely.to_wkb(claims.geometry.values)
    return plain


def latest_claims(claims: gpd.GeoDataFrame, order: pd.Series | None = None) -> gpd.GeoDataFrame:
    """Keep, per operator × technology, only the claim map with the latest claim date.

    Parameters
    ----------
    claims : geopandas.GeoDataFrame
        Claim rows of several maps (:data:`CLAIM_SCHEMA`).
    order : pandas.Series, optional
        Position of each map (indexed by ``sha256``; larger = stored later), breaking ties
        between maps with the same claim date. Without it, the map that comes last in ``claims``.

    Returns
    -------
    geopandas.GeoDataFrame
        The rows of the chosen maps, in their original order.
    """
    if claims.empty:
        return conform_claims(claims)
    sha = claims["sha256"].astype(str)
    if order is None:
        position = pd.Series(np.arange(len(claims)), index=claims.index).groupby(sha).transform("max")
    else:
        position = sha.map(order).fillna(-1)
    keys = pd.DataFrame(
        {
            "operator": claims["operator"].astype(str),
            "technology": claims["technology"].astype(str),
            "claim_date": claims["claim_date"].astype(str),
            "position": position.to_numpy(),
            "sha256": sha,
        }
    )
    best = keys.sort_values(["claim_date", "position"]).groupby(["operator", "technology"]).tail(1)
    chosen = keys.merge(
        best[["operator", "technology", "sha256"]], on=["operator", "technology", "sha256"], how="left", indicator=True
    )
    keep = (chosen["_merge"] == "both").to_numpy()
    return conform_claims(claims[keep])


#: Claimed coverage against the measurements (``claims.csv``, ``claims.parquet``): one row per
#: claim view (operator × technology, and the operator's ``any``) and place: the province, each
#: 2025 unit and each 2019 commune. (column, meaning)
CLAIM_SUMMARY_SCHEMA: list[tuple[str, str]] = [
    ("operator", "operator whose claim this is"),
    ("technology", "technology claimed (2G … 5G), or any: the union of the operator's claims"),
    ("claim_date", "date of the claim map used (the latest per operator × technology); ';'-joined for any"),
    ("level", "province (the whole province), unit_2025 (a unit of Lâm Đồng since 2025-07-01) or commune (2019)"),
    ("unit_2025_code", "code of the 2025 unit (on unit rows, and on commune rows: the commune's unit)"),
    ("unit_2025", "its name"),
    ("commune_code", "GSO code of the 2019 commune (empty on province and unit rows)"),
    ("commune", "its name"),
    ("district_code", "its district's GSO code"),
    ("district", "its district"),
    ("population", "people living in the commune (or the province)"),
    ("claimed_km2", "area the operator claims to cover (cells whose centre is inside the claim, km²)"),
    ("claimed_people", "people living in the claimed cells"),
    ("verified_people", "of them, in cells measured covered"),
    ("verified_km2", "area of those cells (km²)"),
    ("over_claim_people", "of them, in cells measured weak with enough evidence (over-claimed)"),
    ("over_claim_km2", "area of those cells (km²)"),
    ("unverified_people", "of them, in cells without enough evidence (no data or too few samples)"),
    ("unverified_km2", "area of those cells (km²)"),
    ("under_claim_people", "people in cells measured covered that the operator does not claim"),
    ("under_claim_km2", "area of those cells (km²)"),
    ("share_claimed_people_verified", "verified_people / claimed_people"),
    ("n_challenges", "over-claim areas (challenges) of the claim view touching the commune (technology views only)"),
]
CLAIM_SUMMARY_COLUMNS = [name for name, _ in CLAIM_SUMMARY_SCHEMA]

#: Challenges (``challenges.geojson``, ``challenges.parquet``): connected over-claim areas of one
#: operator × technology, with their evidence. EPSG:4326. (column, meaning)
CHALLENGE_SCHEMA: list[tuple[str, str]] = [
    ("challenge_id", "stable id: operator-technology-oc-<hash of the area's H3 cells>"),
    ("operator", "operator whose claim is challenged"),
    ("technology", "technology claimed"),
    ("claim_date", "date of the claim map challenged"),
    ("rank", "rank within the operator × technology by population, 1 = most people"),
    ("population", "people living in the over-claimed area"),
    ("area_km2", "its area (km², UTM 48N)"),
    ("n_cells", "H3 cells"),
    ("n_samples", "measurements of that operator × technology inside the area"),
    ("n_devices", "distinct phones that measured there"),
    ("n_days", "distinct days with measurements"),
    ("first_date", "first measurement date (YYYY-MM-DD)"),
    ("last_date", "last measurement date"),
    ("median_signal_dbm", "median signal of those measurements (dBm)"),
    ("no_service_share", "share of those measurements with no service"),
    ("commune_code", "GSO code of the commune holding most of the area's people"),
    ("commune", "its name"),
    ("district_code", "its district's GSO code"),
    ("district", "its district"),
    ("commune_codes", "every commune the area touches, ';'-joined, most people first"),
    ("communes", "their names, same order"),
    ("centroid_lon", "longitude of a point inside the area"),
    ("centroid_lat", "latitude of a point inside the area"),
    ("geometry", "Polygon or MultiPolygon, EPSG:4326"),
]
CHALLENGE_COLUMNS = [name for name, _ in CHALLENGE_SCHEMA]
