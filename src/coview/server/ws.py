"""The session WebSocket: ``/ws/v1/session``, one frame per binary message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from coview.domain.records import PRODUCTION
from coview.errors import CoviewError
from coview.ids import GroupId
from coview.protocol.frames import ProtocolError, encode_frame
from coview.protocol.rules import GROUP_ID_MAX
from coview.server.hub import SessionHub
from coview.server.live import Attachment, Conn
from coview.server.outbound import Outbound
from coview.server.presence import PresenceClosed, PresenceService
from coview.server.services import Services

log = logging.getLogger("coview.ws")

HANDSHAKE_TIMEOUT = 10.0


class WebSocketConn:
    """A WebSocket client as the hub sees it: an outbound queue and a writer task."""

    remote = False
    vouched = None

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.address = websocket.client.host if websocket.client else "unknown"
        self.origin = websocket.headers.get("origin")
        self.host = websocket.headers.get("host", "")
        self.outbound = Outbound(max_reliable_bytes=64 * 1024 * 1024,
                                 max_volatile_bytes=32 * 1024 * 1024)
        self._closing = False

    async def write_forever(self) -> None:
        """Write queued frames until the queue closes, then close the socket."""
        try:
            while (frame := await self.outbound.get()) is not None:
                await self.websocket.send_bytes(frame)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            if self.websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(RuntimeError, OSError):
                    await self.websocket.close()

    def close(self) -> None:
        self._closing = True
        self.outbound.close()


async def origin_allowed(websocket: WebSocket, svc: Services) -> bool:
    """Browsers send Origin: allow the server's own pages, and a group's trusted origins
    when the URL names the group (``?group_id=``); native clients send none."""
    return await origin_allowed_for(svc, websocket.headers.get("origin"),
                                    websocket.headers.get("host", ""),
                                    websocket.query_params.get("group_id", ""))


async def origin_allowed_for(svc: Services, origin: str | None, host: str, group: str) -> bool:
    """:func:`origin_allowed` from the handshake's Origin and Host and the URL's group_id:
    the Host must name this server; the Origin, if any, must be one of the server's own or
    exactly a trusted origin of the group the URL names (``coview.server.origins``)."""
    if not svc.origins.host_allowed(host):
        return False
    if svc.origins.allows(origin):
        return True
    if not group.isdigit() or not 1 <= int(group) <= GROUP_ID_MAX:
        return False
    try:
        if await svc.database.get_group(GroupId(int(group))) is None:
            return False
        settings, _, _ = await svc.database.get_settings(GroupId(int(group)), PRODUCTION)
    except CoviewError:
        return False
    return svc.origins.allows(origin, settings.trusted_origins)


async def _accepted(websocket: WebSocket, svc: Services) -> bool:
    """Accept the handshake if its Origin is allowed; else close it (1008)."""
    if not await origin_allowed(websocket, svc):
        await websocket.close(code=1008, reason="origin not allowed")
        return False
    await websocket.accept()
    return True


async def session_socket(websocket: WebSocket) -> None:
    """Serve one session connection (through the ASGI stack)."""
    hub: SessionHub = websocket.app.state.hub
    if not await _accepted(websocket, hub.svc):
        return
    conn = WebSocketConn(websocket)
    writer = asyncio.create_task(conn.write_forever())

    async def receive() -> bytes:
        try:
            return await _receive_bytes(websocket)
        except WebSocketDisconnect:
            raise Disconnected from None

    try:
        await serve_session(hub, conn, receive)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer, 5)


class Disconnected(Exception):
    """The client's socket closed."""


async def serve_session(hub: SessionHub, conn: Conn,
                        receive: Callable[[], Awaitable[bytes]]) -> None:
    """Attach a connection by its first frame, then route its frames until it closes."""
    attachment: Attachment | None = None
    try:
        first = await asyncio.wait_for(receive(), HANDSHAKE_TIMEOUT)
        if await hub.pass_on(conn, first, receive):  # another process runs the session
            return
        attachment = await hub.open(conn, first)
        while attachment is not None and not conn.outbound.closed:
            await hub.receive(attachment, await receive())
    except (Disconnected, TimeoutError):
        pass
    except ProtocolError as exc:
        log.info("protocol error", extra={"fields": {"code": exc.code, "error": exc.message}})
        conn.outbound.put_reliable(encode_frame({"t": "error", "code": exc.code,
                                                 "message": exc.message}))
    finally:
        if attachment is not None:
            await hub.lost(attachment, conn)
        conn.close()


async def presence_socket(websocket: WebSocket) -> None:
    """Serve one visitor's presence connection."""
    service: PresenceService = websocket.app.state.presence
    if not await _accepted(websocket, service.svc):
        return
    await service.serve(AsgiPresenceSocket(websocket),
                        presence_url=service.listener_url(websocket.headers.get("host", "")))


class AsgiPresenceSocket:
    """A presence connection on the main port (through the ASGI stack)."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def recv(self) -> bytes:
        try:
            return await _receive_bytes(self.websocket)
        except WebSocketDisconnect:
            raise PresenceClosed from None

    async def send(self, data: bytes) -> None:
        await self.websocket.send_bytes(data)

    async def close(self) -> None:
        await self.websocket.close()


async def _receive_bytes(websocket: WebSocket) -> bytes:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    data = message.get("bytes")
    if data is None:
        raise ProtocolError("frames are binary messages")
    return bytes(data)
