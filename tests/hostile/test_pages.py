"""Hostile names in villages and boundaries: no script runs in any map page (headless Chromium)."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest

from lomsong.products.maps.build import build_maps
from lomsong.reference.units import unit_mapping
from lomsong.tables import results as res
from lomsong.testing import make_example_run
from tests.hostile.corpus import MARKUP_NAMES, hostile_communes, rename_hostile
from tests.support.browser import OPEN_EVERYTHING, open_page


@pytest.fixture(scope="module")
def hostile_pages(communes, tmp_path_factory):
    """A run whose villages, communes and gaps carry markup names, with its maps built."""
    folder = tmp_path_factory.mktemp("hostile-run")
    make_example_run(communes, folder)
    villages = gpd.read_parquet(folder / res.VILLAGES_PARQUET)
    rename_hostile(villages, ["name", "commune"]).to_parquet(folder / res.VILLAGES_PARQUET, index=False)
    gaps = gpd.read_parquet(folder / res.GAPS_PARQUET)
    rename_hostile(gaps, ["commune", "district", "communes"]).to_parquet(folder / res.GAPS_PARQUET, index=False)
    bad_communes = hostile_communes(communes)
    loaded = res.load_run(folder)
    code = str(loaded.gaps["commune_code"].iloc[0])
    unit = str(unit_mapping(bad_communes).set_index("commune_code").loc[code, "unit_code"])
    return build_maps(loaded, folder, bad_communes, commune_codes=[code], unit_codes=[unit])


def test_no_markup_name_runs_in_a_map_page(hostile_pages):
    assert len(hostile_pages) == 3  # the province, a commune and a 2025 unit
    for page_path in hostile_pages:
        content = page_path.read_text(encoding="utf-8")
        # a name can only end the script element or the title if it is written raw
        assert "</script><script>window.__xss" not in content
        assert "</title><script>" not in content
        with open_page(page_path) as (page, log):
            dialogs: list[str] = []

            def on_dialog(dialog, seen=dialogs) -> None:
                seen.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            opened = page.evaluate(OPEN_EVERYTHING)
            page.wait_for_timeout(200)
            assert opened > 10, "every popup and tooltip was opened"
            assert page.evaluate("window.__xss") is None, page_path
            assert dialogs == []
            assert page.locator("img[src=x], svg[onload]").count() == 0
            # the names are there, shown as text
            shown = page.evaluate("document.body.innerText + document.title")
            assert any(name in shown for name in MARKUP_NAMES)
            assert not [e for e in log.errors if re.search("xss|alert", e)]
