"""A hostile or careless client against a live server: nothing gets in, nothing gets lost.

One server over a run whose village, commune and gap names are markup and formulas; operator keys
that try to upload for a competitor; upload names that try to leave the upload folder.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import geopandas as gpd
import httpx
import openpyxl
import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from api.app import create_app
from api.uploads import remove_stale_uploads
from lomsong._text import safe_cell
from lomsong.tables import results as res
from tests.hostile.corpus import MARKUP_NAMES, TRAVERSAL_NAMES, folder_digest, rename_hostile
from tests.support.api_server import ApiServer, example_settings, live_server, make_keys
from tests.support.browser import CHROMIUM_FLAGS, OPEN_EVERYTHING, chromium_path
from tests.support.scenes import sample_slice

CODE = "24664"  # Thị trấn Đắk Mil, one of the example run's communes


def _hostile_run(folder: Path) -> None:
    villages = gpd.read_parquet(folder / res.VILLAGES_PARQUET)
    rename_hostile(villages, ["name", "commune"]).to_parquet(folder / res.VILLAGES_PARQUET, index=False)
    gaps = gpd.read_parquet(folder / res.GAPS_PARQUET)
    rename_hostile(gaps, ["commune", "district", "communes"]).to_parquet(folder / res.GAPS_PARQUET, index=False)
    summary = pd.read_parquet(folder / res.COMMUNE_SUMMARY_PARQUET)
    rename_hostile(summary, ["commune", "district"]).to_parquet(folder / res.COMMUNE_SUMMARY_PARQUET, index=False)


@pytest.fixture(scope="module")
def stale_copy():
    """A temporary upload copy left by a server that was killed (its process is gone)."""
    folder = Path(tempfile.gettempdir()) / "lomsong-upload-4194305-killed"
    folder.mkdir(exist_ok=True)
    (folder / "upload.bin").write_bytes(b"half an upload")
    yield folder
    folder.exists() and [p.unlink() for p in folder.iterdir()] and folder.rmdir()


@pytest.fixture(scope="module")
def api(tmp_path_factory, stale_copy):
    settings = example_settings(tmp_path_factory.mktemp("hostile-api"))
    _hostile_run(settings.run_folder)
    keys = make_keys(settings)
    with live_server(create_app(settings)) as url:
        yield ApiServer(url=url, settings=settings, keys=keys)


@pytest.fixture(scope="module")
def client(api):
    with httpx.Client(base_url=api.url, timeout=60) as http:
        yield http


def _upload(client, api, who, content, name="log.csv", **form):
    return client.post("/measurements", files={"file": (name, content)}, data=form, headers=api.headers(who))


def _no_server_path(text: str) -> None:
    assert tempfile.gettempdir() + "/" not in text and "lomsong-upload-" not in text, text


# -- pages ------------------------------------------------------------------------------------


def test_a_forged_host_header_changes_no_page(client):
    forged = client.get(f"/maps/communes/{CODE}", headers={"Host": "attacker.test"})
    assert forged.status_code == 200
    later = client.get(f"/maps/communes/{CODE}")
    for page in (forged.text, later.text, client.get("/maps/", headers={"Host": "attacker.test"}).text):
        assert "attacker.test" not in page
    assert forged.content == later.content, "the page does not depend on the request"
    assert 'src="../assets/' in later.text


def test_no_script_runs_in_the_served_pages(api):
    urls = [f"{api.url}/maps/", f"{api.url}/maps/communes/{CODE}"]
    urls += [f"{api.url}/collections/{c}/items?f=html" for c in ("communes", "gaps", "villages")]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context()
            # only the server under test; map tiles and anything else are cut off
            context.route(
                "**/*", lambda route: route.continue_() if route.request.url.startswith(api.url) else route.abort()
            )
            for url in urls:
                page = context.new_page()
                dialogs: list[str] = []

                def on_dialog(dialog, seen=dialogs) -> None:
                    seen.append(dialog.message)
                    dialog.dismiss()

                page.on("dialog", on_dialog)
                page.goto(url, wait_until="load")
                if "/maps/" in url:
                    assert page.evaluate(OPEN_EVERYTHING) > 10
                page.wait_for_timeout(200)
                assert page.evaluate("window.__xss") is None, url
                assert dialogs == [], url
                assert page.locator("img[src=x], svg[onload]").count() == 0, url
                if "/items" in url and "communes" not in url:
                    shown = page.evaluate("document.body.innerText")
                    assert any(name in shown for name in MARKUP_NAMES), f"{url} shows the names, as text"
                page.close()
        finally:
            browser.close()


def test_village_and_gap_downloads_hold_no_formula(client):
    for path in ("/villages", "/gaps", "/communes"):
        text = client.get(path, params={"f": "csv"}).content.decode("utf-8-sig")
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        assert not [c for c in cells if safe_cell(c) != c], path
        workbook = openpyxl.load_workbook(io.BytesIO(client.get(path, params={"f": "xlsx"}).content))
        kinds = [c.data_type for sheet in workbook.worksheets for row in sheet.iter_rows() for c in row]
        assert "f" not in kinds, path
    villages = client.get("/villages", params={"f": "csv"}).text
    assert "'=HYPERLINK" in villages, "the hostile name is kept, as text"


def test_health_names_no_server_path(client, api):
    body = client.get("/health").text
    assert str(api.settings.run_folder) not in body and "run_folder" not in body


# -- uploads ----------------------------------------------------------------------------------


def test_traversal_and_odd_upload_names_are_answered_without_a_server_error(client, api):
    store = api.settings.store_dir
    for number, name in enumerate(TRAVERSAL_NAMES):
        content = sample_slice(30 + number)
        answer = _upload(client, api, "admin", content, name)
        assert answer.status_code < 500, (name, answer.text)
        _no_server_path(answer.text)
        if answer.status_code == 200:
            shown = answer.json()["file"]
            assert "/" not in shown and "\x00" not in shown and len(shown) <= 120 and shown.strip(".")
    listed = client.get("/measurements", headers=api.headers("admin")).json()["items"]
    assert all("/" not in item["file"] and len(item["file"]) <= 120 for item in listed)
    assert not any(p.name.startswith("..") for p in store.rglob("*"))


def test_upload_errors_name_the_clients_file_not_the_servers_copy(client, api):
    answer = _upload(client, api, "admin", b"this is not a measurement file\n", "notes.txt")
    assert answer.status_code in (400, 422) and "notes.txt" in answer.json()["message"]
    _no_server_path(answer.text)


def test_no_upload_copy_is_left_behind_and_a_killed_servers_copies_are_removed(client, api, stale_copy):
    assert not stale_copy.exists(), "the server removed a killed server's copy when it started"
    _upload(client, api, "viettel", sample_slice(55), "again.txt")
    mine = [p for p in Path(tempfile.gettempdir()).glob(f"lomsong-upload-{os.getpid()}-*")]
    assert mine == []


def test_remove_stale_uploads_keeps_a_live_servers_copies(tmp_path):
    live = tmp_path / f"lomsong-upload-{os.getpid()}-abc"
    dead = tmp_path / "lomsong-upload-4194305-abc"
    for folder in (live, dead):
        folder.mkdir()
    assert remove_stale_uploads(tmp_path) == [dead]
    assert live.exists() and not dead.exists()


def test_an_operator_cannot_attribute_rows_to_another_network(client, api):
    store = api.settings.store_dir
    before = folder_digest(store)
    rows = "time,lat,lon,operator,rsrp\n" + "".join(
        f"2026-06-01 08:{m:02d},12.0,107.69,{op},-120\n" for m, op in enumerate(["vinaphone", "viettel"] * 5)
    )
    mixed = _upload(client, api, "vinaphone", rows.encode(), "mixed.csv")
    assert mixed.status_code == 403 and mixed.json()["code"] == "other_operator", mixed.text
    assert "viettel" in mixed.json()["message"] and "mixed.csv" in mixed.json()["message"]
    named = _upload(client, api, "vinaphone", sample_slice(60), "yas.txt", operator="Viettel")
    assert named.status_code == 403 and named.json()["field"] == "operator"
    assert folder_digest(store) == before, "the store is byte-identical after every refused upload"
    assert client.get("/measurements", headers=api.headers("vinaphone")).json()["items"] == []
    own = _upload(client, api, "vinaphone", rows.replace("viettel", "vinaphone").encode(), "own.csv")
    assert own.status_code == 200 and own.json()["accepted"] > 0, own.text
    admin = _upload(client, api, "admin", rows.encode(), "for_both.csv")
    assert admin.status_code == 200 and admin.json()["accepted"] == 10, admin.text


def test_an_upload_that_gave_nothing_does_not_block_the_right_one(client, api):
    rows = "time,lat,lon,rsrp\n" + "".join(f"2026-06-01 09:{m:02d},12.0,107.69,-118\n" for m in range(10))
    before = {u["sha256"] for u in client.get("/measurements", headers=api.headers("admin")).json()["items"]}
    nothing = _upload(client, api, "admin", rows.encode(), "no_operator.csv", format="generic_csv")
    # nothing usable (no operator): answered 422 with the reason, and not kept to block the right upload
    assert nothing.status_code == 422 and "missing_operator" in nothing.json()["message"], nothing.text
    assert {u["sha256"] for u in client.get("/measurements", headers=api.headers("admin")).json()["items"]} == before
    right = _upload(client, api, "admin", rows.encode(), "no_operator.csv", operator="mobifone")
    assert right.status_code == 200, right.text
    assert right.json()["accepted"] == 10 and not right.json().get("duplicate_file"), right.text
    again = _upload(client, api, "admin", rows.encode(), "no_operator.csv", operator="mobifone")
    assert again.json()["duplicate_file"] is True


def test_a_second_uploader_sees_their_own_name_and_time(client, api):
    rows = "time,lat,lon,rsrp\n" + "".join(f"2026-06-02 10:{m:02d},12.0,107.69,-117\n" for m in range(10))
    first = _upload(client, api, "viettel", rows.encode(), "viettel_drive.csv")
    assert first.status_code == 200 and first.json()["accepted"] == 10, first.text
    second = _upload(client, api, "vinaphone", rows.encode(), "vnpt_copy.csv")
    assert second.status_code == 200 and second.json()["file"] == "vnpt_copy.csv", second.text
    sha = first.json()["sha256"]
    seen = {}
    for who in ("viettel", "vinaphone"):
        seen[who] = client.get(f"/measurements/{sha}", headers=api.headers(who)).json()
        listed = {i["sha256"]: i for i in client.get("/measurements", headers=api.headers(who)).json()["items"]}
        assert listed[sha]["file"] == seen[who]["file"] and listed[sha]["owner"] == who
    assert seen["viettel"]["file"] == "viettel_drive.csv" and seen["vinaphone"]["file"] == "vnpt_copy.csv"
    assert seen["vinaphone"]["ingested_at"] >= seen["viettel"]["ingested_at"]
    assert "viettel" not in str(seen["vinaphone"]), "nothing of the first uploader shows"


def test_relative_asset_links_resolve(client, api):
    page = client.get("/maps/").text
    asset = page.split('src="', 2)[1].split('"', 1)[0]
    assert client.get(urljoin(f"{api.url}/maps/", asset)).status_code == 200


def test_a_bomb_upload_is_refused_and_changes_nothing(client, api, tmp_path):
    from lomsong.tables.store import MeasurementStore
    from tests.hostile.corpus import gzip_bomb

    MeasurementStore(api.settings.store_dir)  # the store exists (the test may run alone)
    store_before = folder_digest(api.settings.store_dir)
    run_before = folder_digest(api.settings.run_folder)
    bomb = gzip_bomb(tmp_path / "cells.csv.gz", decompressed_mb=64)
    answer = _upload(client, api, "admin", bomb.read_bytes(), "cells.csv.gz")
    assert answer.status_code in (400, 413, 422), answer.text
    assert "cells.csv.gz" in answer.json()["message"] and "times" in answer.json()["message"]
    _no_server_path(answer.text)
    assert folder_digest(api.settings.store_dir) == store_before
    assert folder_digest(api.settings.run_folder) == run_before


def test_with_read_keys_only_the_descriptions_stay_public(tmp_path):
    settings = example_settings(tmp_path, read_requires_key=True)
    keys = make_keys(settings)
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        for path in ("/", "/conformance", "/openapi.json", "/docs", "/health"):
            assert http.get(path).status_code == 200, path
        health = http.get("/health").text
        assert str(settings.run_folder) not in health and str(tmp_path) not in health
        for path in ("/gaps", "/collections", "/collections/gaps/items", "/maps/", f"/maps/communes/{CODE}"):
            assert http.get(path).status_code == 401, path
            assert http.get(path, headers={"X-API-Key": keys["reader"]}).status_code == 200, path
        security = http.get("/openapi.json").json()["paths"]["/gaps"]["get"]["security"]
        assert {} not in security, "when reads need a key the document says so"


def test_a_rerun_with_nothing_usable_fails_saying_so_and_keeps_serving(tmp_path):
    import time

    from lomsong.tables.store import MeasurementStore

    settings = example_settings(tmp_path)
    MeasurementStore(settings.store_dir)  # a store with no usable file in it
    keys = make_keys(settings)
    run_before = folder_digest(settings.run_folder)
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as http:
        served = http.get("/gaps").json()["numberMatched"]
        run_id = http.post("/runs", headers={"X-API-Key": keys["admin"]}).json()["id"]
        state = {}
        for _ in range(1200):
            state = http.get(f"/runs/{run_id}", headers={"X-API-Key": keys["admin"]}).json()
            if state["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert state["state"] == "failed" and "no usable measurements" in state["error"], state
        # the rerun goes to a candidate folder, so nothing of it was written; the served run is untouched
        assert "nothing was written" in state["error"]
        assert http.get("/gaps").json()["numberMatched"] == served
    assert folder_digest(settings.run_folder) == run_before
