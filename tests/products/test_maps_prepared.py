"""Map pages built from the prepared layers of a run are the pages built one by one, and a name is
never read as a template."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest

from lomsong.products.maps.build import build_maps, render_html
from lomsong.products.maps.layers import CommuneOutlines, PreparedLayers
from lomsong.products.maps.pages import commune_map, province_map, unit_map
from lomsong.reference.units import dissolve_units, unit_mapping
from lomsong.tables import results as res
from lomsong.testing import make_example_run

#: folium names every element with 32 random hex digits: the same page differs by them alone.
_ELEMENT_IDS = re.compile(r"[0-9a-f]{32}")
#: Jinja syntax in a user's village name: branca used to compile rendered markup as a template.
TEMPLATE_NAME = "Thôn {{ 7*7 }} {% if true %}x{% endif %} {# c #}"


def _same_page(html: str) -> str:
    return _ELEMENT_IDS.sub("ID", html)


@pytest.fixture(scope="module")
def example(communes, tmp_path_factory):
    """A hand-made run whose first village carries Jinja syntax in its name."""
    folder = tmp_path_factory.mktemp("prepared-run")
    make_example_run(communes, folder)
    villages = gpd.read_parquet(folder / res.VILLAGES_PARQUET)
    villages.loc[villages.index[0], "name"] = TEMPLATE_NAME
    villages.to_parquet(folder / res.VILLAGES_PARQUET, index=False)
    return res.load_run(folder), folder


def test_pages_from_shared_layers_are_the_pages_built_alone(example, communes, tmp_path):
    results, _ = example
    code = str(results.gaps["commune_code"].iloc[0])
    unit = str(unit_mapping(communes).set_index("commune_code").loc[code, "unit_code"])
    neighbour = str(communes["commune_code"].iloc[0])
    written = build_maps(results, tmp_path, communes, commune_codes=[code, neighbour], unit_codes=[unit])
    by_name = {page.relative_to(tmp_path).as_posix(): page.read_text(encoding="utf-8") for page in written}
    alone = {
        "index.html": province_map(results, communes),
        f"communes/{code}.html": commune_map(results, communes, code),
        f"communes/{neighbour}.html": commune_map(results, communes, neighbour),
        f"units/{unit}.html": unit_map(results, communes, unit),
    }
    assets = {"index.html": "assets", "communes": "../assets", "units": "../assets"}
    for name, page in alone.items():
        base = assets[name.split("/")[0]]
        assert _same_page(render_html(page, "shared", base)) == _same_page(by_name[name]), name
    # the shared layers are made once: the second commune page reuses the first one's
    prepared, units = PreparedLayers(results, communes, res.ALL_OPERATORS), dissolve_units(communes)
    commune_map(results, communes, code, prepared=prepared, units=units)
    kept = dict(prepared._memo)
    commune_map(results, communes, neighbour, prepared=prepared, units=units)
    assert set(prepared._memo) == set(kept)
    assert all(prepared._memo[key] is kept[key] for key in kept)


def test_a_name_with_template_syntax_is_written_as_it_is(example, communes, tmp_path):
    results, _ = example
    page = render_html(province_map(results, communes), "inline")
    # in the villages' GeoJSON and search entries as written (json escapes the ô), never evaluated
    assert "{{ 7*7 }} {% if true %}x{% endif %} {# c #}" in page
    assert " 49 x " not in page


def test_outlines_made_before_the_run_give_the_same_pages(example, communes, tmp_path):
    """The maps' process makes the communes' part first (CommuneOutlines); the pages are those made without it."""
    results, _ = example
    code = str(results.gaps["commune_code"].iloc[0])
    unit = str(unit_mapping(communes).set_index("commune_code").loc[code, "unit_code"])
    outlines = CommuneOutlines(communes).prepare_all()
    kept = dict(outlines._memo)
    pages = {}
    for name, extra in (("with", {"outlines": outlines}), ("without", {})):
        written = build_maps(results, tmp_path / name, communes, commune_codes=[code], unit_codes=[unit], **extra)
        pages[name] = [_same_page(page.read_text(encoding="utf-8")) for page in written]
    assert pages["with"] == pages["without"] and len(pages["with"]) == 3
    # nothing of the communes was made again: every page used what was prepared
    assert set(outlines._memo) == set(kept) and all(outlines._memo[key] is kept[key] for key in kept)
    # outlines of another table are not used for this one
    assert PreparedLayers(results, communes.copy(), res.ALL_OPERATORS, outlines=outlines).outlines is not outlines


def test_pages_of_a_table_without_2025_units_are_the_pages_built_alone(example, communes, tmp_path):
    """The 2019 communes alone (no ``unit_2025``): no unit pages, the commune pages as built one by one."""
    results, _ = example
    old = communes.drop(columns="unit_2025")
    code = str(results.gaps["commune_code"].iloc[0])
    written = build_maps(results, tmp_path, old, commune_codes=[code])
    assert [page.relative_to(tmp_path).as_posix() for page in written] == ["index.html", f"communes/{code}.html"]
    alone = render_html(commune_map(results, old, code), "shared", "../assets")
    assert _same_page(alone) == _same_page(written[1].read_text(encoding="utf-8"))
