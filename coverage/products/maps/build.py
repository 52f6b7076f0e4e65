"""Interactive maps of a finished run: the province (``index.html``) and one page per commune.

Built with folium from a :class:`~lomsong.tables.results.RunResults` (nothing is recomputed). Every layer
is switchable in the layer control: communes coloured by the share of their people living in
coverage gaps, the gaps coloured by evidence (one click gives their facts), H3 cells by signal class
per operator, a heat map of measurement density, villages by status, district borders and commune
names. A diacritic-insensitive commune search, fullscreen, scale bar, measuring tool, legend and a
title block (data period, "dữ liệu mô phỏng" for simulated data) complete the page.

No page loads code from another server: Leaflet and its plugins come from the vendored npm packages
(:mod:`lomsong.products.maps.assets`), either in one shared script and stylesheet under the pages'
``assets/`` folder (a run's pages, the default) or inlined in each page (self-contained, to send
one page on its own); only the background tiles need the internet.

The parts: :mod:`.style` (colours, breaks), :mod:`.layers` (the data as GeoJSON, pure),
:mod:`.furniture` (title, legend, labels, search), :mod:`.pages` (the province, commune and unit
maps) and this module (rendering without CDNs, :func:`build_maps` writing every page).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import branca.element
import folium
import geopandas as gpd
from branca.element import Element

from lomsong.products.maps import assets as _mapassets
from lomsong.products.maps.jsontext import texts_used
from lomsong.products.maps.layers import CommuneOutlines, PreparedLayers, _check_view, _communes_or_default
from lomsong.products.maps.pages import commune_map, province_map, unit_map
from lomsong.products.maps.style import SHARED_ASSETS_FOLDER
from lomsong.products.words import check_language
from lomsong.tables.results import ALL_OPERATORS, RunResults


def _use_vendored_assets(m: folium.Map) -> None:
    """Point every JS/CSS resource of the map's elements at the vendored copies (or drop it)."""
    stack: list[Element] = [m.get_root()]
    while stack:
        element = stack.pop()
        stack.extend(element._children.values())
        for attribute in ("default_js", "default_css"):
            resources = getattr(element, attribute, None)
            if not resources:
                continue
            replaced = []
            for name, url in resources:
                if url.startswith(_mapassets.ASSET_SCHEME):
                    replaced.append((name, url))
                    continue
                if name not in _mapassets.FOLIUM_RESOURCES:
                    raise _mapassets.AssetError(
                        f"{type(element).__name__} needs {name} ({url}), which is not vendored; "
                        "add it to lomsong.products.maps.assets"
                    )
                key = _mapassets.FOLIUM_RESOURCES[name]
                if key is not None:
                    replaced.append((name, _mapassets.placeholder(key)))
            setattr(element, attribute, replaced)


def render_html(m: folium.Map, asset_mode: str = "inline", asset_base_url: str | None = None) -> str:
    """Render a map to a complete HTML page whose code never comes from a CDN.

    Parameters
    ----------
    m : folium.Map
        A map from :func:`province_map` or :func:`commune_map` (any folium map whose plugins are
        vendored works).
    asset_mode : {"inline", "url"}
        ``inline`` embeds Leaflet and the plugins (a file that works offline and can be e-mailed);
        ``url`` links them under ``asset_base_url``, where the caller serves
        :func:`lomsong.products.maps.assets.asset_root` (the API).
    asset_base_url : str, optional
        Base URL of the served assets (``url`` mode).

    Returns
    -------
    str
        The page.
    """
    if asset_mode == "inline":
        _mapassets.ensure_assets()
    _use_vendored_assets(m)
    with _RENDERING, _rendered_text_kept(), texts_used():
        page = m.get_root().render()
    return _mapassets.resolve_links(page, asset_mode, asset_base_url)


class _RenderedText(Element):
    """Markup a MacroElement has rendered, kept as text.

    branca wraps every rendered header, body and script in ``Element(markup)``, which compiles the
    markup as a Jinja template and renders it a second time: the page's GeoJSON compiled again
    (a fifth of the maps' time) and a ``{{ … }}`` in a village or commune name evaluated. The text
    is what that second rendering gives for markup without Jinja syntax: line ends as ``\\n``,
    one final line end dropped.
    """

    def __init__(self, template: str | None = None, template_name: str | None = None) -> None:
        super().__init__(None, template_name)
        self._text = template

    def render(self, **kwargs: Any) -> str:
        if self._text is None:
            return super().render(**kwargs)
        text_out = self._text.replace("\r\n", "\n").replace("\r", "\n")
        return text_out[:-1] if text_out.endswith("\n") else text_out


#: One page renders at a time: :func:`_rendered_text_kept` swaps a name in branca's module.
_RENDERING = threading.Lock()


@contextlib.contextmanager
def _rendered_text_kept() -> Iterator[None]:
    """While rendering, MacroElements wrap their markup in :class:`_RenderedText` (not a template)."""
    original = branca.element.Element
    branca.element.Element = _RenderedText
    try:
        yield
    finally:
        branca.element.Element = original


def build_maps(
    results: RunResults,
    out_dir: str | Path,
    communes: gpd.GeoDataFrame | None = None,
    lang: str = "vi",
    view_operator: str = ALL_OPERATORS,
    asset_mode: str = "shared",
    asset_base_url: str | None = None,
    commune_codes: list[str] | None = None,
    on_page: Any = None,
    unit_codes: list[str] | None = None,
    *,
    outlines: CommuneOutlines | None = None,
) -> list[Path]:
    """Write ``out_dir/index.html``, ``out_dir/communes/<commune_code>.html`` and, with the 2025
    units in the commune table, ``out_dir/units/<unit_code>.html``.

    Parameters
    ----------
    results : RunResults
        A finished run.
    out_dir : str or Path
        Folder to write (usually the run folder).
    communes : geopandas.GeoDataFrame, optional
        Canonical commune table; default the bundled communes.
    lang : {"vi", "en"}
        Language.
    view_operator : str
        ``all`` or an operator id.
    asset_mode : {"shared", "inline", "url"}
        ``shared`` (default): Leaflet and the plugins in one script and one stylesheet under
        ``out_dir/assets/`` that every page links (light pages for a folder people open as a
        whole); ``inline``: every page self-contained (to send one page by Zalo or e-mail);
        ``url``: see :func:`render_html`.
    asset_base_url : str, optional
        See :func:`render_html` (``url`` mode).
    commune_codes : list of str, optional
        Only these commune pages (default: every commune).
    on_page : callable, optional
        Called with each written path (progress display).
    unit_codes : list of str, optional
        Only these unit pages (default: every 2025 unit; none when the table has no units).
    outlines : CommuneOutlines, optional
        What the pages draw of ``communes`` alone, made before the run (the maps' process makes
        it while the run is analysed); used only when made of this very table.

    Returns
    -------
    list of Path
        The pages written, province first, then the communes, then the units.
    """
    check_language(lang)
    _check_view(results, view_operator)
    communes = _communes_or_default(communes)
    if asset_mode == "inline":
        _mapassets.ensure_assets()
    out_dir = Path(out_dir)
    (out_dir / "communes").mkdir(parents=True, exist_ok=True)
    index_assets = commune_assets = asset_base_url
    if asset_mode == "shared":
        _mapassets.write_shared_assets(out_dir / SHARED_ASSETS_FOLDER)
        index_assets, commune_assets = SHARED_ASSETS_FOLDER, f"../{SHARED_ASSETS_FOLDER}"
    written = []
    prepared = PreparedLayers(results, communes, view_operator, outlines=outlines)  # once for every page
    units = prepared.outlines.units()  # dissolved once for every page
    index = out_dir / "index.html"
    index.write_text(
        render_html(
            province_map(results, communes, lang, view_operator, units=units, prepared=prepared),
            asset_mode,
            index_assets,
        ),
        encoding="utf-8",
    )
    written.append(index)
    if on_page:
        on_page(index)
    codes = commune_codes if commune_codes is not None else communes["commune_code"].astype(str).tolist()
    for code in codes:  # one page per commune
        page = out_dir / "communes" / f"{code}.html"
        page.write_text(
            render_html(
                commune_map(results, communes, code, lang, view_operator, units=units, prepared=prepared),
                asset_mode,
                commune_assets,
            ),
            encoding="utf-8",
        )
        written.append(page)
        if on_page:
            on_page(page)
    if units is not None:
        (out_dir / "units").mkdir(parents=True, exist_ok=True)
        for code in unit_codes if unit_codes is not None else units["unit_code"].astype(str).tolist():
            page = out_dir / "units" / f"{code}.html"
            page.write_text(
                render_html(
                    unit_map(results, communes, code, lang, view_operator, units=units, prepared=prepared),
                    asset_mode,
                    commune_assets,
                ),
                encoding="utf-8",
            )
            written.append(page)
            if on_page:
                on_page(page)
    return written
