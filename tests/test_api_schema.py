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
from test_api_support import running_api

from api.app import create_app
from api.settings import ApiSettings

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
