"""Upload checks over HTTP (issue 19): counts per operator, rows naming another network, nothing usable → 422."""

from __future__ import annotations

import re

import httpx
import pandas as pd
import pytest

from lomsong import paths
from lomsong.products.words import REASON_LABELS
from tests.support.api_server import running_api
from tests.support.scenes import sample_slice


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with running_api(tmp_path_factory.mktemp("uploads")) as server:
        yield server


@pytest.fixture(scope="module")
def client(api):
    with httpx.Client(base_url=api.url, timeout=60) as http:
        yield http


def _upload(client, api, who: str, content: bytes, name: str) -> httpx.Response:
    return client.post("/measurements", files={"file": (name, content)}, headers=api.headers(who))


def _ledger(client, api) -> set[str]:
    return {u["sha256"] for u in client.get("/measurements", headers=api.headers("admin")).json()["items"]}


def test_report_counts_rows_per_operator_and_refuses_another_network(client, api):
    own = _upload(client, api, "viettel", sample_slice(90, "viettel"), "viettel_log.txt")
    assert own.status_code == 200, own.text
    report = own.json()
    assert report["operators"] == {"viettel": report["accepted"]} and report["accepted"] > 0

    before = _ledger(client, api)
    other = _upload(client, api, "viettel", sample_slice(95, "vinaphone"), "vinaphone_log.txt")
    assert other.status_code == 403, other.text
    assert other.json()["code"] == "other_operator" and "vinaphone_log.txt" in other.json()["message"]
    assert _ledger(client, api) == before
    # the department's admin key uploads for anyone
    admin = _upload(client, api, "admin", sample_slice(97, "vinaphone"), "any_log.txt").json()
    assert admin["operators"] == {"vinaphone": admin["accepted"]}


def test_a_file_outside_the_province_answers_422_with_where_it_lies_and_is_not_kept(client, api):
    before = _ledger(client, api)
    whole = paths.gnettrack_sample_path().read_text(encoding="utf-8").splitlines()
    dakar = ("\n".join(whole[:300]) + "\n").encode("utf-8")  # the real log, recorded around Dakar
    response = _upload(client, api, "viettel", dakar, "Yas_log.txt")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "nothing_usable" and body["field"] == "file"
    assert "valid rows of 299 lie outside the province, around" in body["message"]
    lat, lon = (float(v) for v in re.search(r"around ([\d.]+) N ([\d.]+) W", body["message"]).groups())
    assert lat == pytest.approx(14.67, abs=0.05) and lon == pytest.approx(17.44, abs=0.05)  # Dakar
    assert "duplicate_row" in body["message"]  # the log repeats some rows: said too
    assert body["message"].startswith("Yas_log.txt:")
    assert _ledger(client, api) == before  # not kept


def test_a_file_of_rejected_rows_says_why_with_labels(client, api):
    rows = pd.DataFrame(
        {
            "time": ["2026-06-01T08:00:00+07:00"] * 3,
            "lon": ["", "", ""],
            "lat": ["12.0", "12.1", "12.2"],
            "operator": ["viettel"] * 3,
            "technology": ["4G"] * 3,
            "signal_dbm": ["-95", "-96", "-97"],
        }
    )
    response = _upload(client, api, "viettel", rows.to_csv(index=False).encode(), "no_lon.csv")
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert "none of the 3 rows is usable" in message and "missing_coordinates" in message


def test_reason_labels_exist_in_both_languages():
    from lomsong.readers.validate import ROW_REASON_CODES

    for code in [*ROW_REASON_CODES, "outside_province", "other_network"]:
        assert REASON_LABELS["vi"][code] and REASON_LABELS["en"][code], code
    assert set(REASON_LABELS["vi"]) == set(REASON_LABELS["en"])
