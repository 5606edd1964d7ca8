"""Visitor IDs are vouched for: new groups require a visitor token, and a token given is
always verified, whether or not the group requires one (sessions and presence alike)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from coview.protocol.frames import decode_frame, encode_frame
from tests.conftest import Figure, Server, run_async, run_coview, start_server, wait_until
from tests.helpers import bearer, login

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def vouching(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("tokens")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    running.data_dir = tmp / "data"  # type: ignore[attr-defined]
    yield running
    running.stop()


def mint(server: Server, visitor_id: str) -> str:
    made = run_coview("admin", "visitor-token", "--group-id", "12345", "--visitor-id",
                      visitor_id, "--data-dir", str(server.data_dir))  # type: ignore[attr-defined]
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


async def first_answer(server: Server, path: str, frame: dict[str, Any]) -> str:
    """The first frame's answer: ``welcome``, or the refusal's code."""
    async with connect(server.base_url.replace("http://", "ws://") + path) as sock:
        await sock.send(encode_frame({"v": "1.0", "group_id": 12345, **frame}))
        header = decode_frame(await asyncio.wait_for(sock.recv(), 10), max_bytes=1 << 20).header
    return str(header["t"] if header["t"] == "welcome" else header["code"])


def claims(server: Server, visitor_id: str, token: str) -> tuple[str, str]:
    """What a session start and a presence connection under ``visitor_id`` answer."""
    session = run_async(first_answer(server, "/ws/v1/session", {
        "t": "start", "key_kind": "visitor", "key": visitor_id, "token": token}))
    presence = run_async(first_answer(server, "/ws/v1/presence", {
        "t": "presence", "visitor_id": visitor_id, "token": token}))
    return session, presence


def test_new_groups_require_a_visitor_token(vouching: Server) -> None:
    """In a new group, a visitor ID without a token is refused for sessions and presence,
    and one with its own token is let in."""
    assert claims(vouching, "cust-1", "") == ("invalid_token", "invalid_token")
    session, presence = claims(vouching, "cust-1", mint(vouching, "cust-1"))
    assert (session, presence) == ("welcome", "welcome")


def test_a_token_given_is_verified_even_when_not_required(vouching: Server,
                                                         figure: Figure) -> None:
    """With tokens not required, another visitor's token, a forged one and a token on a
    random-key session are still verified: 0 of them is accepted; no token is let in."""
    with vouching.client() as client:
        auth = bearer(login(client, vouching.demo_password))
        assert client.patch("/api/v1/settings", headers=auth, json={
            "visitor_id_requires_token": False}).status_code == 200
        assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200
    # Presence reads settings through a cache (within 5 s of a publish): wait for it.
    def presence_without_token() -> str:
        return run_async(first_answer(vouching, "/ws/v1/presence", {
            "t": "presence", "visitor_id": "carol"}))

    wait_until(lambda: presence_without_token() == "welcome", timeout=20,
               what="tokens to be no longer required")
    assert run_async(first_answer(vouching, "/ws/v1/session", {
        "t": "start", "key_kind": "visitor", "key": "carol"})) == "welcome"
    bob = mint(vouching, "bob")
    forged = bob[:-4] + ("AAAA" if not bob.endswith("AAAA") else "BBBB")
    accepted = [answer for token in (bob, forged) for answer in claims(vouching, "alice", token)
                if answer == "welcome"]
    random_key = run_async(first_answer(vouching, "/ws/v1/session", {
        "t": "start", "key_kind": "random", "token": forged}))
    figure("another visitor's or a forged visitor token accepted (group not requiring "
           "tokens)", f"{len(accepted) + (random_key == 'welcome')} of 5", "0")
    assert accepted == []
    assert random_key == "invalid_token"
