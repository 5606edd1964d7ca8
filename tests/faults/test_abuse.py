"""Oversized frames, a reader that never reads and a ping flood: each gets the right answer,
the server's memory stays bounded, and a session running beside them is not disturbed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from coview.protocol.frames import decode_frame, encode_frame
from tests.conftest import Figure, Server, run_async, start_server
from tests.helpers import bearer, login

pytestmark = pytest.mark.e2e

MIB = 1 << 20


def rss_mb(server: Server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines()
                    if line.startswith("VmRSS")).split()[1]) / 1024


async def header(sock: ClientConnection) -> dict[str, object]:
    found: dict[str, object] = decode_frame(await asyncio.wait_for(sock.recv(), 20),
                                            max_bytes=64 * MIB).header
    return found


async def pair(url: str, token: str, key: str, *,
               max_queue: int = 16) -> tuple[ClientConnection, ClientConnection]:
    """A cobrowse visitor with key ``key`` and an agent joined to it."""
    visitor = await connect(url, max_size=None)
    await visitor.send(encode_frame({"t": "start", "v": "1.0", "group_id": 12345,
                                     "key_kind": "named", "key": key,
                                     "session_type": "cobrowse"}))
    assert (await header(visitor))["t"] == "welcome"
    agent = await connect(url, max_size=None, max_queue=max_queue)
    await agent.send(encode_frame({"t": "join", "v": "1.0", "key": key, "token": token}))
    assert (await header(agent))["t"] == "welcome"
    return visitor, agent


def masked_binary(payload: bytes) -> bytes:
    """A client's binary WebSocket frame (clients mask what they send: RFC 6455 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    head = b"\x82" + (bytes([0x80 | size]) if size < 126 else
                      bytes([0x80 | 126]) + size.to_bytes(2, "big") if size < 65536 else
                      bytes([0x80 | 127]) + size.to_bytes(8, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def reader_that_never_reads(port: int, token: str, key: str) -> socket.socket:
    """An agent joined to ``key`` over a socket that, past the handshake, reads nothing."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall((f"GET /ws/v1/session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert b" 101 " in answer
    sock.sendall(masked_binary(encode_frame({"t": "join", "v": "1.0", "key": key,
                                             "token": token})))
    return sock


async def relays(visitor: ClientConnection, agent: ClientConnection, seq: int) -> bool:
    """Whether a page change from the visitor reaches the agent."""
    await visitor.send(encode_frame({"t": "dom", "s": seq, "full": seq == 1}, b"<p>hi</p>"))
    for _ in range(50):
        found = decode_frame(await asyncio.wait_for(agent.recv(), 20), max_bytes=64 * MIB)
        if found.type == "r" and decode_frame(found.payload, max_bytes=MIB).type == "dom":
            return True
    return False


def test_oversized_frames_slow_readers_and_ping_floods(tmp_path: Path, figure: Figure) -> None:
    """A 17 MiB frame closes its socket with 1009 and an agent's 300 KiB frame with a
    protocol error; an agent that reads nothing while 100 MiB of page arrives is dropped
    (its queue is bounded), and 20,000 pings are answered; through all of it a bystander's
    session relays every change, and the server's memory grows by less than 200 MB."""
    server = start_server(tmp_path, ["--data-dir", str(tmp_path / "data")])
    try:
        with server.client() as client:
            token = login(client, server.demo_password)
            auth = bearer(token)
            assert client.patch("/api/v1/settings", headers=auth, json={
                "starts_per_address_per_minute": 1000}).status_code == 200
            assert client.post("/api/v1/settings/publish", headers=auth).status_code == 200
        url = server.base_url.replace("http://", "ws://") + "/ws/v1/session"
        before = rss_mb(server)

        async def scenario() -> dict[str, object]:
            seen: dict[str, object] = {}
            by_visitor, by_agent = await pair(url, token, "bystander")
            seq = 1
            assert await relays(by_visitor, by_agent, seq)

            # An oversized frame: closed with 1009 (message too big).
            big_visitor, big_agent = await pair(url, token, "oversized")
            await big_visitor.send(encode_frame({"t": "dom", "s": 1, "full": True},
                                                b"x" * (17 * MIB)))
            try:
                while True:  # what was sent before, then the close
                    await asyncio.wait_for(big_visitor.recv(), 20)
            except ConnectionClosed as closed:
                seen["oversized close"] = closed.rcvd.code if closed.rcvd else None
            seq += 1
            seen["bystander after oversized"] = await relays(by_visitor, by_agent, seq)

            # An agent's frame over its bound: a protocol error.
            big_sender, agent = await pair(url, token, "agent-big")
            await agent.send(encode_frame({"t": "message", "s": 1}, b"x" * (300 * 1024)))
            answer = await header(agent)
            while answer["t"] != "error":  # past what the join brought
                answer = await header(agent)
            seen["agent oversized"] = answer.get("code")

            # A reader that reads nothing: dropped once its queue is full, memory bounded.
            slow_visitor, slow_first = await pair(url, token, "slow-reader")
            port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
            slow = reader_that_never_reads(port, token, "slow-reader")
            while True:  # until the visitor hears of its second agent
                found = decode_frame(await asyncio.wait_for(slow_visitor.recv(), 20),
                                     max_bytes=MIB)
                inner = decode_frame(found.payload, max_bytes=MIB) if found.type == "r" \
                    else found
                if inner.type == "guests" and inner.header["count"] == 2:
                    break
            for n in range(1, 101):
                await slow_visitor.send(encode_frame({"t": "dom", "s": n, "full": n == 1},
                                                     b"y" * MIB))
            seen["peak after 100 MiB to a reader that does not read"] = rss_mb(server)
            seq += 1
            seen["bystander after slow reader"] = await relays(by_visitor, by_agent, seq)
            slow.setblocking(False)
            loop = asyncio.get_running_loop()
            dropped = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(20):  # read what was queued, then the server's close
                    while await loop.sock_recv(slow, 1 << 20):
                        pass
                    dropped = True
            seen["slow reader dropped"] = dropped
            slow.close()

            # A ping flood.
            pinger = await connect(url)
            waiters = [await pinger.ping() for _ in range(20_000)]
            await asyncio.wait_for(asyncio.gather(*waiters), 60)
            seen["pings answered"] = sum(w.done() for w in waiters)
            seq += 1
            seen["bystander after ping flood"] = await relays(by_visitor, by_agent, seq)
            for sock in (by_visitor, by_agent, pinger, slow_visitor, slow_first, big_visitor,
                         big_agent, big_sender, agent):
                await sock.close()
            return seen

        seen = run_async(scenario())
        growth = float(seen["peak after 100 MiB to a reader that does not read"]) - before
        figure("close code for a 17 MiB frame", seen.get("oversized close"), "1009")
        figure("agent frame of 300 KiB", seen["agent oversized"], "protocol_error")
        figure("server memory growth with a reader that reads nothing (100 MiB sent)",
               f"{growth:.0f} MB", "< 200 MB (its queue holds at most 64 MiB)")
        figure("pings of a flood answered", f"{seen['pings answered']} of 20000", "all")
        figure("bystander session relaying through all of it",
               all(seen[k] for k in seen if str(k).startswith("bystander")), "True")
        assert seen["oversized close"] == 1009
        assert seen["agent oversized"] == "protocol_error"
        assert seen["slow reader dropped"] is True
        assert growth < 200
        assert seen["pings answered"] == 20_000
        assert all(seen[k] is True for k in seen if str(k).startswith("bystander"))
        assert "Traceback" not in server.logs()
    finally:
        server.stop()
