"""Villages on the maps: tiers and people in popups, the village layer on commune pages, search by village."""

from __future__ import annotations

import pytest

from lomsong.products.maps.build import build_maps
from lomsong.products.maps.layers import gap_features, village_features
from lomsong.testing import make_example_run
from tests.support.browser import open_page

HOSTILE = "Buôn <b>Mới</b></script><script>window.pwned = 1</script>"


@pytest.fixture(scope="module")
def village_run(communes, tmp_path_factory):
    folder = tmp_path_factory.mktemp("village-run")
    results = make_example_run(communes, folder)
    results.villages.loc[2, "name"] = HOSTILE  # a user's village list may hold anything
    pages = build_maps(results, folder, communes, commune_codes=["24670"])  # Xã Đắk R'La: Bon Bu Đắk
    return results, pages


def test_village_popup_has_households_people_power_and_tiers(village_run):
    results, _ = village_run
    features = village_features(results.villages, "all", "vi")["features"]
    popup = features[1]["properties"]["popup"]
    for expected in ("Số hộ", "85", "Số dân", "340", "Điện lưới", "Có", "Lõm sóng", "Viettel", "Có sóng",
                     "Số hộ bị ảnh hưởng", "15"):  # fmt: skip
        assert expected in popup
    assert features[0]["properties"]["status"] == "trang_song"
    # the viettel view colours by viettel's tier
    assert village_features(results.villages, "viettel", "vi")["features"][1]["properties"]["status"] == "co_song"
    assert "<script>" not in features[2]["properties"]["popup"]  # escaped
    assert "<b>" not in features[2]["properties"]["label"]  # the tooltip is HTML too


def test_gap_popup_lists_its_villages(village_run):
    results, _ = village_run
    gaps = results.gaps[results.gaps["villages"].astype(str) != ""]
    popup = gap_features(gaps, "vi")["features"][0]["properties"]["popup"]
    assert "Thôn, bon trong vùng" in popup and gaps.iloc[0]["villages"].split(" (")[0] in popup


def test_search_finds_villages_without_diacritics_and_opens_their_popup(village_run):
    _, pages = village_run
    with open_page(pages[0]) as (page, log):
        page.wait_for_function("window.lomsong !== undefined")
        assert page.evaluate("window.lomsong.map.hasLayer(window.lomsong.layers.villages)") is False
        page.fill(".lomsong-search input", "bon bu dak")
        found = page.eval_on_selector_all(".lomsong-search li", "e => e.map(x => x.textContent)")
        assert any(item.startswith("Bon Bu Đắk") for item in found)
        page.click(".lomsong-search li[data-code='v1']")
        page.wait_for_function(
            "document.querySelector('.leaflet-popup-content') && "
            "document.querySelector('.leaflet-popup-content').innerText.indexOf('Bon Bu Đắk') !== -1"
        )
        popup = page.inner_text(".leaflet-popup-content")
        assert "Lõm sóng" in popup and "Số hộ" in popup
        # the hostile village name is shown as text, never run
        page.fill(".lomsong-search input", "buon")
        found = page.eval_on_selector_all(".lomsong-search li", "e => e.map(x => x.textContent)")
        assert any("<b>Mới</b>" in item for item in found)
        assert page.evaluate("window.pwned === undefined")
        assert log.errors == []


def test_commune_page_shows_the_village_layer_by_default(village_run):
    _, pages = village_run
    with open_page(pages[1]) as (page, log):
        page.wait_for_function("window.lomsong !== undefined")
        assert page.evaluate("window.lomsong.map.hasLayer(window.lomsong.layers.villages)") is True
        assert "Trắng sóng" in page.inner_text("#lomsong-legend")
        assert log.errors == []


def test_monthly_report_counts_villages_by_the_two_tiers(village_run):
    from lomsong.products.report.model import _operator_table

    results, _ = village_run
    table = _operator_table(results, None, "vi")
    rows = dict(zip(table.frame.iloc[:, 0], table.frame.to_dict(orient="records"), strict=True))
    everyone = rows["Tất cả nhà mạng"]
    villages = results.villages
    assert everyone["Thôn trắng sóng (CV 1603)"] == int((villages["status_cv1603"] == "trang_song").sum()) == 1
    assert everyone["Thôn lõm sóng (CV 1603)"] == int((villages["status_cv1603"] == "lom_song").sum()) == 1
    assert rows["Viettel"]["Thôn lõm sóng (CV 1603)"] == 0 and rows["Viettel"]["Thôn trắng sóng (CV 1603)"] == 1
