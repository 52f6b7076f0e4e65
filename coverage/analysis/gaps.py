"""Gap areas: connected weak cells of one view, with their people, communes, evidence and rank.

Weak cells of a view that are H3 neighbours belong to one gap (connected components of the
neighbour graph, :func:`scipy.sparse.csgraph.connected_components`). A gap's polygon is the union
of its hexagons; its ``gap_id`` is ``<operator>-<technology>-<hash>`` where the hash is the first
10 hex digits of the SHA-1 of its sorted H3 cell ids (uint64, little-endian), so the same weak
cells always give the same id. Its people are the sum of its cells' people (pixel sums, so gaps
and communes conserve the raster), split per commune by the pixels' own commune.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from h3ronpy.vector import cells_to_wkb_polygons
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lomsong.analysis.aggregate import CellStatistics, Samples, group_statistics, membership_parts
from lomsong.analysis.evidence import WEAK
from lomsong.analysis.grid import Grid, cell_centres, cell_polygons, neighbour_pairs
from lomsong.reference.boundaries import METRIC_CRS, STORAGE_CRS
from lomsong.reference.units import add_unit_columns
from lomsong.tables.results import GAP_COLUMNS


def connected_weak_cells(view: np.ndarray, cell: np.ndarray, grid: Grid) -> np.ndarray:
    """Label connected weak cells: entries of the same view that are H3 neighbours share a label.

    Parameters
    ----------
    view, cell : numpy.ndarray
        View code and cell position of each weak entry (unique pairs).
    grid : Grid
        Province grid.

    Returns
    -------
    numpy.ndarray
        Component label (0 … n-1) of each entry.
    """
    n_entries = len(view)
    if n_entries == 0:
        return np.zeros(0, dtype="int64")
    n_cells = len(grid.cells)
    key = view.astype("int64") * n_cells + cell
    order = np.argsort(key)
    sorted_key = key[order]
    unique_cells, entry_cell = np.unique(cell, return_inverse=True)
    first, second = neighbour_pairs(grid.cells[unique_cells])
    # Each neighbour pair of weak cells, repeated for every view in which the first is weak.
    entries = pd.DataFrame({"entry": np.arange(n_entries), "unique_cell": entry_cell, "view": view})
    pairs = pd.DataFrame({"unique_cell": first, "other": unique_cells[second]})
    joined = entries.merge(pairs, on="unique_cell")
    wanted = joined["view"].to_numpy("int64") * n_cells + joined["other"].to_numpy("int64")
    slot = np.clip(np.searchsorted(sorted_key, wanted), 0, n_entries - 1)
    hit = sorted_key[slot] == wanted
    source = joined["entry"].to_numpy("int64")[hit]
    target = order[slot[hit]]
    graph = coo_matrix((np.ones(len(source), dtype="int8"), (source, target)), shape=(n_entries, n_entries))
    _, labels = connected_components(graph, directed=False)
    return labels.astype("int64")


def _gap_hashes(label: np.ndarray, cells: np.ndarray, n_gaps: int) -> list[str]:
    """SHA-1 prefix of each gap's sorted cell ids (a loop over gaps, not cells)."""
    order = np.lexsort((cells, label))
    sorted_cells = cells[order].astype("<u8")
    bounds = np.searchsorted(label[order], np.arange(n_gaps + 1))
    return [hashlib.sha1(sorted_cells[bounds[g] : bounds[g + 1]].tobytes()).hexdigest()[:10] for g in range(n_gaps)]


def _gap_polygons(label: np.ndarray, view: np.ndarray, cells: np.ndarray, n_gaps: int) -> np.ndarray:
    """Union of each gap's hexagons (EPSG:4326), linking the weak cells of one view at a time."""
    geometries = np.empty(n_gaps, dtype=object)
    first_entry = np.unique(label, return_index=True)[1]
    for view_code in np.unique(view):
        members = view == view_code
        linked = pa.array(cells_to_wkb_polygons(cells[members], link_cells=True)).to_pylist()
        polygons = shapely.from_wkb(np.asarray(linked, dtype=object))
        gaps_here = np.unique(label[members])
        probe = shapely.points(*cell_centres(cells[first_entry[gaps_here]]))
        point_idx, polygon_idx = shapely.STRtree(polygons).query(probe, predicate="within")
        if len(polygons) == len(gaps_here) and len(point_idx) == len(gaps_here):
            geometries[gaps_here[point_idx]] = polygons[polygon_idx]
        else:  # linking disagreed with the components (should not happen): union each gap itself
            for gap in gaps_here:
                geometries[gap] = shapely.union_all(cell_polygons(cells[label == gap]))
    return geometries


def _commune_lists(
    label: np.ndarray, cell: np.ndarray, grid: Grid, communes: pd.DataFrame, n_gaps: int
) -> pd.DataFrame:
    """Per gap: communes touched (most people first) with the people of each inside the gap."""
    shares = grid.cell_communes[["cell", "commune_code", "area_km2", "population"]]
    joined = pd.DataFrame({"gap": label, "cell": cell}).merge(shares, on="cell")
    per = joined.groupby(["gap", "commune_code"], as_index=False)[["population", "area_km2"]].sum()
    per = per.merge(communes[["commune_code", "commune", "district_code", "district"]], on="commune_code", how="left")
    per = per.sort_values(["gap", "population", "area_km2", "commune_code"], ascending=[True, False, False, True])
    gap = per["gap"].to_numpy("int64")
    starts = np.flatnonzero(np.r_[True, gap[1:] != gap[:-1]])

    def joined_text(values: np.ndarray) -> np.ndarray:
        # ";"-joined values of each gap: one string concatenation pass (reduceat), not a Python join per gap
        with_separator = np.asarray(values, dtype=object) + ";"
        return np.asarray([text[:-1] for text in np.add.reduceat(with_separator, starts)], dtype=object)

    people = per["population"].round().astype("int64").astype(str).to_numpy(object)
    lists = pd.DataFrame(
        {
            "commune_codes": joined_text(per["commune_code"].astype(str).to_numpy(object)),
            "communes": joined_text(per["commune"].fillna("").astype(str).to_numpy(object)),
            "commune_population": joined_text(people),
        },
        index=gap[starts],
    )
    primary = per.iloc[starts].set_index("gap")[["commune_code", "commune", "district_code", "district"]]
    return lists.join(primary).reindex(range(n_gaps))


#: Columns every kind of area shares (gaps, predicted gaps, over-claimed areas), from :func:`merge_areas`.
AREA_COLUMNS = (
    "operator", "technology", "population", "area_km2", "n_cells", "commune_code", "commune", "district_code",
    "district", "commune_codes", "communes", "commune_population", "centroid_lon", "centroid_lat",
)  # fmt: skip


@dataclass
class Areas:
    """Entries (view × cell) merged into areas: connected cells of one view, as H3 neighbours.

    Attributes
    ----------
    label : numpy.ndarray
        Area (0 … count-1) of each entry.
    count : int
        Number of areas.
    view : numpy.ndarray
        View of each area.
    hashes : numpy.ndarray
        First 10 hex digits of the SHA-1 of each area's sorted cells: the stable part of its id.
    geometry : numpy.ndarray
        Each area's polygon (union of its hexagons, EPSG:4326).
    columns : dict
        :data:`AREA_COLUMNS` per area: its view's operator and technology, people, km², cells,
        communes (the one holding most people first, with each commune's people) and a point
        inside.
    """

    label: np.ndarray
    count: int
    view: np.ndarray
    hashes: np.ndarray
    geometry: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)


def merge_areas(
    view: np.ndarray, cell: np.ndarray, grid: Grid, views: pd.DataFrame, communes: pd.DataFrame
) -> Areas:
    """Merge view × cell entries into connected areas with what every area table shares.

    Gaps (weak cells), predicted gaps (predicted weak) and over-claimed areas are all made here,
    so their ids, polygons, people and commune lists follow one rule.

    Parameters
    ----------
    view, cell : numpy.ndarray
        View code and grid position of each entry (int64).
    grid : Grid
        Province grid.
    views : pandas.DataFrame
        ``operator`` and ``technology`` per view code.
    communes : pandas.DataFrame
        Canonical commune table (codes, names, districts).

    Returns
    -------
    Areas
    """
    label = connected_weak_cells(view, cell, grid)
    count = int(label.max()) + 1 if len(label) else 0
    area_view = np.zeros(count, dtype="int64")
    area_view[label] = view
    hashes = np.asarray(_gap_hashes(label, grid.cells[cell], count), dtype=object)
    geometry = _gap_polygons(label, view, grid.cells[cell], count) if count else np.empty(0, dtype=object)
    # h3ronpy's linking starts each ring at a vertex that changes from process to process: fix one
    # start (normalize) and keep exterior rings counter-clockwise, so the same input writes the same files
    geometry = shapely.orient_polygons(shapely.normalize(geometry), exterior_cw=False)
    if count == 0:
        return Areas(label, 0, area_view, hashes, geometry, {c: np.empty(0, dtype=object) for c in AREA_COLUMNS})
    metric = gpd.GeoSeries(geometry, crs=STORAGE_CRS).to_crs(METRIC_CRS)
    inside = shapely.point_on_surface(geometry)
    lists = _commune_lists(label, cell, grid, communes, count)
    columns = {
        "operator": views["operator"].to_numpy(object)[area_view],
        "technology": views["technology"].to_numpy(object)[area_view],
        "population": np.bincount(label, weights=grid.population[cell], minlength=count),
        "area_km2": metric.area.to_numpy() / 1e6,
        "n_cells": np.bincount(label, minlength=count).astype("int64"),
        **{name: lists[name].to_numpy(object) for name in AREA_COLUMNS[5:12]},
        "centroid_lon": shapely.get_x(inside),
        "centroid_lat": shapely.get_y(inside),
    }
    return Areas(label, count, area_view, hashes, geometry, columns)


def gap_members(
    samples: Samples, views: pd.DataFrame, n_cells: int, view: np.ndarray, cell: np.ndarray, label: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(gap, sample position)`` of every membership that falls in a gap's view × cell.

    Parameters
    ----------
    samples : Samples
        Coded samples.
    views : pandas.DataFrame
        Views.
    n_cells : int
        Grid cells.
    view, cell, label : numpy.ndarray
        View, cell position and gap label of each weak entry.

    Returns
    -------
    tuple of numpy.ndarray
    """
    # view × cell keys are few (views × cells): a dense key → gap table, filled before any
    # membership piece is kept, so only the memberships inside gaps are ever held.
    gap_of_key = np.full(len(views) * n_cells, -1, dtype="int64")
    gap_of_key[view * n_cells + cell] = label
    gaps, positions = [np.zeros(0, "int64")], [np.zeros(0, "int64")]
    for sample, member_view in membership_parts(samples, views):  # four pieces
        gap = gap_of_key[member_view * n_cells + samples.cell[sample]]
        hit = gap >= 0
        gaps.append(gap[hit])
        positions.append(sample[hit])
    return np.concatenate(gaps), np.concatenate(positions)


def operators_tested(
    gap: np.ndarray, sample: np.ndarray, samples: Samples, n_gaps: int, min_samples: int, min_devices: int
) -> np.ndarray:
    """Return a ``(n_gaps, n_operators)`` boolean table: was the operator measured inside the gap?

    Parameters
    ----------
    gap : numpy.ndarray
        Gap label of each membership.
    sample : numpy.ndarray
        Sample position of each membership (same length as ``gap``).
    samples : Samples
        Coded samples.
    n_gaps : int
        Number of gaps.
    min_samples, min_devices : int
        An operator counts as tested with at least this many samples from this many devices.

    Returns
    -------
    numpy.ndarray
        True where the operator's samples inside the gap meet the rule.
    """
    n_operators = max(len(samples.operators), 1)
    operator = samples.operator[sample].astype("int64")
    group = gap.astype("int64") * n_operators + operator
    n_samples = np.bincount(group, minlength=n_gaps * n_operators)
    device = samples.device[sample].astype("int64")
    known = device >= 0
    pairs = np.unique(group[known] * (int(device.max(initial=0)) + 1) + device[known])
    n_devices = np.bincount(pairs // (int(device.max(initial=0)) + 1), minlength=n_gaps * n_operators)
    tested = (n_samples >= min_samples) & (n_devices >= min_devices)
    return tested.reshape(n_gaps, n_operators)


def find_gaps(
    grid: Grid,
    statistics: CellStatistics,
    samples: Samples,
    state: np.ndarray,
    meets_rule: np.ndarray,
    communes: pd.DataFrame,
    required_operators: np.ndarray | None = None,
    min_samples: int = 1,
    min_devices: int = 1,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Merge connected weak cells of each view into gap areas.

    Parameters
    ----------
    grid : Grid
        Province grid.
    statistics : CellStatistics
        Views and per view × cell statistics (the samples of each gap are found from ``samples``).
    samples : Samples
        Coded samples.
    state : numpy.ndarray
        ``(n_views, n_cells)`` state codes (:data:`lomsong.analysis.evidence.STATES`).
    meets_rule : numpy.ndarray
        ``(n_views, n_cells)`` True where the cell meets the view's evidence rule.
    communes : pandas.DataFrame
        Canonical commune table (codes, names, districts).
    required_operators : numpy.ndarray, optional
        Operator codes (into ``samples.operators``) that must have been tested inside an ``all``
        view gap for it to be ``confirmed``: the operators seen in the province's data.
    min_samples, min_devices : int
        What "tested inside the gap" means: at least this many samples from this many devices.

    Returns
    -------
    tuple
        The gap table (:data:`lomsong.tables.results.GAP_COLUMNS`, EPSG:4326, sorted by view order then
        rank) and the weak entries ``view``, ``cell``, ``gap_id``.
    """
    views = statistics.views
    n_cells = len(grid.cells)
    view, cell = np.nonzero(state == WEAK)
    view = view.astype("int64")
    cell = cell.astype("int64")
    areas = merge_areas(view, cell, grid, views, communes)
    label, n_gaps, gap_view = areas.label, areas.count, areas.view
    entries = pd.DataFrame({"view": view, "cell": cell, "gap": label})
    if n_gaps == 0:
        empty = gpd.GeoDataFrame(
            {c: pd.Series([], dtype="string" if c.startswith("unit_") else None) for c in GAP_COLUMNS[:-1]},
            geometry=[],
            crs=STORAGE_CRS,
        )
        return empty[GAP_COLUMNS], entries.assign(gap_id=pd.Series([], dtype="string")).drop(columns="gap")

    gap_id = areas.columns["operator"] + "-" + areas.columns["technology"] + "-" + areas.hashes

    # Samples of each gap: the memberships whose view × cell is one of the gap's cells.
    member_gap, member_sample = gap_members(samples, views, n_cells, view, cell, label)
    stats = group_statistics(member_gap, member_sample, samples, n_gaps)

    meets = np.bincount(label, weights=meets_rule[view, cell], minlength=n_gaps)
    confirmed = meets > 0.5 * areas.columns["n_cells"]
    if required_operators is not None and len(required_operators):
        # A place no operator serves is settled only when every operator was measured there.
        is_all_view = views["kind"].to_numpy(object)[gap_view] == "all"
        tested = operators_tested(member_gap, member_sample, samples, n_gaps, min_samples, min_devices)
        every_operator = tested[:, np.asarray(required_operators, dtype="int64")].all(axis=1)
        confirmed &= ~is_all_view | every_operator

    gaps = gpd.GeoDataFrame(
        {
            "gap_id": gap_id,
            "rank": 0,
            **areas.columns,
            "n_samples": stats["n_samples"].to_numpy(),
            "n_devices": stats["n_devices"].to_numpy(),
            "median_signal_dbm": stats["median_signal_dbm"].to_numpy(),
            "no_service_share": stats["no_service_share"].to_numpy(),
            "evidence": np.where(confirmed, "confirmed", "likely"),
            "first_date": stats["first_date"].to_numpy(object),
            "last_date": stats["last_date"].to_numpy(object),
            "_view": gap_view,
        },
        geometry=areas.geometry,
        crs=STORAGE_CRS,
    )
    gaps = gaps.sort_values(["_view", "population", "gap_id"], ascending=[True, False, True], kind="stable")
    gaps["rank"] = (gaps.groupby("_view").cumcount() + 1).astype("int64")
    entries["gap_id"] = pd.array(gap_id[label], dtype="string")
    for column in (
        "gap_id",
        "operator",
        "technology",
        "evidence",
        "commune_code",
        "commune",
        "district_code",
        "district",
        "commune_codes",
        "communes",
        "commune_population",
        "first_date",
        "last_date",
    ):
        gaps[column] = gaps[column].astype("string")
    gaps = add_unit_columns(gaps.drop(columns="_view").reset_index(drop=True), communes)
    # Filled by the village stage (lomsong.analysis.villages.gap_villages) when a village layer is given.
    gaps["villages"] = pd.Series([""] * len(gaps), dtype="string")
    return gaps[GAP_COLUMNS], entries.drop(columns="gap")
