"""Commune boundaries: load, validate, and derive districts and the province outline.

The canonical commune table is a GeoDataFrame in EPSG:4326 with the columns of
:data:`COMMUNE_COLUMNS`; metric work (areas, buffers) is done in EPSG:32648 (UTM 48N,
:data:`METRIC_CRS`). Any vector format GDAL reads (GeoJSON, GeoPackage, Shapefile or a zipped
Shapefile, GeoParquet) in any CRS loads into it; a column mapping lets other sources (GADM level
3, a national GIS layer) load too.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from lomsong import paths
from lomsong._text import fold, fold_series, nfc
from lomsong.errors import BoundaryError

STORAGE_CRS = "EPSG:4326"
METRIC_CRS = "EPSG:32648"

#: Canonical commune columns, in order.
COMMUNE_COLUMNS = [
    "commune_code",
    "commune",
    "commune_type",
    "district_code",
    "district",
    "province_code",
    "population",
    "geometry",
]
#: Kept when present in the source (used by the 2025-units report and joins).
OPTIONAL_COLUMNS = ["unit_2025", "gadm41_gid3", "pop2019_urban", "pop2019_rural"]

#: How the bundled reference file names its fields.
REFERENCE_COLUMN_MAP = {"pop2019_total": "population"}

#: A mapping for GADM 4.1 level-3 layers (no population or GSO codes there: the codes are the
#: GADM ids, and population must come from a census join).
GADM_COLUMN_MAP = {
    "GID_3": "commune_code",
    "NAME_3": "commune",
    "TYPE_3": "commune_type",
    "GID_2": "district_code",
    "NAME_2": "district",
    "GID_1": "province_code",
}



def read_communes(
    path: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Read commune boundaries into the canonical commune table.

    Parameters
    ----------
    path : str or Path, optional
        GeoJSON, GeoPackage, Shapefile (``.shp`` or ``.zip``) or GeoParquet file. Default: the
        bundled Đắk Nông communes in ``data/boundaries/``.
    column_map : mapping, optional
        Source column name → canonical name, applied before validation (e.g.
        :data:`GADM_COLUMN_MAP`). The bundled file's own names are understood without it.
    layer : str, optional
        Layer to read from a multi-layer source such as a GeoPackage.

    Returns
    -------
    geopandas.GeoDataFrame
        Canonical commune table in EPSG:4326, sorted by ``commune_code``.

    Raises
    ------
    BoundaryError
        Missing file, no CRS, missing columns, duplicate codes or empty geometries.
    """
    path = Path(path) if path else paths.boundaries_path()
    if not path.exists():
        raise BoundaryError(f"{path}: boundary file not found (run `lomsong setup` first?)")
    try:
        if path.suffix.lower() == ".parquet":
            frame = gpd.read_parquet(path)
        else:
            source = f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)
            frame = gpd.read_file(source, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio/arrow raise several types; all mean "cannot read"
        raise BoundaryError(f"{path}: cannot read as a vector layer: {exc}") from exc
    mapping = {**REFERENCE_COLUMN_MAP, **(column_map or {})}
    frame = frame.rename(columns={k: v for k, v in mapping.items() if k in frame.columns})
    # Shapefiles cut field names to 10 characters (commune_code → commune_co): undo that.
    truncated = {c[:10]: c for c in [*COMMUNE_COLUMNS, *OPTIONAL_COLUMNS] if len(c) > 10}
    frame = frame.rename(columns={k: v for k, v in truncated.items() if k in frame and v not in frame})
    return normalize_communes(frame, source=str(path))


def normalize_communes(frame: gpd.GeoDataFrame, source: str = "<data>") -> gpd.GeoDataFrame:
    """Validate a commune GeoDataFrame and bring it to the canonical form.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        Communes with (at least) the canonical columns, any CRS.
    source : str
        Name used in error messages.

    Returns
    -------
    geopandas.GeoDataFrame
        Canonical commune table in EPSG:4326.
    """
    if frame.crs is None:
        raise BoundaryError(f"{source}: the layer has no coordinate reference system")
    missing = [c for c in COMMUNE_COLUMNS if c not in frame.columns]
    if "population" in missing:
        missing.remove("population")
        frame = frame.assign(population=pd.NA)
    if missing:
        raise BoundaryError(
            f"{source}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}. "
            "Pass a column mapping (source name → canonical name) for other layouts."
        )
    frame = frame[[*COMMUNE_COLUMNS[:-1], *[c for c in OPTIONAL_COLUMNS if c in frame], "geometry"]]
    frame = frame.copy()
    for column in ("commune_code", "district_code", "province_code"):
        frame[column] = frame[column].astype("string").str.strip()
    for column in ("commune", "commune_type", "district"):
        frame[column] = frame[column].astype("string").map(nfc, na_action="ignore")
    if frame["commune_code"].isna().any():
        rows = frame.index[frame["commune_code"].isna()].tolist()[:5]
        raise BoundaryError(f"{source}: empty commune_code in feature(s) {rows}")
    duplicated = frame["commune_code"][frame["commune_code"].duplicated(keep=False)]
    if len(duplicated):
        codes = sorted(set(duplicated))[:10]
        raise BoundaryError(f"{source}: duplicate commune_code value(s): {', '.join(codes)}")
    empty = frame.geometry.isna() | frame.geometry.is_empty
    if empty.any():
        codes = frame.loc[empty, "commune_code"].tolist()[:10]
        raise BoundaryError(f"{source}: empty geometry for commune_code {', '.join(codes)}")
    frame["population"] = pd.to_numeric(frame["population"], errors="coerce").astype("Int64")
    invalid = ~frame.geometry.is_valid
    if invalid.any():
        warnings.warn(
            f"{source}: repaired {int(invalid.sum())} invalid geometr"
            f"{'y' if invalid.sum() == 1 else 'ies'} (make_valid): "
            f"{', '.join(frame.loc[invalid, 'commune_code'].tolist()[:10])}",
            stacklevel=2,
        )
        repaired = shapely.make_valid(frame.geometry.values[invalid.to_numpy()])
        frame.loc[invalid, "geometry"] = gpd.GeoSeries(repaired, crs=frame.crs).apply(_keep_polygonal).values
    frame = frame.to_crs(STORAGE_CRS)
    return gpd.GeoDataFrame(frame.sort_values("commune_code").reset_index(drop=True))


def _keep_polygonal(geometry):
    """Drop the lines and points that ``make_valid`` can leave beside the polygons."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geometry


def districts(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Dissolve communes into districts.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per district: ``district_code``, ``district``, ``n_communes``, ``population``,
        ``geometry`` (EPSG:4326).
    """
    grouped = communes.dissolve(
        by=["district_code", "district"],
        aggfunc={"commune_code": "count", "population": "sum"},
    ).reset_index()
    grouped = grouped.rename(columns={"commune_code": "n_communes"})
    return grouped[["district_code", "district", "n_communes", "population", "geometry"]]


def province(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Dissolve communes into the province outline (one row, with its population)."""
    outline = shapely.union_all(communes.geometry.values)
    return gpd.GeoDataFrame(
        {
            "province_code": [communes["province_code"].iloc[0]],
            "n_communes": [len(communes)],
            "population": [int(communes["population"].sum())],
        },
        geometry=[outline],
        crs=communes.crs,
    )


def area_km2(frame: gpd.GeoDataFrame) -> pd.Series:
    """Return each geometry's area in km², computed in UTM 48N."""
    return frame.geometry.to_crs(METRIC_CRS).area / 1e6


def find_communes(communes: gpd.GeoDataFrame, text: str) -> gpd.GeoDataFrame:
    """Find communes by name, ignoring case and diacritics.

    ``dak mil``, ``Đăk Mil``, ``DAK MIL`` and ``Đắk Mil`` all find Đắk Mil: communes whose name
    (with or without its type, e.g. "Thị trấn") or whose district contains the text, or whose
    code equals it. Communes whose own name matches come first.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table.
    text : str
        What the user typed.

    Returns
    -------
    geopandas.GeoDataFrame
        Matching communes, best matches first.
    """
    key = fold(text)
    if not key:
        return communes.iloc[0:0]
    names = fold_series(communes["commune"])
    districts_folded = fold_series(communes["district"])
    by_code = (communes["commune_code"] == text.strip()).to_numpy(bool, na_value=False)
    by_name = names.str.contains(key, regex=False).to_numpy(bool, na_value=False)
    by_district = districts_folded.str.contains(key, regex=False).to_numpy(bool, na_value=False)
    score = by_code.astype(int) * 4 + by_name.astype(int) * 2 + by_district.astype(int)
    found = communes.assign(_score=score)
    found = found[found["_score"] > 0].sort_values(["_score", "commune_code"], ascending=[False, True])
    return found.drop(columns="_score")
