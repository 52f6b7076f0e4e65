"""Readers of operators' claimed-coverage maps: polygons or a classified GeoTIFF → claim rows.

Formats (by content, not name):

=================== =====================================================================
GeoJSON             ``.geojson`` / ``.json`` FeatureCollection
KML / KMZ           Google Earth (a KMZ is read through its ``doc.kml``)
zipped shapefile    a ``.zip`` holding one ``.shp`` with its ``.dbf``, ``.shx``, ``.prj``
GeoPackage          ``.gpkg``, first polygon layer
classified GeoTIFF  ``.tif``: each pixel a class; a class table says which technologies a
                    class claims (see :data:`DEFAULT_CLASS_TABLE`)
=================== =====================================================================

Each polygon may carry ``operator``, ``technology`` and ``claim_date`` attributes (also
``nha_mang``, ``cong_nghe``, ``ngay_cong_bo``); the options of :func:`read_claims` fill in what the
file does not say and must agree with what it does. Every claim needs a date. A file that cannot be
used raises :class:`lomsong.errors.ReaderError` with a one-line message naming the file, the
feature and the field.

Class table of a GeoTIFF
    A CSV with columns ``value`` and ``technology`` (one or more of 2G, 3G, 4G, 5G, ``;``-joined,
    or ``none``), given with ``class_table=`` or found beside the raster as
    ``<name>.classes.csv``. Without one, :data:`DEFAULT_CLASS_TABLE` applies: the pixel value is
    the generation claimed (2 = 2G, 3 = 3G, 4 = 4G, 5 = 5G), 0 and nodata claim nothing.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from lomsong.errors import ReaderError
from lomsong.operators import operator_from_name
from lomsong.readers._parse import file_sha256
from lomsong.readers.base import IngestReport
from lomsong.settings import TECHNOLOGIES
from lomsong.tables.claims import STORAGE_CRS, claims_for_storage, conform_claims

#: Pixel value → technologies claimed, when a GeoTIFF comes without a class table.
DEFAULT_CLASS_TABLE: dict[int, tuple[str, ...]] = {2: ("2G",), 3: ("3G",), 4: ("4G",), 5: ("5G",)}

#: Attribute names accepted for each claim field (lower-case, Vietnamese without diacritics too).
_ALIASES = {
    "operator": ("operator", "nha_mang", "nhamang", "carrier"),
    "technology": ("technology", "cong_nghe", "congnghe", "tech", "rat"),
    "claim_date": ("claim_date", "ngay_cong_bo", "ngay", "date", "published"),
}

#: Format names recorded in the ledger.
FORMATS = ("claims_geojson", "claims_kml", "claims_kmz", "claims_shapefile", "claims_gpkg", "claims_geotiff")


@dataclass
class ClaimReading:
    """A claim file read and validated, in the shape the store keeps (:class:`StoredReading`).

    Attributes
    ----------
    path : Path
        The file.
    sha256 : str
        Hash of its bytes.
    claims : geopandas.GeoDataFrame
        Canonical claim rows (:data:`lomsong.tables.claims.CLAIM_SCHEMA`).
    report : IngestReport
        ``kind="claims"``; ``rows_read`` = features (or classes), ``accepted`` = claim rows,
        ``rejected`` = features without area.
    """

    path: Path
    sha256: str
    claims: gpd.GeoDataFrame
    report: IngestReport = field(repr=False)

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Yield the claim rows as one Parquet-ready frame (geometry as WKB)."""
        yield claims_for_storage(self.claims)


def claim_format(path: Path) -> str:
    """Return the claim format of a file from its first bytes (and, for zips, their members)."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "claims_geotiff"
    if head.startswith(b"SQLite format 3"):
        return "claims_gpkg"
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as archive:
                names = [n.lower() for n in archive.namelist()]
        except zipfile.BadZipFile:
            raise ReaderError(
                f"{path}: feature 0: expected a zip archive (KMZ or zipped shapefile); it is damaged"
            ) from None
        if any(n.endswith(".kml") for n in names):
            return "claims_kmz"
        if any(n.endswith(".shp") for n in names):
            return "claims_shapefile"
        raise ReaderError(f"{path}: feature 0: the zip holds neither a .kml (KMZ) nor a .shp (zipped shapefile)")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"{"):
        return "claims_geojson"
    if text.startswith(b"<?xml") or text.startswith(b"<kml"):
        return "claims_kml"
    raise ReaderError(
        f"{path}: feature 0: expected a claimed-coverage map (GeoJSON, KML/KMZ, zipped shapefile, GeoPackage "
        "or GeoTIFF)"
    )


def _parse_date(value: object, where: str) -> str:
    """Return a claim date as ``YYYY-MM-DD`` or raise naming ``where``."""
    if isinstance(value, dt.date | pd.Timestamp):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    text = str(value).strip()
    try:
        stamp = pd.Timestamp(text) if text else None
    except (ValueError, TypeError):
        stamp = None
    if stamp is None or pd.isna(stamp):
        raise ReaderError(f"{where}: claim_date: expected a date such as 2026-07-01, got {text!r}")
    return stamp.strftime("%Y-%m-%d")


def _canonical_technology(value: object, where: str) -> str:
    text = str(value).strip().upper().replace("LTE", "4G").replace("NR", "5G")
    if text not in TECHNOLOGIES:
        raise ReaderError(f"{where}: technology: expected one of {', '.join(TECHNOLOGIES)}, got {value!r}")
    return text


def _attribute(frame: pd.DataFrame, name: str) -> pd.Series | None:
    lower = {str(c).lower(): c for c in frame.columns if c != "geometry"}
    for alias in _ALIASES[name]:
        if alias in lower:
            return frame[lower[alias]]
    return None


def _fill(frame: pd.DataFrame, name: str, option: str | None, path: Path, canonical, required_hint: str) -> np.ndarray:
    """Per-feature values of a claim field: the file's attribute where set, else the option.

    A feature whose attribute disagrees with the option, or that has neither, raises naming it.
    """
    given = _attribute(frame, name)
    n = len(frame)
    values = np.full(n, None, dtype=object)
    if given is not None:
        text = given.astype("string").str.strip()
        present = (text.fillna("") != "").to_numpy()
        # each distinct written value is checked once, and named by the first feature holding it
        firsts = pd.Series(np.arange(n))[present].groupby(text[present].to_numpy()).first()
        mapped = {raw: canonical(raw, f"{path}: feature {int(first) + 1}") for raw, first in firsts.items()}
        values[present] = text[present].map(mapped).to_numpy(object)
        if option is not None:
            clash = present & (values != option)
            if clash.any():
                first = int(np.flatnonzero(clash)[0])
                raise ReaderError(
                    f"{path}: feature {first + 1}: {name}: the file says {values[first]!r}, the option says {option!r}"
                )
    if option is not None:
        values[values == None] = option  # noqa: E711  (elementwise on an object array)
    missing = values == None  # noqa: E711
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise ReaderError(f"{path}: feature {first + 1}: {name}: missing; {required_hint}")
    return values


def _read_vector(path: Path, fmt: str) -> gpd.GeoDataFrame:
    source = str(path)
    if fmt == "claims_shapefile":
        source = f"/vsizip/{path}"
    elif fmt == "claims_kmz":
        with zipfile.ZipFile(path) as archive:
            kml = next(n for n in archive.namelist() if n.lower().endswith(".kml"))
        source = f"/vsizip/{path}/{kml}"
    try:
        layers = pyogrio.list_layers(source)
        polygonal = [name for name, kind in layers if kind is None or "polygon" in str(kind).lower()]
        layer = polygonal[0] if polygonal else (layers[0][0] if len(layers) else None)
        frame = pyogrio.read_dataframe(source, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError, StopIteration) as exc:
        raise ReaderError(f"{path}: feature 0: cannot read the claim map: {str(exc).splitlines()[0]}") from None
    if frame.crs is None:
        bounds = frame.total_bounds if len(frame) else np.zeros(4)
        if not (-180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90):
            raise ReaderError(f"{path}: feature 0: geometry: no coordinate system and the coordinates are not lon/lat")
        frame = frame.set_crs(STORAGE_CRS)
    return frame.to_crs(STORAGE_CRS)


def _polygons_only(frame: gpd.GeoDataFrame, path: Path) -> tuple[gpd.GeoDataFrame, int]:
    """Keep the polygonal part of each feature (repaired); count features with no area."""
    geometry = shapely.make_valid(frame.geometry.values)
    kind = shapely.get_type_id(geometry)
    is_collection = kind == 7
    if is_collection.any():  # a repaired polygon can become a collection with stray lines
        parts = geometry[is_collection]
        geometry[is_collection] = [
            shapely.union_all([g for g in shapely.get_parts(p) if shapely.get_type_id(g) in (3, 6)]) for p in parts
        ]
        kind = shapely.get_type_id(geometry)
    not_polygon = ~np.isin(kind, [3, 6]) & ~shapely.is_empty(geometry)
    if not_polygon.all() and len(frame):
        first = int(np.flatnonzero(not_polygon)[0])
        raise ReaderError(
            f"{path}: feature {first + 1}: geometry: expected Polygon or MultiPolygon areas, got "
            f"{shapely.get_type_id(geometry[first])} ({frame.geometry.values[first].geom_type})"
        )
    usable = np.isin(kind, [3, 6]) & ~shapely.is_empty(geometry)
    kept = frame.assign(geometry=geometry)[usable]
    return kept, int((~usable).sum())


def _class_table(path: Path, class_table: str | Path | None) -> dict[int, tuple[str, ...]]:
    candidate = Path(class_table) if class_table else path.with_suffix(".classes.csv")
    if class_table is None and not candidate.exists():
        return DEFAULT_CLASS_TABLE
    if not candidate.exists():
        raise ReaderError(f"{candidate}: row 0: class table not found")
    table = pd.read_csv(candidate, dtype=str, keep_default_na=False)
    lower = {c.strip().lower(): c for c in table.columns}
    if "value" not in lower or "technology" not in lower:
        raise ReaderError(f"{candidate}: row 1: expected columns value and technology, got {', '.join(table.columns)}")
    out: dict[int, tuple[str, ...]] = {}
    for row, (value, techs) in enumerate(zip(table[lower["value"]], table[lower["technology"]], strict=True), start=2):
        where = f"{candidate}: row {row}"
        try:
            code = int(value)
        except ValueError:
            raise ReaderError(f"{where}: value: expected a whole number, got {value!r}") from None
        names = [t for t in str(techs).replace(",", ";").split(";") if t.strip() and t.strip().lower() != "none"]
        out[code] = tuple(_canonical_technology(t, where) for t in names)
    return out


def _read_geotiff(
    path: Path, class_table: str | Path | None, technology: str | None
) -> tuple[gpd.GeoDataFrame, int, str | None]:
    """Polygonise a classified raster: one MultiPolygon per technology claimed by some class."""
    import rasterio
    import rasterio.features

    classes = _class_table(path, class_table)
    try:
        with rasterio.open(path) as raster:
            band = raster.read(1)
            nodata = raster.nodata
            transform, crs = raster.transform, raster.crs
            stamp = raster.tags().get("TIFFTAG_DATETIME") or raster.tags().get("CLAIM_DATE")
    except rasterio.errors.RasterioIOError as exc:
        raise ReaderError(f"{path}: feature 0: cannot read the GeoTIFF: {exc}") from None
    if crs is None:
        raise ReaderError(f"{path}: feature 0: geometry: the GeoTIFF has no coordinate system")
    valid = np.ones(band.shape, dtype=bool) if nodata is None else band != nodata
    present = np.unique(band[valid])
    unknown = [int(v) for v in present if int(v) != 0 and int(v) not in classes]
    if unknown:
        raise ReaderError(
            f"{path}: feature 0: class {unknown[0]}: not in the class table; list it in "
            f"{path.with_suffix('.classes.csv').name} (value,technology)"
        )
    wanted = [technology] if technology else sorted({t for techs in classes.values() for t in techs})
    rows, geometries = [], []
    for tech in wanted:  # a loop over technologies (at most four)
        codes = [code for code, techs in classes.items() if tech in techs]
        mask = valid & np.isin(band, codes)
        if not mask.any():
            continue
        shapes = [
            shapely.geometry.shape(g)
            for g, _ in rasterio.features.shapes(mask.astype("uint8"), mask=mask, transform=transform)
        ]
        geometries.append(shapely.union_all(shapes))
        rows.append(tech)
    frame = gpd.GeoDataFrame({"technology": rows}, geometry=geometries, crs=crs).to_crs(STORAGE_CRS)
    date = None
    if stamp:
        date = stamp.strip().replace(":", "-", 2)[:10]
    return frame, len(present), date


def read_claims(
    path: str | Path,
    *,
    operator: str | None = None,
    technology: str | None = None,
    claim_date: str | dt.date | None = None,
    class_table: str | Path | None = None,
    synthetic: bool | None = None,
    sha256: str | None = None,
) -> ClaimReading:
    """Read one claimed-coverage map into canonical claim rows.

    Parameters
    ----------
    path : str or Path
        The claim file (see the module docstring for the formats).
    operator : str, optional
        Operator of features whose file does not say (id, name or PLMN).
    technology : str, optional
        Technology of features whose file does not say (2G, 3G, 4G, 5G); for a GeoTIFF, keep
        only the pixels claiming it.
    claim_date : str or date, optional
        Publication date of features whose file does not say (a GeoTIFF's ``TIFFTAG_DATETIME``
        counts as saying).
    class_table : path, optional
        A GeoTIFF's class table (default ``<name>.classes.csv`` beside it, else
        :data:`DEFAULT_CLASS_TABLE`).
    synthetic : bool, optional
        Label the claim simulated; default: the file name says ``synthetic``.
    sha256 : str, optional
        The file's sha256 when already known.

    Returns
    -------
    ClaimReading

    Raises
    ------
    ReaderError
        The file is missing or not a claim map, a feature lacks an operator, technology or date,
        or a value is not valid; the message names the file, feature and field.
    """
    path = Path(path)
    if not path.is_file():
        raise ReaderError(f"{path}: feature 0: expected a readable claim file; it does not exist")
    operator_id = None
    if operator is not None:
        operator_id = operator_from_name(operator)
        if operator_id is None:
            raise ReaderError(f"{path}: feature 0: operator: unknown operator {operator!r}")
    tech = _canonical_technology(technology, f"{path}: feature 0") if technology else None
    date = _parse_date(claim_date, f"{path}: feature 0") if claim_date else None
    fmt = claim_format(path)
    if fmt == "claims_geotiff":
        frame, read, raster_date = _read_geotiff(path, class_table, tech)
        date = date or raster_date
        rejected = 0
        if frame.empty:
            raise ReaderError(f"{path}: feature 0: technology: no pixel claims {tech or 'any technology'}")
    else:
        frame = _read_vector(path, fmt)
        read = len(frame)
        if frame.empty:
            raise ReaderError(f"{path}: feature 0: geometry: the file holds no features")
        frame, rejected = _polygons_only(frame, path)

    def operator_of(raw: str, where: str) -> str:
        found = operator_from_name(raw)
        if found is None:
            raise ReaderError(f"{where}: operator: unknown operator {raw!r}")
        return found

    hint_operator = "give --operator or an operator column"
    hint_tech = "give --technology or a technology column"
    hint_date = "give --claim-date or a claim_date column"
    operators = _fill(frame, "operator", operator_id, path, operator_of, hint_operator)
    technologies = _fill(frame, "technology", tech, path, _canonical_technology, hint_tech)
    dates = _fill(frame, "claim_date", date, path, _parse_date, hint_date)
    is_synthetic = ("synthetic" in path.name.lower()) if synthetic is None else bool(synthetic)
    sha = sha256 or file_sha256(path)
    claims = conform_claims(
        gpd.GeoDataFrame(
            {
                "operator": operators,
                "technology": technologies,
                "claim_date": dates,
                "source_file": path.name,
                "sha256": sha,
                "feature": np.arange(1, len(frame) + 1),
                "synthetic": is_synthetic,
            },
            geometry=frame.geometry.values,
            crs=STORAGE_CRS,
        )
    )
    report = IngestReport(
        file=str(path),
        format=fmt,
        sha256=sha,
        rows_read=int(read),
        accepted=len(claims),
        rejected={"no_area": rejected} if rejected else {},
        kind="claims",
        synthetic=is_synthetic,
    )
    if fmt == "claims_geotiff":
        report.rows_read = len(claims)  # classes polygonised into one row per technology
    return ClaimReading(path, sha, claims, report)
