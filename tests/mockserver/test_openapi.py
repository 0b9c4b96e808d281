"""The OpenAPI document describes the fake: schemathesis generates requests from it and checks every answer."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from mockserver.app import create_app
from mockserver.clock import VirtualClock
from mockserver.config import MockConfig
from reconciler import catalog


@pytest.fixture
def app():
    # No block list: a schema-valid prompt may well say "nsfw" (schemathesis mines the document's
    # constants), and a blocked job's 422 would read as valid data rejected.
    config = MockConfig(keys={"mock-key": 1e9}, block_list=[], media={"longest_side": 32, "fps": 2})
    return create_app(config, VirtualClock())


@pytest.fixture
def api_schema(app):
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Positive data only: the server is deliberately lenient where the real one is ("5" for 5,
    # "480" for 480), which a schema cannot state with ranges; tests/mockserver/test_wire.py holds
    # the rejections one by one.
    loaded.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])
    return loaded


# Control routes that change the configuration or forget state would make every other operation's
# answers arbitrary; they have their own tests (test_sync_and_control.py).
schema = schemathesis.pytest.from_fixture("api_schema").exclude(
    path_regex="^/_mock/(config|credits|reset)$", method=["PUT", "POST"]
)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # the same cases on every CI run, so a red CI is never luck
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_every_answer_matches_the_openapi_document(case):
    excluded = []
    if case.operation.path == "/inference-request/request-history":
        # Two valid dates may still span more than the 31 days the service allows (400): a rule
        # between parameters that OpenAPI cannot state.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"x-api-key": "mock-key"}, excluded_checks=excluded)


@pytest.fixture
def negative_schema(app):
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    loaded.config.generation.update(modes=[schemathesis.GenerationMode.NEGATIVE])
    return loaded


# Bodies and queries that break the document: the fake may accept some (it is lenient where the
# real service is), but whatever it answers must be a documented status with a documented shape.
negative = (
    schemathesis.pytest.from_fixture("negative_schema")
    .include(method="POST")
    .exclude(path_regex="^/_mock/(config|credits|reset)$")
)


@negative.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_broken_requests_get_documented_answers_never_a_server_error(case):
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    case.call_and_validate(headers={"x-api-key": "mock-key"}, checks=checks)


@pytest.mark.anyio
async def test_the_document_names_every_model_and_route(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as http:
        document = (await http.get("/openapi.json")).json()
    paths = set(document["paths"])
    for slug in catalog.SLUGS:
        assert {f"/v1/{slug}", f"/v2/{slug}"} <= paths
    assert {
        "/v2/requests/{request_id}/status",
        "/v2/requests/{request_id}",
        "/inference-request/request-history",
        "/inference-request/request-history/{request_id}",
        "/upload-asset",
        "/files/{name}",
    } <= paths
    body = document["paths"]["/v2/wan-2.5-t2v"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["duration"]["enum"] == [5, 10]
    assert body["required"] == ["prompt"]
    assert body["additionalProperties"] is False
