"""Where presence is known: in this process alone, or in every process through Redis.

The presence service (``presence.py``) holds this process's visitors. What the API shows, how
a one-click request reaches the visitor and which process sends each webhook depend on whether
other processes hold visitors too. :class:`Reach` is that part; the service holds one and never
asks which kind it is:

- :class:`Alone`: one process. Everything is answered from this process's book; webhooks go
  out at once.
- :class:`Shared`: several processes (``--redis-url``). This process's view of each visitor is
  mirrored into Redis; the API answers from every process's views, merged; a one-click request
  is sent to each process the visitor is connected to; each webhook is sent by one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from coview.bus.names import Command
from coview.domain.agents import Agent
from coview.domain.presence import (
    OneClick,
    Presence,
    PresenceBook,
    TermsStatus,
    VisitorOffline,
    new_request_id,
)
from coview.errors import CoviewError, NotFound
from coview.ids import GroupId
from coview.server.webhooks import Webhooks

if TYPE_CHECKING:
    from coview.bus.cluster import Cluster

log = logging.getLogger("coview.presence")


@dataclass(frozen=True, slots=True)
class News:
    """A webhook to send. Scaled out: ``once`` names it, so that only the first process to
    hear it sends it; ``visitor`` is whose going online or offline it tells."""

    group_id: GroupId
    event: str
    payload: dict[str, Any]
    once: str = ""
    visitor: str = ""


def request_view(request: OneClick) -> dict[str, Any]:
    """A one-click request as the API shows it."""
    return {"request_id": request.request_id, "status": request.status.value,
            "history": [status.value for status in request.history],
            "agent": request.agent_username, "session_key": request.session_key}


class Here(Protocol):
    """The presence service, as its reach sees it."""

    @property
    def book(self) -> PresenceBook:
        """This process's visitors."""

    def view(self, presence: Presence) -> dict[str, Any]:
        """A visitor of this process as the API shows it."""

    async def ask(self, group_id: GroupId, visitor_id: str, username: str, name: str, *,
                  request_id: str | None = None) -> OneClick:
        """Show the terms to a visitor connected here."""

    def started_here(self, group_id: GroupId, visitor_id: str, key: str) -> None:
        """A one-click session started (on another process) for a visitor connected here."""


class Reach(Protocol):
    """Presence beyond this process's book."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def emit(self, news: News) -> None:
        """Send a webhook (scaled out: unless another process sends it)."""

    def mirror(self, group_id: GroupId, visitor_id: str, request: OneClick | None) -> None:
        """This process's view of a visitor (and a request of its) changed."""

    def started(self, group_id: GroupId, visitor_id: str, key: str) -> None:
        """A one-click session started here: tell the visitor's other processes."""

    async def request(self, group_id: GroupId, visitor_id: str,
                      agent: Agent) -> dict[str, Any]:
        """Ask an online visitor for a one-click session (raise VisitorOffline)."""

    async def online(self, group_id: GroupId, prefix: str, limit: int) -> list[dict[str, Any]]:
        """The group's online visitors whose ID starts with ``prefix``, by visitor ID."""

    async def lookup(self, group_id: GroupId, visitor_id: str) -> dict[str, Any] | None:
        """One visitor, if online."""

    async def find_request(self, group_id: GroupId, visitor_id: str,
                           request_id: str) -> dict[str, Any]:
        """A one-click request (raise NotFound)."""


class Alone:
    """Presence in one process: the book is all there is."""

    def __init__(self, here: Here, webhooks: Webhooks) -> None:
        self.here = here
        self.webhooks = webhooks

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def emit(self, news: News) -> None:
        self.webhooks.emit(news.group_id, news.event, news.payload)

    def mirror(self, group_id: GroupId, visitor_id: str, request: OneClick | None) -> None:
        pass

    def started(self, group_id: GroupId, visitor_id: str, key: str) -> None:
        pass

    async def request(self, group_id: GroupId, visitor_id: str,
                      agent: Agent) -> dict[str, Any]:
        return request_view(await self.here.ask(group_id, visitor_id, agent.username,
                                                agent.display_name))

    async def online(self, group_id: GroupId, prefix: str, limit: int) -> list[dict[str, Any]]:
        return [self.here.view(p) for p in self.here.book.online(group_id, prefix, limit)]

    async def lookup(self, group_id: GroupId, visitor_id: str) -> dict[str, Any] | None:
        presence = self.here.book.get(group_id, visitor_id)
        return self.here.view(presence) if presence is not None else None

    async def find_request(self, group_id: GroupId, visitor_id: str,
                           request_id: str) -> dict[str, Any]:
        return request_view(self.here.book.find_request(group_id, visitor_id, request_id))


class Shared:
    """Presence across processes, through Redis: each process writes its view of its visitors
    (``bus.presence_views``) and reads everyone's."""

    def __init__(self, here: Here, webhooks: Webhooks, cluster: Cluster) -> None:
        self.here = here
        self.webhooks = webhooks
        self.cluster = cluster
        from coview.bus.presence_views import PresenceViews  # scaled out only: imports redis

        self.views = PresenceViews(cluster)
        cluster.handlers.update(oneclick=self._asked, pstarted=self._started)
        cluster.restorers.append(self._restore_commands)
        # The webhooks this process would send, each to be sent once (in order).
        self._news: asyncio.Queue[News] = asyncio.Queue()
        self._newsroom: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._newsroom = asyncio.create_task(self._news_forever(), name="coview-news")

    async def close(self) -> None:
        if self._newsroom is not None:
            self._newsroom.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._newsroom

    # -- news -------------------------------------------------------------------------------

    def emit(self, news: News) -> None:
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
        """Whether this process sends ``news``. A visitor connected to several processes is
        online from the first process it reached until the last one lost it (after its grace
        period), as on one process; a one-click request's news is sent by the first process
        to hear it."""
        if news.once:
            return await self.views.first(news.once, 3600)
        if not news.visitor:
            return True
        await asyncio.wait_for(self.cluster.flush(), 5)  # this process's view is in Redis
        views = (await self.views.views(news.group_id, news.visitor)).get(news.visitor, [])
        mine = [(view.get("since") or 0, proc) for proc, view in views
                if proc == self.cluster.proc]
        others = [(view.get("since") or 0, proc) for proc, view in views
                  if proc != self.cluster.proc]
        if news.event == "visitor.online" and mine and others:
            return mine[0] < min(others)  # two at once: the earlier one tells
        return not others

    # -- this process's views, into Redis ------------------------------------------------------

    def mirror(self, group_id: GroupId, visitor_id: str, request: OneClick | None) -> None:
        presence = self.here.book.get(group_id, visitor_id)
        view = self._view(presence) if presence is not None else None
        self.views.set(group_id, visitor_id, view)
        request = request or (presence.request if presence is not None else None)
        if request is not None:
            self.views.set_one_click(group_id, visitor_id,
                                       json.dumps(request_view(request)).encode())

    def _view(self, presence: Presence) -> bytes:
        return json.dumps({**self.here.view(presence), "request": None,
                           "grace": presence.offline_at is not None}).encode()

    def _restore_commands(self) -> list[Command]:
        """Redis lost everything: what writes this process's online visitors back."""
        commands: list[Command] = []
        for presence in self.here.book.everyone():
            commands += self.views.commands(presence.group_id, presence.visitor_id,
                                                       self._view(presence))
            if presence.request is not None:
                commands.append(self.views.one_click_command(
                    presence.group_id, presence.visitor_id,
                    json.dumps(request_view(presence.request)).encode()))
        return commands

    # -- one-click requests ----------------------------------------------------------------------

    async def request(self, group_id: GroupId, visitor_id: str,
                      agent: Agent) -> dict[str, Any]:
        """Each process the visitor is connected to (out of its grace period) is asked."""
        holders = [proc for proc, view in
                   (await self.views.views(group_id, visitor_id)).get(visitor_id, [])
                   if not view.get("grace")]
        if not holders:
            raise VisitorOffline(f"visitor {visitor_id!r} is not online")
        request_id = new_request_id()
        view = {"request_id": request_id, "status": TermsStatus.REQUESTED.value,
                "history": [TermsStatus.REQUESTED.value], "agent": agent.username,
                "session_key": ""}
        self.views.set_one_click(group_id, visitor_id, json.dumps(view).encode())
        for proc in holders:
            self.cluster.send(proc, {"t": "oneclick", "g": group_id, "v": visitor_id,
                                     "rid": request_id, "agent": agent.username,
                                     "name": agent.display_name})
        return view

    def _asked(self, header: dict[str, Any], _payload: bytes) -> None:
        """Another process's agent asked for a one-click session with a visitor here."""
        task = asyncio.get_running_loop().create_task(self.here.ask(
            GroupId(int(header["g"])), str(header["v"]), str(header["agent"]),
            str(header["name"]), request_id=str(header["rid"])))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def started(self, group_id: GroupId, visitor_id: str, key: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._started_elsewhere(group_id, visitor_id, key))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _started_elsewhere(self, group_id: GroupId, visitor_id: str, key: str) -> None:
        views = (await self.views.views(group_id, visitor_id)).get(visitor_id, [])
        for proc, _ in views:
            if proc != self.cluster.proc:
                self.cluster.send(proc, {"t": "pstarted", "g": group_id, "v": visitor_id,
                                         "key": key})

    def _started(self, header: dict[str, Any], _payload: bytes) -> None:
        self.here.started_here(GroupId(int(header["g"])), str(header["v"]),
                               str(header["key"]))

    # -- what the API shows, from every process ----------------------------------------------------

    async def online(self, group_id: GroupId, prefix: str, limit: int) -> list[dict[str, Any]]:
        found = await self.views.views(group_id)
        chosen = sorted(v for v in found if v.startswith(prefix))[:limit]
        return [await self._merged(group_id, v, found[v]) for v in chosen]

    async def lookup(self, group_id: GroupId, visitor_id: str) -> dict[str, Any] | None:
        views = (await self.views.views(group_id, visitor_id)).get(visitor_id)
        return await self._merged(group_id, visitor_id, views) if views else None

    async def find_request(self, group_id: GroupId, visitor_id: str,
                           request_id: str) -> dict[str, Any]:
        view = await self.views.one_click(group_id, visitor_id)
        if view is None or view.get("request_id") != request_id:
            raise NotFound("there is no such one-click request", code="request_not_found")
        return view

    async def _merged(self, group_id: GroupId, visitor_id: str,
                      views: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """One visitor seen by several processes: the earliest since, the latest news."""
        ordered = sorted((view for _, view in views), key=lambda v: v.get("since") or 0)
        merged = {**ordered[-1], "since": ordered[0].get("since")}
        signals = [v["signal"] for v in ordered if v.get("signal")]
        merged["signal"] = max(signals, key=lambda s: s.get("at", 0)) if signals else None
        merged["request"] = await self.views.one_click(group_id, visitor_id)
        merged.pop("grace", None)
        return merged
