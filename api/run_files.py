"""The run folder's tables a client may download whole: their names, media types and URLs.

Only the tables ``run.json`` lists are offered, by their plain name: never a path, never the map
pages or anything else in the folder (:mod:`api.files` serves them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from api.prepare import PreparedResults

#: Extensions of the tables people download → media type.
FILE_MEDIA_TYPES: dict[str, str] = {
    ".geojson": "application/geo+json",
    ".gpkg": "application/geopackage+sqlite3",
    ".csv": "text/csv; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".parquet": "application/vnd.apache.parquet",
    ".kml": "application/vnd.google-earth.kml+xml",
}
#: A plain file name: letters, digits, ``_-.``; no folder, no ``..``.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def run_files(prepared: PreparedResults) -> list[str]:
    """Return the downloadable tables of a run: the names ``run.json`` lists that exist, sorted."""
    folder = Path(prepared.results.folder)
    listed = prepared.meta.get("files")
    if not isinstance(listed, list):  # a run written before run.json listed its files
        listed = [path.name for path in folder.iterdir()]
    names = {str(name) for name in listed}
    tables = {name for name in names if _PLAIN_NAME.match(name) and Path(name).suffix in FILE_MEDIA_TYPES}
    return sorted(name for name in tables if (folder / name).is_file())


def file_url(root: str, name: str, period: str | None = None) -> str:
    """Return the URL of one run file (of a monthly run with ``period``)."""
    return f"{root}/files/{name}" + (f"?period={period}" if period else "")


def enclosure_links(
    root: str, prepared: PreparedResults, collection_id: str, period: str | None
) -> list[dict[str, Any]]:
    """Links to the run's own files of a collection (``gaps.geojson``, ``gaps.gpkg`` …): the whole table.

    A page holds ``limit`` features; these are where the complete list is (``rel="enclosure"``).
    """
    names = [name for name in run_files(prepared) if Path(name).stem == collection_id]
    return [
        {
            "rel": "enclosure",
            "type": FILE_MEDIA_TYPES[Path(name).suffix],
            "title": f"every feature: the run's {name}",
            "href": file_url(root, name, period),
        }
        for name in names
    ]


__all__ = ["FILE_MEDIA_TYPES", "enclosure_links", "file_url", "run_files"]
