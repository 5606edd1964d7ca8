"""The REST API end to end against a real ``coview serve`` process (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest

from coview.domain.tokens import mint_agent_token
from tests.conftest import SECRET_KEY, Server
from tests.helpers import DEMO_GROUP, bearer, error_code, login

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def admin_token(server: Server) -> str:
    with server.client() as client:
        return login(client, server.demo_password)


@pytest.fixture(scope="module")
def agent_token(server: Server, admin_token: str) -> str:
    """A plain agent (role ``agent``) of the demo group."""
    with server.client() as client:
        created = client.post("/api/v1/agents", headers=bearer(admin_token), json={
            "username": "plain", "password": "plain-password", "title": "Representative"})
        assert created.status_code == 201, created.text
        return login(client, "plain-password", username="plain")


def test_health_readiness_and_metrics(server: Server) -> None:
    """/healthz, /readyz and /metrics answer, and metrics count requests by route template."""
    with server.client() as client:
        assert client.get("/healthz").json()["status"] == "ok"
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "database": "ok", "bus": "ok"}
        client.get("/api/v1/agents/nobody-here")
        metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "text/plain" in metrics.headers["content-type"]
    assert 'route="/api/v1/agents/{username}"' in metrics.text
    assert "nobody-here" not in metrics.text
    values = dict(line.split(" ", 1) for line in metrics.text.splitlines()
                  if line and not line.startswith("#"))
    assert float(values["process_resident_memory_bytes"]) > 10 * 2**20
    assert float(values["process_open_fds"]) > 3
    assert float(values["coview_event_loop_tasks"]) >= 1  # read on the loop, this request's
    assert values["coview_live_sessions"] == "0.0"


def test_demo_password_signs_in(server: Server, admin_token: str) -> None:
    """The password printed by ``serve --demo`` signs in the demo admin."""
    with server.client() as client:
        me = client.get("/api/v1/me", headers=bearer(admin_token))
    assert me.status_code == 200
    assert me.json()["kind"] == "agent"
    assert me.json()["agent"]["username"] == "demo"
    assert me.json()["agent"]["role"] == "admin"
    assert me.json()["group_id"] == DEMO_GROUP


def test_wrong_password_is_refused_and_audited(server: Server, admin_token: str) -> None:
    """A wrong password answers 401 and the failure appears in the audit log."""
    with server.client() as client:
        wrong = client.post("/api/v1/auth/login", json={
            "group_id": DEMO_GROUP, "username": "demo", "password": "not-the-password"})
        unknown_user = client.post("/api/v1/auth/login", json={
            "group_id": DEMO_GROUP, "username": "ghost", "password": "whatever1"})
        unknown_group = client.post("/api/v1/auth/login", json={
            "group_id": 999, "username": "demo", "password": "whatever1"})
        audit = client.get("/api/v1/audit", headers=bearer(admin_token),
                           params={"action": "login_failed"})
    for response in (wrong, unknown_user, unknown_group):
        assert response.status_code == 401
        assert error_code(response) == "invalid_credentials"
    actors = [e["actor"] for e in audit.json()["entries"]]
    assert "demo" in actors
    assert "ghost" in actors
    assert all(e["action"] == "login_failed" for e in audit.json()["entries"])


def test_refresh_gives_a_new_token(server: Server, admin_token: str) -> None:
    """A valid agent token can be traded for a fresh one that works."""
    with server.client() as client:
        refreshed = client.post("/api/v1/auth/refresh", headers=bearer(admin_token))
        assert refreshed.status_code == 200
        me = client.get("/api/v1/me", headers=bearer(refreshed.json()["token"]))
    assert me.json()["agent"]["username"] == "demo"


def test_expired_and_forged_tokens_are_refused(server: Server, admin_token: str) -> None:
    """An expired token, a token signed with another key and garbage all answer 401."""
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    agent_id, group_id = int(claims["sub"]), int(claims["gid"])
    expired = mint_agent_token(SECRET_KEY, agent_id, group_id,  # type: ignore[arg-type]
                               generation=claims["gen"], now=int(time.time()) - 7200, ttl=60)
    forged = mint_agent_token("another-secret-key-" + "y" * 32, agent_id, group_id,  # type: ignore[arg-type]
                              generation=claims["gen"], now=int(time.time()), ttl=600)
    with server.client() as client:
        responses = {
            "expired": client.get("/api/v1/me", headers=bearer(expired)),
            "forged": client.get("/api/v1/me", headers=bearer(forged)),
            "garbage": client.get("/api/v1/me", headers=bearer("not-a-token")),
            "none": client.get("/api/v1/me"),
        }
    assert {k: r.status_code for k, r in responses.items()} == dict.fromkeys(responses, 401)
    assert error_code(responses["expired"]) == "token_expired"
    assert error_code(responses["forged"]) == "invalid_token"
    assert responses["none"].headers["www-authenticate"].startswith("Bearer")


def test_api_key_is_a_bearer_token_for_servers(server: Server) -> None:
    """The group's API key authenticates server-to-server calls but cannot edit settings."""
    key = server.demo_api_key
    assert key.startswith("cvk_12345_")
    with server.client() as client:
        me = client.get("/api/v1/me", headers=bearer(key))
        minted = client.post("/api/v1/visitor-tokens", headers=bearer(key),
                             json={"visitor_id": "cust-42", "ttl": 600})
        settings = client.put("/api/v1/settings", headers=bearer(key), json={})
        wrong = client.get("/api/v1/me", headers=bearer(key[:-4] + "AAAA"))
    assert me.json() == {"group_id": DEMO_GROUP, "kind": "api_key", "agent": None}
    assert minted.status_code == 201
    assert settings.status_code == 403
    assert wrong.status_code == 401


def test_visitor_tokens_minted_checked_and_forged(server: Server) -> None:
    """A minted visitor token checks out; forged, unsigned, other-visitor ones answer 401."""
    key = server.demo_api_key
    with server.client() as client:
        token = client.post("/api/v1/visitor-tokens", headers=bearer(key),
                            json={"visitor_id": "cust-42"}).json()["token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        forged = jwt.encode(claims, "not-the-group-secret-" + "z" * 32, algorithm="HS256")
        header, _, signature = token.split(".")
        other_claims = jwt.utils.base64url_encode(json.dumps({**claims, "sub": "admin"}).encode())
        tampered = f"{header}.{other_claims.decode()}.{signature}"
        unsigned = jwt.encode(claims, None, algorithm="none")

        def check(tok: str, visitor_id: str | None = "cust-42") -> httpx.Response:
            body: dict[str, object] = {"group_id": DEMO_GROUP, "token": tok}
            if visitor_id:
                body["visitor_id"] = visitor_id
            return client.post("/api/v1/visitor-tokens/check", json=body)

        good = check(token)
        assert good.status_code == 200
        assert good.json()["visitor_id"] == "cust-42"
        for bad in (forged, tampered, unsigned):
            response = check(bad)
            assert response.status_code == 401
            assert error_code(response) == "invalid_token"
        assert error_code(check(token, "someone-else")) == "invalid_token"
        other_group = client.post("/api/v1/visitor-tokens/check",
                                  json={"group_id": 777, "token": token})
        assert other_group.status_code == 404


def test_settings_staging_then_publish(server: Server, admin_token: str) -> None:
    """A staging edit leaves production alone until publish copies it over."""
    auth = bearer(admin_token)
    with server.client() as client:
        before = client.get("/api/v1/settings/production", headers=auth).json()["settings"]
        assert before["random_key_length"] == 6
        assert before["reconnect_window_seconds"] == 60
        staged = client.put("/api/v1/settings", headers=auth, json={
            **before, "random_key_length": 9,
            "trusted_origins": ["https://shop.example.com"],
            "allowed_sites": ["https://docs.example.com"],
            "bookmarks": [
                {"type": "bookmark", "title": "Docs", "url": "https://docs.example.com/a"},
                {"type": "folder", "name": "Help", "items": [
                    {"title": "FAQ", "url": "https://docs.example.com/faq"}]},
            ],
        })
        assert staged.status_code == 200, staged.text
        assert staged.json()["stage"] == "staging"
        assert staged.json()["updated_by"] == "demo"
        production = client.get("/api/v1/settings/production", headers=auth).json()
        assert production["settings"]["random_key_length"] == 6
        patched = client.patch("/api/v1/settings", headers=auth,
                               json={"escalate_to_view": True})
        assert patched.json()["settings"]["random_key_length"] == 9
        assert patched.json()["settings"]["escalate_to_view"] is True
        published = client.post("/api/v1/settings/publish", headers=auth)
        assert published.status_code == 200
        assert published.json()["stage"] == "production"
        assert set(published.json()["changed"]) == {
            "random_key_length", "trusted_origins", "allowed_sites", "bookmarks",
            "escalate_to_view"}
        after = client.get("/api/v1/settings/production", headers=auth).json()["settings"]
        audit = client.get("/api/v1/audit", headers=auth,
                           params={"action": "settings_published", "limit": 1}).json()
    assert after["random_key_length"] == 9
    assert after["bookmarks"][1]["items"][0]["title"] == "FAQ"
    assert audit["entries"][0]["details"]["changed"] == published.json()["changed"]


BAD_SETTINGS = [
    ({"random_key_length": 3}, "random_key_length"),
    ({"random_key_length": 13}, "random_key_length"),
    ({"random_key_length": "6"}, "random_key_length"),
    ({"duplicate_key_policy": "sometimes"}, "duplicate_key_policy"),
    ({"max_sessions": 0}, "max_sessions"),
    ({"no_agent_timeout_seconds": -1}, "no_agent_timeout_seconds"),
    ({"reconnect_window_seconds": 1}, "reconnect_window_seconds"),
    ({"default_persist": "yes"}, "default_persist"),
    ({"trusted_origins": ["https://example.com/path"]}, "trusted_origins"),
    ({"trusted_origins": ["ftp://example.com"]}, "trusted_origins"),
    ({"masking_selectors": ["input{color:red}"]}, "masking_selectors"),
    ({"escalate_to_show": {"enabled": True, "surfaces": ["desktop"]}},
     "escalate_to_show.surfaces.0"),
    ({"allowed_sites": ["javascript:alert(1)"]}, "allowed_sites"),
    ({"bookmarks": [{"type": "bookmark", "title": "x", "url": "https://a.example"}] * 21},
     "bookmarks"),
    ({"allowed_sites": ["https://docs.example.com"],
      "bookmarks": [{"type": "bookmark", "title": "x", "url": "https://evil.example"}]}, ""),
    ({"ice_servers": [{"urls": ["http://stun.example.com"]}]}, "ice_servers.0.urls"),
    ({"no_such_setting": 1}, "no_such_setting"),
]


@pytest.mark.parametrize(("change", "field"), BAD_SETTINGS)
def test_invalid_settings_name_the_field_and_change_nothing(
    server: Server, admin_token: str, change: dict[str, object], field: str,
) -> None:
    """Each invalid setting answers 422 naming its field, and staging stays as it was."""
    auth = bearer(admin_token)
    with server.client() as client:
        before = client.get("/api/v1/settings", headers=auth).json()
        put = client.put("/api/v1/settings", headers=auth, json=change)
        patch = client.patch("/api/v1/settings", headers=auth, json=change)
        after = client.get("/api/v1/settings", headers=auth).json()
    for response in (put, patch):
        assert response.status_code == 422, response.text
        assert error_code(response) == "invalid_input"
        fields = response.json()["error"]["fields"]
        if field:
            assert any(path.startswith(field) for path in fields), fields
        else:
            assert "not under any allowed site" in response.json()["error"]["message"]
    assert after == before


def test_settings_are_for_admins_only(server: Server, agent_token: str) -> None:
    """A plain agent is refused every settings and audit call with 403."""
    auth = bearer(agent_token)
    with server.client() as client:
        calls = [
            client.get("/api/v1/settings", headers=auth),
            client.get("/api/v1/settings/production", headers=auth),
            client.put("/api/v1/settings", headers=auth, json={}),
            client.patch("/api/v1/settings", headers=auth, json={"random_key_length": 8}),
            client.post("/api/v1/settings/publish", headers=auth),
            client.get("/api/v1/audit", headers=auth),
            client.post("/api/v1/agents", headers=auth,
                        json={"username": "sneaky", "password": "sneaky-password"}),
        ]
    for response in calls:
        assert response.status_code == 403
        assert error_code(response) == "admin_only"


def test_agents_created_read_changed_and_disabled(server: Server, admin_token: str) -> None:
    """Admins manage agents; a disabled agent's token stops working at once."""
    auth = bearer(admin_token)
    with server.client() as client:
        created = client.post("/api/v1/agents", headers=auth, json={
            "username": "janet", "password": "janet-password", "display_name": "Janet Wills",
            "privileges": ["view"]})
        assert created.status_code == 201
        assert created.headers["location"] == "/api/v1/agents/janet"
        assert created.json()["privileges"] == ["view"]
        again = client.post("/api/v1/agents", headers=auth, json={
            "username": "janet", "password": "janet-password"})
        assert again.status_code == 409
        token = login(client, "janet-password", username="janet")
        changed = client.patch("/api/v1/agents/janet", headers=auth,
                               json={"title": "Supervisor"})  # a new title keeps tokens
        assert changed.json()["title"] == "Supervisor"
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
        client.patch("/api/v1/agents/janet", headers=auth, json={"disabled": True})
        refused = client.get("/api/v1/me", headers=bearer(token))
        listed = client.get("/api/v1/agents", headers=auth).json()["agents"]
    assert refused.status_code == 401
    assert {a["username"] for a in listed} >= {"demo", "janet"}


def test_bad_requests_answer_4xx_and_change_nothing(server: Server, admin_token: str) -> None:
    """Malformed JSON, wrong types, unknown ids, oversized bodies each get a clear 4xx."""
    auth = {**bearer(admin_token), "content-type": "application/json"}
    with server.client() as client:
        before = client.get("/api/v1/settings", headers=auth).json()
        malformed = client.put("/api/v1/settings", headers=auth, content=b"{not json")
        wrong_type = client.post("/api/v1/auth/login", json={
            "group_id": "12345", "username": ["demo"], "password": 5})
        unknown = client.get("/api/v1/agents/nobody", headers=auth)
        huge = client.put("/api/v1/settings", headers=auth,
                          content=json.dumps({"masking_selectors": ["a" * 400] * 2000}))
        deep = client.patch("/api/v1/settings", headers=auth,
                            content=b"[" * 50_000 + b"]" * 50_000)
        long_field = client.post("/api/v1/auth/login", json={
            "group_id": DEMO_GROUP, "username": "u" * 1000, "password": "p"})
        no_route = client.get("/api/v1/nothing-here")
        bad_method = client.delete("/api/v1/settings", headers=auth)
        after = client.get("/api/v1/settings", headers=auth).json()
    assert (malformed.status_code, error_code(malformed)) == (400, "malformed_json")
    assert wrong_type.status_code == 422
    assert set(wrong_type.json()["error"]["fields"]) >= {"group_id", "username", "password"}
    assert (unknown.status_code, error_code(unknown)) == (404, "agent_not_found")
    assert (huge.status_code, error_code(huge)) == (413, "too_large")
    assert deep.status_code in (400, 422)
    error_code(deep)
    assert long_field.status_code == 422
    assert (no_route.status_code, error_code(no_route)) == (404, "not_found")
    assert bad_method.status_code == 405
    error_code(bad_method)
    assert after == before


def test_openapi_document_describes_the_api(server: Server) -> None:
    """/api/v1/openapi.json lists the API's paths with the error shape."""
    with server.client() as client:
        spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/auth/login", "/api/v1/settings", "/api/v1/settings/publish",
                 "/api/v1/audit", "/api/v1/visitor-tokens"):
        assert path in spec["paths"], path
    assert "ErrorBody" in spec["components"]["schemas"]


def test_logs_hold_no_secrets(server: Server, admin_token: str) -> None:
    """Nothing secret (password, token, API key) appears in the server's logs."""
    with server.client() as client:
        client.post("/api/v1/auth/login", json={
            "group_id": DEMO_GROUP, "username": "demo", "password": server.demo_password})
        client.get("/api/v1/me", headers=bearer(server.demo_api_key))
    logs = server.logs()
    assert '"route": "/api/v1/auth/login"' in logs
    for secret in (server.demo_password, admin_token, server.demo_api_key, SECRET_KEY):
        assert secret not in logs
