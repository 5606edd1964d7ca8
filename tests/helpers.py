"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import httpx

DEMO_GROUP = 12345


def login(client: httpx.Client, password: str, *, username: str = "demo",
          group_id: int = DEMO_GROUP) -> str:
    """Sign in and return the bearer token."""
    response = client.post("/api/v1/auth/login", json={
        "group_id": group_id, "username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(response: httpx.Response) -> str:
    """The ``error.code`` of an error response (which must have the API's error shape)."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    code: str = body["error"]["code"]
    return code
