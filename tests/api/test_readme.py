"""The README's API examples run verbatim from the project root against a real server (issue 19).

The block between ``<!-- api-examples:begin -->`` and ``<!-- api-examples:end -->`` is run line by
line with bash; only the port in its first line is changed to the test server's. The commands run in
a folder that links the project's ``tests/`` and ``data/``, so their relative paths resolve as from
the root while their downloads do not land in the checkout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import mapbox_vector_tile
import pyogrio
import pytest

from api.app import create_app
from lomsong import paths
from tests.support import ROOT
from tests.support.api_server import example_settings, live_server, make_keys
from tests.support.scenes import MONTHS, make_period_run


def readme_examples() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- api-examples:begin -->", 1)[1].split("<!-- api-examples:end -->", 1)[0]
    code = block.split("```sh", 1)[1].split("```", 1)[0]
    return [line for line in code.strip().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    settings = example_settings(folder)
    for month in MONTHS:
        make_period_run(settings.run_folder, month, keep_every=1)
    keys = make_keys(settings)

    def runner(settings, options, out):  # the pipeline itself is tested in test_api_pipeline.py
        raise RuntimeError("not run in this test")

    with live_server(create_app(settings, runner=runner)) as url:
        yield url, keys


def test_readme_api_examples_run_verbatim(served, tmp_path):
    url, keys = served
    assert paths.gnettrack_sample_path().exists()
    for name in ("tests", "data"):
        (tmp_path / name).symlink_to(ROOT / name)
    first, *commands = readme_examples()
    assert first == "API=http://127.0.0.1:8000"
    env = {**os.environ, "KEY": keys["viettel"], "ADMIN_KEY": keys["admin"]}
    outputs = {}
    for command in commands:
        script = f"API={url}\n{command}"
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (command, done.stderr)
        outputs[command] = done.stdout

    def output(fragment: str) -> str:
        return next(text for command, text in outputs.items() if fragment in command)

    assert "median_signal_dbm" not in json.loads(output("queryables"))["properties"]  # a filter list, not the schema
    assert "operator" in json.loads(output("queryables"))["properties"]
    cells = json.loads((tmp_path / "viettel_weak_4g_cells.geojson").read_text(encoding="utf-8"))
    assert cells["type"] == "FeatureCollection"
    assert json.loads(output("datetime="))["type"] == "FeatureCollection"
    assert [p["period"] for p in json.loads(output("/periods"))["items"]] == list(MONTHS)
    assert "items" in json.loads(output("gaps?period=2026-10"))
    assert json.loads(output("/compare?"))["after"] == "2026-10"
    assert len(pyogrio.read_dataframe(tmp_path / "viettel_cells.gpkg")) > 0
    mapbox_vector_tile.decode((tmp_path / "cells_12_1910_3273.mvt").read_bytes())
    own = json.loads(output("gnettrack_quirks.txt"))
    assert own["accepted"] > 0 and own["operators"] == {"viettel": own["accepted"]}
    mixed = [json.loads(text) for command, text in outputs.items() if "bad_rows.csv" in command]
    by_key = dict(zip(["operator", "admin"], mixed, strict=True))
    assert by_key["operator"]["code"] == "other_operator"
    uploaded = by_key["admin"]
    assert uploaded["accepted"] > 0 and sum(uploaded["operators"].values()) == uploaded["accepted"]
    refused = json.loads(output("Yas_log.txt"))
    assert refused["code"] == "nothing_usable" and "outside the province" in refused["message"]
    assert json.loads(output("/runs"))["state"] in ("queued", "running", "failed")
    assert re.search(r"Feature Count: \d+", output("ogrinfo"))
