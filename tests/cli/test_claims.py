"""``lomsong ingest --claims`` and ``lomsong run --claims`` as a user runs them (subprocesses, SYNTHETIC data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from openpyxl import load_workbook

from lomsong.reference.boundaries import STORAGE_CRS
from lomsong.tables.store import MeasurementStore
from tests.support.scenes import planted_scene

LOMSONG = [sys.executable, "-m", "lomsong"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LOMSONG, *args], capture_output=True, text=True, env=dict(os.environ), timeout=300)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("claims-cli")
    measurements, claims, _ = planted_scene()
    csv = folder / "synthetic_planted_measurements.csv"
    frame = measurements[["time", "lon", "lat", "operator", "technology", "signal_dbm", "no_service", "device_id"]]
    frame.assign(time=frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(csv, index=False)
    claim = folder / "viettel_4g_claim.geojson"
    # a claim file that says nothing itself: the options give operator, technology and date
    gpd.GeoDataFrame(geometry=claims.geometry.values, crs=STORAGE_CRS).to_file(claim, driver="GeoJSON")
    return {"folder": folder, "csv": csv, "claim": claim}


def test_ingest_claims_is_ledgered_and_bad_files_get_one_line(inputs):
    store = inputs["folder"] / "store"
    args = ["--operator", "viettel", "--technology", "4G", "--claim-date", "2026-07-01", "--store", str(store)]
    done = run_cli("ingest", "--claims", str(inputs["claim"]), *args)
    assert done.returncode == 0, done.stderr
    assert "viettel_4g_claim.geojson" in done.stdout and "2 vùng / areas" in done.stdout
    again = run_cli("ingest", "--claims", str(inputs["claim"]), *args)
    assert again.returncode == 0 and "already stored" in again.stdout
    ledger = MeasurementStore(store).files()
    assert list(ledger["kind"]) == ["claims"] and list(ledger["format"]) == ["claims_geojson"]
    assert set(MeasurementStore(store).read_claims()["operator"]) == {"viettel"}

    undated = run_cli(
        "ingest",
        "--claims",
        str(inputs["claim"]),
        "--operator",
        "viettel",
        "--technology",
        "4G",
        "--store",
        str(inputs["folder"] / "other"),
    )
    assert undated.returncode == 1
    assert "viettel_4g_claim.geojson: feature 1: claim_date: missing; give --claim-date" in undated.stderr
    assert "Traceback" not in undated.stderr


def test_run_with_claim_files_writes_every_claim_product(inputs):
    out = inputs["folder"] / "run"
    done = run_cli(
        "run",
        "-m",
        str(inputs["csv"]),
        "--claims",
        str(inputs["claim"]),
        "--claims-operator",
        "viettel",
        "--claims-technology",
        "4G",
        "--claims-date",
        "2026-07-01",
        "--out",
        str(out),
        "--no-maps",
        "-q",
    )
    assert done.returncode == 0, done.stderr
    assert "over-claimed areas" in done.stdout
    meta = json.loads((out / "run.json").read_text())
    assert {"claims.csv", "challenges.geojson", "claims.parquet", "challenges.parquet"} <= set(meta["files"])
    assert [i["role"] for i in meta["inputs"]].count("claims") == 1 and meta["counts"]["challenges"] >= 1
    challenges = json.loads((out / "challenges.geojson").read_text())
    assert challenges["type"] == "FeatureCollection" and "crs" not in challenges
    first = challenges["features"][0]["properties"]
    for key in (
        "operator",
        "technology",
        "challenge_id",
        "population",
        "area_km2",
        "n_samples",
        "n_devices",
        "n_days",
        "first_date",
        "last_date",
        "median_signal_dbm",
    ):
        assert key in first
    table = pd.read_csv(out / "claims.csv", encoding="utf-8-sig", dtype={"commune_code": str})
    province = table[(table["level"] == "province") & (table["technology"] == "4G")].iloc[0]
    parts = province[["verified_people", "over_claim_people", "unverified_people"]].sum()
    assert abs(parts - province["claimed_people"]) <= 2  # whole people, each rounded
    cells = pd.read_parquet(out / "cells.parquet", columns=["operator", "technology", "claim_state"])
    assert {"verified", "over_claim", "unverified"} <= set(cells["claim_state"].dropna())
    workbook = load_workbook(out / "gaps.xlsx", read_only=True)
    assert {"Đối chiếu khai báo", "Vùng khai báo vượt"} <= set(workbook.sheetnames)
    sheet = list(workbook["Vùng khai báo vượt"].iter_rows(values_only=True))
    header = 1 if meta["synthetic"] else 0  # the synthetic-data note comes first
    assert sheet[header][0] == "Mã vùng khai báo vượt" and sheet[header + 1][0] == first["challenge_id"]
