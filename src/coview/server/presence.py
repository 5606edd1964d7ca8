"""The presence service: visitors' presence connections, one-click requests, and their news.

Each logged-in visitor's SDK keeps a WebSocket on ``/ws/v1/presence``. The service holds the
domain's ``PresenceBook`` (who is online), sends ``show_terms`` to a visitor's connections
when an agent asks for a one-click session, takes the visitor's signals, and tells webhooks.
An idle connection costs one coroutine and no queue: the server writes to it only for a
one-click request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from coview.domain.agents import Agent
from coview.domain.presence import (
    Change,
    OneClick,
    Presence,
    PresenceBook,
    clean_info,
)
from coview.domain.tokens import check_visitor_id
from coview.errors import AuthenticationFailed, CoviewError, Refused
from coview.ids import GroupId
from coview.protocol.frames import ProtocolError, decode_frame, encode_frame
from coview.protocol.presence import (
    MAX_PRESENCE_FRAME,
    ByeMessage,
    InfoMessage,
    PresenceHello,
    SignalMessage,
    parse_presence_hello,
    parse_visitor_message,
)
from coview.protocol.version import require_version
from coview.server.group_cache import GroupCache
from coview.server.presence_reach import Alone, News, Reach, Shared, request_view
from coview.server.services import Services
from coview.server.webhooks import Webhooks

if TYPE_CHECKING:
    from coview.bus.cluster import Cluster

log = logging.getLogger("coview.presence")

HANDSHAKE_TIMEOUT = 10.0
MAX_CONNECTIONS_PER_VISITOR = 10


class PresenceClosed(Exception):
    """The presence connection closed."""


class PresenceSocket(Protocol):
    """A presence connection, accepted: an ASGI WebSocket or one of the presence listener's."""

    async def recv(self) -> bytes:
        """The next binary message; raise PresenceClosed, or ProtocolError for text."""

    async def send(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class PresenceService:
    """Presence for every group, in this process."""

    def __init__(self, svc: Services, webhooks: Webhooks, groups: GroupCache, *,
                 clock: Callable[[], float] = time.monotonic, tick_seconds: float = 0.5,
                 cluster: Cluster | None = None) -> None:
        self.svc = svc
        self.webhooks = webhooks
        self.groups = groups
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.book = PresenceBook()
        self.reach: Reach = (Alone(self, webhooks) if cluster is None else
                             Shared(self, webhooks, cluster))
        self._sockets: dict[tuple[GroupId, str], list[PresenceSocket]] = {}
        self._signals: dict[tuple[GroupId, str], dict[str, Any]] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever(), name="coview-presence")
        await self.reach.start()

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.reach.close()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                self._tell(self.book.tick(self.clock()))
            except Exception:
                log.exception("presence ticker failed")

    # -- news ----------------------------------------------------------------------------

    def _tell(self, changes: list[Change]) -> None:
        for change in changes:
            p = change.presence
            self.reach.mirror(p.group_id, p.visitor_id, change.request)
            if change.kind == "terms" and change.request is not None:
                request = change.request
                self.reach.emit(News(p.group_id, "presence.terms",
                                {"visitor_id": p.visitor_id, **request_view(request)},
                                once=f"terms:{p.group_id}:{request.request_id}:"
                                     f"{request.status.value}"))
            else:
                if change.kind == "offline":
                    self._signals.pop((p.group_id, p.visitor_id), None)
                self.reach.emit(News(p.group_id, f"visitor.{change.kind}",
                                {"visitor_id": p.visitor_id, "info": p.info},
                                visitor=p.visitor_id))

    def view(self, presence: Presence) -> dict[str, Any]:
        """A visitor's presence as the API shows it."""
        since = self.svc.clock() - (self.clock() - presence.since)
        return {
            "visitor_id": presence.visitor_id, "online": True, "since": since,
            "info": presence.info,
            "signal": self._signals.get((presence.group_id, presence.visitor_id)),
            "request": request_view(presence.request) if presence.request else None,
        }

    def listener_url(self, host: str) -> str | None:
        """Where the presence listener is, for a client that reached the main port at
        ``host`` (its Host header); None when there is no listener."""
        config = self.svc.config
        if config.presence_port is None:
            return None
        if config.presence_url:
            return config.presence_url
        hostname = host if host.endswith("]") or ":" not in host else host.rsplit(":", 1)[0]
        return f"ws://{hostname or config.host}:{config.presence_port}/ws/v1/presence"

    # -- the agent's side (REST) ------------------------------------------------------------

    async def request(self, group_id: GroupId, visitor_id: str, agent: Agent) -> dict[str, Any]:
        """Ask an online visitor for a one-click session (raise VisitorOffline); return the
        request's view. Scaled out, each process the visitor is connected to is asked."""
        return await self.reach.request(group_id, visitor_id, agent)

    async def ask(self, group_id: GroupId, visitor_id: str, username: str, name: str, *,
                   request_id: str | None = None) -> OneClick:
        request = self.book.request(group_id, visitor_id, agent_username=username,
                                    agent_name=name, now=self.clock(), request_id=request_id)
        frame = encode_frame({"t": "show_terms", "request_id": request.request_id,
                              "agent": {"username": username, "name": name}})
        for socket in list(self._sockets.get((group_id, visitor_id), ())):
            with contextlib.suppress(Exception):
                await socket.send(frame)
        presence = self.book.get(group_id, visitor_id)
        if presence is not None:
            self._tell([Change("terms", presence, request)])
        return request

    def session_started(self, group_id: GroupId, visitor_id: str, key: str) -> None:
        """The hub started a one-click session under a visitor ID (scaled out: the processes
        the visitor is connected to are told)."""
        self.started_here(group_id, visitor_id, key)
        self.reach.started(group_id, visitor_id, key)

    def started_here(self, group_id: GroupId, visitor_id: str, key: str) -> None:
        self._tell(self.book.session_started(group_id, visitor_id, key, self.clock()))

    # -- what the API shows (from every process, scaled out) ------------------------------------

    async def online(self, group_id: GroupId, prefix: str = "",
                     limit: int = 100) -> list[dict[str, Any]]:
        return await self.reach.online(group_id, prefix, limit)

    async def lookup(self, group_id: GroupId, visitor_id: str) -> dict[str, Any] | None:
        return await self.reach.lookup(group_id, visitor_id)

    async def find_request(self, group_id: GroupId, visitor_id: str,
                           request_id: str) -> dict[str, Any]:
        return await self.reach.find_request(group_id, visitor_id, request_id)

    # -- the visitor's side (WebSocket) ------------------------------------------------------

    async def serve(self, socket: PresenceSocket, *, presence_url: str | None = None) -> None:
        """Serve one accepted presence connection until it closes. ``presence_url``: the
        presence listener to tell the client to move to (on the main port only)."""
        entry: tuple[GroupId, str] | None = None
        goodbye = False
        try:
            data = await asyncio.wait_for(socket.recv(), HANDSHAKE_TIMEOUT)
            hello = parse_presence_hello(decode_frame(data, max_bytes=MAX_PRESENCE_FRAME).header)
            entry = await self._admit(hello)
            self._sockets.setdefault(entry, []).append(socket)
            self._tell(self.book.connected(entry[0], entry[1], clean_info(dict(hello.info)),
                                           self.clock()))
            self.reach.mirror(*entry, None)
            _, settings = await self.groups.production(entry[0])
            presence = self.book.get(*entry)
            welcome: dict[str, Any] = {
                "t": "welcome", "grace": settings.presence_grace_seconds,
                "request": request_view(presence.request)
                if presence is not None and presence.request is not None
                and not presence.request.final else None}
            if presence_url:
                welcome["presence_url"] = presence_url
            await socket.send(encode_frame(welcome))
            while True:
                data = await socket.recv()
                message = parse_visitor_message(
                    decode_frame(data, max_bytes=MAX_PRESENCE_FRAME).header)
                if isinstance(message, ByeMessage):
                    goodbye = True
                    break
                self._take(entry, message)
        except (PresenceClosed, TimeoutError, OSError):
            pass
        except (ProtocolError, Refused, AuthenticationFailed) as exc:
            log.info("presence refused", extra={"fields": {"code": exc.code,
                                                           "error": exc.message}})
            with contextlib.suppress(Exception):
                await socket.send(encode_frame({"t": "refused", "code": exc.code,
                                                "message": exc.message}))
        finally:
            if entry is not None:
                await self._left(entry, socket, goodbye=goodbye)
            with contextlib.suppress(Exception):
                await socket.close()

    async def _admit(self, hello: PresenceHello) -> tuple[GroupId, str]:
        require_version(hello.v)
        group_id = GroupId(hello.group_id)
        group, settings = await self.groups.production(group_id)
        check_visitor_id(group.visitor_token_secret, hello.token or "",
                         visitor_id=hello.visitor_id, group_id=group_id, now=self.svc.now(),
                         required=settings.visitor_id_requires_token)
        if len(self._sockets.get((group_id, hello.visitor_id), ())) >= \
                MAX_CONNECTIONS_PER_VISITOR:
            raise Refused("too many presence connections for this visitor",
                                  code="too_many")
        return group_id, hello.visitor_id

    def _take(self, entry: tuple[GroupId, str], message: InfoMessage | SignalMessage) -> None:
        presence = self.book.get(*entry)
        if presence is None:
            return
        if isinstance(message, InfoMessage):
            presence.info = clean_info(dict(message.info))
            self.reach.mirror(*entry, None)
            return
        if message.name == "terms":
            self._tell(self.book.signal(*entry, message.properties.get("status", ""),
                                        self.clock()))
            return
        signal = {"name": message.name, "properties": dict(message.properties),
                  "at": self.svc.clock()}
        self._signals[entry] = signal
        self.reach.mirror(*entry, None)
        self.webhooks.emit(entry[0], "presence.signal", {"visitor_id": entry[1], **signal})

    async def _left(self, entry: tuple[GroupId, str], socket: PresenceSocket, *,
                    goodbye: bool) -> None:
        sockets = self._sockets.get(entry)
        if sockets is not None:
            with contextlib.suppress(ValueError):
                sockets.remove(socket)
            if not sockets:
                del self._sockets[entry]
        grace = 0
        with contextlib.suppress(CoviewError):
            _, settings = await self.groups.production(entry[0])
            grace = settings.presence_grace_seconds
        self._tell(self.book.disconnected(*entry, self.clock(), grace=grace, goodbye=goodbye))

