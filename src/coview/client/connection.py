"""The asyncio pump around the protocol's client endpoint: WebSocket, reconnect, events.

``SessionConnection.run()`` connects, says hello, feeds frames to the endpoint and writes what
it asks, and when the transport drops, reconnects with backoff until the endpoint's reconnect
window closes. Everything the endpoint reports goes to ``on_event``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets

from coview.client.transport import (
    Transport,
    TransportClosed,
    TunnelTransport,
    WebSocketTransport,
)
from coview.protocol.client import (
    ClientEndpoint,
    ClientState,
    ConnectionExpired,
    Event,
    Refused,
    Replaced,
    Welcomed,
)

log = logging.getLogger("coview.client")

EventHandler = Callable[[Event], Awaitable[None]]
TunnelHandler = Callable[[], Awaitable[None]]


class CantConnect(Exception):
    """The server could not be reached at all."""


def websocket_url(server: str, path: str = "/ws/v1/session") -> str:
    """The session WebSocket URL of a server given as ``http(s)://host:port``."""
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"{server!r} is not an http(s) URL")
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class SessionConnection:
    """One session connection kept alive across drops within the reconnect window."""

    def __init__(self, server: str, hello: dict[str, Any], on_event: EventHandler, *,
                 connect_timeout: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 force_tunnel: bool = False, on_tunneling: TunnelHandler | None = None,
                 ) -> None:
        self.server = server.rstrip("/")
        self.url = websocket_url(server)
        self.endpoint = ClientEndpoint(hello)
        self.on_event = on_event
        self.connect_timeout = connect_timeout
        self.clock = clock
        self.tunneling = force_tunnel
        self.on_tunneling = on_tunneling
        self._told_tunneling = False
        self._socket: Transport | None = None
        self._wake = asyncio.Event()
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.welcome: dict[str, Any] = {}

    @property
    def is_open(self) -> bool:
        return self.endpoint.state is ClientState.OPEN

    async def run(self) -> None:
        """Connect and pump until the session is over; raise CantConnect if never reached."""
        first = True
        backoff = 0.2
        while not self._stopping and self.endpoint.state is not ClientState.CLOSED:
            try:
                socket = await self._open_transport()
            except (OSError, TimeoutError, websockets.InvalidHandshake,
                    websockets.InvalidURI, httpx.HTTPError) as exc:
                if first and self.endpoint.state is ClientState.IDLE:
                    raise CantConnect(f"cannot reach {self.url}: {exc}") from None
                if await self._expired():
                    return
                await self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            first = False
            self._socket = socket
            welcomed = self.welcome
            try:
                await self._pump(socket)
            finally:
                self._socket = None
                with contextlib.suppress(Exception):
                    await socket.close()
            if self.endpoint.state in (ClientState.OPEN, ClientState.CONNECTING):
                for event in self.endpoint.transport_lost(self.clock()):
                    await self.on_event(event)
            if await self._expired():
                return
            if self.welcome is welcomed:
                # Closed before a welcome (a server between owners, or restarting): wait
                # before the next try rather than spin.
                await self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            else:
                backoff = 0.2

    async def _open_transport(self) -> Transport:
        """A WebSocket; or the tunnel if asked to, or if the WebSocket upgrade is refused
        while plain HTTP gets through (a proxy that refuses upgrades)."""
        if not self.tunneling:
            try:
                return await WebSocketTransport.open(self.url, self.connect_timeout)
            except (websockets.InvalidHandshake, TimeoutError):
                transport = await TunnelTransport.open(self.server, self.connect_timeout)
                self.tunneling = True
        else:
            transport = await TunnelTransport.open(self.server, self.connect_timeout)
        if not self._told_tunneling and self.on_tunneling is not None:
            self._told_tunneling = True
            await self.on_tunneling()
        return transport

    async def _expired(self) -> bool:
        for event in self.endpoint.tick(self.clock()):
            await self.on_event(event)
        return self.endpoint.state is ClientState.CLOSED

    async def _sleep(self, seconds: float) -> None:
        deadline = self.endpoint.reconnect_deadline
        if deadline is not None:
            seconds = max(0.0, min(seconds, deadline - self.clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _pump(self, socket: Transport) -> None:
        self.endpoint.transport_opened(self.clock())
        await self.flush()
        try:
            while True:
                message = await socket.recv()
                for event in self.endpoint.receive(message, self.clock()):
                    if isinstance(event, Welcomed):
                        self.welcome = event.info
                    await self.on_event(event)
                    if isinstance(event, Refused | Replaced | ConnectionExpired):
                        return
                await self.flush()
                if self.endpoint.state is ClientState.CLOSED:
                    return
        except TransportClosed:
            return

    async def flush(self) -> None:
        """Write whatever the endpoint has queued."""
        socket = self._socket
        if socket is None:
            return
        now = self.clock()
        for frame in self.endpoint.data_to_send(now):
            try:
                await socket.send(frame)
            except TransportClosed:
                return
        due = self.endpoint.ack_due()
        if due is not None and self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(
                max(0.0, due - now), self._ack_later)

    def _ack_later(self) -> None:
        self._ack_timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._ack_tasks.add(task)
        task.add_done_callback(self._ack_tasks.discard)

    async def send(self, header: dict[str, Any], payload: bytes = b"", *,
                   reliable: bool) -> None:
        """Send a message (reliable ones are kept and resent after a reconnect)."""
        if self.endpoint.state is ClientState.CLOSED:
            return
        self.endpoint.send(header, payload, reliable=reliable)
        await self.flush()

    async def drop_transport(self) -> None:
        """Close the transport without leaving the session (tests and network changes)."""
        if self._socket is not None:
            await self._socket.close()

    async def close(self) -> None:
        """Leave for good."""
        self._stopping = True
        self.endpoint.close()
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        self._wake.set()
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
