"""Schema-driven fuzzing of the REST API: no input, valid or not, gets a 5xx.

Schemathesis builds Hypothesis strategies from the server's own OpenAPI document; each
operation gets valid (positive) and invalid (negative) requests, signed in as an admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.conftest import Server, start_server
from tests.helpers import login

pytestmark = pytest.mark.fuzz

EXAMPLES_PER_OPERATION = 40
REVOKING = {"POST /api/v1/auth/logout", "PATCH /api/v1/agents/{username}"}


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def auth(fuzzed_server: Server) -> dict[str, str]:
    """Signed in before any fuzzing (which soon throttles sign-ins from this address)."""
    with fuzzed_server.client() as client:
        return {"Authorization": f"Bearer {login(client, fuzzed_server.demo_password)}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors(fuzzed_server: Server, auth: dict[str, str],
                          mode: GenerationMode) -> None:
    """Whatever the fuzzer sends to any operation, the answer is never a 5xx."""
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.base_url}/api/v1/openapi.json")
    # Signing out and changing an agent revoke the fuzzer's token (as they must): last.
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: op.label in REVOKING)
    assert len(operations) >= 12
    seen: dict[str, set[int]] = {}
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                  database=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: schemathesis.Case) -> None:
            headers = {**(case.headers or {}), **auth}
            response = case.call(headers=headers, base_url=fuzzed_server.base_url)
            seen.setdefault(case.operation.label, set()).add(response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}, response.text

        fuzz()
    assert set(seen) == {op.label for op in operations}
