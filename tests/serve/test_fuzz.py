"""Schemathesis against the app's own OpenAPI schema, on a real server: no 500s, every response conforms.

Bounded (``MAX_EXAMPLES`` per operation) so the whole run stays well under two minutes on two cores.
``POST /api/training/start`` is left out: a valid generated request would launch real training
processes (its validation is covered by the training API tests); every other operation is fuzzed with
valid and invalid inputs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
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

from cslr.serve.app import create_app
from cslr.serve.settings import Settings
from tests.serve.conftest import LiveServer

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 15
REQUEST_TIMEOUT_S = 60
EXCLUDED = ("/api/training/start",)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


def _own_schema() -> dict[str, Any]:
    """The app's OpenAPI document, built without starting it (the schema does not depend on the model)."""
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(Settings(state_dir=Path(tmp)), load_model=False).openapi()


# Loaded at import: schemathesis's fixture-based loader does not work with pytest 9 (it reads a private
# attribute of the test node), so the schema comes from the app itself and the cases go to the live server.
OWN_SCHEMA = _own_schema()
schema = schemathesis.openapi.from_dict(OWN_SCHEMA).exclude(path=list(EXCLUDED))


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, server: LiveServer) -> None:
    case.call_and_validate(base_url=server.url, checks=CHECKS, timeout=REQUEST_TIMEOUT_S)


def test_the_fuzzed_schema_is_the_one_served(server: LiveServer) -> None:
    served = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    assert served == OWN_SCHEMA
    assert {"/api/health", "/api/inference/predict"} <= set(served["paths"])
    assert set(EXCLUDED) <= set(served["paths"])  # excluded on purpose, not missing
