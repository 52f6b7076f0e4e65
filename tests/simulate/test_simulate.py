"""The simulator of SYNTHETIC measurements: determinism, realism invariants, file formats, scenarios."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lomsong import paths
from lomsong.cli import app
from lomsong.operators import OPERATORS
from lomsong.reference.boundaries import METRIC_CRS
from lomsong.simulate.demo import ensure_demo_data, month_start, parse_months, simulate
from lomsong.simulate.geography import make_villages
from lomsong.simulate.parameters import (
    GENERIC_CSV_COLUMNS,
    JUNK_RATES,
    LOCAL_TZ,
    OUTAGE_COMMUNE,
    OUTAGE_RADIUS_KM,
    UNDERSERVED_COMMUNES,
)
from lomsong.simulate.writers import write_outputs, write_villages
from lomsong.tables.measurements import MEASUREMENT_COLUMNS

N_SMALL = 3_000
N_MEDIUM = 40_000


@pytest.fixture(scope="module")
def medium(communes, population_surface):
    """A 40k-point run with both scenarios switched on in the last month."""
    return simulate(
        communes, population_surface, n_points=N_MEDIUM, seed=11, new_sites_from="2026-10", outage_from="2026-10"
    )


def _metric(lon, lat):
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True).transform(
        np.asarray(lon, float), np.asarray(lat, float)
    )


def test_same_seed_same_output_and_other_seed_differs(communes, population_surface):
    first = simulate(communes, population_surface, n_points=N_SMALL, seed=5, n_gnettrack_devices=2)
    again = simulate(communes, population_surface, n_points=N_SMALL, seed=5, n_gnettrack_devices=2)
    other = simulate(communes, population_surface, n_points=N_SMALL, seed=6, n_gnettrack_devices=2)
    pd.testing.assert_frame_equal(first.measurements, again.measurements)
    pd.testing.assert_frame_equal(first.gnettrack, again.gnettrack)
    pd.testing.assert_frame_equal(first.sites, again.sites)
    pd.testing.assert_frame_equal(first.villages, again.villages)
    assert not first.measurements["lon"].equals(other.measurements["lon"])
    # the network does not depend on how many points are drawn: runs of any size share it
    bigger = simulate(communes, population_surface, n_points=2 * N_SMALL, seed=5, n_gnettrack_devices=0)
    pd.testing.assert_frame_equal(first.sites, bigger.sites)


def test_sites_ordered_by_operator_and_placed_where_people_live(medium, communes):
    counts = medium.sites["operator"].value_counts()
    assert counts["viettel"] > counts["vinaphone"] > counts["mobifone"] > counts["vietnamobile"] > 0
    # sites follow people: the densest communes (top quarter by people/km²) get more sites per km²
    area = communes.to_crs(METRIC_CRS).area / 1e6
    density = communes["population"] / area
    dense = set(communes.loc[density >= density.quantile(0.75), "commune_code"])
    in_dense = medium.sites["commune_code"].isin(dense).to_numpy(bool)
    dense_area = area[communes["commune_code"].isin(dense)].sum()
    assert in_dense.sum() / dense_area > 3 * (~in_dense).sum() / (area.sum() - dense_area)
    # every site has a technology; 5G only in Gia Nghĩa's wards
    technologies = medium.sites[["has_2g", "has_3g", "has_4g", "has_5g"]].to_numpy(bool)
    assert technologies.any(axis=1).all()
    wards = set(
        communes.loc[(communes["district_code"] == "660") & (communes["commune_type"] == "Phường"), "commune_code"]
    )
    assert medium.sites.loc[medium.sites["has_5g"], "commune_code"].isin(wards).all()
    assert medium.sites["has_5g"].sum() > 0


def test_underserved_communes_have_more_no_service_than_gia_nghia(medium, communes):
    clean = (medium.truth["junk"] == "").to_numpy(bool)
    frame = medium.measurements.loc[clean].assign(commune_code=medium.truth.loc[clean, "commune_code"].to_numpy())
    gia_nghia = set(communes.loc[communes["district_code"] == "660", "commune_code"])
    underserved = frame[frame["commune_code"].isin(list(UNDERSERVED_COMMUNES))]
    town = frame[frame["commune_code"].isin(gia_nghia)]
    assert len(underserved) > 500 and len(town) > 500
    assert underserved["no_service"].mean() > 3 * town["no_service"].mean()
    # under-served communes keep one Viettel and one VinaPhone site at most (plus scenario sites)
    planned = medium.sites["active_from"].isna()
    inside = medium.sites[planned & medium.sites["commune_code"].isin(list(UNDERSERVED_COMMUNES))]
    assert set(inside["operator"]) <= {"viettel", "vinaphone"}
    assert inside.groupby(["commune_code", "operator"]).size().max() <= 1


def test_signals_are_physical_and_no_service_rows_are_empty(medium):
    frame = medium.measurements[(medium.truth["junk"] == "").to_numpy(bool)]
    ranges = {"2G": (-113, -51), "3G": (-120, -25), "4G": (-140, -44), "5G": (-156, -31)}
    for technology, (low, high) in ranges.items():
        values = frame.loc[(frame["technology"] == technology).to_numpy(bool, na_value=False), "signal_dbm"]
        assert len(values) > 0, technology
        assert values.between(low, high).all(), technology
    none = frame[frame["no_service"]]
    assert len(none) > 0
    assert none["signal_dbm"].isna().all() and none["technology"].isna().all()
    assert none["operator"].notna().all()
    service = frame[~frame["no_service"]]
    assert service["technology"].notna().all() and service["signal_dbm"].notna().all()
    plmn = service["operator"].map({op: plmn for op, (plmn, _) in OPERATORS.items()})
    assert (plmn == service["plmn"]).all()
    assert 50 <= frame["device_id"].nunique() <= 1000  # a few hundred phones


def test_junk_rates_within_tolerance(medium):
    junk = medium.truth["junk"]
    n = len(junk)
    for kind, rate in JUNK_RATES.items():
        observed = int((junk == kind).sum())
        sigma = np.sqrt(n * rate * (1 - rate))
        # sentinels only spoil rows with a signal (most rows): allow for that
        expected_low = n * rate * (0.8 if kind.startswith("sentinel") else 1.0)
        assert expected_low - 5 * sigma <= observed <= n * rate + 5 * sigma, kind
    frame = medium.measurements
    assert (frame.loc[(junk == "sentinel_-999").to_numpy(), "signal_dbm"] == -999).all()
    assert (frame.loc[(junk == "sentinel_0").to_numpy(), "signal_dbm"] == 0).all()
    assert (frame.loc[(junk == "zero_coordinates").to_numpy(), ["lon", "lat"]] == 0).all().all()
    swapped = frame.loc[(junk == "swapped_lat_lon").to_numpy()]
    assert (swapped["lat"] > 100).all() and (swapped["lon"] < 20).all()
    duplicates = np.flatnonzero((junk == "duplicate").to_numpy())
    assert len(duplicates) > 0
    pd.testing.assert_frame_equal(
        frame.iloc[duplicates].reset_index(drop=True), frame.iloc[duplicates - 1].reset_index(drop=True)
    )
    bad = frame.loc[(junk == "bad_time").to_numpy(), "time"]
    assert pd.to_datetime(bad, errors="coerce", format="ISO8601").isna().all()


def test_generic_csv_layout(medium, tmp_path):
    written = write_outputs(medium, tmp_path, ["generic_csv"])
    csv = written[0]
    mark, header = csv.read_text("utf-8").splitlines()[:2]
    assert mark.startswith("#") and "SYNTHETIC" in mark  # the mark inside the file survives a rename
    assert header.split(",") == [c for c in MEASUREMENT_COLUMNS if c not in ("source", "source_file", "source_row")]
    assert header.split(",") == GENERIC_CSV_COLUMNS
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False, skiprows=1)
    assert len(frame) == len(medium.measurements)
    clean = (medium.truth["junk"] != "bad_time").to_numpy(bool)
    pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+07:00$"
    assert frame.loc[clean, "time"].str.match(pattern).all()
    assert set(frame["operator"]) <= set(OPERATORS)
    assert set(frame["technology"]) <= {"2G", "3G", "4G", "5G", ""}
    assert set(frame["no_service"]) == {"true", "false"}
    # local times fall in the requested months
    local = pd.to_datetime(frame.loc[clean, "time"], format="ISO8601").dt.tz_convert(LOCAL_TZ)
    assert local.min() >= month_start("2026-08").tz_convert(LOCAL_TZ)
    assert local.max() < month_start("2026-11").tz_convert(LOCAL_TZ)
    assert set(local.dt.strftime("%Y-%m")) == {"2026-08", "2026-09", "2026-10"}


def test_canonical_table_is_clean(medium):
    table = medium.canonical()
    assert list(table.columns) == MEASUREMENT_COLUMNS
    assert len(table) == int((medium.truth["junk"] == "").sum())
    assert str(table["time"].dtype).startswith("datetime64") and table["time"].dt.tz is not None
    assert table["lon"].between(107, 109).all() and table["lat"].between(11, 13.5).all()
    assert table["source_file"].str.contains("synthetic").all()


def test_gnettrack_files_have_the_quirks_of_the_real_sample(communes, medium, tmp_path):
    real = paths.gnettrack_sample_path().read_bytes()
    real_header = real.split(b"\r\n", 1)[0]
    files = write_outputs(medium, tmp_path, ["gnettrack"])[:-1]
    assert len(files) == medium.gnettrack["device"].nunique() >= 2
    pattern = re.compile(r"^\d{4}\.\d{2}\.\d{2}_\d{2}\.\d{2}\.\d{2}$")
    no_service_rows = 0
    for file in files:
        assert "synthetic" in file.name and file.suffix == ".txt"
        data = file.read_bytes()
        assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
        lines = data.split(b"\r\n")[:-1]
        assert lines[0] == real_header
        for line in lines[1:]:
            fields = line.decode("utf-8").split("\t")
            assert len(fields) == 22 and fields[-1] == ""  # the trailing tab
            assert pattern.match(fields[0])
            if fields[9] == "--":
                no_service_rows += 1
                assert fields[10] == "-200" and fields[3] == "NO_COVERAGE" and fields[4] == ""
            else:
                assert fields[9] in {"2G", "3G", "4G"} and fields[4] in {p for p, _ in OPERATORS.values()}
    assert no_service_rows > 0
    # file order is time order within a session
    times = pd.to_datetime(medium.gnettrack["time_utc"])
    assert (times.groupby(medium.gnettrack["device"]).diff().dropna() > pd.Timedelta(0)).all()


def test_every_file_and_metadata_says_synthetic(medium, tmp_path):
    written = write_outputs(medium, tmp_path)
    villages = write_villages(medium.villages, tmp_path / "daknong_synthetic_villages.geojson")
    for path in [*written, villages]:
        assert "synthetic" in path.name
    metadata = json.loads(written[-1].read_text("utf-8"))
    assert metadata["synthetic"] is True and "SYNTHETIC" in metadata["licence"]
    assert metadata["seed"] == 11 and metadata["parameters"]["n_points"] == N_MEDIUM
    assert metadata["counts"]["generic_csv_rows"] == len(medium.measurements)
    assert sorted(metadata["files"]) == sorted(p.name for p in written[:-1])
    assert medium.villages["synthetic"].all()
    geojson = json.loads(villages.read_text("utf-8"))
    assert all(feature["properties"]["synthetic"] for feature in geojson["features"])


def test_exclude_sites_within_removes_every_site_near_the_point(communes, population_surface):
    commune = communes[communes["commune_code"] == "24616"].iloc[0]
    centre = commune.geometry.representative_point()
    radius_km = 6.0
    base = simulate(communes, population_surface, n_points=1_000, seed=3, n_gnettrack_devices=0)
    cut = simulate(
        communes,
        population_surface,
        n_points=1_000,
        seed=3,
        n_gnettrack_devices=0,
        exclude_sites_within=[(centre.x, centre.y, radius_km)],
    )
    cx, cy = _metric([centre.x], [centre.y])
    distance = lambda sites: np.hypot(sites["x"] - cx[0], sites["y"] - cy[0])  # noqa: E731
    assert (distance(base.sites) <= radius_km * 1000).sum() > 0
    assert (distance(cut.sites) > radius_km * 1000).all()
    assert len(cut.sites) == (distance(base.sites) > radius_km * 1000).sum()


def _near(result, x, y, radius_m, operators=None):
    clean = (result.truth["junk"] == "").to_numpy(bool)
    truth = result.truth[clean]
    frame = result.measurements[clean]
    distance = np.min(np.hypot(truth["x"].to_numpy()[:, None] - x, truth["y"].to_numpy()[:, None] - y), axis=1)
    keep = distance <= radius_m
    if operators:
        keep &= frame["operator"].isin(operators).to_numpy(bool)
    local_month = truth["time_utc"].dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m").to_numpy()
    return frame[keep], local_month[keep]


def test_new_sites_close_a_gap_from_their_month(medium):
    new = medium.sites[medium.sites["active_from"].notna()]
    assert len(new) >= 4 and set(new["operator"]) == {"viettel", "vinaphone"}
    assert (new["active_from"] == month_start("2026-10")).all()
    frame, month = _near(medium, new["x"].to_numpy(), new["y"].to_numpy(), 1500, ["viettel", "vinaphone"])
    weak = (frame["no_service"] | (frame["signal_dbm"] < -110)).to_numpy(bool)
    before, after = weak[month < "2026-10"], weak[month == "2026-10"]
    assert len(before) >= 20 and len(after) >= 10
    assert after.mean() < before.mean() - 0.2


def test_outage_opens_a_gap_from_its_month(medium, communes):
    where = communes[communes["commune_code"] == OUTAGE_COMMUNE].to_crs(METRIC_CRS).representative_point().iloc[0]
    off = medium.sites[medium.sites["active_until"].notna()]
    assert len(off) > 0 and (off["active_until"] == month_start("2026-10")).all()
    frame, month = _near(medium, np.array([where.x]), np.array([where.y]), OUTAGE_RADIUS_KM * 1000 * 0.6)
    thresholds = frame["technology"].map({"2G": -100, "3G": -100, "4G": -110, "5G": -110}).astype(float)
    weak = (frame["no_service"] | (frame["signal_dbm"] < thresholds)).to_numpy(bool)
    before, after = weak[month < "2026-10"], weak[month == "2026-10"]
    assert len(before) >= 20 and len(after) >= 10
    assert after.mean() > before.mean() + 0.3


def test_villages_split_the_census_and_sit_in_their_commune(communes, population_surface):
    villages = make_villages(communes, population_surface, seed=4)
    assert 300 <= len(villages) <= 1500
    by_commune = villages.groupby("commune_code")["population"].sum().to_dict()
    census = dict(zip(communes["commune_code"].astype(str), communes["population"].astype(int), strict=True))
    assert by_commune == census
    joined = villages.sjoin(communes[["commune_code", "geometry"]].to_crs(4326), predicate="within", how="left")
    inside_own = joined["commune_code_left"] == joined["commune_code_right"]
    assert inside_own.groupby(level=0).any().mean() > 0.97  # boundary overlaps/slivers aside
    assert not villages.duplicated(["commune_code", "name"]).any()
    assert villages["name"].str.match(r"^(Thôn|Bon|Buôn) ").all()
    assert (villages["households"] > 0).all() and villages["has_grid_power"].mean() > 0.8


def test_ensure_demo_data_is_idempotent(communes, population_surface, tmp_path, monkeypatch):
    monkeypatch.setenv("LOMSONG_DATA", str(tmp_path))
    files = ensure_demo_data(communes=communes, surface=population_surface)
    assert all(p.exists() and "synthetic" in p.name for p in files)
    assert all(p.parent == paths.measurements_dir() or p.parent.name == "villages" for p in files)
    csv = next(p for p in files if p.suffix == ".csv" and "measurements" in p.name)
    assert csv.stat().st_size <= 10_000_000
    stamp = {p: p.stat().st_mtime_ns for p in files}
    assert ensure_demo_data(communes=communes, surface=population_surface) == files
    assert {p: p.stat().st_mtime_ns for p in files} == stamp
    assert not [p for p in paths.measurements_dir().iterdir() if p.name.startswith(".")]  # no leftovers
    total = sum(p.stat().st_size for p in files)
    assert total <= 10_500_000


def test_parse_months():
    assert parse_months("2026-08..2026-10") == ("2026-08", "2026-10")
    assert parse_months("2026-09") == ("2026-09", "2026-09")
    with pytest.raises(ValueError, match="before"):
        parse_months("2026-10..2026-08")
    with pytest.raises(ValueError, match="not a month"):
        parse_months("2026-13")


def test_cli_simulate(communes, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["simulate", "--points", "2000", "--out", str(out), "--villages-dir", str(out), "--format", "generic_csv"],
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert all("synthetic" in name for name in names)
    assert not any(name.startswith("gnettrack") for name in names)
    bad = runner.invoke(app, ["simulate", "--months", "2026-13", "--out", str(out)])
    assert bad.exit_code == 2 and "not a month" in bad.output and "Traceback" not in bad.output


def test_gmobile_is_opt_in_and_devices_follow_market_shares(communes, population_surface, medium):
    assert "gmobile" not in set(medium.sites["operator"]) and "gmobile" not in set(medium.measurements["operator"])
    devices = medium.measurements.drop_duplicates("device_id")["operator"].value_counts(normalize=True)
    assert devices["viettel"] > devices["vinaphone"] > devices["mobifone"] > devices["vietnamobile"] > 0
    assert 0.4 <= devices["viettel"] <= 0.6 and devices["vietnamobile"] <= 0.12
    with_gmobile = simulate(
        communes, population_surface, n_points=N_SMALL, seed=5, n_gnettrack_devices=0, n_devices=400, gmobile=True
    )
    assert "gmobile" in set(with_gmobile.sites["operator"]) and "gmobile" in set(with_gmobile.measurements["operator"])


def test_towns_have_a_site_about_every_kilometre_and_strong_4g(medium, communes):
    towns = communes[communes["commune_type"].isin(["Phường", "Thị trấn"])]
    area = towns.to_crs(METRIC_CRS).area.sum() / 1e6
    viettel = medium.sites[
        (medium.sites["operator"] == "viettel") & medium.sites["commune_code"].isin(towns["commune_code"])
    ]
    assert 0.7 <= len(viettel) / area <= 1.6  # sites per km² of a ~1 km lattice (1.15 for a perfect one)
    clean = (medium.truth["junk"] == "").to_numpy(bool)
    frame = medium.measurements[clean]
    in_town = medium.truth.loc[clean, "commune_code"].isin(towns["commune_code"]).to_numpy(bool)
    lte = (frame["technology"] == "4G").to_numpy(bool, na_value=False) & (frame["operator"] == "viettel").to_numpy(bool)
    town_rsrp = frame.loc[in_town & lte, "signal_dbm"]
    assert -100 <= town_rsrp.median() <= -75  # outdoor and indoor mixed, towns well served
    # a phone in the remote communes is weak (no service or below the thresholds) far more often
    remote = medium.truth.loc[clean, "commune_code"].isin(list(UNDERSERVED_COMMUNES)).to_numpy(bool)
    thresholds = frame["technology"].map({"2G": -100, "3G": -100, "4G": -110, "5G": -110}).astype(float)
    weak = (frame["no_service"] | (frame["signal_dbm"] < thresholds)).to_numpy(bool, na_value=False)
    assert weak[remote].mean() > weak[in_town].mean() + 0.3


def test_every_network_measures_in_the_under_served_communes(medium):
    clean = (medium.truth["junk"] == "").to_numpy(bool)
    frame = medium.measurements[clean]
    remote = medium.truth.loc[clean, "commune_code"].isin(list(UNDERSERVED_COMMUNES)).to_numpy(bool)
    devices = frame[remote].groupby("operator")["device_id"].nunique()
    for operator in ("viettel", "vinaphone", "mobifone", "vietnamobile"):
        assert devices.get(operator, 0) >= 2 * len(UNDERSERVED_COMMUNES), operator
