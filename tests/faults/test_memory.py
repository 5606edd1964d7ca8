"""Memory comes back when a session ends, without waiting for the garbage collector: an
ended session leaves no reference cycle behind (issue 14, hole 2)."""

from __future__ import annotations

import asyncio
import gc
import tempfile
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from coview.protocol.frames import decode_frame, encode_frame
from coview.server.app import create_app
from coview.server.config import load_config
from coview.server.demo import ensure_demo
from coview.server.session_protocol import websocket_protocol_for
from tests.conftest import Figure, free_port, run_async

PAGE = b"x" * (1 << 20)  # a 1 MiB page snapshot


async def recv_header(sock: ClientConnection) -> dict[str, object]:
    header: dict[str, object] = decode_frame(await asyncio.wait_for(sock.recv(), 10),
                                             max_bytes=1 << 24).header
    return header


async def cobrowse(base: str, token: str, *, how: str) -> None:
    """A visitor sends page snapshots to an agent; the session ends as ``how`` says."""
    async with connect(base, max_size=None) as visitor:
        await visitor.send(encode_frame({"t": "start", "v": "1.0", "group_id": 12345,
                                         "key_kind": "random", "session_type": "cobrowse"}))
        welcome = await recv_header(visitor)
        agent = await connect(base, max_size=None)
        await agent.send(encode_frame({"t": "join", "v": "1.0", "key": welcome["key"],
                                       "token": token}))
        assert (await recv_header(agent))["t"] == "welcome"
        for seq in range(1, 6):
            await visitor.send(encode_frame({"t": "dom", "s": seq, "full": seq == 1}, PAGE))
        for _ in range(5):  # the agent reads every page
            while (await recv_header(agent))["t"] != "r":
                pass
        if how == "visitor ends":
            await visitor.send(encode_frame({"t": "end", "s": 6}))
            while (await recv_header(agent))["t"] != "r":
                pass
        await agent.close()
    # "sockets drop": both sockets closed without an end; the server ends it below.


async def until(condition: Callable[[], bool], *, what: str) -> None:
    """Wait (10 s at most) until ``condition()`` holds, on the server's own loop."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (server state offers no event to wait on)
            await asyncio.sleep(0.01)
    assert condition(), what


@pytest.mark.parametrize("how", ["visitor ends", "sockets drop"])
def test_an_ended_session_leaves_no_reference_cycle(how: str, figure: Figure) -> None:
    """With the collector off, a cobrowse session that ends (by its visitor, or by the
    server after its sockets dropped) leaves nothing for the collector to find."""
    port = free_port()
    config = load_config({"data_dir": tempfile.mkdtemp(), "port": port,
                          "secret_key": "s" * 40}, environ={})
    app = create_app(config)

    async def scenario() -> Counter[str]:
        server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False,
            lifespan="on", ws=websocket_protocol_for(app), ws_max_size=16 << 20))
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.02)
        demo = await ensure_demo(app.state.services.database)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            token = (await client.post("/api/v1/auth/login", json={
                "group_id": 12345, "username": demo.username,
                "password": demo.password})).json()["token"]
        hub = app.state.hub
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):
                await cobrowse(f"ws://127.0.0.1:{port}/ws/v1/session", token, how=how)
            # (an ended session is dropped before its end is relayed: nothing to wait for)
            if how == "sockets drop":
                await until(lambda: all(p.conn is None for live in hub.sessions.values()
                                        for p in (live.visitor, *live.agents.values())),
                            what="the server to see both sockets close")
                await hub.end_all("the test ends it")
            await until(lambda: not server.server_state.connections,
                        what="every connection's closing handshake")
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            left = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
        server.should_exit = True
        await serving
        return left

    left = run_async(scenario())
    # The server's own objects (clients of earlier tests may still run in this process).
    ours = {name: n for name, n in left.items() if name in (
        "coview.server.live.LiveSession", "coview.server.live.Party",
        "coview.server.live.Attachment", "coview.server.session_protocol.SocketConn",
        "coview.server.outbound.Outbound")}
    figure(f"session objects left for the garbage collector ({how})",
           str(sum(ours.values())), "0")
    assert ours == {}, left.most_common(20)
