"""Schemathesis against the app's own OpenAPI schema, on a real server: no 500s, every response conforms.

Bounded (``MAX_EXAMPLES`` per operation) so the whole run stays well under two minutes on two cores.
``POST /api/training/start`` is left out: a valid generated request would launch real training
processes (its validation is covered by the training API tests); every other operation is fuzzed with
valid and invalid inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serve.conftest import LiveServer
from tests.serve.ops import start_server

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 15
REQUEST_TIMEOUT_S = 60
EXCLUDED = ("/api/training/start",)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("fuzz"))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_server: LiveServer) -> Any:
    """The server's own ``/openapi.json``, less the excluded operations."""
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    return schema.exclude(path=list(EXCLUDED))


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS, timeout=REQUEST_TIMEOUT_S)


def test_schema_covers_the_service(api_schema: Any) -> None:
    """The fuzz run above is only meaningful if the schema lists the real operations."""
    paths = {op.path for op in (result.ok() for result in api_schema.get_all_operations())}
    assert {"/api/health", "/api/inference/predict"} <= paths
    assert not paths & set(EXCLUDED)
