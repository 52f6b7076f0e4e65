"""Writing the answer: GeoJSON and JSON pages joined from pre-serialised features, and the downloads
(CSV, Excel, GeoPackage) written by the run's own writers (:mod:`lomsong.products.tables`).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd

from api.errors import NotFoundError, QueryError
from api.prepare import Collection, PreparedResults
from api.query import FeatureQuery, select
from lomsong._text import fold
from lomsong.operators import display_name
from lomsong.products.tables import SYNTHETIC_NOTE_VI, tidy_table, write_gpkg, write_table_csv
from lomsong.products.workbook import Sheet, readable_values, write_workbook

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

#: Features per chunk of a streamed page: the server holds one chunk's text at a time, not the page's.
STREAM_CHUNK = 2_000

def join_texts(parts: np.ndarray) -> str:
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
    body = f'{head_text},"features":[{join_texts(collection.features[positions])}]}}'
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
        yield (separator + join_texts(collection.features[positions[start : start + chunk]])).encode("utf-8")
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
    body = f'{head_text},"items":[{join_texts(collection.properties[positions])}]}}'
    return body.encode("utf-8")

def feature_bytes(collection: Collection, position: int, links: list[dict[str, str]] | None = None) -> bytes:
    """Return one GeoJSON Feature (with ``links`` when given)."""
    text = collection.features[position]
    if links:
        text = text[:-1] + ',"links":' + orjson.dumps(links).decode("utf-8") + "}"
    return text.encode("utf-8")

def table_rows(collection: Collection, positions: np.ndarray) -> pd.DataFrame:
    """The rows as people read them in a download: rounded like the run's own CSV and XLSX files."""
    frame = collection.frame.iloc[positions].reset_index(drop=True)
    return tidy_table(frame, list(frame.columns))

def csv_bytes(collection: Collection, positions: np.ndarray, synthetic: bool = False) -> bytes:
    """Return the rows as UTF-8 CSV with the machine column names and the ``synthetic`` column.

    Written by the run's own CSV writer (:func:`lomsong.products.tables.write_table_csv`): the same
    rounding, the same trailing ``synthetic`` column. No geometry; gaps keep their centroid.
    """
    buffer = io.StringIO()
    write_table_csv(table_rows(collection, positions), None, buffer, synthetic=synthetic)
    return buffer.getvalue().encode("utf-8-sig")

def xlsx_bytes(collection: Collection, positions: np.ndarray, meta: Mapping[str, Any], synthetic: bool) -> bytes:
    """Return an Excel workbook written like the run's own (:mod:`lomsong.products.workbook`).

    Sheets: the rows with the glossary's Vietnamese headers, a sheet about the run, the legend.
    """
    table = readable_values(table_rows(collection, positions))
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
    table = table_rows(collection, positions)
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
    views = orjson.loads("[" + join_texts(communes.properties[rows]) + "]")
    return {
        "commune_code": commune_code,
        "commune": first.get("commune"),
        "district_code": first.get("district_code"),
        "district": first.get("district"),
        "population": views[0].get("population") if views else None,
        "synthetic": prepared.synthetic,
        "views": views,
        "gaps": orjson.loads("[" + join_texts(gaps.properties[gap_rows]) + "]"),
    }

def operator_label(operator: str) -> str:
    """Return the display name of a view operator."""
    return display_name(operator)
