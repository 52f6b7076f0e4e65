"""A run's :class:`~lomsong.tables.results.RunResults` from its analysis in memory, as if its folder were read back.

:func:`lomsong.tables.results.load_run` reads every table of a run folder, and most of its time
goes into making shapely geometries from the GeoParquet WKB again. While a run is being written
its tables are in memory already: :func:`run_results` gives the :class:`RunResults` that
``load_run`` would give for the folder :func:`lomsong.products.tables.write_run` writes, from
those tables. Every table takes the same Arrow round trip as through Parquet (so its columns
have the dtypes read back) except the geometries, which are kept (a WKB round trip returns the
same coordinates). The map pages built from it are the pages built from ``load_run``
(``tests/products/test_maps_from_analysis.py``). It needs neither folium nor the maps, so the run
makes it for the maps' process (:mod:`lomsong.jobs._maps_process`) without importing them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import orjson
import pandas as pd
import pyarrow as pa

from lomsong.products.tables import AnalysisLike, _json_default
from lomsong.reference.boundaries import STORAGE_CRS
from lomsong.tables.results import RUN_JSON, RunResults


def as_read_back(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """``frame`` as reading back the Parquet file that ``write_geoparquet`` writes would give it.

    A GeoDataFrame in EPSG:4326 with a fresh index and its columns' read-back dtypes, its
    geometries the same objects (no WKB round trip); a plain frame (read with ``pandas``) alike.
    """
    if frame is None:
        return None
    if not isinstance(frame, gpd.GeoDataFrame):
        return pa.Table.from_pandas(frame, preserve_index=False).to_pandas()
    stored = (frame if frame.crs is not None else frame.set_crs(STORAGE_CRS)).to_crs(STORAGE_CRS)
    name = stored.geometry.name
    others = [
        column
        for column in stored.columns
        if column != name and isinstance(stored[column].dtype, gpd.array.GeometryDtype)
    ]
    if others:  # several geometry columns: as written and read back
        raise ValueError(f"{', '.join(others)}: a table with more than one geometry column is read from its file")
    attributes = pa.Table.from_pandas(pd.DataFrame(stored.drop(columns=name)), preserve_index=False).to_pandas()
    attributes.insert(list(stored.columns).index(name), name, stored.geometry.to_numpy())
    return gpd.GeoDataFrame(attributes, geometry=name, crs=stored.crs)


def run_results(
    analysis: AnalysisLike,
    folder: str | Path,
    meta: dict[str, Any] | None = None,
    *,
    cell_technologies: Sequence[str] | None = None,
) -> RunResults:
    """The :class:`RunResults` of the run folder written from ``analysis``, made from the tables in memory.

    Parameters
    ----------
    analysis : lomsong.analysis.engine.Analysis
        The analysis that ``write_run`` writes (or is writing) into ``folder``.
    folder : str or Path
        The run folder (its staging folder while it is written): the pages' links and files.
    meta : dict, optional
        ``run.json`` as written; default: read from ``folder``.
    cell_technologies : sequence of str, optional
        Only the cells of these technologies, as ``load_run(folder, cell_technologies=…)`` gives
        them (the maps draw the ``any`` views only).

    Returns
    -------
    RunResults
        What ``load_run(folder, cell_technologies=cell_technologies)`` gives once the folder is written.
    """
    folder = Path(folder)
    if meta is None:
        meta = json.loads((folder / RUN_JSON).read_text(encoding="utf-8"))
    else:  # as run.json gives it back: JSON types only
        meta = orjson.loads(orjson.dumps(meta, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY))
    extras: dict[str, Any] = {}
    predicted = getattr(analysis, "predicted_gaps", None)
    if predicted is not None:
        extras["predicted_gaps"] = as_read_back(predicted)
    sites = getattr(analysis, "sites", None)
    if sites is not None and len(sites):
        extras["sites"] = as_read_back(pd.DataFrame(sites))
    claims = getattr(analysis, "claims", None)
    cells = analysis.cells
    if cell_technologies is not None:  # the rows the Parquet filter keeps, in their order
        cells = cells[cells["technology"].isin(list(cell_technologies)).to_numpy(bool)]
    return RunResults(
        folder=folder,
        meta=meta,
        gaps=as_read_back(analysis.gaps),
        cells=as_read_back(cells),
        communes=as_read_back(pd.DataFrame(analysis.communes)),
        villages=as_read_back(analysis.villages),
        claims=None if claims is None else as_read_back(pd.DataFrame(claims.summary)),
        challenges=None if claims is None else as_read_back(claims.challenges),
        extras=extras,
    )


__all__ = ["as_read_back", "run_results"]
