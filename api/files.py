"""The run folder's own files as downloads: ``/files`` lists them, ``/files/{name}`` sends one.

A paged list (``/gaps?f=geojson``) holds 100 features unless asked for more; the whole table is the
file the run wrote (``gaps.geojson``, ``gaps.gpkg``, ``villages.xlsx`` …), sent from disk as it is
(streamed, the same bytes as in the run folder). Only the tables ``run.json`` lists are served, by
their plain name: never a path, never the map pages or anything else in the folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from api.context import AppContext, context, error_responses, reader
from api.core import NotFoundError
from api.keys import ApiKey
from api.responses import json_response
from api.run_files import FILE_MEDIA_TYPES, file_url, run_files

PeriodParam = Query(None, max_length=7, description="a monthly run YYYY-MM (see /periods); default: the served run")


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


__all__ = ["add_file_routes"]
