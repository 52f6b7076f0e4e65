"""Public test helpers, shared by the test suite and the docs (like ``geopandas.testing``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import geopandas as gpd

from lomsong import paths
from lomsong.reference.boundaries import read_communes
from lomsong.reference.install import install_reference_data
from lomsong.reference.population import PopulationSurface, load_population
from lomsong.tables.results import RunResults


@cache
def reference_communes() -> gpd.GeoDataFrame:
    """Return the bundled communes, installing the reference data first if needed."""
    if not paths.boundaries_path().exists():
        install_reference_data()
    return read_communes()


@cache
def reference_population() -> PopulationSurface:
    """Return the census population surface of the bundled communes."""
    return load_population(reference_communes())


def make_example_run(communes: gpd.GeoDataFrame, folder: str | Path) -> RunResults:
    """Write a small, hand-made finished run into ``folder`` and load it back.

    The tables follow :data:`lomsong.tables.results.GAP_SCHEMA`, :data:`~lomsong.tables.results.CELL_STATE_SCHEMA`
    and :data:`~lomsong.tables.results.COMMUNE_SUMMARY_SCHEMA` exactly, so the products (maps, API) can be
    developed and tested without running the analysis. Three communes (Thị trấn Đắk Mil, Xã Đắk R'La
    and Xã Quảng Sơn when present, else the first three) get H3 resolution-8 cells for the views
    viettel, vinaphone and all (technology ``any``); cells near each commune's centre are weak and
    form one gap per commune and view. Deterministic (seeded). Labelled synthetic, with villages.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        Canonical commune table (e.g. the ``communes`` fixture).
    folder : str or Path
        Run folder to write (created).

    Returns
    -------
    RunResults
        What :func:`lomsong.tables.results.load_run` reads from ``folder``.
    """
    import h3
    import numpy as np
    import pandas as pd
    import shapely
    from h3ronpy.vector import cells_to_wkb_polygons

    from lomsong.reference.boundaries import METRIC_CRS
    from lomsong.reference.units import add_unit_columns
    from lomsong.tables import results as res

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240501)
    wanted = [c for c in ("24664", "24670", "24616") if c in set(communes["commune_code"])]
    chosen = (
        communes.set_index("commune_code").loc[wanted]
        if len(wanted) == 3
        else communes.head(3).set_index("commune_code")
    )
    frames = []
    for code, row in chosen.iterrows():  # a loop over three communes, not over cells
        ids = h3.geo_to_cells(row.geometry.__geo_interface__, 8)
        frames.append(pd.DataFrame({"h3": sorted(ids), "commune_code": code}))
    base = pd.concat(frames, ignore_index=True).drop_duplicates("h3")
    base["h3_int"] = base["h3"].map(h3.str_to_int, na_action="ignore").astype("uint64")
    polygons = shapely.from_wkb(np.asarray(cells_to_wkb_polygons(base["h3_int"].to_numpy()).to_pylist(), dtype=object))
    grid = gpd.GeoDataFrame(base, geometry=polygons, crs="EPSG:4326")
    metric_centres = grid.geometry.to_crs(METRIC_CRS).centroid
    commune_centres = chosen.geometry.to_crs(METRIC_CRS).representative_point()
    distance = metric_centres.distance(
        gpd.GeoSeries(commune_centres.loc[grid["commune_code"]].values, index=grid.index)
    )
    grid["population"] = rng.integers(0, 400, len(grid)).astype(float)
    period = ("2024-03-01", "2024-04-28")

    cell_frames = []
    for offset, operator in enumerate(["viettel", "vinaphone", "all"]):
        cells = grid.copy()
        draw = rng.random(len(cells))
        state = np.where(draw < 0.15, "no_data", np.where(draw < 0.3, "insufficient", "covered"))
        state = np.where(distance.to_numpy() < 1800 + 400 * offset, "weak", state)
        cells["operator"] = operator
        cells["technology"] = res.ANY_TECHNOLOGY
        cells["state"] = state
        has_data = state != "no_data"
        cells["n_samples"] = np.where(has_data, rng.integers(1, 60, len(cells)), 0)
        cells.loc[state == "insufficient", "n_samples"] = rng.integers(1, 4, int((state == "insufficient").sum()))
        cells["n_devices"] = np.where(has_data, np.minimum(cells["n_samples"], rng.integers(1, 6, len(cells))), 0)
        cells["n_days"] = np.where(has_data, np.minimum(cells["n_samples"], 9), 0)
        cells["first_date"] = np.where(has_data, period[0], None)
        cells["last_date"] = np.where(has_data, period[1], None)
        signal = np.where(state == "weak", rng.uniform(-125, -112, len(cells)), rng.uniform(-105, -70, len(cells)))
        cells["median_signal_dbm"] = np.where(has_data, signal.round(1), np.nan)
        cells["p10_signal_dbm"] = np.where(has_data, (signal - 8).round(1), np.nan)
        cells["no_service_share"] = np.where(state == "weak", 0.4, np.where(has_data, 0.02, np.nan))
        cells["median_dl_kbps"] = np.where(has_data & (state != "weak"), 12000.0, np.nan)
        cells["samples_needed"] = np.where(state == "covered", 0, np.maximum(5 - cells["n_samples"], 0))
        cells["devices_needed"] = np.where(state == "covered", 0, np.maximum(2 - cells["n_devices"], 0))
        cells["gap_id"] = np.where(state == "weak", operator + "-any-" + cells["commune_code"].astype(str), "")
        cells["claim_state"] = pd.Series(pd.NA, index=cells.index, dtype="string")  # no claim maps here
        cells["predicted_claim_state"] = pd.Series(pd.NA, index=cells.index, dtype="string")
        cell_frames.append(cells)
    all_cells = pd.concat(cell_frames, ignore_index=True)

    weak = all_cells[all_cells["state"] == "weak"]
    village_names = ["Thôn 1", "Bon Bu Đắk", "Buôn Mới"]
    village_of = dict(zip(chosen.index.astype(str), village_names, strict=False))
    gap_rows = []
    name_of = communes.set_index("commune_code")
    for (gap_id, operator, code), members in weak.groupby(["gap_id", "operator", "commune_code"], sort=True):
        outline = shapely.coverage_union_all(members.geometry.values)
        info = name_of.loc[code]
        inside = outline.representative_point()
        gap_rows.append(
            {
                "gap_id": gap_id,
                "operator": operator,
                "technology": res.ANY_TECHNOLOGY,
                "rank": 0,
                "population": float(members["population"].sum()),
                "area_km2": float(gpd.GeoSeries([outline], crs="EPSG:4326").to_crs(METRIC_CRS).area.iloc[0] / 1e6),
                "n_cells": len(members),
                "n_samples": int(members["n_samples"].sum()),
                "n_devices": int(members["n_devices"].sum()),
                "median_signal_dbm": float(members["median_signal_dbm"].median()),
                "no_service_share": 0.4,
                "evidence": "confirmed" if code != wanted[-1] else "likely",
                "commune_code": code,
                "commune": info["commune"],
                "district_code": info["district_code"],
                "district": info["district"],
                "commune_codes": code,
                "communes": info["commune"],
                "commune_population": str(int(members["population"].sum())),
                # the example village of the commune lies at its centre, inside the gap
                "villages": f"{village_of.get(code, '')} ({int(members['population'].sum() * 0.6)})"
                if code in village_of
                else "",
                "first_date": period[0],
                "last_date": period[1],
                "centroid_lon": inside.x,
                "centroid_lat": inside.y,
                "geometry": outline,
            }
        )
    gaps = gpd.GeoDataFrame(gap_rows, geometry="geometry", crs="EPSG:4326")
    gaps["rank"] = gaps.groupby("operator")["population"].rank(ascending=False, method="first").astype(int)
    gaps = add_unit_columns(gaps, communes)[res.GAP_COLUMNS]

    summary_frames = []
    for operator in ["viettel", "vinaphone", "all"]:
        view = all_cells[all_cells["operator"] == operator]
        people = view.groupby("commune_code")["population"].agg("sum")
        in_gaps = view[view["state"] == "weak"].groupby("commune_code")["population"].agg("sum")
        covered = view[view["state"] == "covered"].groupby("commune_code")["population"].agg("sum")
        summary = communes[["commune_code", "commune", "district_code", "district", "population"]].copy()
        summary["operator"] = operator
        summary["technology"] = res.ANY_TECHNOLOGY
        summary["population"] = summary["population"].astype(float)
        summary["people_in_gaps"] = summary["commune_code"].map(in_gaps).fillna(0.0).astype(float)
        total = summary["commune_code"].map(people).fillna(0.0)
        summary["share_people_covered"] = (
            summary["commune_code"].map(covered).fillna(0.0) / total.where(total > 0)
        ).fillna(0.0)
        summary["share_people_no_data"] = (
            1.0 - summary["share_people_covered"] - (summary["people_in_gaps"] / total.where(total > 0)).fillna(0.0)
        )
        summary["share_area_with_data"] = np.where(total > 0, 0.8, 0.0)
        summary["n_gaps"] = np.where(summary["people_in_gaps"] > 0, 1, 0)
        summary["largest_gap_id"] = np.where(
            summary["people_in_gaps"] > 0, operator + "-any-" + summary["commune_code"].astype(str), ""
        )
        summary["largest_gap_population"] = summary["people_in_gaps"]
        # A run without a radio map: nobody is predicted weak, everyone unmeasured is uncertain.
        summary["people_predicted_weak"] = 0.0
        summary["people_uncertain"] = summary["population"] * summary["share_people_no_data"].clip(lower=0.0)
        summary_frames.append(summary)
    commune_summary = add_unit_columns(pd.concat(summary_frames, ignore_index=True), communes)
    commune_summary = commune_summary[[n for n, _ in res.COMMUNE_SUMMARY_SCHEMA]]

    centres = chosen.geometry.to_crs(METRIC_CRS).representative_point().to_crs("EPSG:4326")
    village_points = [centres.iloc[i] for i in range(len(centres))]
    villages = gpd.GeoDataFrame(
        {
            "name": village_names[: len(village_points)],
            "commune": chosen["commune"].tolist(),
            "lon": [p.x for p in village_points],
            "lat": [p.y for p in village_points],
            "households": [120, 85, 60][: len(village_points)],
            "population": [480, 340, 240][: len(village_points)],
            "has_grid_power": [True, True, False][: len(village_points)],
            "status_viettel": ["weak", "covered", "no_data"][: len(village_points)],
            "status_vinaphone": ["weak", "weak", "covered"][: len(village_points)],
            "no_operator": [True, False, False][: len(village_points)],
            "status_cv1603": ["trang_song", "lom_song", "chua_du_du_lieu"][: len(village_points)],
            "status_cv1603_viettel": ["trang_song", "co_song", "chua_du_du_lieu"][: len(village_points)],
            "status_cv1603_vinaphone": ["trang_song", "lom_song", "co_song"][: len(village_points)],
            "people": [480.0, 340.0, 240.0][: len(village_points)],
            "people_affected": [480.0, 60.0, 0.0][: len(village_points)],
            "households_affected": pd.array([120, 15, 0][: len(village_points)], dtype="Int64"),
            "gap_ids": ["all-any-" + str(c) for c in chosen.index][:1] + [""] * (len(village_points) - 1),
        },
        geometry=village_points,
        crs="EPSG:4326",
    )

    cell_columns = [n for n, _ in res.CELL_STATE_SCHEMA]
    for column in res.PREDICTION_COLUMNS:  # a run without a radio map: no predictions
        if column not in all_cells:
            all_cells[column] = pd.NA if column == "predicted_state" else np.nan
    gaps.to_parquet(folder / res.GAPS_PARQUET, index=False)
    gpd.GeoDataFrame(all_cells[cell_columns], geometry="geometry", crs="EPSG:4326").to_parquet(
        folder / res.CELLS_PARQUET, index=False
    )
    commune_summary.to_parquet(folder / res.COMMUNE_SUMMARY_PARQUET, index=False)
    villages.to_parquet(folder / res.VILLAGES_PARQUET, index=False)
    meta = {
        "synthetic": True,
        "period": {"start": period[0], "end": period[1]},
        "note": "hand-made example run (coverage.testing.make_example_run)",
    }
    (folder / res.RUN_JSON).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return res.load_run(folder)


def samples_in_cell(
    cell: str,
    operator: str,
    technology: str | None,
    signal_dbm: float | list[float],
    n: int,
    devices: int = 2,
    no_service: bool = False,
    dl_kbps: float | None = None,
    start: str = "2024-05-01T03:00:00Z",
):
    """Return ``n`` canonical measurements taken at the centre of an H3 cell (hex id).

    Devices ``dev-0`` … ``dev-<devices-1>`` take turns; one sample an hour from ``start``. For
    hand-made analysis tests (synthetic data).
    """
    import h3
    import numpy as np
    import pandas as pd

    from lomsong.tables.measurements import conform_measurements

    lat, lon = h3.cell_to_latlng(cell)
    signals = np.broadcast_to(np.asarray(signal_dbm, dtype="float64"), (n,))
    frame = pd.DataFrame(
        {
            "time": pd.Timestamp(start) + pd.to_timedelta(np.arange(n), unit="h"),
            "lon": np.full(n, lon),
            "lat": np.full(n, lat),
            "operator": operator,
            "technology": technology,
            "signal_dbm": np.full(n, np.nan) if no_service else signals,
            "quality_db": np.nan,
            "sinr_db": np.nan,
            "dl_kbps": np.nan if dl_kbps is None else float(dl_kbps),
            "ul_kbps": np.nan,
            "latency_ms": np.nan,
            "no_service": no_service,
            "device_id": [f"dev-{i % devices}" for i in range(n)],
            "source": "synthetic",
            "source_file": "synthetic.csv",
            "source_row": np.arange(1, n + 1),
        }
    )
    return conform_measurements(frame)


@cache
def simulated_period_pair(
    before: str = "2026-09", after: str = "2026-10", n_points: int = 40_000, seed: int = 2026
) -> tuple[Path, object]:
    """Run two simulated months through the whole pipeline and keep them as stored periods.

    The simulator switches new Viettel and VinaPhone sites on in ``after`` (a gap in the new-site
    communes closes) and takes the sites around the outage commune off air in ``after`` (a gap
    opens there). Both months are written with the generic-CSV reader path and analysed by
    :func:`lomsong.jobs.run.run_analysis` with ``period=`` into ``<products>/periods/<month>/``,
    with the synthetic village layer. Cached per process; the temporary folder is removed at exit.

    Parameters
    ----------
    before, after : str
        Consecutive months ``YYYY-MM``.
    n_points : int
        Simulated measurements over both months.
    seed : int
        Simulator seed.

    Returns
    -------
    tuple
        ``(products_folder, simulation_result)`` (SYNTHETIC).
    """
    import atexit
    import shutil
    import tempfile

    from lomsong.jobs.run import run_analysis
    from lomsong.simulate.demo import simulate
    from lomsong.simulate.writers import write_generic_csv, write_villages

    folder = Path(tempfile.mkdtemp(prefix="lomsong-periods-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    result = simulate(
        reference_communes(),
        reference_population(),
        n_points=n_points,
        seed=seed,
        start=before,
        end=after,
        new_sites_from=after,
        outage_from=after,
        n_gnettrack_devices=0,
        junk=False,
    )
    csv = write_generic_csv(result, folder / "inputs" / f"daknong_synthetic_measurements_{before}_{after}.csv")
    villages = write_villages(result.villages, folder / "inputs" / "daknong_synthetic_villages.csv")
    products = folder / "products"
    for period in (before, after):  # two months
        run_analysis(
            measurement_paths=[csv], villages=villages, out=products, period=period, maps=False
        )
    return products, result
