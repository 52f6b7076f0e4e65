"""Maps: content and weight of the pages, offline assets, CLI, and real headless Chromium with no network."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lomsong import paths
from lomsong.cli import app
from lomsong.products.maps import assets as _mapassets
from lomsong.products.maps.build import build_maps, render_html
from lomsong.products.maps.layers import commune_features
from lomsong.products.maps.pages import commune_map, province_map, unit_map
from lomsong.products.maps.style import INSUFFICIENT_CLASS, INSUFFICIENT_CLASS_COLOUR, SHARE_COLOURS, STATE_COLOURS
from lomsong.products.words import format_number, format_share, text
from lomsong.reference.units import MAPPED_WHOLE_NOTE, dissolve_units, unit_mapping
from lomsong.testing import make_example_run
from tests.support.browser import open_page

LAYER_KEYS_VI = [
    text("vi", "layer_communes"),
    text("vi", "layer_gaps"),
    "Ô lưới H3 theo tín hiệu — Viettel",
    "Ô lưới H3 theo tín hiệu — VinaPhone (VNPT)",
    "Ô lưới H3 theo tín hiệu — Tất cả nhà mạng",
    text("vi", "layer_heat"),
    text("vi", "layer_villages"),
    text("vi", "layer_units"),
    text("vi", "layer_districts_2019"),
    text("vi", "layer_labels_2025"),
]
BASE_LAYERS_VI = ["OpenStreetMap", "Nền xám nhạt (Esri)", "Ảnh vệ tinh (Esri)"]


@pytest.fixture(scope="module")
def example_run(communes, tmp_path_factory):
    """A hand-made run with maps built (province + Thị trấn Đắk Mil's page)."""
    folder = tmp_path_factory.mktemp("run")
    results = make_example_run(communes, folder)
    pages = build_maps(
        results, folder, communes, commune_codes=["24664"], unit_codes=[UNIT_OF_DAK_MIL(communes)], asset_mode="inline"
    )
    return results, pages


@pytest.fixture(scope="module")
def shared_run(communes, tmp_path_factory):
    """The same run with its pages sharing one script and one stylesheet (the default)."""
    folder = tmp_path_factory.mktemp("shared")
    results = make_example_run(communes, folder)
    return folder, build_maps(results, folder, communes, commune_codes=["24664", "24661"], unit_codes=[])


def UNIT_OF_DAK_MIL(communes) -> str:  # noqa: N802 - reads as the constant it is
    """The 2025 unit Thị trấn Đắk Mil (24664) was mapped into."""
    return unit_mapping(communes).set_index("commune_code").loc["24664", "unit_code"]


def test_numbers_are_formatted_for_vietnamese_readers():
    assert format_number(622168, "vi") == "622.168"
    assert format_number(622168, "en") == "622,168"
    assert format_number(12.345, "vi", 1) == "12,3"
    assert format_share(0.125, "vi") == "12,5 %"
    assert format_number(None, "vi") == "–"


def test_pages_are_written_and_load_no_code_from_other_servers(example_run):
    results, pages = example_run
    index, commune_page, unit_page = pages
    assert index.name == "index.html" and commune_page.relative_to(index.parent).as_posix() == "communes/24664.html"
    assert unit_page.parent.relative_to(index.parent).as_posix() == "units"
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
        # The heat map and a cell layer switch on without errors (the layer panel opens on hover).
        for label in ["Mật độ điểm đo", "Ô lưới H3 theo tín hiệu — Viettel"]:
            page.hover(".leaflet-control-layers")
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
        page.hover(".leaflet-control-layers")  # the layer panel opens collapsed
        page.locator(".leaflet-control-layers label", has_text="Mật độ điểm đo").locator("input").check()
        page.wait_for_timeout(300)
        assert page.evaluate("document.querySelectorAll('canvas.leaflet-heatmap-layer').length") == 1
        assert page.evaluate("document.querySelectorAll('.leaflet-control-measure').length") == 1


# ----------------------------------------------------------------------------------------------
# Issue 14: today's units, denominators, a map that reads at 1366×768


def _lab(colours: list[str], vision: str) -> np.ndarray:
    """CIELAB of sRGB colours as seen with a colour-vision deficiency (Machado et al. 2009, severity 1)."""
    matrices = {
        "normal": np.eye(3),
        "protan": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
        "deutan": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
        "tritan": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
    }
    rgb = np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in colours])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    linear = np.clip(linear @ np.asarray(matrices[vision]).T, 0, 1)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


@pytest.mark.parametrize("vision", ["normal", "protan", "deutan", "tritan"])
def test_cell_classes_stand_apart_from_every_choropleth_class_for_every_colour_vision(vision):
    choropleth = [*SHARE_COLOURS, INSUFFICIENT_CLASS_COLOUR]
    for state in ("weak", "covered"):
        distance = np.linalg.norm(
            _lab([STATE_COLOURS[state]], vision)[:, None] - _lab(choropleth, vision)[None], axis=2
        )
        # ΔE*ab 20 is a clearly different colour; the old vermilion was 2.2 from YlOrRd's red for deuteranopes.
        assert distance.min() >= 20, (state, vision, distance.round(1))
    weak_vs_covered = np.linalg.norm(_lab([STATE_COLOURS["weak"]], vision) - _lab([STATE_COLOURS["covered"]], vision))
    assert weak_vs_covered >= 20


def test_a_commune_mostly_without_evidence_is_its_own_class_not_zero_percent(communes):
    chosen = communes.iloc[:3]
    population = chosen["population"].astype(float).to_numpy()
    summary = pd.DataFrame(
        {
            "commune_code": chosen["commune_code"].to_numpy(),
            "people_in_gaps": [0.0, 0.0, 0.12 * population[2]],
            "share_people_covered": [0.09, 0.8, 0.58],
            "share_people_no_data": [0.91, 0.2, 0.30],
            "n_gaps": [0, 0, 2],
        }
    )
    features = commune_features(chosen, summary, "vi")["features"]
    unmeasured, measured_none, in_gaps = (f["properties"] for f in features)
    assert unmeasured["cls"] == INSUFFICIENT_CLASS and unmeasured["fill"] == INSUFFICIENT_CLASS_COLOUR
    assert "0 %" not in unmeasured["label"] and text("vi", "state_insufficient") in unmeasured["label"]
    assert measured_none["cls"] == 0 and measured_none["fill"] == SHARE_COLOURS[0]
    assert in_gaps["fill"] == SHARE_COLOURS[4]  # 10 % – 20 %
    # The popup gives the three parts of the commune's people, each with its share of the same population.
    for properties, shares in zip((unmeasured, in_gaps), ((0.0, 0.09, 0.91), (0.12, 0.58, 0.30)), strict=True):
        people = population[0] if properties is unmeasured else population[2]
        for share in shares:
            assert f"{format_number(people * share, 'vi')} người ({format_share(share, 'vi')})" in properties["popup"]
    unit = unit_mapping(communes).set_index("commune_code").loc[chosen["commune_code"].iloc[0], "unit"]
    assert unit in unmeasured["popup"]


def test_units_are_dissolved_whole_from_the_old_communes(communes):
    units = dissolve_units(communes)
    mapping = unit_mapping(communes)
    assert len(units) == mapping["unit_code"].nunique() == 28
    assert units["population"].sum() == pytest.approx(communes["population"].sum())
    assert units["n_old_communes"].sum() == len(communes)
    # The units cover exactly the old communes: same outer area, no commune left out.
    metric = communes.to_crs("EPSG:32648")
    assert units.to_crs("EPSG:32648").union_all().area == pytest.approx(metric.union_all().area, rel=1e-6)


def test_unit_page_speaks_of_that_unit_with_its_denominator(example_run, communes):
    results, pages = example_run
    code = UNIT_OF_DAK_MIL(communes)
    page = pages[2].read_text(encoding="utf-8")
    mapping = unit_mapping(communes)
    old = mapping[mapping["unit_code"] == code]
    assert text("vi", "unit_title", unit=old["unit"].iloc[0]) in page
    for name in old["commune"]:
        assert name in page
    own = results.communes[
        (results.communes["operator"] == "all") & results.communes["commune_code"].isin(old["commune_code"])
    ]
    assert f"Trên {format_number(own['population'].sum(), 'vi')} người" in page
    note = MAPPED_WHOLE_NOTE["vi"]
    assert note in page or json.dumps(note)[1:-1] in page  # in the unit popups (JSON in the page)
    with pytest.raises(KeyError, match="99999"):
        unit_map(results, communes, "99999")


def _overlap(a: list[float], b: list[float]) -> bool:
    return not (a[2] <= b[0] or a[0] >= b[2] or a[3] <= b[1] or a[1] >= b[3])


def test_province_map_reads_on_a_1366x768_laptop(example_run):
    """Collapsed layers, legend clear of controls, labels apart, metric scale, Vietnamese measuring, units found."""
    _, pages = example_run
    with open_page(pages[0], width=1366, height=768) as (page, log):
        page.wait_for_function("window.lomsong !== undefined && window.lomsong.declutter !== undefined")
        page.wait_for_timeout(400)
        shots = paths.out_dir()
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "screenshot_1366x768.png"))
        assert page.evaluate("document.querySelectorAll('.leaflet-control-layers-expanded').length") == 0
        assert page.locator(".leaflet-control-layers").bounding_box()["width"] < 60

        # The legend is a control of its own corner: it overlaps no other control, nor the title.
        boxes = page.evaluate(
            """Array.from(document.querySelectorAll('.leaflet-control, #lomsong-title')).map(e => {
                 const r = e.getBoundingClientRect(); return [e.id || e.className, r.left, r.top, r.right, r.bottom];
               }).filter(b => b[3] > b[1] && b[4] > b[2])"""
        )
        legend = next(b[1:] for b in boxes if b[0] == "lomsong-legend")
        assert legend[3] <= 768 and legend[2] <= 1366
        for name, *box in boxes:
            if name != "lomsong-legend":
                assert not _overlap(legend, box), name
        # Opened, the layer panel lies on top of whatever it reaches.
        page.hover(".leaflet-control-layers")
        page.wait_for_timeout(200)
        on_top = page.evaluate(
            """(() => {
                 const c = document.querySelector('.leaflet-control-layers'), r = c.getBoundingClientRect();
                 const points = [[r.left + 8, r.bottom - 8], [r.right - 8, r.bottom - 8],
                                 [(r.left + r.right) / 2, r.top + 8]];
                 return points.every(p => c.contains(document.elementFromPoint(p[0], p[1])));
               })()"""
        )
        assert on_top
        page.screenshot(path=str(shots / "screenshot_1366x768_layers.png"))
        page.mouse.move(700, 450)
        page.wait_for_timeout(200)

        def visible_labels() -> list[list]:
            return page.evaluate(
                """Array.from(document.querySelectorAll('.lomsong-label')).filter(e => e.style.visibility !== 'hidden')
                     .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom,
                       e.classList.contains('lomsong-label-unit')]; })
                     .filter(r => r[2] > 0 && r[3] > 0 && r[0] < innerWidth && r[1] < innerHeight)"""
            )

        shown = visible_labels()
        assert sum(1 for label in shown if label[4]) >= 20  # most of the 28 units are named at province scale
        assert not any(_overlap(a[:4], b[:4]) for i, a in enumerate(shown) for b in shown[i + 1 :])
        # Closer in, the old communes' names appear too, still apart.
        page.evaluate("window.lomsong.map.setView([12.0, 107.69], 11.5, {animate: false})")
        page.wait_for_timeout(300)
        closer = visible_labels()
        assert any(not label[4] for label in closer)
        assert not any(_overlap(a[:4], b[:4]) for i, a in enumerate(closer) for b in closer[i + 1 :])
        page.evaluate("window.lomsong.map.fitBounds(window.lomsong.communes.getBounds())")

        scale = page.inner_text(".leaflet-control-scale")
        assert re.search(r"\d+ k?m", scale) and "mi" not in scale and "ft" not in scale

        # The measuring tool speaks Vietnamese, also for what it writes while measuring.
        toggle = page.locator(".leaflet-control-measure-toggle")
        assert toggle.get_attribute("title") == text("vi", "measureDistancesAndAreas")
        page.hover(".leaflet-control-measure")
        page.click(".leaflet-control-measure .js-start")
        box = page.locator("#" + page.evaluate("window.lomsong.map.getContainer().id")).bounding_box()
        for dx in (0, 120):
            page.mouse.click(box["x"] + 500 + dx, box["y"] + 400)
        page.wait_for_timeout(200)
        measuring = page.inner_text(".leaflet-control-measure")
        assert text("vi", "pathDistance") in measuring and text("vi", "finishMeasurement") in measuring
        assert re.search(r"\d+,\d+ km", measuring), measuring  # Vietnamese decimal comma
        for english in ("Measure", "Path distance", "Finish", "Cancel", "Last point"):
            assert english not in measuring
        page.click(".leaflet-control-measure .js-cancel")

        # Today's units are found by name, without diacritics, and open their popup.
        page.fill(".lomsong-search input", "nam gia nghia")
        found = page.eval_on_selector_all(".lomsong-search li", "e => e.map(x => x.textContent)")
        assert found and found[0].startswith("Phường Nam Gia Nghĩa")
        page.locator(".lomsong-search li", has_text="Phường Nam Gia Nghĩa").first.click()
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(state="visible")
        assert text("vi", "old_communes") in popup.inner_text() and "trọn vẹn" in popup.inner_text()
        page.wait_for_timeout(800)  # the zoom animation
        title, opened = page.locator("#lomsong-title").bounding_box(), popup.bounding_box()
        assert opened["y"] >= title["y"] + title["height"], "the popup opens below the title block"
        page.screenshot(path=str(shots / "screenshot_1366x768_unit.png"))
        assert log.errors == []
