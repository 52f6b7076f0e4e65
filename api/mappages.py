"""Map pages: the province map and one page per commune, built by :mod:`lomsong.products.maps`.

Pages link their JavaScript and CSS to ``/maps/assets/…`` by relative URLs (never from the
request's ``Host``, which a client chooses), served from the vendored folder
(:func:`lomsong.products.maps.assets.asset_root`), so a map never calls a CDN. Each page is built once per
run and kept in memory (the cache is emptied when the results are swapped).
"""

from __future__ import annotations

import mimetypes
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

from fastapi import Depends, FastAPI, Query
from fastapi import Path as PathParam
from fastapi.responses import Response

from api.context import AppContext, context, error_responses, reader
from api.core import NotFoundError, PreparedResults, QueryError
from api.keys import ApiKey

ASSET_PREFIX = "/maps/assets"
_cache_lock = threading.Lock()


def _maps_module() -> Any:
    """What the pages need from :mod:`lomsong.products.maps` (its layers, pages and renderer), imported on use."""
    try:
        from lomsong.products.maps import build, layers, pages
    except ImportError as exc:  # the maps are another part of the project; say so instead of failing
        raise QueryError(f"map pages are not available: {exc}", code="maps_unavailable", status=503) from None
    return SimpleNamespace(
        available_views=layers.available_views,
        province_map=pages.province_map,
        commune_map=pages.commune_map,
        unit_map=pages.unit_map,
        render_html=build.render_html,
    )


def _cached(ctx: AppContext, prepared: PreparedResults, key: tuple[str, ...], build) -> bytes:
    cache_key = (id(prepared), *key)
    with _cache_lock:
        if cache_key in ctx.page_cache:
            return ctx.page_cache[cache_key]
    page = build()
    with _cache_lock:
        # Pages of older runs are dropped: only the served run's pages are kept.
        for stale in [k for k in ctx.page_cache if k[0] != id(prepared)]:
            del ctx.page_cache[stale]
        ctx.page_cache[cache_key] = page
    return page


def _view(maps: Any, prepared: PreparedResults, view: str) -> str:
    views = maps.available_views(prepared.results)
    if view not in views:
        raise QueryError(f"no view {view!r} in this run; views: {views}", field="view")
    return view


#: Where each page finds ``/maps/assets/`` relative to itself. Relative links never name a host, so
#: a page is the same bytes whatever ``Host`` header asked for it (and can be cached per run).
PROVINCE_ASSETS = "assets"
COMMUNE_ASSETS = "../assets"


def _render(maps: Any, figure: Any, asset_base: str) -> bytes:
    html = maps.render_html(figure, asset_mode="url", asset_base_url=asset_base)
    return html.encode("utf-8") if isinstance(html, str) else bytes(html)


def add_map_routes(app: FastAPI) -> None:
    """Register ``/maps/``, ``/maps/communes/{code}``, ``/maps/units/{code}`` and the map assets on ``app``."""
    html_only = {200: {"content": {"text/html": {}}, "description": "map page"}}

    @app.get(
        "/maps/",
        tags=["maps"],
        response_class=Response,
        responses={**html_only, **error_responses(400, 401, 503)},
    )
    def province_page(
        lang: Literal["vi", "en"] = Query("vi"),
        view: str = Query("all", max_length=40, description="all or an operator id"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """The province map (bản đồ toàn tỉnh); commune popups link to the commune pages."""
        prepared = ctx.results.require()
        maps = _maps_module()
        view = _view(maps, prepared, view)

        def build() -> bytes:
            figure = maps.province_map(
                prepared.results,
                ctx.results.boundaries(),
                lang=lang,
                view_operator=view,
                commune_url="communes/{code}",
                unit_url="units/{code}",
            )
            return _render(maps, figure, PROVINCE_ASSETS)

        page = _cached(ctx, prepared, ("province", lang, view), build)
        return Response(page, media_type="text/html; charset=utf-8")

    @app.get(
        "/maps/communes/{code}",
        tags=["maps"],
        response_class=Response,
        responses={**html_only, **error_responses(401, 404, 503)},
    )
    def commune_page(
        code: str = PathParam(..., max_length=20, pattern="^[0-9]+$", description="GSO commune code"),
        lang: Literal["vi", "en"] = Query("vi"),
        view: str = Query("all", max_length=40, description="all or an operator id"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """The map of one commune (bản đồ xã)."""
        prepared = ctx.results.require()
        known = prepared.collection("communes").frame["commune_code"].astype("string")
        if not (known == code).any():
            raise NotFoundError(f"no commune {code!r} in this run", field="code")
        maps = _maps_module()
        view = _view(maps, prepared, view)

        def build() -> bytes:
            figure = maps.commune_map(
                prepared.results,
                ctx.results.boundaries(),
                code,
                lang=lang,
                view_operator=view,
                province_url="../",
                commune_url="{code}",
                unit_url="../units/{code}",
            )
            return _render(maps, figure, COMMUNE_ASSETS)

        page = _cached(ctx, prepared, ("commune", code, lang, view), build)
        return Response(page, media_type="text/html; charset=utf-8")

    @app.get(
        "/maps/units/{code}",
        tags=["maps"],
        response_class=Response,
        responses={**html_only, **error_responses(401, 404, 503)},
    )
    def unit_page(
        code: str = PathParam(..., max_length=20, pattern="^[0-9]+$", description="code of a 2025 unit"),
        lang: Literal["vi", "en"] = Query("vi"),
        view: str = Query("all", max_length=40, description="all or an operator id"),
        ctx: AppContext = Depends(context),
        key: ApiKey | None = Depends(reader),
    ) -> Response:
        """The map of one 2025 unit of Lâm Đồng (bản đồ đơn vị mới), its old communes outlined."""
        prepared = ctx.results.require()
        maps = _maps_module()
        view = _view(maps, prepared, view)
        boundaries = ctx.results.boundaries()
        units = boundaries["unit_2025"].astype("string").str.slice(0, 5) if "unit_2025" in boundaries else None
        if units is None or not (units == code).any():
            raise NotFoundError(f"no 2025 unit {code!r} in this run's boundaries", field="code")

        def build() -> bytes:
            figure = maps.unit_map(
                prepared.results,
                boundaries,
                code,
                lang=lang,
                view_operator=view,
                province_url="../",
                unit_url="{code}",
                commune_url="../communes/{code}",
            )
            return _render(maps, figure, COMMUNE_ASSETS)

        page = _cached(ctx, prepared, ("unit", code, lang, view), build)
        return Response(page, media_type="text/html; charset=utf-8")

    @app.get(ASSET_PREFIX + "/{asset_path:path}", include_in_schema=False)
    def asset(asset_path: str) -> Response:
        """A vendored JavaScript, CSS or image file of the map pages."""
        from lomsong.products.maps.assets import asset_root

        root = asset_root().resolve()
        target = (root / asset_path).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise NotFoundError(f"no map asset {asset_path!r}", field="asset_path")
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return Response(
            Path(target).read_bytes(), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )
