"""Schemathesis against the served OpenAPI document, authenticated, over real HTTP: no 5xx, no response that
violates the schema. Bounded and deterministic (derandomized Hypothesis, a fixed example budget per operation).

The server runs against the Mailcow/deSEC stand-ins with AZT3KNET_MAX_POPULATION=5, the server's own maximum
(published in the schema), so the populations the fuzzer manages to create stay tiny.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from azt3knet_pipeline.api.server import running_api
from azt3knet_pipeline.sandbox.run import Sandbox
from azt3knet_pipeline.serving import RunningServer
from azt3knet_pipeline.settings import get_settings

TOKEN = "fuzz-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_EXAMPLES = 20

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 2026,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # The fuzzing phase (bounded by max-examples) and the schema's own examples; the coverage and stateful
        # phases generate an unbounded number of cases and would make the run time depend on the schema's size.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)


@pytest.fixture
def api_server(sandbox: Sandbox, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    monkeypatch.setenv("AZT3KNET_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("AZT3KNET_MAX_POPULATION", "5")
    monkeypatch.setenv("AZT3KNET_PREVIEW_LIMIT", "5")
    monkeypatch.setenv("AZT3KNET_API_RUN_EXECUTOR", "embedded")
    get_settings.cache_clear()
    with running_api() as server:
        yield server


@pytest.fixture
def api_schema(api_server: RunningServer) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{api_server.url}/openapi.json", config=CONFIG, headers=AUTH)
    schema.config.base_url = api_server.url
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_response_matches_the_schema(
    case: schemathesis.Case, api_server: RunningServer
) -> None:
    case.call_and_validate(
        base_url=api_server.url,
        headers=AUTH,
        checks=[not_a_server_error, response_schema_conformance],
        timeout=30,
    )
