"""Failed sign-ins are throttled per user and per address (own server: it locks the address)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, start_server
from tests.helpers import DEMO_GROUP, bearer, error_code, login

pytestmark = pytest.mark.e2e


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path, ["--data-dir", str(tmp_path / "data")])
    yield running
    running.stop()


def test_throttled_per_user_then_per_address(fresh_server: Server) -> None:
    """Five failures lock a user, twenty lock the address, even for the right password."""
    server = fresh_server
    with server.client() as client:
        admin = bearer(login(client, server.demo_password))
        for name in ("alice", "bob"):
            created = client.post("/api/v1/agents", headers=admin, json={
                "username": name, "password": f"{name}-password"})
            assert created.status_code == 201

        def attempt(username: str, password: str) -> int:
            return client.post("/api/v1/auth/login", json={
                "group_id": DEMO_GROUP, "username": username, "password": password,
            }).status_code

        assert [attempt("alice", "wrong-password") for _ in range(5)] == [401] * 5
        locked = client.post("/api/v1/auth/login", json={
            "group_id": DEMO_GROUP, "username": "alice", "password": "alice-password"})
        assert locked.status_code == 429
        assert error_code(locked) == "throttled"
        assert 1 <= int(locked.headers["retry-after"]) <= 300
        # Another user from the same address still signs in until the address's limit.
        assert attempt("bob", "bob-password") == 200
        for i in range(15):
            assert attempt(f"nobody{i}", "wrong-password") == 401
        assert attempt("bob", "bob-password") == 429
        audit = client.get("/api/v1/audit", headers=admin,
                           params={"action": "login_throttled"}).json()["entries"]
    limits = sorted(tuple(e["details"]["limits"]) for e in audit)
    assert ("user",) in limits
    assert ("address",) in limits
