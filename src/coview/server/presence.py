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
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from coview.bus.names import Command
from coview.domain.agents import Agent
from coview.domain.presence import (
    Change,
    OneClick,
    Presence,
    PresenceBook,
    TermsStatus,
    VisitorOffline,
    clean_info,
    new_request_id,
)
from coview.domain.tokens import check_visitor_id
from coview.errors import AuthenticationFailed, CoviewError, NotFound, Refused
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
from coview.server.services import Services
from coview.server.webhooks import Webhooks

if TYPE_CHECKING:
    from coview.server.cluster import Cluster

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


@dataclass(frozen=True, slots=True)
class News:
    """A webhook to send. Scaled out: ``once`` names it, so that only the first process to
    hear it sends it; ``visitor`` is whose going online or offline it tells."""

    group_id: GroupId
    event: str
    payload: dict[str, Any]
    once: str = ""
    visitor: str = ""


class PresenceService:
    """Presence for every group, in this process."""

    def __init__(self, svc: Services, webhooks: Webhooks, groups: GroupCache, *,
                 clock: Callable[[], float] = time.monotonic, tick_seconds: float = 0.5,
                 cluster: Cluster | None = None) -> None:
        self.svc = svc
        self.cluster = cluster
        if cluster is not None:
            cluster.handlers.update(oneclick=self._asked, pstarted=self._started_here)
            cluster.restorers.append(self._restore_commands)
        self.webhooks = webhooks
        self.groups = groups
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.book = PresenceBook()
        self._sockets: dict[tuple[GroupId, str], list[PresenceSocket]] = {}
        self._signals: dict[tuple[GroupId, str], dict[str, Any]] = {}
        self._ticker: asyncio.Task[None] | None = None
        # Scaled out, the webhooks each process would send, to be sent once (in order).
        self._news: asyncio.Queue[News] = asyncio.Queue()
        self._newsroom: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever(), name="coview-presence")
        if self.cluster is not None:
            self._newsroom = asyncio.create_task(self._news_forever(), name="coview-news")

    async def close(self) -> None:
        for task in (self._ticker, self._newsroom):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

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
            self._mirror(p.group_id, p.visitor_id, change.request)
            if change.kind == "terms" and change.request is not None:
                request = change.request
                self._emit(News(p.group_id, "presence.terms",
                                {"visitor_id": p.visitor_id, **request_view(request)},
                                once=f"terms:{p.group_id}:{request.request_id}:"
                                     f"{request.status.value}"))
            else:
                if change.kind == "offline":
                    self._signals.pop((p.group_id, p.visitor_id), None)
                self._emit(News(p.group_id, f"visitor.{change.kind}",
                                {"visitor_id": p.visitor_id, "info": p.info},
                                visitor=p.visitor_id))

    def _emit(self, news: News) -> None:
        if self.cluster is None:
            self.webhooks.emit(news.group_id, news.event, news.payload)
        else:
            self._news.put_nowait(news)

    async def _news_forever(self) -> None:
        while True:
            news = await self._news.get()
            try:
                ours = await self._ours(news)
            except (CoviewError, TimeoutError):
                ours = True  # Redis is not answering: better twice than never
            except Exception:
                log.exception("presence news check failed; sending it")
                ours = True
            if ours:
                self.webhooks.emit(news.group_id, news.event, news.payload)

    async def _ours(self, news: News) -> bool:
        """Scaled out: whether this process sends ``news``. A visitor connected to several
        processes is online from the first process it reached until the last one lost it
        (after its grace period), as on one process; a one-click request's news is sent by
        the first process to hear it."""
        assert self.cluster is not None
        if news.once:
            return await self.cluster.first(news.once, 3600)
        if not news.visitor:
            return True
        await asyncio.wait_for(self.cluster.flush(), 5)  # this process's view is in Redis
        views = (await self.cluster.presences(news.group_id, news.visitor)).get(news.visitor, [])
        mine = [(view.get("since") or 0, proc) for proc, view in views
                if proc == self.cluster.proc]
        others = [(view.get("since") or 0, proc) for proc, view in views
                  if proc != self.cluster.proc]
        if news.event == "visitor.online" and mine and others:
            return mine[0] < min(others)  # two at once: the earlier one tells
        return not others

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
        if self.cluster is None:
            return request_view(await self._ask(group_id, visitor_id, agent.username,
                                                agent.display_name))
        holders = [proc for proc, view in
                   (await self.cluster.presences(group_id, visitor_id)).get(visitor_id, [])
                   if not view.get("grace")]
        if not holders:
            raise VisitorOffline(f"visitor {visitor_id!r} is not online")
        request_id = new_request_id()
        view = {"request_id": request_id, "status": TermsStatus.REQUESTED.value,
                "history": [TermsStatus.REQUESTED.value], "agent": agent.username,
                "session_key": ""}
        self.cluster.one_click_set(group_id, visitor_id, json.dumps(view).encode())
        for proc in holders:
            self.cluster.send(proc, {"t": "oneclick", "g": group_id, "v": visitor_id,
                                     "rid": request_id, "agent": agent.username,
                                     "name": agent.display_name})
        return view

    def _asked(self, header: dict[str, Any], _payload: bytes) -> None:
        """Another process's agent asked for a one-click session with a visitor here."""
        task = asyncio.get_running_loop().create_task(self._ask(
            GroupId(int(header["g"])), str(header["v"]), str(header["agent"]),
            str(header["name"]), request_id=str(header["rid"])))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _ask(self, group_id: GroupId, visitor_id: str, username: str, name: str, *,
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
        self._tell(self.book.session_started(group_id, visitor_id, key, self.clock()))
        if self.cluster is not None:
            task = asyncio.get_running_loop().create_task(
                self._started_elsewhere(group_id, visitor_id, key))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _started_elsewhere(self, group_id: GroupId, visitor_id: str, key: str) -> None:
        assert self.cluster is not None
        views = (await self.cluster.presences(group_id, visitor_id)).get(visitor_id, [])
        for proc, _ in views:
            if proc != self.cluster.proc:
                self.cluster.send(proc, {"t": "pstarted", "g": group_id, "v": visitor_id,
                                         "key": key})

    def _started_here(self, header: dict[str, Any], _payload: bytes) -> None:
        self._tell(self.book.session_started(GroupId(int(header["g"])), str(header["v"]),
                                             str(header["key"]), self.clock()))

    def _mirror(self, group_id: GroupId, visitor_id: str,
                request: OneClick | None = None) -> None:
        """Scaled out: this process's view of a visitor, and its request, into Redis."""
        if self.cluster is None:
            return
        presence = self.book.get(group_id, visitor_id)
        view = self._shared_view(presence) if presence is not None else None
        self.cluster.presence_set(group_id, visitor_id, view)
        request = request or (presence.request if presence is not None else None)
        if request is not None:
            self.cluster.one_click_set(group_id, visitor_id,
                                       json.dumps(request_view(request)).encode())

    def _shared_view(self, presence: Presence) -> bytes:
        return json.dumps({**self.view(presence), "request": None,
                           "grace": presence.offline_at is not None}).encode()

    def _restore_commands(self) -> list[Command]:
        """Redis lost everything: what writes this process's online visitors back."""
        assert self.cluster is not None
        commands: list[Command] = []
        for presence in self.book.everyone():
            commands += self.cluster.presence_commands(presence.group_id, presence.visitor_id,
                                                       self._shared_view(presence))
            if presence.request is not None:
                commands.append(self.cluster.one_click_command(
                    presence.group_id, presence.visitor_id,
                    json.dumps(request_view(presence.request)).encode()))
        return commands

    # -- what the API shows (from every process, scaled out) ------------------------------------

    async def online(self, group_id: GroupId, prefix: str = "",
                     limit: int = 100) -> list[dict[str, Any]]:
        if self.cluster is None:
            return [self.view(p) for p in self.book.online(group_id, prefix, limit)]
        found = await self.cluster.presences(group_id)
        chosen = sorted(v for v in found if v.startswith(prefix))[:limit]
        return [await self._merged(group_id, v, found[v]) for v in chosen]

    async def lookup(self, group_id: GroupId, visitor_id: str) -> dict[str, Any] | None:
        if self.cluster is None:
            presence = self.book.get(group_id, visitor_id)
            return self.view(presence) if presence is not None else None
        views = (await self.cluster.presences(group_id, visitor_id)).get(visitor_id)
        return await self._merged(group_id, visitor_id, views) if views else None

    async def find_request(self, group_id: GroupId, visitor_id: str,
                           request_id: str) -> dict[str, Any]:
        if self.cluster is None:
            return request_view(self.book.find_request(group_id, visitor_id, request_id))
        view = await self.cluster.one_click(group_id, visitor_id)
        if view is None or view.get("request_id") != request_id:
            raise NotFound("there is no such one-click request", code="request_not_found")
        return view

    async def _merged(self, group_id: GroupId, visitor_id: str,
                      views: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """One visitor seen by several processes: the earliest since, the latest news."""
        assert self.cluster is not None
        ordered = sorted((view for _, view in views), key=lambda v: v.get("since") or 0)
        merged = {**ordered[-1], "since": ordered[0].get("since")}
        signals = [v["signal"] for v in ordered if v.get("signal")]
        merged["signal"] = max(signals, key=lambda s: s.get("at", 0)) if signals else None
        merged["request"] = await self.cluster.one_click(group_id, visitor_id)
        merged.pop("grace", None)
        return merged

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
            self._mirror(*entry)
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
            self._mirror(*entry)
            return
        if message.name == "terms":
            self._tell(self.book.signal(*entry, message.properties.get("status", ""),
                                        self.clock()))
            return
        signal = {"name": message.name, "properties": dict(message.properties),
                  "at": self.svc.clock()}
        self._signals[entry] = signal
        self._mirror(*entry)
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


def request_view(request: OneClick) -> dict[str, Any]:
    return {"request_id": request.request_id, "status": request.status.value,
            "history": [status.value for status in request.history],
            "agent": request.agent_username, "session_key": request.session_key}

