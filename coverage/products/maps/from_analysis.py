"""The maps of a run straight from its analysis in memory, as if its tables were read back from the folder.

:func:`lomsong.products.run_results.run_results` gives the :class:`RunResults` that ``load_run``
would give for the folder being written, from the tables in memory; :func:`build_maps_of_analysis`
draws the pages from it (the same pages, ``tests/products/test_maps_from_analysis.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lomsong.products.maps.build import build_maps
from lomsong.products.run_results import as_read_back, run_results
from lomsong.products.tables import AnalysisLike


def build_maps_of_analysis(
    analysis: AnalysisLike, folder: str | Path, *, meta: dict[str, Any] | None = None, **options: Any
) -> list[Path]:
    """:func:`~lomsong.products.maps.build.build_maps` of :func:`run_results` (no table read back).

    ``options`` are :func:`build_maps`'s (``communes``, ``on_page`` …).
    """
    return build_maps(run_results(analysis, folder, meta), folder, **options)


__all__ = ["as_read_back", "build_maps_of_analysis", "run_results"]
