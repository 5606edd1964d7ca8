"""Session sockets served on the main port without the ASGI path (coview serve): messages in
fragments, text frames and oversized messages refused, other WebSocket paths handed on, and
the client's address behind a trusted proxy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from coview.protocol.frames import decode_frame, encode_frame
from coview.server.session_protocol import MAX_MESSAGE, client_address
from coview.server.wire import binary_frame
from tests.conftest import Server, run_async, start_server

START = encode_frame({"t": "start", "v": "1.0", "group_id": 12345, "key_kind": "random",
                      "session_type": "cobrowse"})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("socket")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    yield running
    running.stop()


def url(server: Server, path: str = "/ws/v1/session") -> str:
    return server.base_url.replace("http://", "ws://") + path


def test_a_fragmented_hello_then_a_text_frame(server: Server) -> None:
    async def go() -> tuple[str, str, int | None]:
        async with connect(url(server), compression=None) as ws:
            await ws.send([START[:5], START[5:30], START[30:]])  # one message, three frames
            welcome = decode_frame(bytes(await ws.recv()), max_bytes=1 << 20).header  # type: ignore[arg-type]
            await ws.send("not a frame")
            error = decode_frame(bytes(await ws.recv()), max_bytes=1 << 20).header  # type: ignore[arg-type]
            await ws.wait_closed()
            return welcome["t"], error["message"], ws.close_code
    assert run_async(go()) == ("welcome", "frames are binary messages", 1000)


def test_compression_is_negotiated(server: Server) -> None:
    """Page events are text: a client offering permessage-deflate gets it."""
    async def go() -> tuple[str, list[str]]:
        async with connect(url(server)) as ws:  # offers permessage-deflate
            await ws.send(START)
            welcome = decode_frame(bytes(await ws.recv()), max_bytes=1 << 20)  # type: ignore[arg-type]
            return welcome.type, [e.name for e in ws.protocol.extensions]
    assert run_async(go()) == ("welcome", ["permessage-deflate"])


def test_an_oversized_message_closes_with_1009(server: Server) -> None:
    async def go() -> int | None:
        async with connect(url(server), compression=None, max_size=None) as ws:
            await ws.send(START)
            await ws.recv()
            try:
                await ws.send(b"\0" * (MAX_MESSAGE + 1))
                while True:
                    await ws.recv()
            except ConnectionClosed:
                pass
            return ws.close_code
    assert run_async(go()) == 1009


def test_other_websocket_paths_go_to_the_app(server: Server) -> None:
    """Presence on the main port is served by the ASGI app (uvicorn's own protocol)."""
    with server.client() as client:
        token = client.post("/api/v1/visitor-tokens", json={"visitor_id": "cust-7"},
                            headers={"Authorization": f"Bearer {server.demo_api_key}"})
    assert token.status_code == 201, token.text

    async def go() -> str:
        async with connect(url(server, "/ws/v1/presence"), compression=None) as ws:
            await ws.send(encode_frame({"t": "presence", "v": "1.0", "group_id": 12345,
                                        "visitor_id": "cust-7",
                                        "token": token.json()["token"]}))
            return decode_frame(bytes(await ws.recv()), max_bytes=1 << 20).header["t"]  # type: ignore[arg-type]
    assert run_async(go()) == "welcome"


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "address"), [
    ("203.0.113.9", None, "127.0.0.1", "203.0.113.9"),
    ("203.0.113.9", "10.0.0.1", "127.0.0.1", "203.0.113.9"),  # not from a trusted proxy
    ("127.0.0.1", "198.51.100.7", "127.0.0.1", "198.51.100.7"),
    ("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.0.0.2", "127.0.0.1,10.0.0.2", "198.51.100.7"),
    ("127.0.0.1", "1.2.3.4, 198.51.100.7", ["*"], "1.2.3.4"),
    ("127.0.0.1", "198.51.100.7", [], "127.0.0.1"),  # proxy headers off
])
def test_client_address(peer: str, forwarded: str | None, trusted: list[str] | str,
                        address: str) -> None:
    assert client_address(peer, forwarded, trusted) == address


def test_relayed_frames_are_the_bytes_websockets_would_write() -> None:
    """Each reader without compression is written the frame built once, without websockets'
    per-frame objects: byte for byte what websockets itself writes, at every length form."""
    for size in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        expected = Frame(Opcode.BINARY, payload).serialize(mask=False)
        assert binary_frame(payload) == expected, size
