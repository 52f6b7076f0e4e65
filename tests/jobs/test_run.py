"""`lomsong run` end to end on a small simulated set: every product opens and agrees with the gap table."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook

from lomsong.jobs.ingest import ingest_files
from lomsong.jobs.run import run_analysis
from lomsong.products import tables as export
from lomsong.simulate import demo as simulate
from lomsong.simulate import writers
from lomsong.tables import results
from tests.support import ROOT


def _lomsong(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "lomsong", *args], capture_output=True, text=True, cwd=ROOT, env=env, check=False
    )


@pytest.fixture(scope="module")
def small_set(tmp_path_factory, communes, population_surface) -> tuple[Path, Path]:
    """A small simulated measurement folder (generic CSV + G-NetTrack logs + metadata) and villages."""
    folder = tmp_path_factory.mktemp("measurements")
    result = simulate.simulate(communes, population_surface, n_points=4000, n_devices=40, n_gnettrack_devices=2)
    writers.write_outputs(result, folder)
    villages = writers.write_villages(result.villages, folder.parent / "villages" / "synthetic_villages.geojson")
    return folder, villages


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, small_set) -> tuple[Path, subprocess.CompletedProcess]:
    folder, villages = small_set
    out = tmp_path_factory.mktemp("run") / "maps"
    completed = _lomsong("run", "--measurements", str(folder), "--villages", str(villages), "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    return out, completed


def _signed_area(ring) -> float:
    xy = np.asarray(ring)
    return 0.5 * float(np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1]))


def test_cli_writes_every_product(cli_run):
    out, completed = cli_run
    for name in [
        "gaps.geojson",
        "gaps.csv",
        "gaps.xlsx",
        "gaps.gpkg",
        "gaps.kml",
        "communes.csv",
        "cells.parquet",
        "campaign.csv",
        "villages.xlsx",
        "gaps.parquet",
        "communes.parquet",
        "villages.parquet",
        "run.json",
        "index.html",
    ]:
        assert (out / name).is_file(), name
    assert "Traceback" not in completed.stderr
    assert str(out / "gaps.xlsx") in completed.stdout.replace("\n", "")


def test_summary_table_lists_the_largest_all_operator_gaps(cli_run):
    out, completed = cli_run
    gaps = gpd.read_parquet(out / "gaps.parquet")
    view = gaps[(gaps["operator"] == "all") & (gaps["technology"] == "any")]
    top = view.sort_values("population", ascending=False).head(10)
    assert not top.empty, "the simulated set has under-served communes: expect vùng lõm sóng"
    text = completed.stdout
    assert "Vùng lõm sóng đông dân nhất / Largest coverage gaps" in text  # words from the one vocabulary
    # Commune names keep their diacritics; people are printed as whole numbers.
    assert str(top["commune"].iloc[0]) in text
    assert f"{top['population'].iloc[0]:,.0f}" in text


def test_run_json_records_inputs_config_counts_and_versions(cli_run, small_set):
    out, _ = cli_run
    folder, villages = small_set
    meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert meta["synthetic"] is True
    by_role: dict[str, list[dict]] = {}
    for record in meta["inputs"]:
        by_role.setdefault(record["role"], []).append(record)
    assert {"boundaries", "population", "measurements", "villages"} <= set(by_role)
    for record in meta["inputs"]:
        assert record["sha256"] == hashlib.sha256(Path(record["path"]).read_bytes()).hexdigest()
    measured = by_role["measurements"]
    assert {Path(r["path"]).name for r in measured} == {p.name for p in folder.iterdir() if p.suffix != ".json"}
    for record in measured:
        report = record["ingest"]
        assert report["rows_read"] == report["accepted"] + report["outside_province"] + sum(report["rejected"].values())
    accepted = sum(r["ingest"]["accepted"] for r in measured)
    assert meta["counts"]["measurements"] == accepted
    assert meta["configuration"]["resolution"] == 8
    assert {"pandas", "geopandas", "h3", "gdal", "python"} <= set(meta["versions"])
    for stage in ("inputs", "analysis", "write", "maps"):
        assert meta["timings"][stage] >= 0
    assert meta["data_period"]["start"] <= meta["data_period"]["end"]
    assert set(meta) == {key for key, _ in export.RUN_JSON_SCHEMA}, "document every run.json key in the README"
    assert sorted(meta["files"]) == sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "README.md"
    )


def test_headline_has_its_denominator_in_run_json_and_on_the_console(cli_run):
    out, completed = cli_run
    meta = json.loads((out / "run.json").read_text(encoding="utf-8"))
    headline = meta["headline"]
    parts = headline["people_in_gaps"] + headline["people_covered"] + headline["people_without_evidence"]
    assert parts == pytest.approx(headline["population"], rel=1e-6)
    assert headline["population"] == pytest.approx(meta["counts"]["population_in_cells"])
    gaps = gpd.read_parquet(out / "gaps.parquet")
    all_view = gaps[(gaps["operator"] == "all") & (gaps["technology"] == "any")]
    assert headline["people_in_gaps"] == pytest.approx(all_view["population"].sum())
    for part in ("in_gaps", "covered", "without_evidence"):
        assert headline[f"share_{part}"] == pytest.approx(headline[f"people_{part}"] / headline["population"])
    console = " ".join(completed.stdout.split())
    assert f"Of {headline['population']:,.0f} people" in console
    assert f"{headline['people_without_evidence']:,.0f} without enough measurements to say" in console
    assert f"({headline['share_without_evidence']:.1%})" in console


def test_load_run_round_trip_and_population_invariants(cli_run, population_surface):
    out, _ = cli_run
    run = results.load_run(out)
    assert run.synthetic
    assert run.villages is not None and len(run.villages)
    all_cells = run.cells[(run.cells["operator"] == "all") & (run.cells["technology"] == "any")]
    assert all_cells["population"].sum() == pytest.approx(population_surface.total, rel=1e-3)
    # Every weak cell of the view is in exactly one gap, and the gap's people are its cells' people.
    weak = all_cells[all_cells["state"] == "weak"]
    assert weak["gap_id"].notna().all()
    per_gap = weak.groupby("gap_id")["population"].sum()
    gaps = run.gaps.set_index("gap_id")
    assert set(per_gap.index) == set(gaps.index[gaps["operator"] == "all"])
    np.testing.assert_allclose(gaps.loc[per_gap.index, "population"], per_gap, rtol=1e-6)


def test_csv_and_parquet_agree(cli_run):
    out, _ = cli_run
    table = gpd.read_parquet(out / "gaps.parquet")
    csv = pd.read_csv(out / "gaps.csv", encoding="utf-8-sig", dtype={"commune_code": str, "district_code": str})
    assert len(csv) == len(table)
    merged = csv.merge(pd.DataFrame(table.drop(columns="geometry")), on="gap_id", suffixes=("", "_t"))
    assert len(merged) == len(table)
    assert (merged["population"] == merged["population_t"].round()).all()
    assert csv["population"].sum() == pytest.approx(table["population"].sum(), abs=len(table))
    assert (merged["n_cells"] == merged["n_cells_t"]).all()
    assert csv["synthetic"].all()
    communes = pd.read_csv(out / "communes.csv", encoding="utf-8-sig")
    assert len(communes) == len(pd.read_parquet(out / "communes.parquet"))


def test_geojson_and_gpkg_open_cleanly_and_follow_rfc7946(cli_run):
    out, _ = cli_run
    n_gaps = len(gpd.read_parquet(out / "gaps.parquet"))
    for name in ("gaps.geojson", "gaps.gpkg"):
        completed = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(out / name)], capture_output=True, text=True)
        assert completed.returncode == 0, completed.stderr
        assert completed.stderr.strip() == "", completed.stderr
        assert f"Feature Count: {n_gaps}" in completed.stdout
        frame = pyogrio.read_dataframe(out / name)
        assert frame.crs.to_epsg() == 4326 and len(frame) == n_gaps
    document = json.loads((out / "gaps.geojson").read_text(encoding="utf-8"))
    assert "crs" not in document
    for feature in document["features"]:
        geometry = feature["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        for exterior, *holes in polygons:
            assert all(107 < lon < 109 and 11 < lat < 13.5 for lon, lat in exterior)
            assert _signed_area(exterior) > 0
            assert all(_signed_area(hole) < 0 for hole in holes)


def test_xlsx_files_open_with_vietnamese_headers(cli_run):
    out, _ = cli_run
    gaps = gpd.read_parquet(out / "gaps.parquet")
    workbook = load_workbook(out / "gaps.xlsx", read_only=True)
    assert workbook.sheetnames[:2] == ["Tổng hợp", "Lõm sóng (mọi mạng)"] and workbook.sheetnames[-1] == "Chú giải"
    rows = list(workbook["Lõm sóng (mọi mạng)"].values)
    assert "MÔ PHỎNG" in rows[0][0]
    assert rows[1][0] == "Mã vùng lõm"
    assert len(rows) - 2 == int(((gaps["operator"] == "all") & (gaps["technology"] == "any")).sum())
    plan = load_workbook(out / "campaign.xlsx", read_only=True)
    per_unit = [len(list(plan[name].values)) - 3 for name in plan.sheetnames[1:-1]]  # note, unit, header
    assert sum(per_unit) == len(pd.read_csv(out / "campaign.csv", comment="#"))
    villages = list(load_workbook(out / "villages.xlsx", read_only=True).active.values)
    assert "MÔ PHỎNG" in villages[0][0]
    assert villages[1][0].startswith("Nguồn dân số")  # where the people come from, above the list
    assert villages[2][:5] == ("STT", "Huyện", "Xã", "Đơn vị mới (2025)", "Thôn/Bon")


def test_same_input_same_gap_ids_and_period_filter(tmp_path, small_set, cli_run):
    folder, _ = small_set
    out, _ = cli_run
    files = sorted(p for p in folder.iterdir() if p.suffix != ".json")
    again = run_analysis(measurement_paths=files, out=tmp_path / "again", maps=False)
    first = gpd.read_parquet(out / "gaps.parquet")
    second = gpd.read_parquet(tmp_path / "again" / "gaps.parquet")
    assert sorted(first["gap_id"]) == sorted(second["gap_id"])
    assert not again.maps and again.meta["maps"] is None

    month = run_analysis(measurement_paths=files, out=tmp_path / "p", period="2026-09", maps=False)
    assert month.out == tmp_path / "p" / "periods" / "2026-09"
    meta = results.load_run(month.out).meta
    assert meta["period"] == "2026-09"
    start = pd.Timestamp(meta["data_period"]["start"]).tz_convert("Asia/Ho_Chi_Minh")
    end = pd.Timestamp(meta["data_period"]["end"]).tz_convert("Asia/Ho_Chi_Minh")
    assert start.month == 9 and end.month == 9
    assert 0 < month.counts["measurements"] < again.counts["measurements"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--measurements", "no/such/file.csv"], "no/such/file.csv"),
        (["--resolution", "12"], "resolution"),
        (["--period", "2026-13"], "YYYY-MM"),
        (["--boundaries", "missing.geojson"], "missing.geojson"),
    ],
)
def test_cli_user_errors_have_no_traceback(tmp_path, args, expected):
    completed = _lomsong("run", *args, "--out", str(tmp_path / "out"), "--no-maps")
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert expected in completed.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_config_key_is_named(tmp_path, small_set):
    config = tmp_path / "bad.toml"
    config.write_text("[evidence]\nmin_sample = 3\n", encoding="utf-8")
    completed = _lomsong("run", "-m", str(small_set[0]), "--config", str(config), "--out", str(tmp_path / "o"))
    assert completed.returncode == 2
    assert "evidence.min_sample" in completed.stderr and "Traceback" not in completed.stderr


def test_run_from_the_store_reads_what_was_ingested(tmp_path, small_set, communes):
    from lomsong.tables.store import MeasurementStore

    folder, _ = small_set
    files = sorted(p for p in folder.iterdir() if p.suffix != ".json")
    store = MeasurementStore(tmp_path / "store")
    reports = ingest_files(store, files, communes=communes)
    summary = run_analysis(store=tmp_path / "store", out=tmp_path / "out", maps=False)
    assert summary.counts["measurements"] == sum(r.accepted for r in reports)
    assert summary.synthetic
    meta = results.load_run(summary.out).meta
    assert meta["measurement_source"] == "store"
    assert len(meta["inputs"][-1]["files"]) == len(files)


def test_missing_store_is_a_clear_error(tmp_path):
    completed = _lomsong("run", "--store", str(tmp_path / "nostore"), "--out", str(tmp_path / "o"), "--no-maps")
    assert completed.returncode == 2 and "no measurement store" in completed.stderr
    assert not (tmp_path / "nostore").exists()


def test_user_population_raster_with_and_without_calibration(tmp_path, small_set, communes):
    """`--population` takes a WorldPop-like raster (EPSG:4326, nodata); `--calibrate` scales it to the census."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    minx, miny, maxx, maxy = communes.total_bounds
    res = 0.002
    width, height = int((maxx - minx) / res) + 4, int((maxy - miny) / res) + 4
    people = np.random.default_rng(7).uniform(0, 3, size=(height, width)).astype("float32")
    people[:10, :10] = -99999  # nodata
    raster = tmp_path / "worldpop_like.tif"
    with rasterio.open(
        raster, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
        crs="EPSG:4326", transform=from_origin(minx - 2 * res, maxy + 2 * res, res, res), nodata=-99999,
    ) as dst:  # fmt: skip
        dst.write(people, 1)
    folder, _ = small_set
    totals = {}
    for mode, extra in (("as-is", []), ("calibrated", ["--calibrate"])):
        out = tmp_path / mode
        done = _lomsong(
            "run",
            "--measurements",
            str(folder),
            "--population",
            str(raster),
            *extra,
            "--no-maps",
            "-q",
            "--out",
            str(out),
        )
        assert done.returncode == 0, done.stderr
        meta = json.loads((out / "run.json").read_text())
        record = next(i for i in meta["inputs"] if i["role"] == "population")
        assert record["name"] == raster.name and record["calibrated"] == (mode == "calibrated")
        totals[mode] = results.load_run(out).communes.query("operator == 'all'")["population"].sum()
    assert abs(totals["calibrated"] - 622_168) / 622_168 < 0.01
    assert abs(totals["as-is"] - 622_168) / 622_168 > 0.05  # the raster's own people, not the census

    refused = _lomsong(
        "run", "--measurements", str(folder), "--calibrate", "--no-maps", "-q", "--out", str(tmp_path / "x")
    )
    assert refused.returncode != 0 and "--calibrate applies to a raster given with --population" in refused.stderr
