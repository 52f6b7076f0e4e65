"""The maps' JavaScript and CSS, vendored from the npm registry so that a map never calls a CDN.

folium's pages load Leaflet, jQuery, Bootstrap and every plugin from CDNs; on a locked-down office
network or in CI such a page is blank. At set-up :func:`ensure_assets` fetches pinned packages with
``npm pack`` into the gitignored ``vendor/npm/`` folder (``$LOMSONG_VENDOR`` moves it); the map
builders then either inline those files into the HTML (``asset_mode="inline"``, the files people
e-mail) or point at them by URL (``asset_mode="url"``, the API's pages, which serve
:func:`asset_root` as static files).

The heat-map plugin is folium's own patched copy of Leaflet.heat (it ships inside the folium
package from PyPI and fixes point weights), copied beside the npm packages.
"""

from __future__ import annotations

import base64
import functools
import json
import mimetypes
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import folium

from lomsong import paths
from lomsong.errors import AssetError

#: npm package → pinned version (the versions folium 0.20 itself links to, where npm has them).
NPM_PACKAGES: dict[str, str] = {
    "leaflet": "1.9.4",
    "leaflet.fullscreen": "3.0.0",
    "leaflet-measure": "2.1.7",
    # the API's /docs and /redoc pages (FastAPI links them to a CDN by default: blank offline)
    "swagger-ui-dist": "5.35.0",
    "redoc": "2.5.2",
}

#: Folder (under :func:`asset_root`) holding folium's heat-map plugin.
FOLIUM_FOLDER = "folium-plugins"
_FOLIUM_HEAT = Path(folium.__file__).parent / "templates" / "leaflet_heat.min.js"

#: Placeholder URL scheme the builders put in folium's link elements, resolved by :func:`resolve_links`.
ASSET_SCHEME = "lomsong-asset:"


@dataclass(frozen=True)
class Asset:
    """One vendored file: ``kind`` is ``js`` or ``css``; ``path`` is relative to :func:`asset_root`."""

    kind: str
    path: str


def _npm(package: str, file: str) -> str:
    return f"{package}@{NPM_PACKAGES[package]}/{file}"


#: Asset key → file. Keys are what the builders ask for.
ASSETS: dict[str, Asset] = {
    "leaflet.js": Asset("js", _npm("leaflet", "dist/leaflet.js")),
    "leaflet.css": Asset("css", _npm("leaflet", "dist/leaflet.css")),
    "fullscreen.js": Asset("js", _npm("leaflet.fullscreen", "Control.FullScreen.js")),
    "fullscreen.css": Asset("css", _npm("leaflet.fullscreen", "Control.FullScreen.css")),
    "measure.js": Asset("js", _npm("leaflet-measure", "dist/leaflet-measure.min.js")),
    "measure.css": Asset("css", _npm("leaflet-measure", "dist/leaflet-measure.css")),
    "heat.js": Asset("js", f"{FOLIUM_FOLDER}/leaflet_heat.min.js"),
    "swagger-ui.js": Asset("js", _npm("swagger-ui-dist", "swagger-ui-bundle.js")),
    "swagger-ui.css": Asset("css", _npm("swagger-ui-dist", "swagger-ui.css")),
    "swagger-favicon.png": Asset("png", _npm("swagger-ui-dist", "favicon-32x32.png")),
    "redoc.js": Asset("js", _npm("redoc", "bundles/redoc.standalone.js")),
}

#: folium's resource names (``default_js`` / ``default_css`` entries) → asset key, or None to drop.
#: jQuery, Bootstrap and the awesome-markers icon fonts are dropped: these maps use none of them.
FOLIUM_RESOURCES: dict[str, str | None] = {
    "leaflet": "leaflet.js",
    "leaflet_css": "leaflet.css",
    "jquery": None,
    "bootstrap": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers": None,
    "awesome_markers_css": None,
    "awesome_markers_font_css": None,
    "awesome_rotate_css": None,
    "Control.Fullscreen.js": "fullscreen.js",
    "Control.FullScreen.css": "fullscreen.css",
    "leaflet_measure_js": "measure.js",
    "leaflet_measure_css": "measure.css",
    "leaflet-heat.js": "heat.js",
}


def asset_root() -> Path:
    """Return the folder holding the vendored packages (``$LOMSONG_VENDOR`` or ``<root>/vendor/npm``)."""
    if env := os.environ.get("LOMSONG_VENDOR"):
        return Path(env).resolve()
    return paths.project_root() / "vendor" / "npm"


def missing_assets() -> list[str]:
    """Return the asset keys whose files are not on disk."""
    root = asset_root()
    return [key for key, asset in ASSETS.items() if not (root / asset.path).is_file()]


def ensure_assets(on_fetch: Callable[[str, str, Path], None] | None = None) -> Path:
    """Fetch the pinned map packages from the npm registry unless they are already vendored.

    Idempotent and quick when every file is present (no npm call then).

    Parameters
    ----------
    on_fetch : callable, optional
        Called with the package, its version and the folder after each package is fetched.

    Returns
    -------
    Path
        :func:`asset_root`.

    Raises
    ------
    AssetError
        npm is not installed, or a package cannot be fetched or unpacked.
    """
    root = asset_root()
    for package, version in NPM_PACKAGES.items():
        target = root / f"{package}@{version}"
        needed = [a.path for a in ASSETS.values() if a.path.startswith(f"{package}@{version}/")]
        if all((root / path).is_file() for path in needed):
            continue
        _fetch_npm_package(package, version, target)
        if on_fetch is not None:
            on_fetch(package, version, target)
    heat = root / ASSETS["heat.js"].path
    if not heat.is_file():
        heat.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_FOLIUM_HEAT, heat)
    still_missing = missing_assets()
    if still_missing:
        raise AssetError(f"{root}: vendored map assets still missing after fetching: {', '.join(still_missing)}")
    return root


def _fetch_npm_package(package: str, version: str, target: Path) -> None:
    """Download ``package@version`` with ``npm pack`` and unpack it into ``target``."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            "npm is not installed: the maps need Leaflet and its plugins from the npm registry at set-up "
            "(Debian/Ubuntu: `apt-get install -y npm`), or copy a vendor/npm folder from another checkout "
            f"into {target.parent}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        spec = f"{package}@{version}"
        result = subprocess.run(
            [npm, "pack", spec, "--json", "--pack-destination", tmp],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise AssetError(f"npm pack {spec} failed (is the npm registry reachable?): {result.stderr.strip()[-500:]}")
        try:
            info = json.loads(result.stdout)[0]
            tarball = Path(tmp) / info["filename"]
        except (ValueError, LookupError) as exc:
            raise AssetError(f"npm pack {spec}: unexpected output: {result.stdout[:300]!r}") from exc
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as archive:
            archive.extractall(unpacked, filter="data")
        # npm tarballs hold one top folder, normally `package/`.
        (top,) = [p for p in unpacked.iterdir() if p.is_dir()]
        (top / ".npm-integrity").write_text(f"{spec} {info.get('integrity', '')}\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        top.rename(target)


# ----------------------------------------------------------------------------------------------
# Turning the placeholder links in a rendered page into inline code or served URLs.

_SCRIPT_LINK = re.compile(r'<script src="' + re.escape(ASSET_SCHEME) + r'([^"]+)"></script>')
_CSS_LINK = re.compile(r'<link rel="stylesheet" href="' + re.escape(ASSET_SCHEME) + r'([^"]+)"\s*/?>')
_CSS_URL = re.compile(r"url\((['\"]?)([^)'\"]+)\1\)")
_EXTERNAL = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="((?:https?:)?//[^"]+)"', re.IGNORECASE)


def placeholder(key: str) -> str:
    """Return the placeholder URL for an asset key."""
    if key not in ASSETS:
        raise KeyError(f"unknown map asset {key!r}; known: {sorted(ASSETS)}")
    return ASSET_SCHEME + key


def _read_asset(key: str) -> str:
    path = asset_root() / ASSETS[key].path
    if not path.is_file():
        raise AssetError(f"{path}: map asset missing; run `lomsong assets` (or `make setup`) to fetch it")
    return path.read_text(encoding="utf-8")


def _css_with_data_urls(key: str) -> str:
    """Return a vendored stylesheet with its relative ``url(...)`` images embedded as data URLs."""
    css_path = asset_root() / ASSETS[key].path
    css = _read_asset(key)

    def embed(match: re.Match[str]) -> str:
        reference = match.group(2).strip()
        if reference.startswith(("data:", "#", "http:", "https:", "//")):
            return match.group(0)
        image = (css_path.parent / reference).resolve()
        if not image.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        return f'url("data:{mime};base64,{encoded}")'

    return _CSS_URL.sub(embed, css)


#: The one script and the one stylesheet that pages of a folder share (``asset_mode="shared"``).
SHARED_JS = "lomsong-maps.js"
SHARED_CSS = "lomsong-maps.css"


def write_shared_assets(folder: str | Path) -> list[Path]:
    """Write every vendored script into one file and every stylesheet into another, in ``folder``.

    Pages that sit beside (or under) that folder link these two files instead of carrying Leaflet
    and the plugins each (about 400 kB a page): a run's 72 pages then weigh a fraction of the
    self-contained ones. Scripts keep their order (Leaflet first); stylesheet images are data URLs.

    Returns
    -------
    list of Path
        The script and the stylesheet.
    """
    script, stylesheet = shared_assets_text()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SHARED_JS).write_text(script, encoding="utf-8")
    (folder / SHARED_CSS).write_text(stylesheet, encoding="utf-8")
    return [folder / SHARED_JS, folder / SHARED_CSS]


def shared_assets_text() -> tuple[str, str]:
    """The text of :func:`write_shared_assets`' script and stylesheet, made once per process and vendor folder.

    The vendored packages are pinned (``NPM_PACKAGES``): their files do not change while a process
    runs. The maps' process of ``lomsong run`` makes them before the run's tables exist.
    """
    return _bundled(ensure_assets())


@functools.cache
def _bundled(root: Path) -> tuple[str, str]:
    """:func:`shared_assets_text` of the assets vendored in ``root`` (:func:`asset_root`)."""
    scripts = [f"/* {asset.path} */\n{_read_asset(key)}" for key, asset in ASSETS.items() if asset.kind == "js"]
    styles = [f"/* {asset.path} */\n{_css_with_data_urls(key)}" for key, asset in ASSETS.items() if asset.kind == "css"]
    # each script ends with ';': a file that does not end its last statement cannot swallow the next
    return "\n;\n".join(scripts) + "\n", "\n".join(styles) + "\n"


def resolve_links(html: str, asset_mode: str = "inline", asset_base_url: str | None = None) -> str:
    """Replace the asset placeholders of a rendered page and refuse any remaining CDN link.

    Parameters
    ----------
    html : str
        Page rendered by folium with :func:`placeholder` URLs in its script and stylesheet links.
    asset_mode : {"inline", "url", "shared"}
        ``inline`` embeds the files (stylesheet images as data URLs); ``url`` links to
        ``asset_base_url`` + the file's path under :func:`asset_root`; ``shared`` links the one
        script and stylesheet of :func:`write_shared_assets` in the folder ``asset_base_url``
        (relative to the page, e.g. ``assets`` or ``../assets``).
    asset_base_url : str, optional
        Where :func:`asset_root` is served (``url`` mode) or the shared files are (``shared``).

    Returns
    -------
    str
        The page.

    Raises
    ------
    AssetError
        A script or stylesheet still points at another server, or an asset is missing.
    """
    if asset_mode == "inline":

        def script(match: re.Match[str]) -> str:
            # A literal "</script" inside inlined code would end the element early.
            code = _read_asset(match.group(1)).replace("</script", "<\\/script")
            return f"<script>/* {ASSETS[match.group(1)].path} */\n{code}\n</script>"

        def style(match: re.Match[str]) -> str:
            css = _css_with_data_urls(match.group(1)).replace("</style", "<\\/style")
            return f"<style>/* {ASSETS[match.group(1)].path} */\n{css}\n</style>"

    elif asset_mode == "url":
        if not asset_base_url:
            raise ValueError("asset_mode='url' needs asset_base_url (where asset_root() is served)")
        base = asset_base_url.rstrip("/")

        def script(match: re.Match[str]) -> str:
            return f'<script src="{base}/{ASSETS[match.group(1)].path}"></script>'

        def style(match: re.Match[str]) -> str:
            return f'<link rel="stylesheet" href="{base}/{ASSETS[match.group(1)].path}"/>'

    elif asset_mode == "shared":
        if not asset_base_url:
            raise ValueError("asset_mode='shared' needs asset_base_url (the folder of the shared files)")
        base = asset_base_url.rstrip("/")
        linked: set[str] = set()

        def shared(kind: str, tag: str):
            def link(_match: re.Match[str]) -> str:
                # the first placeholder of a kind links the bundle (where Leaflet was), the rest go
                if kind in linked:
                    return ""
                linked.add(kind)
                return tag

            return link

        script = shared("js", f'<script src="{base}/{SHARED_JS}"></script>')
        style = shared("css", f'<link rel="stylesheet" href="{base}/{SHARED_CSS}"/>')

    else:
        raise ValueError(f"asset_mode must be 'inline', 'url' or 'shared', got {asset_mode!r}")
    # folium writes the links in the page's head: the rest (the layers' data, megabytes) is not searched
    # for them; a placeholder left anywhere is refused below
    head_end = html.find("</head>")
    head, rest = (html[:head_end], html[head_end:]) if head_end >= 0 else (html, "")
    html = _CSS_LINK.sub(style, _SCRIPT_LINK.sub(script, head)) + rest
    external = _EXTERNAL.findall(html)
    if base_url := (asset_base_url if asset_mode in ("url", "shared") else None):
        external = [url for url in external if not url.startswith(base_url)]
    if external:
        raise AssetError(f"the map page would load code from another server: {', '.join(sorted(set(external)))}")
    if ASSET_SCHEME in html:
        leftover = re.findall(re.escape(ASSET_SCHEME) + r"[^\"']+", html)[:3]
        raise AssetError(f"unresolved asset placeholder(s) {leftover}")
    return html
