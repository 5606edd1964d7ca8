"""The session WebSocket checks Origin at the handshake, and agents join only from the
console's own origin."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import connect

from coview.protocol.frames import decode_frame, encode_frame
from tests.conftest import Server, run_async, start_server
from tests.helpers import bearer, login

pytestmark = pytest.mark.e2e

TRUSTED = "https://shop.example.com"


@pytest.fixture(scope="module")
def origin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("origin")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    with running.client() as client:
        auth = bearer(login(client, running.demo_password))
        assert client.patch("/api/v1/settings", headers=auth,
                            json={"trusted_origins": [TRUSTED]}).status_code == 200
        assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200
    yield running
    running.stop()


def handshake(server: Server, origin: str | None, query: str = "") -> str:
    """'open', or 'refused' when the server turns the handshake down."""
    url = server.base_url.replace("http://", "ws://") + "/ws/v1/session" + query

    async def attempt() -> str:
        try:
            async with connect(url, origin=origin) as socket:  # type: ignore[arg-type]
                await socket.send(encode_frame({"t": "nonsense", "v": "1.0"}))
                reply = decode_frame(await socket.recv(), max_bytes=1 << 20)
                assert reply.header["code"] == "invalid_parameter"
                return "open"
        except websockets.InvalidStatus:
            return "refused"

    return run_async(attempt())


def test_origins(origin_server: Server) -> None:
    """No Origin (native clients) and the server's own origin are let in; a foreign origin is
    turned down, unless it is a trusted origin of the group the URL names."""
    own = origin_server.base_url
    assert handshake(origin_server, None) == "open"
    assert handshake(origin_server, own) == "open"
    assert handshake(origin_server, "https://evil.example") == "refused"
    assert handshake(origin_server, TRUSTED) == "refused"  # no group named
    assert handshake(origin_server, TRUSTED, "?group_id=12345") == "open"
    assert handshake(origin_server, "https://shop.example.com.evil.example",
                     "?group_id=12345") == "refused"
    assert handshake(origin_server, TRUSTED, "?group_id=999") == "refused"
    assert handshake(origin_server, TRUSTED, "?group_id=abc") == "refused"


def test_agents_join_only_from_the_console_origin(origin_server: Server) -> None:
    """An agent's join carrying a visitor site's origin is refused with code origin, while the
    same join from the console's origin gets in."""
    with origin_server.client() as client:
        token = login(client, origin_server.demo_password)
    base = origin_server.base_url.replace("http://", "ws://") + "/ws/v1/session"

    async def scenario() -> tuple[dict[str, object], dict[str, object]]:
        async with connect(base) as visitor:  # a session with key origin-1
            await visitor.send(encode_frame({"t": "start", "v": "1.0", "group_id": 12345,
                                             "key_kind": "named", "key": "origin-1"}))
            assert decode_frame(await visitor.recv(), max_bytes=1 << 20).header["t"] == \
                "welcome"
            replies = []
            for url, origin in ((base + "?group_id=12345", TRUSTED),
                                (base, origin_server.base_url)):
                async with connect(url, origin=origin) as agent:  # type: ignore[arg-type]
                    await agent.send(encode_frame({"t": "join", "v": "1.0", "key": "origin-1",
                                                   "token": token}))
                    replies.append(decode_frame(await agent.recv(), max_bytes=1 << 20).header)
            return replies[0], replies[1]

    refused, admitted = run_async(asyncio.wait_for(scenario(), 20))
    assert (refused["t"], refused["code"]) == ("refused", "origin")
    assert admitted["t"] == "welcome"
