"""The run folder's own files as downloads: ``/files`` lists them, ``/files/{name}`` sends one.

A paged list (``/gaps?f=geojson``) holds 100 features unless asked for more; the whole table is the
file the run wrote (``gaps.geojson``, ``gaps.gpkg``, ``villages.xlsx`` …), sent from disk as it is
(streamed, the same bytes as in the run folder). Only the tables ``run.json`` lists are served, by
their plain name: never a path, never the map pages or anything else in the folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from api.context import AppContext, context, error_responses, reader
from api.core import NotFoundError, PreparedResults
from api.keys import ApiKey
from api.responses import json_response

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
PeriodParam = Query(None, max_length=7, description="a monthly run YYYY-MM (see /periods); default: the served run")


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


def add_file_routes(app: FastAPI) -> None:
    """Register ``/files`` and ``/files/{name}`` on ``app``."""

    @app.get("/files", tags=["results"], responses=error_responses(400, 401, 404, 503))
    def files(
        request: Request,
        period: str | None = PeriodParam,
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """The run's tables as files (the whole of each list, e.g. every gap in ``gaps.geojson``)."""
        prepared = ctx.results_for(period).require()
        root = str(request.base_url).rstrip("/")
        folder = Path(prepared.results.folder)
        items: list[dict[str, Any]] = [
            {
                "name": name,
                "type": FILE_MEDIA_TYPES[Path(name).suffix],
                "bytes": (folder / name).stat().st_size,
                "href": file_url(root, name, period),
            }
            for name in run_files(prepared)
        ]
        return json_response({"synthetic": prepared.synthetic, "items": items})

    @app.get(
        "/files/{name}",
        tags=["results"],
        response_class=Response,
        responses={
            200: {"description": "the file as the run wrote it", "content": {t: {} for t in FILE_MEDIA_TYPES.values()}},
            **error_responses(400, 401, 404, 503),
        },
    )
    def download(
        name: str = PathParam(..., max_length=100, description="a name from /files, e.g. gaps.geojson"),
        period: str | None = PeriodParam,
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """One of the run's files, whole (a download; ``X-Lomsong-Synthetic`` says if the data are simulated)."""
        prepared = ctx.results_for(period).require()
        available = run_files(prepared)
        if name not in available:
            raise NotFoundError(f"no file {name!r} in this run; files: {', '.join(available) or 'none'}", field="name")
        path = Path(prepared.results.folder) / name
        download_name = path.name if not prepared.synthetic else f"{path.stem}_synthetic{path.suffix}"
        return FileResponse(
            path,
            media_type=FILE_MEDIA_TYPES[path.suffix],
            filename=download_name,
            headers={"X-Lomsong-Synthetic": "true" if prepared.synthetic else "false"},
        )


__all__ = ["FILE_MEDIA_TYPES", "add_file_routes", "file_url", "run_files"]
