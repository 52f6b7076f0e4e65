"""SYNTHETIC claimed-coverage maps for the demo: one 4G claim per operator that over-claims somewhere.

Each operator "publishes" as its 4G service area a disk of :data:`CLAIM_RADIUS_KM` around every
simulated 4G site on air at the claim date, clipped to the province: generous where the hills cut
the signal short, so the fringes hold over-claims. Viettel, VinaPhone and MobiFone also claim the
whole of the under-served communes (:data:`lomsong.simulate.demo.UNDERSERVED_COMMUNES`), where they
have one site at most: the over-claim the demo is built to show. Places nobody measured stay
``unverified``. The files say ``synthetic`` in their name, in every feature and in the collection's
description.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from lomsong import paths
from lomsong.reference.boundaries import METRIC_CRS, STORAGE_CRS
from lomsong.simulate.demo import UNDERSERVED_COMMUNES

#: Radius claimed around each 4G site (km).
CLAIM_RADIUS_KM = 4.0
#: Operators that also claim the whole of the under-served communes.
OVER_CLAIMING_OPERATORS = ("viettel", "vinaphone", "mobifone")
#: Publication date of the synthetic claim maps.
DEMO_CLAIM_DATE = "2026-07-01"
SYNTHETIC_NOTE = "SYNTHETIC claimed coverage (dữ liệu mô phỏng), made by the lomsong simulator for the demo"


def make_claims(
    sites: pd.DataFrame,
    communes: gpd.GeoDataFrame,
    *,
    claim_date: str = DEMO_CLAIM_DATE,
    radius_km: float = CLAIM_RADIUS_KM,
) -> gpd.GeoDataFrame:
    """Return one synthetic 4G claim polygon per operator with 4G sites.

    Parameters
    ----------
    sites : pandas.DataFrame
        Simulated sites (``operator``, ``x``, ``y`` in UTM 48N, ``has_4g``, ``active_from``,
        ``active_until``), as :func:`lomsong.simulate.demo.write_sites` writes them.
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    claim_date : str
        Publication date: sites switched on later, or off air by then, are not claimed around.
    radius_km : float
        Radius claimed around each site.

    Returns
    -------
    geopandas.GeoDataFrame
        ``operator``, ``technology`` (4G), ``claim_date``, ``synthetic`` (True), ``note``;
        MultiPolygons, EPSG:4326.
    """
    when = pd.Timestamp(claim_date, tz="UTC")
    active_from = pd.to_datetime(sites["active_from"], utc=True)
    active_until = pd.to_datetime(sites["active_until"], utc=True)
    on_air = (active_from.isna() | (active_from <= when)) & (active_until.isna() | (active_until > when))
    with_4g = sites["has_4g"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
    chosen = sites[on_air.to_numpy() & with_4g]
    metric = communes.to_crs(METRIC_CRS)
    province = shapely.union_all(metric.geometry.values)
    underserved = shapely.union_all(
        metric.loc[metric["commune_code"].astype(str).isin(UNDERSERVED_COMMUNES), "geometry"].values
    )
    rows, geometries = [], []
    for operator, own in chosen.groupby("operator", sort=True):  # a loop over operators
        disks = shapely.buffer(
            shapely.points(own["x"].to_numpy("float64"), own["y"].to_numpy("float64")), radius_km * 1000
        )
        area = shapely.union_all(disks)
        note = f"{SYNTHETIC_NOTE}: {radius_km:g} km around each 4G site"
        if operator in OVER_CLAIMING_OPERATORS:
            area = shapely.union(area, underserved)
            note += " and the whole of the under-served communes"
        geometries.append(shapely.intersection(area, province))
        rows.append(
            {"operator": operator, "technology": "4G", "claim_date": claim_date, "synthetic": True, "note": note}
        )
    frame = gpd.GeoDataFrame(rows, geometry=geometries, crs=METRIC_CRS).to_crs(STORAGE_CRS)
    frame["geometry"] = shapely.set_precision(frame.geometry.values, 1e-6)
    return frame[~shapely.is_empty(frame.geometry.values)].reset_index(drop=True)


def demo_claims_dir() -> Path:
    """Return the folder of the synthetic demo claim maps (``data/claims/``)."""
    return paths.data_dir() / "claims"


def demo_claim_files(folder: str | Path | None = None) -> list[Path]:
    """Return the synthetic demo claim maps that exist, sorted by name."""
    folder = Path(folder) if folder else demo_claims_dir()
    return sorted(folder.glob("daknong_synthetic_claims_*.geojson")) if folder.is_dir() else []


def write_claims(claims: gpd.GeoDataFrame, folder: str | Path) -> list[Path]:
    """Write one GeoJSON per operator × technology (``daknong_synthetic_claims_<op>_<tech>.geojson``).

    Returns
    -------
    list of Path
        The files written.
    """
    import pyogrio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for (operator, technology), rows in claims.groupby(["operator", "technology"], sort=True):
        path = folder / f"daknong_synthetic_claims_{operator}_{technology}.geojson"
        temporary = path.with_name(f".{path.name}.tmp")
        pyogrio.write_dataframe(
            rows.reset_index(drop=True),
            temporary,
            driver="GeoJSON",
            layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "6", "DESCRIPTION": SYNTHETIC_NOTE},
        )
        temporary.replace(path)
        written.append(path)
    return written


def ensure_demo_claims(sites_file: str | Path, communes: gpd.GeoDataFrame, *, force: bool = False) -> list[Path]:
    """Write the synthetic demo claim maps from the simulated sites, unless they are there.

    Parameters
    ----------
    sites_file : path
        The simulated sites CSV (``data/villages/daknong_synthetic_sites.csv``).
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    force : bool
        Write them again.

    Returns
    -------
    list of Path
    """
    existing = demo_claim_files()
    if existing and not force:
        return existing
    sites = pd.read_csv(sites_file)
    claims = make_claims(sites, communes)
    return write_claims(claims, demo_claims_dir())


__all__ = [
    "CLAIM_RADIUS_KM",
    "DEMO_CLAIM_DATE",
    "demo_claim_files",
    "demo_claims_dir",
    "ensure_demo_claims",
    "make_claims",
    "write_claims",
]
