"""Session sockets on the main port, served without the ASGI path.

``coview serve`` gives uvicorn :func:`websocket_protocol_for` as its WebSocket protocol. A
handshake for ``/ws/v1/session`` is served here: websockets' sans-I/O ``ServerProtocol`` parses
frames as they arrive, the connection's task hands each message to the hub, and what the hub
queues for a connection is written to the socket at once while the socket takes it (no writer
task; when the socket's buffer is full, the :class:`Outbound` queue coalesces as usual). This
takes two task switches and the ASGI translation off every relayed message
(docs/performance.md, cobrowse relay).

Every other WebSocket (presence on the main port) goes on to uvicorn's own protocol and the
ASGI app. The ASGI route for ``/ws/v1/session`` stays for other ASGI servers and for tests;
both run the same hub through :func:`coview.server.ws.serve_session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections import deque
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from uvicorn.config import WS_PROTOCOLS, Config
from uvicorn.importer import import_from_string
from uvicorn.server import ServerState
from websockets.exceptions import InvalidState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from coview.protocol.frames import ProtocolError
from coview.server.hub import SessionHub
from coview.server.outbound import Outbound
from coview.server.wire import binary_frame
from coview.server.ws import Disconnected, origin_allowed_for, serve_session

log = logging.getLogger("coview.ws")

SESSION_PATH = "/ws/v1/session"
MAX_MESSAGE = 16 * 1024 * 1024  # a visitor's largest frame (a page's full snapshot)
READ_PAUSE_BYTES = 4 * 1024 * 1024  # unread messages past this: stop reading the socket
PING_INTERVAL = 20.0  # as uvicorn's WebSocket keepalive
PING_TIMEOUT = 20.0
CLOSE_TIMEOUT = 10.0


def websocket_protocol_for(app: Starlette) -> type[asyncio.Protocol]:
    """uvicorn's ``ws`` protocol class for ``app`` (which holds the hub in ``app.state``)."""

    class Bound(SessionProtocol):
        coview_app = app

    return Bound


class SessionProtocol(asyncio.Protocol):
    """One upgraded connection: a session socket served here, or handed to uvicorn's own
    WebSocket protocol (which then gets every callback of the transport)."""

    coview_app: Starlette

    def __init__(self, config: Config, server_state: ServerState,
                 app_state: dict[str, Any]) -> None:
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.transport: asyncio.Transport | None = None
        self.delegate: asyncio.Protocol | None = None
        self.raw = bytearray()  # the handshake's bytes, for a delegate
        # Compression as uvicorn offers it (page events are text that compresses well).
        self.ws = ServerProtocol(max_size=MAX_MESSAGE, extensions=[ServerPerMessageDeflateFactory(
            server_max_window_bits=12, client_max_window_bits=12,
            compress_settings={"memLevel": 5})] if config.ws_per_message_deflate else None)
        self.conn: SocketConn | None = None
        self.inbox: deque[bytes | Exception] = deque()
        self.inbox_bytes = 0
        self.waiter: asyncio.Future[None] | None = None
        self.read_paused = False
        self.fragments: list[bytes] = []
        self.lost = False
        self.broken = False  # the peer sent what WebSocket does not allow
        self.ping_timer: asyncio.TimerHandle | None = None
        self.pong_timer: asyncio.TimerHandle | None = None
        self.close_timer: asyncio.TimerHandle | None = None

    # -- transport callbacks ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.delegate is not None:
            self.delegate.data_received(data)
            return
        if self.conn is None:
            self.raw += data
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
                if self.delegate is not None:
                    return
            elif isinstance(event, Frame):
                self._frame(event)
        if self.ws.parser_exc is not None and not self.broken:
            # websockets has sent the close frame (1002, or 1009 for a message too large).
            self.broken = True
            self._put(ProtocolError(f"invalid WebSocket data: {self.ws.parser_exc}"))
        self.send_pending()
        if self.ws.close_expected() and self.transport is not None:
            self.close_soon()

    def eof_received(self) -> bool | None:
        if self.delegate is not None:
            return self.delegate.eof_received()
        self.ws.receive_eof()
        self._put(Disconnected())
        return None

    def pause_writing(self) -> None:
        if self.delegate is not None:
            self.delegate.pause_writing()
        elif self.conn is not None:
            self.conn.paused = True

    def resume_writing(self) -> None:
        if self.delegate is not None:
            self.delegate.resume_writing()
        elif self.conn is not None:
            self.conn.paused = False
            self.conn.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.delegate is not None:
            self.delegate.connection_lost(exc)
            return
        self.lost = True
        for timer in (self.ping_timer, self.pong_timer, self.close_timer):
            if timer is not None:
                timer.cancel()
        self.ping_timer = self.pong_timer = self.close_timer = None
        if self.conn is not None:
            self.conn.outbound.discard()  # nothing more can be written: free what waits
            self.conn = None  # the hub may hold the connection a while; not this protocol
        self.inbox = deque(item for item in self.inbox if not isinstance(item, bytes))
        self.inbox_bytes = 0
        self.fragments.clear()
        self.server_state.connections.discard(cast(Any, self))
        self._put(Disconnected())

    def shutdown(self) -> None:
        """uvicorn is stopping: close with 1012 (service restart)."""
        if self.transport is None or self.lost:
            return
        if self.conn is not None:
            self.conn.closing = True
        with contextlib.suppress(InvalidState):
            self.ws.send_close(CloseCode.SERVICE_RESTART)
        self.send_pending()
        self.transport.close()

    # -- the handshake --------------------------------------------------------------------

    def _handshake(self, request: Request) -> None:
        assert self.transport is not None
        if urlsplit(request.path).path != SESSION_PATH:
            self._delegate()
            return
        repeated = next((name for name in ("Host", "Origin")
                         if len(request.headers.get_all(name)) > 1), None)
        if repeated is not None:
            log.info("handshake refused", extra={"fields": {"problem": f"{repeated} repeated"}})
            self.ws.send_response(self.ws.reject(400, f"the {repeated} header is repeated\n"))
            self.send_pending()
            self.transport.close()
            return
        self.server_state.connections.add(cast(Any, self))
        self.raw.clear()
        self.conn = SocketConn(self, request)
        task = asyncio.get_running_loop().create_task(self._run(request))
        self.server_state.tasks.add(task)
        task.add_done_callback(self.server_state.tasks.discard)

    def _delegate(self) -> None:
        """Not a session socket: uvicorn's own WebSocket protocol serves it."""
        assert self.transport is not None
        fallback = import_from_string(WS_PROTOCOLS["auto"])
        delegate: asyncio.Protocol = fallback(config=self.config, server_state=self.server_state,
                                              app_state=self.app_state)
        self.delegate = delegate
        delegate.connection_made(self.transport)
        delegate.data_received(bytes(self.raw))
        self.raw.clear()

    async def _run(self, request: Request) -> None:
        assert self.conn is not None
        hub: SessionHub = self.coview_app.state.hub
        if not hub.svc.origins.host_allowed(request.headers.get("Host")):
            log.info("handshake refused", extra={"fields": {"problem": "not this server's Host"}})
            self.ws.send_response(self.ws.reject(400, "the Host header does not name this "
                                                      "server (see --public-url)\n"))
            self.send_pending()
            assert self.transport is not None
            self.transport.close()
            return
        query = parse_qs(urlsplit(request.path).query)
        allowed = await origin_allowed_for(hub.svc, request.headers.get("Origin"),
                                           request.headers.get("Host", ""),
                                           (query.get("group_id") or [""])[0])
        if self.lost:
            return
        if not allowed:
            response = self.ws.reject(403, "origin not allowed\n")
        else:
            response = self.ws.accept(request)
        self.ws.send_response(response)
        self.send_pending()
        if response.status_code != 101:
            assert self.transport is not None
            self.transport.close()
            return
        self._schedule_ping()
        await serve_session(hub, self.conn, self._receive)

    # -- reading ----------------------------------------------------------------------------

    def _frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PONG:
            if self.pong_timer is not None:
                self.pong_timer.cancel()
                self.pong_timer = None
        elif frame.opcode is Opcode.CLOSE:
            self._put(Disconnected())
        elif frame.opcode is Opcode.TEXT:
            self._put(ProtocolError("frames are binary messages"))
        elif frame.opcode in (Opcode.BINARY, Opcode.CONT):
            data = frame.data if isinstance(frame.data, bytes) else bytes(frame.data)
            if frame.fin and not self.fragments:
                self._put(data)
            elif frame.fin:
                self.fragments.append(data)
                self._put(b"".join(self.fragments))
                self.fragments.clear()
            else:
                self.fragments.append(data)

    def _put(self, item: bytes | Exception) -> None:
        self.inbox.append(item)
        if isinstance(item, bytes):
            self.inbox_bytes += len(item)
            if self.inbox_bytes > READ_PAUSE_BYTES and not self.read_paused and self.transport:
                self.read_paused = True
                self.transport.pause_reading()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def _receive(self) -> bytes:
        while not self.inbox:
            if self.lost:
                raise Disconnected
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        item = self.inbox[0]
        if isinstance(item, Exception):
            # It stays (every later read ends the same way); a copy is raised, so that no
            # traceback (and the reader's frame, holding its session) is kept with it.
            raise copy.copy(item)
        self.inbox.popleft()
        self.inbox_bytes -= len(item)
        if self.read_paused and self.inbox_bytes < READ_PAUSE_BYTES // 2 and self.transport:
            self.read_paused = False
            self.transport.resume_reading()
        return item

    # -- writing ----------------------------------------------------------------------------

    def send_pending(self) -> None:
        data = self.ws.data_to_send()
        if data and self.transport is not None and not self.lost:
            self.transport.write(b"".join(data))

    def close_soon(self) -> None:
        """Close the TCP connection once the peer has had the close frame (or at once after
        a refused handshake); give up waiting after CLOSE_TIMEOUT."""
        assert self.transport is not None
        if self.ws.close_expected() or self.ws.state is State.CLOSED:
            self.transport.close()
        elif self.close_timer is None:
            self.close_timer = asyncio.get_running_loop().call_later(
                CLOSE_TIMEOUT, self.transport.abort)

    def _schedule_ping(self) -> None:
        self.ping_timer = asyncio.get_running_loop().call_later(PING_INTERVAL, self._ping)

    def _ping(self) -> None:
        if self.lost or self.transport is None:
            return
        try:
            self.ws.send_ping(b"")
        except InvalidState:
            return
        self.send_pending()
        if self.pong_timer is None:
            self.pong_timer = asyncio.get_running_loop().call_later(
                PING_TIMEOUT, self.transport.abort)
        self._schedule_ping()


class SocketConn:
    """A session socket as the hub sees it: frames queued are written at once."""

    remote = False
    vouched = None

    def __init__(self, protocol: SessionProtocol, request: Request) -> None:
        self.protocol = protocol
        self.outbound = Outbound(max_reliable_bytes=64 * 1024 * 1024,
                                 max_volatile_bytes=32 * 1024 * 1024, on_ready=self.ready)
        self.origin = request.headers.get("Origin")
        self.host = request.headers.get("Host", "")
        peer = protocol.transport.get_extra_info("peername") if protocol.transport else None
        self.address = client_address(str(peer[0]) if peer else "unknown",
                                      request.headers.get("X-Forwarded-For"),
                                      protocol.config.forwarded_allow_ips
                                      if protocol.config.proxy_headers else [])
        self.paused = False  # the socket's buffer is full
        self.closing = False
        self.flush_soon: asyncio.Handle | None = None

    def ready(self) -> None:
        """Reliable frames (and a close) go out at once; volatile ones (acks, pointer moves,
        tiles) at the end of this turn of the loop, so that a burst coalesces in the queue."""
        if self.outbound.reliable_waiting or self.outbound.closed:
            self.flush()
        elif self.flush_soon is None:
            self.flush_soon = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write what is queued while the socket takes it; after a close, the close frame."""
        self.flush_soon = None
        protocol = self.protocol
        ws = protocol.ws
        if protocol.lost or protocol.transport is None or ws.state is not State.OPEN:
            return
        transport = protocol.transport
        plain = not ws.extensions  # no compression: every reader gets the same bytes
        while not self.paused:
            frame = self.outbound.get_nowait()
            if frame is None:
                break
            if plain:
                transport.write(binary_frame(frame))
            else:
                ws.send_binary(frame)
                transport.write(b"".join(ws.data_to_send()))
        else:
            return  # the socket is full: resume_writing() flushes the rest
        if self.outbound.closed and not self.closing:
            self.closing = True
            ws.send_close(CloseCode.NORMAL_CLOSURE)
            protocol.send_pending()
            protocol.close_soon()

    def close(self) -> None:
        self.outbound.close()


def client_address(peer: str, forwarded: str | None, trusted: list[str] | str) -> str:
    """The client's address: the peer's, or from X-Forwarded-For when the peer is a trusted
    proxy (uvicorn's ``forwarded_allow_ips``), as for the ASGI app's requests: the nearest
    address in the chain that is not itself a trusted proxy."""
    hosts = {h.strip() for h in (trusted.split(",") if isinstance(trusted, str) else trusted)}
    if not forwarded or not ("*" in hosts or peer in hosts):
        return peer
    chain = [h.strip() for h in forwarded.split(",") if h.strip()]
    if "*" in hosts:
        return chain[0] if chain else peer
    for host in reversed(chain):
        if host not in hosts:
            return host
    return chain[0] if chain else peer
