"""Accounts end to end (SQLite and PostgreSQL): tokens end with the sign-in they came from,
a group keeps an admin, password hashing is bounded, and agents carry their role title."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import connect

from coview.domain.passwords import hash_password
from coview.protocol.frames import decode_frame, encode_frame
from tests.conftest import (
    SECRET_KEY,
    Figure,
    Server,
    run_async,
    run_coview,
    start_server,
)
from tests.helpers import DEMO_GROUP, bearer, error_code, login
from tests.storage_support import at_revision

pytestmark = pytest.mark.e2e

ARGON2_MEMORY = 64 * 1024 * 1024  # what one hash takes (argon2-cffi's default, kept)


@pytest.fixture(scope="module")
def admin(server: Server) -> dict[str, str]:
    with server.client() as client:
        return bearer(login(client, server.demo_password))


def make_agent(client: httpx.Client, admin: dict[str, str], username: str,
               **fields: Any) -> str:
    """Create an agent with password ``<username>-password``; return a token of it."""
    created = client.post("/api/v1/agents", headers=admin, json={
        "username": username, "password": f"{username}-password", **fields})
    assert created.status_code == 201, created.text
    return login(client, f"{username}-password", username=username)


def ws_url(server: Server) -> str:
    return server.base_url.replace("http://", "ws://") + "/ws/v1/session"


def header(message: str | bytes) -> dict[str, Any]:
    """The header of a frame, or of the message a reliable frame (``r``) carries."""
    assert isinstance(message, bytes)
    frame = decode_frame(message, max_bytes=1 << 20)
    if frame.header["t"] == "r":
        return decode_frame(frame.payload, max_bytes=1 << 20).header
    return frame.header


async def join_session(server: Server, *, group_id: int, key: str,
                       tokens: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Start a visitor session with ``key``, then join it with each token in turn; return
    each join's first answer and the ``guests`` list the visitor last heard of."""
    async with connect(ws_url(server)) as visitor:
        await visitor.send(encode_frame({"t": "start", "v": "1.0", "group_id": group_id,
                                         "key_kind": "named", "key": key}))
        assert header(await visitor.recv())["t"] == "welcome"
        answers = []
        guests: dict[str, Any] = {}
        for token in tokens:
            async with connect(ws_url(server)) as agent:
                await agent.send(encode_frame({"t": "join", "v": "1.0", "key": key,
                                               "token": token}))
                answers.append(header(await agent.recv()))
                while answers[-1]["t"] == "welcome" and not guests.get("count"):
                    heard = header(await visitor.recv())
                    guests = heard if heard["t"] == "guests" else guests
        return answers, guests


# -- revocation -------------------------------------------------------------------------------

CHANGES: dict[str, dict[str, Any]] = {
    "password": {"password": "a-brand-new-password"},
    "role": {"role": "agent"},  # from admin: the agent is made an admin
    "privileges": {"privileges": ["view"]},
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_account_change_revokes_earlier_tokens(server: Server, admin: dict[str, str],
                                               change: str) -> None:
    """After an admin changes an agent's password, role or privileges, the agent's earlier
    token is refused (401 token_revoked) for requests and refreshes alike."""
    username = f"changed-{change}"
    with server.client() as client:
        token = make_agent(client, admin, username,
                           role="admin" if change == "role" else "agent")
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
        patched = client.patch(f"/api/v1/agents/{username}", headers=admin,
                               json=CHANGES[change])
        assert patched.status_code == 200, patched.text
        me = client.get("/api/v1/me", headers=bearer(token))
        refreshed = client.post("/api/v1/auth/refresh", headers=bearer(token))
        password = CHANGES[change].get("password", f"{username}-password")
        fresh = login(client, password, username=username)
        again = client.get("/api/v1/me", headers=bearer(fresh))
    assert (me.status_code, error_code(me)) == (401, "token_revoked")
    assert (refreshed.status_code, error_code(refreshed)) == (401, "token_revoked")
    assert again.status_code == 200


def test_disabling_revokes_tokens_for_good(server: Server, admin: dict[str, str]) -> None:
    """A token of an agent that was disabled stays refused after the agent is enabled again."""
    with server.client() as client:
        token = make_agent(client, admin, "suspended")
        for disabled in (True, False):
            patched = client.patch("/api/v1/agents/suspended", headers=admin,
                                   json={"disabled": disabled})
            assert patched.status_code == 200, patched.text
        me = client.get("/api/v1/me", headers=bearer(token))
        fresh = login(client, "suspended-password", username="suspended")
        again = client.get("/api/v1/me", headers=bearer(fresh))
    assert (me.status_code, error_code(me)) == (401, "token_revoked")
    assert again.status_code == 200


def test_logout_revokes_every_token(server: Server, admin: dict[str, str]) -> None:
    """Signing out ends every token of the agent (two sign-ins and a refresh) with 401."""
    with server.client() as client:
        first = make_agent(client, admin, "leaver")
        second = login(client, "leaver-password", username="leaver")
        refreshed = client.post("/api/v1/auth/refresh", headers=bearer(first)).json()["token"]
        out = client.post("/api/v1/auth/logout", headers=bearer(second))
        answers = [client.get("/api/v1/me", headers=bearer(t)) for t in (first, second,
                                                                          refreshed)]
        out_again = client.post("/api/v1/auth/logout", headers=bearer(first))
    assert out.status_code == 204
    assert [(r.status_code, error_code(r)) for r in answers] == [(401, "token_revoked")] * 3
    assert out_again.status_code == 401


def test_revoked_token_cannot_join_a_session(server: Server, admin: dict[str, str],
                                             figure: Figure) -> None:
    """An agent's token from before a password change is refused when joining a session,
    while a token from the new password joins."""
    with server.client() as client:
        old = make_agent(client, admin, "joiner")
        patched = client.patch("/api/v1/agents/joiner", headers=admin,
                               json={"password": "joiner-new-password"})
        assert patched.status_code == 200
        new = login(client, "joiner-new-password", username="joiner")
    answers, _ = run_async(asyncio.wait_for(join_session(
        server, group_id=DEMO_GROUP, key="revoked-join", tokens=[old, new]), 30))
    figure("session joins with a token from before a password change",
           answers[0].get("code", answers[0]["t"]), "token_revoked")
    assert (answers[0]["t"], answers[0]["code"]) == ("refused", "token_revoked")
    assert answers[1]["t"] == "welcome"


def test_an_agent_disabled_mid_session_is_put_out_of_it(server: Server,
                                                        admin: dict[str, str]) -> None:
    """Disabling an agent who is in a session ends its seat at once: its socket is refused
    with signed_out and the visitor hears that no agent is left."""
    with server.client() as client:
        token = make_agent(client, admin, "midway")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(ws_url(server)) as visitor, connect(ws_url(server)) as agent:
            await visitor.send(encode_frame({"t": "start", "v": "1.0", "group_id": DEMO_GROUP,
                                             "key_kind": "named", "key": "midway-1",
                                             "persist": True}))  # goes on without agents
            assert header(await visitor.recv())["t"] == "welcome"
            await agent.send(encode_frame({"t": "join", "v": "1.0", "key": "midway-1",
                                           "token": token}))
            assert header(await agent.recv())["t"] == "welcome"
            with server.client() as client:
                assert client.patch("/api/v1/agents/midway", headers=admin,
                                    json={"disabled": True}).status_code == 200
            told = header(await agent.recv())
            while told["t"] != "refused":
                told = header(await agent.recv())
            heard: dict[str, Any] = {}
            while heard.get("t") != "guests" or heard.get("count"):
                frame = decode_frame(await asyncio.wait_for(visitor.recv(), 10),
                                     max_bytes=1 << 20)
                heard = decode_frame(frame.payload, max_bytes=1 << 20).header \
                    if frame.type == "r" else frame.header
            return told, heard

    told, heard = run_async(asyncio.wait_for(scenario(), 30))
    assert (told["t"], told["code"]) == ("refused", "signed_out")
    assert heard["count"] == 0


# -- the sign-in's absolute limit ---------------------------------------------------------------

def resigned(token: str, **claims: Any) -> str:
    """The token with some claims changed, signed with the test servers' secret key."""
    read = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode({**read, **claims}, SECRET_KEY, algorithm="HS256")


def test_refresh_stops_at_the_sign_in_limit(tmp_path: Path) -> None:
    """With COVIEW_TOKEN_MAX_AGE=3600, a token of a sign-in an hour old can no longer be
    refreshed (401 sign_in_expired), and a younger one's refresh expires with its sign-in."""
    server = start_server(tmp_path, ["--data-dir", str(tmp_path / "data")],
                          env={"COVIEW_TOKEN_MAX_AGE": "3600"})
    try:
        with server.client() as client:
            signed_in = client.post("/api/v1/auth/login", json={
                "group_id": DEMO_GROUP, "username": "demo", "password": server.demo_password})
            token = signed_in.json()["token"]
            now = int(time.time())
            too_old = client.post("/api/v1/auth/refresh", headers=bearer(
                resigned(token, auth_time=now - 3600)))
            young = client.post("/api/v1/auth/refresh", headers=bearer(
                resigned(token, auth_time=now - 3000)))
    finally:
        server.stop()
    assert signed_in.status_code == 200
    assert signed_in.json()["expires_in"] == 3600
    assert (too_old.status_code, error_code(too_old)) == (401, "sign_in_expired")
    assert young.status_code == 200
    assert young.json()["expires_in"] <= 600
    renewed = jwt.decode(young.json()["token"], options={"verify_signature": False})
    assert renewed["auth_time"] == now - 3000
    assert renewed["exp"] == now - 3000 + 3600


# -- the last admin -----------------------------------------------------------------------------

def test_the_last_admin_stays(server: Server, admin: dict[str, str]) -> None:
    """The group's only enabled admin cannot be demoted or disabled (409 last_admin), even
    beside a disabled admin, while one of two enabled admins can be demoted."""
    with server.client() as client:
        for other in client.get("/api/v1/agents", headers=admin).json()["agents"]:
            if other["username"] != "demo" and other["role"] == "admin":
                client.patch(f"/api/v1/agents/{other['username']}", headers=admin,
                             json={"role": "agent"})
        make_agent(client, admin, "deputy", role="admin")
        alone = [client.patch("/api/v1/agents/deputy", headers=admin, json={"disabled": True})]
        alone += [client.patch("/api/v1/agents/demo", headers=admin, json=change)
                  for change in ({"role": "agent"}, {"disabled": True},
                                 {"role": "agent", "disabled": True})]
        enable = client.patch("/api/v1/agents/deputy", headers=admin, json={"disabled": False})
        demoted = client.patch("/api/v1/agents/deputy", headers=admin, json={"role": "agent"})
        demo = client.get("/api/v1/agents/demo", headers=admin).json()
    assert alone[0].status_code == 200  # another admin (demo) remains
    assert [(r.status_code, error_code(r)) for r in alone[1:]] == [(409, "last_admin")] * 3
    assert "only enabled admin" in alone[1].json()["error"]["message"]
    assert enable.status_code == 200
    assert demoted.status_code == 200
    assert demoted.json()["role"] == "agent"
    assert (demo["role"], demo["disabled"]) == ("admin", False)


# -- bounded password hashing -------------------------------------------------------------------

def memory(pid: int, field: str) -> int:
    """A field of /proc/PID/status (VmRSS, VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_a_burst_of_sign_ins_is_bounded(tmp_path: Path, figure: Figure) -> None:
    """Twenty sign-ins at once hash at most two at a time (peak memory well under three
    hashes more) and those that cannot wait their turn get 429 busy with Retry-After."""
    server = start_server(tmp_path, ["--data-dir", str(tmp_path / "data")])

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60,
                                     limits=limits) as client:
            return list(await asyncio.gather(*(
                client.post("/api/v1/auth/login", json={
                    "group_id": DEMO_GROUP, "username": f"ghost{i}", "password": "wrong-pass"})
                for i in range(20))))

    try:
        before = memory(server.process.pid, "VmRSS")
        answers = run_async(burst())
        peak = memory(server.process.pid, "VmHWM")
    finally:
        server.stop()
    codes = sorted((r.status_code, error_code(r)) for r in answers)
    busy = [r for r in answers if r.status_code == 429]
    figure("peak memory of 20 sign-ins at once", f"{(peak - before) / 2**20:.0f} MiB",
           f"< {3 * ARGON2_MEMORY / 2**20:.0f} MiB (three argon2id hashes)")
    figure("sign-ins of the burst told to retry (429 busy)", f"{len(busy)} of 20",
           "those past 2 hashing and 8 waiting")
    assert busy, codes
    assert all(error_code(r) == "busy" and r.headers["retry-after"] == "1" for r in busy)
    assert {c for c in codes if c[0] != 429} == {(401, "invalid_credentials")}
    assert peak - before < 3 * ARGON2_MEMORY, (before, peak)


# -- agent role titles --------------------------------------------------------------------------

def test_agent_role_from_cli_and_rest_reaches_the_session(
        tmp_path: Path, database_args: list[str]) -> None:
    """An agent role title set with ``create-agent --agent-role`` or REST is listed by
    GET /agents and carried as ``agentrole`` in a session's agents list."""
    for args in (["create-group", "--group-id", "777", "--name", "Acme"],
                 ["create-agent", "--group-id", "777", "--username", "boss", "--password",
                  "boss-password", "--role", "admin", "--agent-role", "Supervisor"],
                 ["create-agent", "--group-id", "777", "--username", "rep", "--password",
                  "rep-password", "--agent-role", "Account Support", "--json"]):
        made = run_coview("admin", *args, *database_args)
        assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["agent_role"] == "Account Support"
    server = start_server(tmp_path, database_args, demo=False)
    try:
        with server.client() as client:
            boss = bearer(login(client, "boss-password", username="boss", group_id=777))
            created = client.post("/api/v1/agents", headers=boss, json={
                "username": "lead", "password": "lead-password", "agent_role": "Team Lead"})
            renamed = client.patch("/api/v1/agents/boss", headers=boss,
                                   json={"agent_role": "Head of Support"})
            too_long = client.patch("/api/v1/agents/boss", headers=boss,
                                    json={"agent_role": "x" * 101})
            listed = {a["username"]: a["agent_role"] for a in client.get(
                "/api/v1/agents", headers=boss).json()["agents"]}
            rep = login(client, "rep-password", username="rep", group_id=777)
        answers, guests = run_async(asyncio.wait_for(join_session(
            server, group_id=777, key="role-title", tokens=[rep]), 30))
    finally:
        server.stop()
    assert created.json()["agent_role"] == "Team Lead"
    assert renamed.json()["agent_role"] == "Head of Support"
    assert too_long.status_code == 422
    assert listed == {"boss": "Head of Support", "lead": "Team Lead", "rep": "Account Support"}
    welcome_agents = answers[0]["state"]["guests"]["agents"]
    assert [(a["username"], a["agentrole"]) for a in welcome_agents] == \
        [("rep", "Account Support")]
    assert [(a["username"], a["agentrole"]) for a in guests["agents"]] == \
        [("rep", "Account Support")]


# -- the migration on existing data -------------------------------------------------------------

def database_url(database_args: list[str]) -> str:
    if "--database-url" in database_args:
        return database_args[database_args.index("--database-url") + 1]
    data = Path(database_args[database_args.index("--data-dir") + 1])
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{(data / 'coview.db').resolve()}"


def test_upgrade_keeps_existing_agents(tmp_path: Path, database_args: list[str]) -> None:
    """An agent stored before the upgrade signs in afterwards, with an empty role title."""
    def add_agent(connection: Connection) -> None:
        connection.execute(sa.text(
            "INSERT INTO groups (group_id, name, api_key_hash, visitor_token_secret, "
            "created_at) VALUES (900, 'Old', 'x', 'y', CURRENT_TIMESTAMP)"))
        connection.execute(sa.text(
            "INSERT INTO agents (group_id, username, display_name, title, role, privileges, "
            "password_hash, disabled, created_at) VALUES (900, 'veteran', 'Vet', '', "
            "'admin', '[\"view\"]', :hash, false, CURRENT_TIMESTAMP)"),
            {"hash": hash_password("veteran-password")})

    async def prepare() -> None:
        engine = create_async_engine(database_url(database_args))
        try:
            async with engine.begin() as conn:
                await conn.run_sync(at_revision("0002", add_agent))
        finally:
            await engine.dispose()

    run_async(prepare())
    migrated = run_coview("migrate", *database_args)
    assert migrated.returncode == 0, migrated.stderr
    assert "from 0002 to revision 0004" in migrated.stdout
    server = start_server(tmp_path, database_args, demo=False)
    try:
        with server.client() as client:
            token = login(client, "veteran-password", username="veteran", group_id=900)
            me = client.get("/api/v1/me", headers=bearer(token)).json()["agent"]
    finally:
        server.stop()
    assert (me["username"], me["agent_role"], me["privileges"]) == ("veteran", "", ["view"])
