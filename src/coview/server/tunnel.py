"""The HTTP tunnel: session frames over plain HTTP, for networks that refuse WebSockets.

``POST /tunnel/v1`` opens a tunnel and returns its id (a capability: 32 random bytes).
``POST /tunnel/v1/{id}/send`` carries frames to the server, ``GET /tunnel/v1/{id}/recv``
waits up to 20 s for frames from it (410 once the connection is over), and
``DELETE /tunnel/v1/{id}`` closes it. Frames are length-prefixed (``coview.protocol.stream``).
A tunnel nobody polls for 30 s is closed.

With several processes (``--redis-url``) a tunnel lives in the process that opened it, and a
request that reaches another process is passed to it (``tunnel_peers.py``), so a balancer
needs no stickiness for tunnels either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from coview.errors import CoviewError, NotFound, PermissionDenied
from coview.protocol.frames import ProtocolError
from coview.protocol.server import MAX_VISITOR_FRAME
from coview.protocol.stream import pack_frames, unpack_frames
from coview.server.errors import coview_error_response, error_response
from coview.server.hub import SessionHub
from coview.server.outbound import Outbound
from coview.server.services import Services
from coview.server.tunnel_peers import POLL_SECONDS, SEND_SECONDS, Alone, Peers, Shared
from coview.server.ws import Disconnected, serve_session

if TYPE_CHECKING:
    from coview.bus.cluster import Cluster

log = logging.getLogger("coview.tunnel")

IDLE_SECONDS = 30.0
MAX_RECV_BYTES = 4 * 1024 * 1024
MAX_TUNNELS = 10_000
MAX_SEND_BODY = MAX_VISITOR_FRAME + 64 * 1024
MAX_ASKING = 2 * MAX_TUNNELS  # requests passed to other processes, waiting for their answers
REAP_SECONDS = 2.0

router = APIRouter(prefix="/tunnel/v1", include_in_schema=False)


class TunnelConn:
    """A tunnelled client as the hub sees it."""

    remote = False
    vouched = None

    def __init__(self, tunnel_id: str, address: str, host: str) -> None:
        self.tunnel_id = tunnel_id
        self.address = address
        self.host = host
        self.origin: str | None = None
        self.outbound = Outbound(max_reliable_bytes=64 * 1024 * 1024,
                                 max_volatile_bytes=32 * 1024 * 1024)
        self.inbound: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1024)
        self.last_poll = time.monotonic()
        self.task: asyncio.Task[None] | None = None

    def close(self) -> None:
        """The hub is done with this connection: stop reading and writing."""
        self.outbound.close()
        self.end_input()

    def end_input(self) -> None:
        """The client has sent its last frame (frames queued before still get handled)."""
        with contextlib.suppress(asyncio.QueueFull):
            self.inbound.put_nowait(None)


class Tunnels:
    """The open tunnels of this process, and its requests for other processes' tunnels."""

    def __init__(self, hub: SessionHub, cluster: Cluster | None = None) -> None:
        self.hub = hub
        self.open: dict[str, TunnelConn] = {}
        self.peers: Peers = (Alone() if cluster is None else
                             Shared(cluster, self.handle, max_asking=MAX_ASKING))
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for conn in list(self.open.values()):
            conn.close()
        await self.peers.close()

    def create(self, address: str, host: str) -> TunnelConn:
        if len(self.open) >= MAX_TUNNELS:
            raise PermissionDenied("too many tunnels are open", code="busy")
        conn = TunnelConn(self.peers.tunnel_id(secrets.token_urlsafe(32)), address, host)
        self.open[conn.tunnel_id] = conn
        conn.task = asyncio.create_task(self._serve(conn))
        return conn

    def get(self, tunnel_id: str) -> TunnelConn:
        conn = self.open.get(tunnel_id)
        if conn is None:
            raise NotFound("there is no such tunnel", code="tunnel_not_found")
        return conn

    async def handle(self, op: str, tunnel_id: str, body: bytes = b"") -> Response:
        """Answer a tunnel request (``send``, ``recv`` or ``close``), here or by the process
        that holds the tunnel."""
        home = self.peers.home(tunnel_id)
        if home is not None:
            return await self.peers.ask(home, op, tunnel_id, body)
        try:
            if op == "send":
                return await self._send(self.get(tunnel_id), body)
            if op == "recv":
                return await self._recv(self.get(tunnel_id))
            conn = self.open.pop(tunnel_id, None)
            if conn is not None:
                conn.end_input()
            return Response(status_code=204)
        except CoviewError as exc:
            return coview_error_response(exc)

    # -- the tunnel's own process ----------------------------------------------------------

    async def _send(self, conn: TunnelConn, body: bytes) -> Response:
        try:
            frames = unpack_frames(body, max_frame=MAX_VISITOR_FRAME)
        except ProtocolError as exc:
            return error_response(400, exc.code, exc.message)
        for frame in frames:
            try:
                await asyncio.wait_for(conn.inbound.put(frame), SEND_SECONDS)
            except TimeoutError:
                return error_response(503, "busy", "try again")
        return Response(status_code=204)

    async def _recv(self, conn: TunnelConn) -> Response:
        conn.last_poll = time.monotonic()
        try:
            first = await asyncio.wait_for(conn.outbound.get(), POLL_SECONDS)
        except TimeoutError:
            first = b""
        conn.last_poll = time.monotonic()
        if first is None:
            self.open.pop(conn.tunnel_id, None)
            return Response(status_code=410)
        frames = [first] if first else []
        size = len(first)
        # Up to MAX_RECV_BYTES in all, or the one frame: an answer always fits in one message
        # between processes.
        while (following := conn.outbound.next_size()) is not None \
                and size + following <= MAX_RECV_BYTES:
            frame = conn.outbound.get_nowait()
            assert frame is not None
            frames.append(frame)
            size += following
        return Response(pack_frames(frames), media_type="application/octet-stream")

    async def _serve(self, conn: TunnelConn) -> None:
        async def receive() -> bytes:
            data = await conn.inbound.get()
            if data is None:
                raise Disconnected
            return data

        with contextlib.suppress(asyncio.CancelledError):
            await serve_session(self.hub, conn, receive)
        conn.outbound.close()
        # Keep the tunnel until its client has read what is left (or goes idle).

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_SECONDS)
            now = time.monotonic()
            for conn in list(self.open.values()):
                if now - conn.last_poll > IDLE_SECONDS:
                    conn.close()
                    self.open.pop(conn.tunnel_id, None)
            await self.peers.check()



def _tunnels(request: Request) -> Tunnels:
    tunnels: Tunnels = request.app.state.tunnels
    origin = request.headers.get("origin")
    svc: Services = request.app.state.services
    if not svc.origins.allows(origin):
        raise PermissionDenied("tunnels are for native clients", code="origin")
    return tunnels


@router.post("")
async def open_tunnel(request: Request) -> JSONResponse:
    tunnels = _tunnels(request)
    conn = tunnels.create(request.client.host if request.client else "unknown",
                          request.headers.get("host", ""))
    return JSONResponse({"tunnel": conn.tunnel_id}, status_code=201)


@router.post("/{tunnel_id}/send")
async def send(tunnel_id: str, request: Request) -> Response:
    tunnels = _tunnels(request)
    return await tunnels.handle("send", tunnel_id, await request.body())


@router.get("/{tunnel_id}/recv")
async def recv(tunnel_id: str, request: Request) -> Response:
    return await _tunnels(request).handle("recv", tunnel_id)


@router.delete("/{tunnel_id}")
async def close_tunnel(tunnel_id: str, request: Request) -> Response:
    return await _tunnels(request).handle("close", tunnel_id)
