"""The maps from a run's analysis in memory are the maps from its folder read back (SYNTHETIC planted run)."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
import shapely

from lomsong.analysis.engine import analyse
from lomsong.products.maps.build import build_maps
from lomsong.products.maps.from_analysis import as_read_back, build_maps_of_analysis, run_results
from lomsong.products.tables import write_run
from lomsong.reference.units import parse_unit
from lomsong.settings import Config
from lomsong.tables.results import ANY_TECHNOLOGY, load_run
from tests.support.scenes import planted_scene

#: folium names every element with 32 random hex digits: the same page differs by them alone.
_ELEMENT_IDS = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def written(tmp_path_factory, communes, population_surface):
    folder = tmp_path_factory.mktemp("from-analysis")
    measurements, claims, _ = planted_scene()
    analysis = analyse(measurements, communes, population_surface, Config(), claims=claims)
    meta = {"tool": "lomsong", "synthetic": True, "data_period": {"start": pd.Timestamp("2026-09-01"), "end": None}}
    write_run(analysis, folder / "run", meta, synthetic=True)
    return analysis, folder


def _same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    assert list(left.columns) == list(right.columns)
    assert left.index.equals(right.index)
    for column in left.columns:
        if column == getattr(left, "_geometry_column_name", None):
            assert shapely.equals_exact(left[column].values, right[column].values, tolerance=0).all()
            assert left.crs == right.crs
        else:
            pd.testing.assert_series_equal(left[column], right[column], check_exact=True)


def test_the_tables_in_memory_are_the_tables_read_back(written):
    analysis, folder = written
    loaded, in_memory = load_run(folder / "run"), run_results(analysis, folder / "run")
    for name in ("gaps", "cells", "communes", "claims", "challenges"):
        _same(getattr(loaded, name), getattr(in_memory, name))
    assert in_memory.villages is None and loaded.villages is None
    assert in_memory.meta == loaded.meta
    assert sorted(in_memory.extras) == sorted(loaded.extras)
    for name in loaded.extras:
        _same(loaded.extras[name], in_memory.extras[name])
    # the maps' process is given the cells' any-technology views only, as load_run filters them
    only_any = run_results(analysis, folder / "run", cell_technologies=[ANY_TECHNOLOGY]).cells
    _same(load_run(folder / "run", cell_technologies=[ANY_TECHNOLOGY]).cells, only_any)
    assert set(only_any["technology"]) == {ANY_TECHNOLOGY} and 0 < len(only_any) < len(in_memory.cells)
    # read back twice is read back once
    _same(as_read_back(loaded.gaps), loaded.gaps)
    # run.json's contents as JSON gives them back, when they are given rather than read
    given = run_results(analysis, folder / "run", meta={"data_period": {"start": pd.Timestamp("2026-09-01")}})
    assert given.meta == {"data_period": {"start": "2026-09-01T00:00:00"}}


def test_the_pages_from_memory_are_the_pages_from_the_folder(written, communes, tmp_path):
    analysis, folder = written
    code = str(analysis.gaps["commune_code"].iloc[0])
    unit, _ = parse_unit(communes.loc[communes["commune_code"] == code, "unit_2025"].iloc[0])
    options = {"communes": communes, "commune_codes": [code], "unit_codes": [unit]}
    pages = {}
    for name in ("read", "memory"):
        shutil.copytree(folder / "run", tmp_path / name)
        if name == "read":
            written_pages = build_maps(load_run(tmp_path / name), tmp_path / name, **options)
        else:
            written_pages = build_maps_of_analysis(analysis, tmp_path / name, **options)
        pages[name] = {p.relative_to(tmp_path / name).as_posix(): p.read_text(encoding="utf-8") for p in written_pages}
    assert pages["read"].keys() == pages["memory"].keys()
    assert len(pages["read"]) == 3  # the province, the commune and its unit
    for page, text in pages["read"].items():
        assert _ELEMENT_IDS.sub("ID", text) == _ELEMENT_IDS.sub("ID", pages["memory"][page]), page
