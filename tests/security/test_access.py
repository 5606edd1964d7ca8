"""Cross-group and unauthenticated access (issue 14, suite item 2): without credentials no
operation of the REST API answers but the public ones, and an agent or API key of one group
reaches nothing of another's sessions, presence, records or settings."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from coview.protocol.frames import decode_frame, encode_frame
from tests.conftest import Figure, Server, run_async, run_coview, start_server
from tests.helpers import bearer, login

pytestmark = pytest.mark.e2e

# Operations anyone may call (signing in, checking a visitor token, a group's public cobrowse
# settings), by OpenAPI label.
PUBLIC = {"POST /api/v1/auth/login", "POST /api/v1/visitor-tokens/check",
          "GET /api/v1/cobrowse/{group_id}/config"}
OTHER_GROUP = 777


@pytest.fixture(scope="module")
def two_groups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    """A demo server with a second group: its admin's password and API key."""
    tmp: Path = tmp_path_factory.mktemp("access")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    data = ["--data-dir", str(tmp / "data")]
    made = run_coview("admin", "create-group", "--group-id", str(OTHER_GROUP), "--name", "Other",
                      *data)
    assert made.returncode == 0, made.stderr
    api_key = re.search(r"cvk_\S+", made.stdout)
    assert api_key, made.stdout
    agent = run_coview("admin", "create-agent", "--group-id", str(OTHER_GROUP), "--username",
                       "other-admin", "--role", "admin", "--password", "other-password-1", *data)
    assert agent.returncode == 0, agent.stderr
    yield running, "other-password-1", api_key.group(0)
    running.stop()


def concrete(path: str) -> str:
    """An OpenAPI path with each parameter filled with something plausible."""
    return re.sub(r"\{[^}]+\}", lambda m: "12345" if "id" in m.group(0) else "demo", path)


def test_no_operation_answers_without_credentials(two_groups: tuple[Server, str, str],
                                                  figure: Figure) -> None:
    """Every operation of the OpenAPI document but the public ones answers 401 to a caller
    with no token, a forged one, or an expired-looking one."""
    server, _, _ = two_groups
    with server.client() as client:
        document = client.get("/api/v1/openapi.json").json()
        operations = [(method.upper(), path) for path, item in document["paths"].items()
                      for method in item if method in ("get", "post", "put", "patch", "delete")]
        answered = []
        tried = 0
        for method, path in operations:
            if f"{method} {path}" in PUBLIC:
                continue
            for headers in ({}, {"Authorization": "Bearer forged.token.value"},
                            {"Authorization": "Bearer cvk_12345_" + "A" * 43}):
                tried += 1
                status = client.request(method, concrete(path), headers=headers,
                                        json={}).status_code
                if status != 401:
                    answered.append((method, path, headers, status))
    figure("REST operations answered without valid credentials", f"{len(answered)} of {tried}",
           "0")
    assert len(operations) > 15
    assert answered == []


def test_one_group_reaches_nothing_of_another(two_groups: tuple[Server, str, str],
                                              figure: Figure) -> None:
    """An admin and the API key of group 777 cannot see, join, read or change anything of
    group 12345: its session by key, its session record, its online visitors, its audit and
    settings; while they do see their own group."""
    server, password, api_key = two_groups
    with server.client() as client:
        demo = bearer(login(client, server.demo_password))
        other = bearer(login(client, password, username="other-admin", group_id=OTHER_GROUP))
        other_key = bearer(api_key)
        token = client.post("/api/v1/visitor-tokens", headers=demo,
                            json={"visitor_id": "cust-a"}).json()["token"]

    async def scenario() -> list[str]:
        url = server.base_url.replace("http://", "ws://")
        async with connect(url + "/ws/v1/session") as visitor, \
                connect(url + "/ws/v1/presence") as presence:
            await visitor.send(encode_frame({"t": "start", "v": "1.0", "group_id": 12345,
                                             "key_kind": "named", "key": "group-a-1"}))
            assert decode_frame(await visitor.recv(), max_bytes=1 << 20).header["t"] == "welcome"
            await presence.send(encode_frame({"t": "presence", "v": "1.0", "group_id": 12345,
                                              "visitor_id": "cust-a", "token": token}))
            assert decode_frame(await presence.recv(), max_bytes=1 << 20).header["t"] == \
                "welcome"
            leaks = []
            async with connect(url + "/ws/v1/session") as intruder:
                await intruder.send(encode_frame({"t": "join", "v": "1.0", "key": "group-a-1",
                                                  "token": other["Authorization"][7:]}))
                answer = decode_frame(await asyncio.wait_for(intruder.recv(), 10),
                                      max_bytes=1 << 20).header
                if answer["t"] == "welcome":
                    leaks.append("joined another group's session by key")
            leaks += await asyncio.to_thread(rest_leaks, server, demo, other, other_key)
            return leaks

    leaks = run_async(scenario())
    figure("cross-group reads, joins and changes that succeeded (sessions, records, presence, "
           "audit, settings, agents)", f"{len(leaks)} of 18", "0")
    assert leaks == []


def rest_leaks(server: Server, demo: dict[str, str], other: dict[str, str],
               other_key: dict[str, str]) -> list[str]:
    """What group 777's credentials get of group 12345 over REST."""
    leaks = []
    with server.client() as client:
        record = client.get("/api/v1/sessions?limit=1", headers=demo).json()["sessions"][0]
        assert record["key"] == "group-a-1"
        assert client.get("/api/v1/presence/cust-a", headers=demo).json()["online"] is True
        for caller in (other, other_key):
            checks: list[tuple[str, httpx.Response, Any]] = [
                ("session record", client.get(f"/api/v1/sessions/{record['call_id']}",
                                              headers=caller), None),
                ("session list", client.get("/api/v1/sessions", headers=caller), "group-a-1"),
                ("presence", client.get("/api/v1/presence/cust-a", headers=caller), None),
                ("presence list", client.get("/api/v1/presence", headers=caller), "cust-a"),
                ("one-click start", client.post("/api/v1/presence/cust-a/start",
                                                headers=caller, json={}), None),
                ("agents", client.get("/api/v1/agents/demo", headers=caller), None),
                ("audit", client.get("/api/v1/audit", headers=caller), "group-a-1"),
                ("settings", client.get("/api/v1/settings", headers=caller), "12345"),
            ]
            for what, answer, marker in checks:
                if marker is None:
                    # Reads of a named thing: not found, or not allowed at all.
                    if answer.status_code < 400 and (
                            what != "presence" or answer.json().get("online")):
                        leaks.append(f"{what}: {answer.status_code}")
                elif answer.status_code < 400 and marker in answer.text:
                    leaks.append(f"{what} shows group 12345's {marker}")
        changed = client.patch("/api/v1/agents/demo", headers=other,
                               json={"display_name": "Owned"})
        if changed.status_code < 400:
            leaks.append("changed another group's agent")
    return leaks
