"""Headless Chromium for the map tests: Debian's chromium driven by Playwright, with no network.

Playwright never downloads a browser here: it launches the system chromium
(``$LOMSONG_CHROMIUM``, else ``chromium`` on the PATH, else ``/usr/bin/chromium``). The context
is offline, so a page that tried to load its code from a CDN would stay blank; every request that
is not a local file is recorded so tests can check that only map tiles were asked for.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    """Return the chromium executable, or raise with what to install."""
    candidates = [os.environ.get("LOMSONG_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("chromium not found: `apt-get install -y chromium` (make test does it) or set LOMSONG_CHROMIUM")


@dataclass
class PageLog:
    """What happened while the page was open."""

    errors: list[str] = field(default_factory=list)
    failed_resources: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def remote_requests(self) -> list[str]:
        """Requests that would have gone to another computer."""
        return [url for url in self.requests if not url.startswith(("file:", "data:", "about:", "blob:"))]


@contextmanager
def open_page(path: Path, width: int = 1400, height: int = 900) -> Iterator[tuple[Page, PageLog]]:
    """Open a local HTML file in offline headless Chromium; yield the page and its log.

    ``log.errors`` holds uncaught exceptions and console errors other than failed resource loads
    (with no network every tile fails to load; those land in ``log.failed_resources``).
    """
    log = PageLog()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, offline=True)
            page = context.new_page()
            page.on("pageerror", lambda error: log.errors.append(f"uncaught: {error}"))
            page.on("request", lambda request: log.requests.append(request.url))

            def on_console(message) -> None:
                if message.type != "error":
                    return
                if message.text.startswith("Failed to load resource"):
                    log.failed_resources.append(message.text)
                else:
                    log.errors.append(f"console: {message.text}")

            page.on("console", on_console)
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            yield page, log
        finally:
            browser.close()


#: Open every popup and tooltip of every layer, so that the content Leaflet inserts lazily is inserted.
OPEN_EVERYTHING = """
() => {
  let opened = 0;
  for (const layer of Object.values(window.lomsong.layers)) {
    if (!layer || !layer.eachLayer) continue;
    layer.eachLayer(function visit(l) {
      if (l.eachLayer) { l.eachLayer(visit); }
      const at = l.getBounds ? l.getBounds().getCenter() : (l.getLatLng ? l.getLatLng() : null);
      if (l.getTooltip && l.getTooltip()) { l.openTooltip(at); opened++; }
      if (l.getPopup && l.getPopup()) { l.openPopup(at); opened++; l.closePopup(); }
    });
  }
  return opened;
}
"""
