"""``/docs`` and ``/redoc`` work offline: headless Chromium over a real server, every other host refused."""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from tests.support.api_server import running_api
from tests.support.browser import CHROMIUM_FLAGS, chromium_path


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with running_api(tmp_path_factory.mktemp("docs")) as server:
        yield server


def _open(url: str, ready: str) -> tuple[str, list[str], list[str]]:
    """Load ``url`` with only the loopback reachable; return the text of ``ready``, remote requests, errors."""
    remote: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_context().new_page()

            def route(request_route) -> None:
                target = request_route.request.url
                if target.startswith(("http://127.0.0.1", "data:", "blob:")):
                    request_route.continue_()
                else:  # a CDN or a font host: this is what an office without internet sees
                    remote.append(target)
                    request_route.abort()

            page.route("**/*", route)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url, wait_until="load")
            page.wait_for_selector(ready, timeout=30_000)
            return page.inner_text(ready), remote, errors
        finally:
            browser.close()


def test_swagger_ui_renders_the_api_without_a_cdn(api):
    title, remote, errors = _open(f"{api.url}/docs", ".swagger-ui .info .title")
    assert "lomsong API" in title
    assert remote == [] and errors == []


def test_redoc_renders_the_api_without_a_cdn(api):
    title, remote, errors = _open(f"{api.url}/redoc", "h1")
    assert "lomsong API" in title
    # the bundle's "API docs by Redocly" footer image (cdn.redoc.ly) is refused by the page's
    # Content-Security-Policy before any request: nothing leaves for another host
    assert remote == [] and errors == []


def test_docs_pages_forbid_other_hosts(api):
    import httpx

    for path in ("/docs", "/redoc"):
        policy = httpx.get(f"{api.url}{path}").headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data: blob:" in policy, path
