"""The remedy plan's files: ``plan.csv``, ``plan.xlsx`` (Vietnamese headers) and ``plan.geojson``.

``plan.geojson`` holds each proposed site as a Point and, as a second feature, the area its
predicted coverage reaches (the union of the H3 cells it covers, EPSG:4326). Everything here is a
prediction from the radio map's fitted model, never evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lomsong.products import words
from lomsong.products.tables import SYNTHETIC_NOTE_EN, SYNTHETIC_NOTE_VI, write_json, write_table_csv
from lomsong.products.workbook import Sheet, readable_values, write_workbook

PLAN_CSV = "plan.csv"
PLAN_XLSX = "plan.xlsx"
PLAN_GEOJSON = "plan.geojson"
PLAN_JSON = "plan.json"

#: Plan columns (``plan.csv``, ``plan.xlsx``), with their meaning.
PLAN_SCHEMA: list[tuple[str, str]] = [
    ("order", "1 = chosen first (the most people newly covered)"),
    ("candidate_id", "village:<name>@<commune>, commune:<code>, shared:<operator>:<site>, or the user's id"),
    ("candidate_kind", "village, commune_centre, shared_site (another operator's site) or user"),
    ("lon", "longitude"),
    ("lat", "latitude"),
    ("unit", "2025 unit holding the site"),
    ("commune_code", "2019 commune GSO code"),
    ("commune", "2019 commune"),
    ("district", "2019 district"),
    ("operator", "the operator that would build"),
    ("technology", "the technology of the new site"),
    ("people_newly_covered", "this site's marginal people: in gaps and not covered by the sites above it"),
    ("people_newly_covered_measured", "of them, people in measured gaps"),
    ("people_newly_covered_predicted", "of them, people in unmeasured cells the radio map predicts weak"),
    ("cumulative_people", "people newly covered by this site and all above it"),
    ("villages_newly_covered", "villages whose centre's cell was weak (or predicted weak) and is covered here"),
    ("village_names", "those villages with their people, ';'-joined"),
    ("villages_resolved", "trắng/lõm sóng villages of the network (CV 1603) with no weak place left"),
    ("has_grid_power", "the candidate has grid power (villages: from the village list)"),
    ("note", "why this candidate (commune centre, infrastructure sharing, needs grid power, the user's note)"),
    ("cost", "the user's cost, when given"),
]
PLAN_COLUMNS = [name for name, _ in PLAN_SCHEMA]


def write_plan(
    plan: pd.DataFrame,
    out: str | Path,
    *,
    cells: np.ndarray,
    site_cells: Sequence[np.ndarray],
    new_cells: Sequence[np.ndarray],
    synthetic: bool = False,
    meta: dict[str, Any] | None = None,
) -> list[str]:
    """Write ``plan.csv``, ``plan.xlsx``, ``plan.geojson`` and ``plan.json`` into ``out``.

    Parameters
    ----------
    plan : pandas.DataFrame
        :data:`PLAN_COLUMNS`.
    out : str or Path
        Folder (created).
    cells : numpy.ndarray
        H3 ids (``uint64``) of the view's cells, indexed by the positions in ``site_cells``.
    site_cells, new_cells : sequence of numpy.ndarray
        Per site: every cell it covers, and the cells it newly covers.
    synthetic : bool
        Label the files as synthetic.
    meta : dict, optional
        Recorded in ``plan.json`` (model, antenna height, run).

    Returns
    -------
    list of str
        File names written.
    """
    import geopandas as gpd
    import pyarrow as pa
    import pyogrio
    import shapely
    from h3ronpy.vector import cells_to_wkb_polygons

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = plan.reindex(columns=PLAN_COLUMNS)
    write_table_csv(frame, PLAN_COLUMNS, out / PLAN_CSV, synthetic)
    note = f"{SYNTHETIC_NOTE_VI} {SYNTHETIC_NOTE_EN}" if synthetic else ""
    sheet = Sheet("Phương án xử lý", readable_values(frame))
    write_workbook([sheet], out / PLAN_XLSX, synthetic_note=note)
    ids = np.asarray(cells, dtype="uint64")
    areas = []
    for covered in site_cells:  # one union per proposed site
        if len(covered) == 0:
            areas.append(None)
            continue
        linked = pa.array(cells_to_wkb_polygons(ids[covered], link_cells=True)).to_pylist()
        polygons = shapely.from_wkb(np.asarray(linked, dtype=object))
        areas.append(shapely.union_all(polygons))
    attributes = pd.DataFrame(frame).astype({"has_grid_power": "boolean"})
    points = attributes.assign(feature="site", prediction=True)
    coverage = attributes.assign(feature="predicted_coverage", prediction=True)
    coverage["cells_newly_covered"] = [len(c) for c in new_cells]
    layer = gpd.GeoDataFrame(
        pd.concat([points, coverage], ignore_index=True),
        geometry=[*shapely.points(frame["lon"], frame["lat"]), *areas],
        crs="EPSG:4326",
    )
    description = "Phương án xử lý vùng lõm sóng (dự báo, không phải số đo) / remedy plan (prediction)."
    if synthetic:
        description = f"{note} {description}"
    pyogrio.write_dataframe(
        layer,
        out / PLAN_GEOJSON,
        driver="GeoJSON",
        layer="plan",
        layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "6", "DESCRIPTION": description},
    )
    write_json({**(meta or {}), "synthetic": bool(synthetic), "sites": len(frame)}, out / PLAN_JSON)
    return [PLAN_CSV, PLAN_XLSX, PLAN_GEOJSON, PLAN_JSON]


__all__ = ["PLAN_COLUMNS", "PLAN_SCHEMA", "write_plan", "words"]
