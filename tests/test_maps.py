"""Maps: content and weight of the pages, offline assets, CLI, and real headless Chromium with no network."""

from __future__ import annotations

import json
import re

import pytest
from browser import open_page  # tests/browser.py (pytest puts tests/ on sys.path)
from typer.testing import CliRunner

from lomsong import paths
from lomsong.cli import app
from lomsong.products.maps import assets as _mapassets
from lomsong.products.maps.build import build_maps, commune_map, province_map, render_html
from lomsong.products.words import format_number, format_share, text
from lomsong.testing import make_example_run

LAYER_KEYS_VI = [
    "Xã: tỷ lệ dân trong vùng lõm sóng",
    "Vùng lõm sóng (theo mức tin cậy)",
    "Ô lưới H3 theo tín hiệu — Viettel",
    "Ô lưới H3 theo tín hiệu — VinaPhone (VNPT)",
    "Ô lưới H3 theo tín hiệu — Tất cả nhà mạng",
    "Mật độ điểm đo",
    "Thôn, bon, buôn theo tình trạng sóng",
    "Ranh giới huyện",
    "Tên xã",
]
BASE_LAYERS_VI = ["OpenStreetMap", "Nền xám nhạt (Esri)", "Ảnh vệ tinh (Esri)"]


@pytest.fixture(scope="module")
def example_run(communes, tmp_path_factory):
    """A hand-made run with maps built (province + Thị trấn Đắk Mil's page)."""
    folder = tmp_path_factory.mktemp("run")
    results = make_example_run(communes, folder)
    pages = build_maps(results, folder, communes, commune_codes=["24664"], asset_mode="inline")
    return results, pages


@pytest.fixture(scope="module")
def shared_run(communes, tmp_path_factory):
    """The same run with its pages sharing one script and one stylesheet (the default)."""
    folder = tmp_path_factory.mktemp("shared")
    results = make_example_run(communes, folder)
    return folder, build_maps(results, folder, communes, commune_codes=["24664", "24661"])


def test_numbers_are_formatted_for_vietnamese_readers():
    assert format_number(622168, "vi") == "622.168"
    assert format_number(622168, "en") == "622,168"
    assert format_number(12.345, "vi", 1) == "12,3"
    assert format_share(0.125, "vi") == "12,5 %"
    assert format_number(None, "vi") == "–"


def test_pages_are_written_and_load_no_code_from_other_servers(example_run):
    results, pages = example_run
    index, commune_page = pages
    assert index.name == "index.html" and commune_page.relative_to(index.parent).as_posix() == "communes/24664.html"
    for page in pages:
        content = page.read_text(encoding="utf-8")
        assert not re.search(r"<script[^>]+src=", content), "every script is inlined"
        assert not re.search(r"<link[^>]+stylesheet", content), "every stylesheet is inlined"
        assert "cdn." not in content.lower() and "cdnjs" not in content
        assert "L.map(" in content and "leaflet.js" in content
        assert "dữ liệu mô phỏng" in content  # the example run is synthetic


def test_province_page_carries_every_layer_the_period_and_gap_facts(example_run):
    results, pages = example_run
    content = pages[0].read_text(encoding="utf-8")
    for name in LAYER_KEYS_VI + BASE_LAYERS_VI:  # folium writes the layer names as JSON strings
        assert name in content or json.dumps(name)[1:-1] in content
    assert "01/03/2024" in content and "28/04/2024" in content  # period from run.json, Vietnamese dates
    all_gaps = results.gaps[results.gaps["operator"] == "all"]
    people = format_number(all_gaps["population"].sum(), "vi")
    assert f"{people} người" in content
    for gap in all_gaps.itertuples():
        assert gap.gap_id in content


def test_province_map_weight_is_bounded_by_its_content(example_run):
    _, pages = example_run
    assert pages[0].stat().st_size < 5_000_000


def test_english_and_url_asset_mode(example_run, communes):
    results, _ = example_run
    page = render_html(province_map(results, communes, lang="en"), asset_mode="url", asset_base_url="/assets")
    assert "Coverage gaps (by evidence)" in page and "SIMULATED DATA" in page
    assert f'<script src="/assets/leaflet@{_mapassets.NPM_PACKAGES["leaflet"]}/dist/leaflet.js"></script>' in page
    for asset in _mapassets.ASSETS.values():
        assert (_mapassets.asset_root() / asset.path).is_file()
    other = render_html(commune_map(results, communes, "24670", view_operator="viettel"))
    assert "Viettel" in other and "Xã Đắk R'La" in other


def test_unknown_view_and_commune_are_refused(example_run, communes):
    results, _ = example_run
    with pytest.raises(ValueError, match="mobifone.*available views: all, viettel, vinaphone"):
        province_map(results, communes, view_operator="mobifone")
    with pytest.raises(KeyError, match="99999"):
        commune_map(results, communes, "99999")
    with pytest.raises(ValueError, match="language"):
        province_map(results, communes, lang="fr")


def test_ensure_assets_is_idempotent_and_needs_no_npm_when_present(monkeypatch):
    root = _mapassets.ensure_assets()
    monkeypatch.setattr(_mapassets.shutil, "which", lambda name: None)
    assert _mapassets.ensure_assets() == root
    assert _mapassets.missing_assets() == []


def test_ensure_assets_explains_a_missing_npm(monkeypatch, tmp_path):
    monkeypatch.setenv("LOMSONG_VENDOR", str(tmp_path / "vendor"))
    monkeypatch.setattr(_mapassets.shutil, "which", lambda name: None)
    with pytest.raises(_mapassets.AssetError, match="npm is not installed"):
        _mapassets.ensure_assets()


def test_cli_rebuilds_maps_from_a_finished_run(example_run, tmp_path):
    results, _ = example_run
    out = tmp_path / "out"
    runner = CliRunner()
    done = runner.invoke(
        app, ["map", "--run", str(results.folder), "--out", str(out), "--lang", "en", "--province-only"]
    )
    assert done.exit_code == 0, done.output
    assert "SIMULATED DATA" in (out / "index.html").read_text(encoding="utf-8")
    refused = runner.invoke(app, ["map", "--run", str(tmp_path / "nothing")])
    assert refused.exit_code == 2 and "no finished run" in refused.output and "Traceback" not in refused.output
    wrong_view = runner.invoke(app, ["map", "--run", str(results.folder), "--view", "gmobile"])
    assert wrong_view.exit_code == 2 and "available: all, viettel, vinaphone" in wrong_view.output


def test_province_map_in_offline_chromium(example_run):
    """No JS errors, drawn, every layer listed, a click on a gap names its commune, search folds diacritics."""
    results, pages = example_run
    with open_page(pages[0]) as (page, log):
        page.wait_for_function("window.lomsong !== undefined")
        # Drawn: the commune, district and gap paths are in Leaflet's overlay pane.
        n_paths = page.evaluate("document.querySelectorAll('.leaflet-overlay-pane svg path').length")
        assert n_paths >= 71 + 3
        assert page.is_visible("#lomsong-legend") and page.is_visible("#lomsong-title")
        names = set(
            page.eval_on_selector_all(".leaflet-control-layers label span", "e => e.map(x => x.textContent.trim())")
        )
        assert set(LAYER_KEYS_VI + BASE_LAYERS_VI) <= names

        # Click the largest gap of the 'all' view where it lies, as a person would.
        gap = results.gaps[results.gaps["operator"] == "all"].sort_values("population").iloc[-1]
        page.evaluate(f"window.lomsong.map.setView([{gap.centroid_lat}, {gap.centroid_lon}], 13, {{animate: false}})")
        box = page.locator("#" + page.evaluate("window.lomsong.map.getContainer().id")).bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(state="visible")
        assert gap.commune in popup.inner_text()
        assert gap.gap_id in popup.inner_text() and "Số dân bị ảnh hưởng" in popup.inner_text()

        # Search without diacritics.
        page.fill(".lomsong-search input", "dak mil")
        found = page.eval_on_selector_all(".lomsong-search li", "e => e.map(x => x.textContent)")
        assert any(item.startswith("Thị trấn Đắk Mil") for item in found)
        page.click(".lomsong-search li[data-code='24664']")
        page.wait_for_function(
            "document.querySelector('.leaflet-popup-content') && "
            "document.querySelector('.leaflet-popup-content').innerText.indexOf('Thị trấn Đắk Mil') !== -1"
        )

        page.evaluate(
            "window.lomsong.map.closePopup(); window.lomsong.map.fitBounds(window.lomsong.communes.getBounds())"
        )
        page.fill(".lomsong-search input", "")
        page.wait_for_timeout(300)
        paths.out_dir().mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(paths.out_dir() / "screenshot_index.png"))
        assert log.errors == []
        # Only base-map tiles were asked of the network (code came inlined).
        assert all(not re.search(r"\.(js|css)(\?|$)", url) for url in log.remote_requests)


def test_commune_page_in_offline_chromium(example_run):
    _, pages = example_run
    with open_page(pages[1]) as (page, log):
        page.wait_for_function("window.lomsong !== undefined")
        assert page.evaluate("document.querySelectorAll('.leaflet-overlay-pane svg path').length") > 0
        assert "Thị trấn Đắk Mil" in page.inner_text("#lomsong-title")
        # The heat map and a cell layer switch on without errors.
        for label in ["Mật độ điểm đo", "Ô lưới H3 theo tín hiệu — Viettel"]:
            page.locator(".leaflet-control-layers label", has_text=label).locator("input").check()
        page.wait_for_timeout(300)
        assert page.evaluate("document.querySelectorAll('canvas.leaflet-heatmap-layer').length") == 1
        assert log.errors == []


def test_commune_page_title_speaks_of_that_commune(example_run, communes):
    results, _ = example_run
    summary = results.communes[(results.communes["operator"] == "all") & (results.communes["technology"] == "any")]
    row = summary.sort_values("people_in_gaps", ascending=False).iloc[0]
    page = render_html(commune_map(results, communes, row["commune_code"]))
    expected = text(
        "vi",
        "summary_commune",
        n_gaps=format_number(int(row["n_gaps"]), "vi"),
        people=format_number(float(row["people_in_gaps"]), "vi"),
    )
    assert expected in page


def test_shared_asset_pages_link_one_script_and_one_stylesheet(shared_run, example_run):
    folder, pages = shared_run
    script, style = folder / "assets" / _mapassets.SHARED_JS, folder / "assets" / _mapassets.SHARED_CSS
    assert script.is_file() and style.is_file() and "L.map" not in script.read_text()[:100]
    for page in pages:
        content = page.read_text(encoding="utf-8")
        base = "assets" if page.name == "index.html" else "../assets"
        assert re.findall(r"<script[^>]+src=\"([^\"]+)\"", content) == [f"{base}/{_mapassets.SHARED_JS}"]
        assert re.findall(r"<link[^>]+stylesheet[^>]+href=\"([^\"]+)\"", content) == [f"{base}/{_mapassets.SHARED_CSS}"]
    # the same page, self-contained, carries Leaflet itself: several times heavier
    inline_page = example_run[1][1]
    assert inline_page.stat().st_size > 2 * pages[1].stat().st_size


def test_shared_asset_commune_page_in_offline_chromium(shared_run):
    _, pages = shared_run
    with open_page(pages[1]) as (page, log):
        page.wait_for_function("window.lomsong !== undefined")
        assert page.evaluate("document.querySelectorAll('.leaflet-overlay-pane svg path').length") > 0
        page.locator(".leaflet-control-layers label", has_text="Mật độ điểm đo").locator("input").check()
        page.wait_for_timeout(300)
        assert page.evaluate("document.querySelectorAll('canvas.leaflet-heatmap-layer').length") == 1
        assert page.evaluate("document.querySelectorAll('.leaflet-control-measure').length") == 1
        assert log.errors == []
