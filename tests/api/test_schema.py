"""Property test of the OpenAPI document: generated requests never get a server error or an
answer that breaks the document (status, media type, body schema). Bounded to stay CI-fast."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import ApiSettings
from tests.support.api_server import running_api

# The same document the server serves at /openapi.json (building the app loads no data).
_UNUSED = Path("/nonexistent/lomsong")
SCHEMA = schemathesis.openapi.from_dict(
    create_app(ApiSettings(run_folder=_UNUSED, store_dir=_UNUSED, keys_db=_UNUSED / "keys.sqlite")).openapi()
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with running_api(tmp_path_factory.mktemp("schema")) as server:
        yield server


# Map pages are left out: each distinct page is a full folium render (slow), covered in test_api.py.
@SCHEMA.exclude(path_regex="^/maps/").parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_generated_requests_get_no_server_error_and_follow_the_schema(case, api):
    case.call_and_validate(base_url=api.url, checks=CHECKS, timeout=60)


# -- what schemathesis found, checked one by one (issue 12) -----------------------------------


def _document() -> dict:
    return SCHEMA.raw_schema


def test_every_reference_in_the_document_resolves():
    import json
    import re

    text = json.dumps(_document())
    referenced = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert referenced, "the document uses references"
    assert referenced <= set(_document()["components"]["schemas"]), referenced - set(
        _document()["components"]["schemas"]
    )


def test_every_declared_format_of_the_documents_is_answered(api):
    import httpx

    paths = _document()["paths"]
    with httpx.Client(base_url=api.url, timeout=60) as http:
        for path in ("/", "/conformance", "/collections", "/collections/gaps"):
            parameter = next(
                p for p in paths[path.replace("gaps", "{collectionId}")]["get"]["parameters"] if p["name"] == "f"
            )
            declared = [v for option in parameter["schema"]["anyOf"] for v in option.get("enum", [])]
            for value in declared:
                answer = http.get(path, params={"f": value})
                assert answer.status_code == 200, (path, value, answer.text)


def test_open_reads_declare_their_key_optional_and_uploads_require_it(api):
    import httpx

    paths = _document()["paths"]
    with httpx.Client(base_url=api.url, timeout=60) as http:
        for path in ("/gaps", "/summary", "/collections"):
            assert {} in paths[path]["get"]["security"], path
            assert http.get(path).status_code == 200, path  # and indeed open
        for path, method in (("/measurements", "post"), ("/runs", "post")):
            assert {} not in paths[path][method]["security"]
            assert http.request(method.upper(), path).status_code in (400, 401), path


def test_a_wrong_method_says_which_are_allowed(api):
    import httpx

    with httpx.Client(base_url=api.url, timeout=60) as http:
        for method, path in (("PUT", "/gaps"), ("DELETE", "/summary"), ("PATCH", "/measurements")):
            answer = http.request(method, path)
            assert answer.status_code == 405, (method, path)
            assert answer.headers.get("allow"), (method, path)
            assert answer.json()["code"] == "method_not_allowed"
