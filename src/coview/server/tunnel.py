"""The HTTP tunnel: session frames over plain HTTP, for networks that refuse WebSockets.

``POST /tunnel/v1`` opens a tunnel and returns its id (a capability: 32 random bytes).
``POST /tunnel/v1/{id}/send`` carries frames to the server, ``GET /tunnel/v1/{id}/recv``
waits up to 20 s for frames from it (410 once the connection is over), and
``DELETE /tunnel/v1/{id}`` closes it. Frames are length-prefixed (``coview.protocol.stream``).
A tunnel nobody polls for 30 s is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from coview.errors import NotFound, PermissionDenied
from coview.protocol.frames import ProtocolError
from coview.protocol.stream import pack_frames, unpack_frames
from coview.server.hub import MAX_VISITOR_FRAME, SessionHub
from coview.server.outbound import Outbound
from coview.server.ws import Disconnected, serve_session

log = logging.getLogger("coview.tunnel")

POLL_SECONDS = 20.0
IDLE_SECONDS = 30.0
MAX_RECV_BYTES = 4 * 1024 * 1024
MAX_TUNNELS = 10_000
MAX_SEND_BODY = MAX_VISITOR_FRAME + 64 * 1024

router = APIRouter(prefix="/tunnel/v1", include_in_schema=False)


class TunnelConn:
    """A tunnelled client as the hub sees it."""

    remote = False

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
    """The open tunnels of this process."""

    def __init__(self, hub: SessionHub) -> None:
        self.hub = hub
        self.open: dict[str, TunnelConn] = {}
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

    def create(self, address: str, host: str) -> TunnelConn:
        if len(self.open) >= MAX_TUNNELS:
            raise PermissionDenied("too many tunnels are open", code="busy")
        conn = TunnelConn(secrets.token_urlsafe(32), address, host)
        self.open[conn.tunnel_id] = conn
        conn.task = asyncio.create_task(self._serve(conn))
        return conn

    def get(self, tunnel_id: str) -> TunnelConn:
        conn = self.open.get(tunnel_id)
        if conn is None:
            raise NotFound("there is no such tunnel", code="tunnel_not_found")
        return conn

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
            await asyncio.sleep(2)
            now = time.monotonic()
            for conn in list(self.open.values()):
                if now - conn.last_poll > IDLE_SECONDS:
                    conn.close()
                    self.open.pop(conn.tunnel_id, None)


def _tunnels(request: Request) -> Tunnels:
    tunnels: Tunnels = request.app.state.tunnels
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host", ""):
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
    conn = _tunnels(request).get(tunnel_id)
    body = await request.body()
    try:
        frames = unpack_frames(body, max_frame=MAX_VISITOR_FRAME)
    except ProtocolError as exc:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}},
                            status_code=400)
    for frame in frames:
        try:
            await asyncio.wait_for(conn.inbound.put(frame), 10)
        except TimeoutError:
            return JSONResponse({"error": {"code": "busy", "message": "try again"}},
                                status_code=503)
    return Response(status_code=204)


@router.get("/{tunnel_id}/recv")
async def recv(tunnel_id: str, request: Request) -> Response:
    tunnels = _tunnels(request)
    conn = tunnels.get(tunnel_id)
    conn.last_poll = time.monotonic()
    frames: list[bytes] = []
    try:
        first = await asyncio.wait_for(conn.outbound.get(), POLL_SECONDS)
    except TimeoutError:
        first = b""
    conn.last_poll = time.monotonic()
    if first is None:
        tunnels.open.pop(tunnel_id, None)
        return Response(status_code=410)
    if first:
        frames.append(first)
        size = len(first)
        while size < MAX_RECV_BYTES and (more := conn.outbound.get_nowait()) is not None:
            frames.append(more)
            size += len(more)
    return Response(pack_frames(frames), media_type="application/octet-stream")


@router.delete("/{tunnel_id}")
async def close_tunnel(tunnel_id: str, request: Request) -> Response:
    tunnels = _tunnels(request)
    conn = tunnels.open.pop(tunnel_id, None)
    if conn is not None:
        conn.end_input()
    return Response(status_code=204)
