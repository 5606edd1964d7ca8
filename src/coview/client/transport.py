"""How a client's frames travel: a WebSocket, or the HTTP tunnel when WebSockets are refused."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

from coview.protocol.frames import ProtocolError
from coview.protocol.stream import pack_frames, unpack_frames

MAX_FRAME = 32 * 1024 * 1024


class TransportClosed(Exception):
    """The transport is gone."""


class Transport(Protocol):
    async def send(self, frame: bytes) -> None: ...

    async def recv(self) -> bytes: ...

    async def close(self) -> None: ...


class WebSocketTransport:
    """Frames as binary WebSocket messages."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    @classmethod
    async def open(cls, url: str, connect_timeout: float) -> WebSocketTransport:
        socket = await asyncio.wait_for(
            connect(url, max_size=MAX_FRAME, compression=None, open_timeout=None,
                    ping_interval=5, ping_timeout=10), timeout=connect_timeout)
        return cls(socket)

    async def send(self, frame: bytes) -> None:
        try:
            await self.socket.send(frame)
        except websockets.ConnectionClosed:
            raise TransportClosed from None

    async def recv(self) -> bytes:
        try:
            message = await self.socket.recv()
        except websockets.ConnectionClosed:
            raise TransportClosed from None
        if isinstance(message, str):
            raise ProtocolError("the server sent a text message")
        return message

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.socket.close()


class TunnelTransport:
    """Frames over plain HTTP: POSTs to send (one at a time, in order), long-polling GETs to
    receive."""

    def __init__(self, client: httpx.AsyncClient, base: str) -> None:
        self.client = client
        self.base = base
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._outbox: list[bytes] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._closed = False
        self._poller = asyncio.create_task(self._poll())
        self._pusher = asyncio.create_task(self._push())
        self._closer: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, server: str, connect_timeout: float) -> TunnelTransport:
        client = httpx.AsyncClient(timeout=httpx.Timeout(connect_timeout, read=60.0))
        try:
            response = await client.post(f"{server}/tunnel/v1")
            response.raise_for_status()
        except BaseException:
            await client.aclose()
            raise
        return cls(client, f"{server}/tunnel/v1/{response.json()['tunnel']}")

    async def _poll(self) -> None:
        try:
            while not self._closed:
                response = await self.client.get(f"{self.base}/recv")
                if response.status_code != 200:
                    break
                for frame in unpack_frames(response.content, max_frame=MAX_FRAME):
                    await self._inbox.put(frame)
        except (httpx.HTTPError, ProtocolError):
            pass
        finally:
            await self._inbox.put(None)

    async def _push(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._outbox:
                    batch, self._outbox = self._outbox, []
                    response = await self.client.post(f"{self.base}/send",
                                                      content=pack_frames(batch))
                    if response.status_code != 204:
                        return
                if self._closing:
                    return
        except httpx.HTTPError:
            pass
        finally:
            self._closed = True
            await self._inbox.put(None)

    async def send(self, frame: bytes) -> None:
        if self._closed:
            raise TransportClosed
        self._outbox.append(frame)
        self._wake.set()

    async def recv(self) -> bytes:
        frame = await self._inbox.get()
        if frame is None:
            self._closed = True
            raise TransportClosed
        return frame

    async def close(self) -> None:
        """Send what is still queued (the last frames often say goodbye), then close.

        Every caller waits for the same closing."""
        if self._closer is None:
            self._closer = asyncio.create_task(self._close())
        await asyncio.shield(self._closer)

    async def _close(self) -> None:
        self._closing = True
        self._wake.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._pusher), 5)
        self._closed = True
        with contextlib.suppress(httpx.HTTPError):
            await self.client.delete(self.base)
        # The server answers the pending long poll once the tunnel is gone; cancelling it
        # mid-request would leave its connection open.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._poller), 5)
        for task in (self._poller, self._pusher):
            task.cancel()
        await asyncio.gather(self._poller, self._pusher, return_exceptions=True)
        await self.client.aclose()
