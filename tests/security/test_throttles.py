"""Anonymous session starts and agents' key guessing, bounded without hurting the innocent:
a flood of starts cannot end a session an agent is in, and guessing spread over many agents
and addresses cannot lock out an agent who was not failing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from coview.protocol.frames import decode_frame, encode_frame
from tests.conftest import Figure, Server, run_async, start_server, wait_until
from tests.helpers import bearer, login
from tests.webhook_support import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    yield hooks
    hooks.close()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory,
            receiver: Receiver) -> Iterator[Server]:
    """A demo server behind a "proxy" (loopback is trusted for X-Forwarded-For, so that a
    test can speak from many addresses), posting webhooks to a local receiver."""
    tmp: Path = tmp_path_factory.mktemp("throttles")
    running = start_server(tmp, ["--data-dir", str(tmp / "data"), "--forwarded-allow-ips",
                                 "127.0.0.1", "--allow-private-webhooks"])
    publish(running, {"webhooks": [{"url": receiver.url, "events": [
        "security.join_throttled", "security.start_throttled"]}]})
    yield running
    running.stop()


def publish(server: Server, changes: dict[str, Any]) -> None:
    with server.client() as client:
        auth = bearer(login(client, server.demo_password))
        assert client.patch("/api/v1/settings", headers=auth, json=changes).status_code == 200
        assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200


def audit(server: Server, action: str) -> list[dict[str, Any]]:
    with server.client() as client:
        auth = bearer(login(client, server.demo_password))
        entries: list[dict[str, Any]] = client.get("/api/v1/audit?limit=500",
                                                   headers=auth).json()["entries"]
    return [e for e in entries if e["action"] == action]


async def hello(server: Server, frame: dict[str, Any], *, address: str = "",
                keep: bool = False) -> tuple[dict[str, Any], ClientConnection | None]:
    """Send a first frame from ``address`` (X-Forwarded-For); the answer, and the socket
    when ``keep`` (else it is closed)."""
    headers = {"X-Forwarded-For": address} if address else {}
    sock = await connect(server.base_url.replace("http://", "ws://") + "/ws/v1/session",
                         additional_headers=headers)
    await sock.send(encode_frame({"v": "1.0", **frame}))
    answer = decode_frame(await asyncio.wait_for(sock.recv(), 10), max_bytes=1 << 24).header
    if keep:
        return answer, sock
    await sock.close()
    return answer, None


def start_frame(key: str) -> dict[str, Any]:
    return {"t": "start", "group_id": 12345, "key_kind": "named", "key": key}


def sessions(server: Server) -> dict[str, str | None]:
    """Each session key of the group and its end reason (None: running)."""
    with server.client() as client:
        auth = bearer(login(client, server.demo_password))
        page = client.get("/api/v1/sessions?limit=500", headers=auth).json()
    return {s["key"]: s["end_reason"] for s in page["sessions"]}


def test_a_flood_of_anonymous_starts_ends_no_session_an_agent_is_in(
        proxied: Server, receiver: Receiver, figure: Figure) -> None:
    """150 starts from one address in a burst: those past the address's limit are refused
    (start_throttled, audited once, told to webhooks), and the session an agent joined goes
    on."""
    with proxied.client() as client:
        token = login(client, proxied.demo_password)

    async def scenario() -> list[str]:
        welcome, visitor = await hello(proxied, start_frame("attended-1"),
                                       address="198.51.100.1", keep=True)
        joined, agent = await hello(proxied, {"t": "join", "key": "attended-1",
                                              "token": token}, keep=True)
        assert (welcome["t"], joined["t"]) == ("welcome", "welcome")
        answers = await asyncio.gather(*(
            hello(proxied, start_frame(f"flood-{n}"), address="203.0.113.66")
            for n in range(150)))
        assert visitor is not None
        assert agent is not None
        await visitor.close()
        await agent.close()
        return [a["t"] if a["t"] == "welcome" else a["code"] for a, _ in answers]

    kinds = run_async(scenario())
    figure("anonymous starts from one address in a burst let in",
           f"{kinds.count('welcome')} of {len(kinds)}", "30 (starts_per_address_per_minute)")
    figure("sessions with an agent ended by a flood of starts",
           "0" if sessions(proxied)["attended-1"] is None else "1", "0")
    assert (kinds.count("welcome"), kinds.count("start_throttled")) == (30, 120)
    assert sessions(proxied)["attended-1"] is None  # still running, never KILLED
    records = audit(proxied, "start_throttled")
    assert [(r["address"], r["details"]["limit"]) for r in records] == [
        ("203.0.113.66", "address")]
    wait_until(lambda: "security.start_throttled" in receiver.types(), timeout=20,
               what="the security.start_throttled webhook")


def test_the_session_limit_never_ends_a_session_an_agent_is_in(tmp_path: Path,
                                                               figure: Figure) -> None:
    """At the group's session limit the oldest sessions no agent is in end (KILLED); when
    an agent is in every one, the new session is refused (session_limit) instead."""
    server = start_server(tmp_path, ["--data-dir", str(tmp_path / "data")])
    try:
        publish(server, {"max_sessions": 3})
        with server.client() as client:
            token = login(client, server.demo_password)

        async def attended(key: str, kept: list[ClientConnection]) -> str:
            answer, sock = await hello(server, start_frame(key), keep=True)
            assert sock is not None
            kept.append(sock)
            joined, agent = await hello(server, {"t": "join", "key": key, "token": token},
                                        keep=True)
            assert agent is not None
            kept.append(agent)
            return f"{answer['t']}+{joined['t']}"

        async def scenario() -> list[str]:
            kept: list[ClientConnection] = []
            answers = [await attended("old-attended", kept),
                       (await hello(server, start_frame("old-alone")))[0]["t"],
                       await attended("new-attended", kept),
                       await attended("fourth", kept),  # room made: old-alone ends
                       (await hello(server, start_frame("fifth")))[0].get("code", "")]
            for sock in kept:
                await sock.close()
            return answers

        answers = run_async(scenario())
        assert answers == ["welcome+welcome", "welcome", "welcome+welcome", "welcome+welcome",
                           "session_limit"]
        reasons = sessions(server)
        killed = [k for k in ("old-attended", "new-attended", "fourth")
                  if reasons[k] == "SessionEndReasonKilled"]
        figure("sessions with an agent ended by the session limit", f"{len(killed)} of 3", "0")
        assert reasons["old-alone"] == "SessionEndReasonKilled"
        assert "SessionEndReasonKilled" not in (reasons["old-attended"], reasons["new-attended"],
                                reasons["fourth"])
    finally:
        server.stop()


def test_guessing_spread_over_agents_and_addresses_locks_no_innocent_out(
        proxied: Server, receiver: Receiver, figure: Figure) -> None:
    """21 agents guessing keys from 21 addresses reach the group's limit: each of them is
    throttled (audited as join_throttled, told to the admins' webhook), and an admin who was
    not guessing still joins a session with its key; no guess found a session."""
    with proxied.client() as client:
        auth = bearer(login(client, proxied.demo_password))
        tokens = []
        for n in range(21):
            created = client.post("/api/v1/agents", headers=auth, json={
                "username": f"guesser{n}", "password": "a-long-password-1"})
            assert created.status_code == 201, created.text
            tokens.append(login(client, "a-long-password-1", username=f"guesser{n}"))
        admin = login(client, proxied.demo_password)

    async def scenario() -> tuple[list[str], str]:
        answers: list[str] = []
        for attempt in range(11):
            batch = await asyncio.gather(*(
                hello(proxied, {"t": "join", "key": f"guess-{n}-{attempt}", "token": token},
                      address=f"192.0.2.{n + 1}")
                for n, token in enumerate(tokens)))
            answers += [a.get("code", a["t"]) for a, _ in batch]
        welcome, visitor = await hello(proxied, start_frame("innocent-1"),
                                       address="198.51.100.7", keep=True)
        assert welcome["t"] == "welcome"
        assert visitor is not None
        joined, agent = await hello(proxied, {"t": "join", "key": "innocent-1",
                                              "token": admin}, address="198.51.100.8",
                                    keep=True)
        assert agent is not None
        await agent.close()
        await visitor.close()
        return answers, str(joined["t"])

    answers, admitted = run_async(scenario())
    figure("joins gained by key guessing from 21 agents on 21 addresses",
           f"{answers.count('welcome')} of {len(answers)}", "0")
    figure("guesses refused as throttled", f"{answers.count('throttled')} of {len(answers)}",
           "every guess past the agent's or the group's limit")
    figure("an innocent admin refused while the group is throttled",
           "no" if admitted == "welcome" else "yes", "no")
    assert answers.count("welcome") == 0  # no guess found a session
    assert answers.count("throttled") >= 21  # the group's limit reached, every guesser out
    assert admitted == "welcome"  # the innocent admin is in
    throttled = audit(proxied, "join_throttled")
    assert {r["actor"] for r in throttled} >= {f"guesser{n}" for n in range(21)}
    assert any("group" in r["details"].get("limits", []) for r in throttled)
    wait_until(lambda: "security.join_throttled" in receiver.types(), timeout=20,
               what="the security.join_throttled webhook")
