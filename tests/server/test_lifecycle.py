"""The server process: migrations at start, graceful shutdown, a demo that works twice."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_server
from tests.helpers import bearer, login

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_and_restart(tmp_path: Path, database_args: list[str],
                                       sig: int) -> None:
    """A signal stops the server cleanly; a restart keeps data and prints a working password."""
    first = start_server(tmp_path, database_args)
    with first.client() as client:
        token = login(client, first.demo_password)
        staged = client.patch("/api/v1/settings", headers=bearer(token),
                              json={"max_sessions": 7})
        assert staged.status_code == 200
    assert first.stop(sig) == 0
    assert '"message": "stopped"' in first.logs()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{first.base_url}/healthz", timeout=1)

    second = start_server(tmp_path, database_args)
    try:
        assert second.demo_password != first.demo_password
        with second.client() as client:
            token = login(client, second.demo_password)
            settings = client.get("/api/v1/settings", headers=bearer(token)).json()
        assert settings["settings"]["max_sessions"] == 7
        assert second.demo_api_key == ""  # shown only when the group was created
    finally:
        second.stop()
