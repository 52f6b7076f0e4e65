"""The over-claimed areas on the province map, in offline headless Chromium (SYNTHETIC planted run)."""

from __future__ import annotations

import pytest

from lomsong.analysis.engine import analyse
from lomsong.products.maps.build import render_html
from lomsong.products.maps.pages import province_map
from lomsong.products.tables import write_run
from lomsong.settings import Config
from lomsong.tables.results import load_run
from tests.support.browser import open_page
from tests.support.scenes import planted_scene

HOSTILE = '<img src=x onerror="window.pwned=1">'


@pytest.fixture(scope="module")
def page_file(tmp_path_factory, communes, population_surface):
    folder = tmp_path_factory.mktemp("claims-map")
    measurements, claims, _ = planted_scene()
    analysis = analyse(measurements, communes, population_surface, Config(), claims=claims)
    write_run(analysis, folder / "run", {"tool": "lomsong", "synthetic": True}, synthetic=True)
    results = load_run(folder / "run")
    results.challenges.loc[0, "commune"] = HOSTILE  # a string from the data must stay text
    path = folder / "index.html"
    path.write_text(render_html(province_map(results, communes)), encoding="utf-8")
    return path, results.challenges.iloc[0]


def test_challenge_layer_is_listed_switches_on_and_its_popup_shows_the_evidence(page_file):
    path, challenge = page_file
    label = "Vùng nhà mạng khai báo vượt — Viettel"
    with open_page(path) as (page, log):
        page.wait_for_function("window.lomsong !== undefined")
        assert "Khai báo có sóng, đo sóng yếu" in page.inner_text("#lomsong-legend")
        before = page.evaluate("document.querySelectorAll('.leaflet-overlay-pane svg path').length")
        page.hover(".leaflet-control-layers")  # the layer panel opens collapsed
        page.locator(".leaflet-control-layers label", has_text=label).locator("input").check()
        after = page.evaluate("document.querySelectorAll('.leaflet-overlay-pane svg path').length")
        assert after > before
        lat, lon = challenge["centroid_lat"], challenge["centroid_lon"]
        page.evaluate(f"window.lomsong.map.setView([{lat}, {lon}], 13, {{animate: false}})")
        box = page.locator("#" + page.evaluate("window.lomsong.map.getContainer().id")).bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(state="visible")
        content = popup.inner_text()
        assert challenge["challenge_id"] in content and "Số mẫu đo" in content and "Số ngày đo" in content
        assert HOSTILE in content  # shown as text, not run
        assert page.evaluate("window.pwned === undefined")
        assert log.errors == []
