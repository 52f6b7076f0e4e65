"""The CLI as a user runs it, the reference-data set-up and the configuration object."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lomsong import paths
from lomsong.reference.install import ReferenceDataError, install_reference_data, read_manifest
from lomsong.settings import Config, ConfigError, load_config

LOMSONG = [sys.executable, "-m", "lomsong"]


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LOMSONG, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120
    )


def test_communes_csv_lists_all_communes():
    result = run_cli("communes", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 71
    assert {"commune_code", "commune", "district", "population"} <= set(rows[0])
    assert sum(int(r["population"]) for r in rows) == 622_168


def test_communes_search_without_diacritics():
    result = run_cli("communes", "--search", "dak mil", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["commune"] == "Thị trấn Đắk Mil"


def test_communes_table_and_geojson():
    table = run_cli("communes")
    assert table.returncode == 0
    assert "622,168" in table.stdout and "Đắk Mil" in table.stdout
    geo = json.loads(run_cli("communes", "--search", "24664", "--format", "geojson").stdout)
    assert geo["type"] == "FeatureCollection"
    assert geo["features"][0]["properties"]["commune"] == "Thị trấn Đắk Mil"


def test_unknown_commune_is_an_error_not_a_traceback():
    result = run_cli("communes", "--search", "atlantis")
    assert result.returncode == 1
    assert "no commune matches 'atlantis'" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help():
    from lomsong import __version__

    assert run_cli("--version").stdout.strip() == f"lomsong {__version__}"
    help_text = run_cli("--help").stdout
    assert "communes" in help_text and "setup" in help_text
    assert "--search" in run_cli("communes", "--help").stdout


def test_setup_fails_clearly_when_reference_data_is_missing(tmp_path):
    result = run_cli("setup", env={"LOMSONG_REFERENCE_DATA": str(tmp_path), "LOMSONG_DATA": str(tmp_path / "data")})
    assert result.returncode != 0
    assert "boundaries/daknong_communes_2019.geojson" in result.stderr
    assert str(tmp_path) in result.stderr
    assert "LOMSONG_REFERENCE_DATA" in result.stderr
    assert "Traceback" not in result.stderr


def test_altered_reference_file_is_refused(tmp_path):
    source = paths.reference_data_dir()
    copy = tmp_path / "reference"
    shutil.copytree(source, copy)
    target = copy / "population" / "daknong_population_census2019_by_commune.csv"
    target.chmod(0o644)
    target.write_text(target.read_text(encoding="utf-8").replace("8396", "8397"), encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="does not match the project's manifest"):
        install_reference_data(copy, tmp_path / "data")


def test_install_copies_and_verifies_every_manifest_file(tmp_path):
    installed = install_reference_data(paths.reference_data_dir(), tmp_path / "data")
    assert [p.relative_to(tmp_path / "data").as_posix() for p in installed] == [
        e.relative_path for e in read_manifest()
    ]
    assert all(Path(p).stat().st_size > 0 for p in installed)


def test_config_defaults_and_toml(tmp_path):
    assert Config().thresholds == {"2G": -100.0, "3G": -100.0, "4G": -110.0, "5G": -110.0}
    path = tmp_path / "lomsong.toml"
    path.write_text('[analysis]\nresolution = 9\n[thresholds]\n"4G" = -115\n[evidence]\nmin_devices = 3\n')
    config = load_config(path)
    assert (config.resolution, config.thresholds["4G"], config.thresholds["3G"], config.min_devices) == (
        9,
        -115.0,
        -100.0,
        3,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[analysis]\nresolutoin = 9\n", "unknown key analysis.resolutoin"),
        ("[colours]\na = 1\n", r"unknown section \[colours\]"),
        ("[analysis]\nresolution = 12\n", "resolution must be an integer 7 to 10"),
        ('[thresholds]\n"4G" = 20\n', "thresholds.4G must be a number of dBm"),
        ("[evidence]\nmin_samples = 0\n", "min_samples must be a positive integer"),
        ("[analysis\n", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
