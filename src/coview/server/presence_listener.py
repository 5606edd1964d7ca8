"""The presence listener: presence connections on a port of their own, served by
``websockets`` directly in the server's process and loop.

An idle presence connection through uvicorn and the ASGI stack costs several times what the
``websockets`` library alone needs (docs/performance.md); a server holding many logged-in
visitors runs this listener (``--presence-port``) and the SDK moves there by itself when the
main port's welcome names it. It serves only ``/ws/v1/presence``, for native clients (no
``Origin``: browsers use the main port).
"""

from __future__ import annotations

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from coview.protocol.frames import ProtocolError
from coview.protocol.presence import MAX_PRESENCE_FRAME
from coview.server.presence import PresenceClosed, PresenceService

PATH = "/ws/v1/presence"
PING_SECONDS = 20.0


class ListenerSocket:
    """A presence connection of the listener."""

    __slots__ = ("connection",)

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection

    async def recv(self) -> bytes:
        try:
            data = await self.connection.recv()
        except ConnectionClosed:
            raise PresenceClosed from None
        if isinstance(data, str):
            raise ProtocolError("frames are binary messages")
        return data

    async def send(self, data: bytes) -> None:
        await self.connection.send(data)

    async def close(self) -> None:
        await self.connection.close()


async def start_presence_listener(service: PresenceService, host: str, port: int) -> Server:
    """Listen for presence connections on ``host:port``; close the returned server to stop."""

    def check(connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0] != PATH:
            return connection.respond(404, "only presence is served on this port\n")
        hosts = request.headers.get_all("Host")
        if len(hosts) != 1 or not service.svc.origins.host_allowed(hosts[0]):
            return connection.respond(400, "the Host header does not name this server\n")
        if request.headers.get_all("Origin"):
            return connection.respond(403, "browsers connect on the main port\n")
        return None

    async def handler(connection: ServerConnection) -> None:
        await service.serve(ListenerSocket(connection))

    return await serve(handler, host, port, process_request=check, compression=None,
                       max_size=MAX_PRESENCE_FRAME, ping_interval=PING_SECONDS,
                       ping_timeout=PING_SECONDS, server_header=None)
