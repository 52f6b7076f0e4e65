"""Radio-map benchmark: the prediction stage at its worst case, every province cell measured.

    .venv/bin/python benchmarks/radiomap.py [--shares 0.33 1.0]

The radio map works on measured-cell aggregates, never on samples, so its cost depends on how many
cells are measured per view, not on how many measurements there are: a 10 M-measurement run of
the province measures nearly every cell in the busy views. This builds that case directly on the
real province grid: for each operator × technology view of the demo, a SYNTHETIC level (the
simulator's site list, COST-231 Hata, a smooth shadowing field) in a given share of the cells,
then times :func:`lomsong.analysis.radiomap.province_radio_map` (fits, kriging of every cell of
every view, the blocked cross-validation). Writes benchmarks/results/radiomap.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    from scipy.spatial import cKDTree

    from lomsong import paths
    from lomsong.analysis.evidence import COVERED, WEAK
    from lomsong.analysis.grid import cell_centres
    from lomsong.analysis.radiomap import metric_xy, province_radio_map
    from lomsong.jobs.run import demo_sites_file, province_grid
    from lomsong.readers.sites import read_sites
    from lomsong.reference.boundaries import read_communes
    from lomsong.reference.install import sha256_of
    from lomsong.reference.population import load_population
    from lomsong.settings import Config
    from lomsong.simulate.radio import TECHNOLOGY_PARAMETERS, cost231_hata_db
    from lomsong.tables.sites import site_technologies

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.33, 1.0])
    args = parser.parse_args()
    communes = read_communes()
    surface = load_population(communes)
    keys = [sha256_of(paths.boundaries_path()), sha256_of(paths.population_raster_path())]
    grid, _ = province_grid(communes, surface, Config().resolution, keys)
    site_file = demo_sites_file()
    if site_file is None:
        raise SystemExit("run `lomsong demo` first: the benchmark uses the demo's synthetic site list")
    sites = site_technologies(read_sites(site_file))
    views = sites[["operator", "technology"]].drop_duplicates().sort_values(["operator", "technology"])
    operators = list(views["operator"].unique())
    rows = [
        {"operator": o, "technology": t, "kind": "technology", "operator_code": operators.index(o)}
        for o, t in views.itertuples(index=False)
    ]
    rows += [
        {"operator": o, "technology": "any", "kind": "operator", "operator_code": i} for i, o in enumerate(operators)
    ]
    rows.append({"operator": "all", "technology": "any", "kind": "all", "operator_code": -1})
    view_table = pd.DataFrame(rows)
    lon, lat = cell_centres(grid.cells)
    xy = metric_xy(lon, lat)
    site_xy = metric_xy(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    rng = np.random.default_rng(1)
    config = Config()
    lines = [
        f"Machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start (shared). "
        f"SYNTHETIC levels on the real grid ({len(grid.cells):,} cells), {len(views)} operator × technology "
        "views plus their any/all views.",
        "",
        "| measured share of cells | measured cells (all views) | province_radio_map seconds |",
        "|---|---|---|",
    ]
    for share in args.shares:
        shape = (len(view_table), len(grid.cells))
        median = np.full(shape, np.nan)
        for row in np.flatnonzero(view_table["kind"] == "technology"):  # one loop step per view
            operator, technology = view_table["operator"].iat[row], view_table["technology"].iat[row]
            own = site_xy[((sites["operator"] == operator) & (sites["technology"] == technology)).to_numpy()]
            distance, _ = cKDTree(own).query(xy)
            parameters = TECHNOLOGY_PARAMETERS[technology]
            level = parameters.reference_eirp_dbm - cost231_hata_db(distance, parameters.frequency_mhz, False)
            measured = rng.uniform(size=len(xy)) < share
            median[row, measured] = level[measured] + rng.normal(0, 6, measured.sum())
        n_samples = np.where(np.isfinite(median), 10, 0)
        thresholds = np.array([config.thresholds.get(t, -110.0) for t in view_table["technology"].replace("any", "4G")])
        state = np.where(n_samples > 0, np.where(median >= thresholds[:, None], COVERED, WEAK), 0).astype("int8")
        started = time.perf_counter()
        province_radio_map(
            xy,
            view_table,
            operators,
            median_signal_dbm=median,
            no_service_share=np.zeros(shape),
            n_samples=n_samples,
            measured_state=state,
            meets_rule=n_samples > 0,
            sites=sites,
            config=config,
        )
        seconds = time.perf_counter() - started
        lines.append(f"| {share:.0%} | {int((n_samples > 0).sum()):,} | {seconds:.1f} |")
        print(lines[-1], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "radiomap.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
