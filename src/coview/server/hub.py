"""The session hub: every live session of this process, and the parts that run them.

Each concern has one owner, wired here:

- :class:`~coview.server.registry.Registry`: the live sessions, recent end reasons, the
  session's copy elsewhere and its webhooks;
- :class:`~coview.server.admission.Admission`: a connection's first frame (start, join,
  host, view, resume), each refused or welcomed;
- :class:`~coview.server.claims.Claims`: session keys, the start throttle, session limits;
- :class:`~coview.server.relay.Relay`: the frames a party sends after its handshake;
- :class:`~coview.server.publish.Publisher`: numbering a message once and queueing it for
  every reader;
- :class:`~coview.server.ending.Ending`: parties leaving and sessions ending;
- :class:`~coview.server.takeover.Takeover`: sessions moving between processes (scaled out).

The hub itself keeps time: its ticker ends what timed out and, scaled out, takes over what
a dead process left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from coview.bus.names import Command
from coview.domain.sessions import SessionEndReason
from coview.ids import AgentId
from coview.server.admission import Admission
from coview.server.claims import Claims
from coview.server.ending import Ending
from coview.server.live import Attachment, Conn, Forwarder, LiveSession
from coview.server.presence import PresenceService
from coview.server.publish import Publisher
from coview.server.registry import Registry
from coview.server.relay import Relay
from coview.server.services import Services
from coview.server.takeover import Moves, Staying, Takeover
from coview.server.webhooks import Webhooks

if TYPE_CHECKING:
    from coview.bus.cluster import Cluster

log = logging.getLogger("coview.sessions")


class SessionHub:
    """Every live session of this process."""

    def __init__(self, services: Services, *, clock: Callable[[], float] = time.monotonic,
                 tick_seconds: float = 0.25, presence: PresenceService | None = None,
                 webhooks: Webhooks | None = None, cluster: Cluster | None = None) -> None:
        self.svc = services
        self.link: Forwarder | None = None  # set when scaled out: forwards clients to owners
        self.tick_seconds = tick_seconds
        self.registry = Registry(services, clock=clock, presence=presence,
                                 webhooks=webhooks, cluster=cluster)
        publisher = Publisher(self.registry)
        self.ending = Ending(self.registry, publisher)
        self.admission = Admission(self.registry, publisher, Claims(self.registry, self.ending))
        self.relay = Relay(self.registry, publisher, self.ending)
        self.takeover: Moves = (Staying(self.ending) if cluster is None else
                                Takeover(self.registry, publisher, self.ending, cluster))
        self._ticker: asyncio.Task[None] | None = None
        self._ticks = 0

    @property
    def sessions(self) -> dict[str, LiveSession]:
        return self.registry.sessions

    # -- what connections and other processes ask -------------------------------------------

    async def open(self, conn: Conn, data: bytes) -> Attachment | None:
        """Handle a connection's first frame; refuse (and close) or attach it."""
        return await self.admission.open(conn, data)

    async def receive(self, att: Attachment, data: bytes) -> None:
        """Route one frame from an attached connection."""
        await self.relay.receive(att, data)

    async def lost(self, att: Attachment, conn: Conn) -> None:
        """A connection closed: keep the party's place for the reconnect window."""
        await self.ending.lost(att, conn)

    async def pass_on(self, conn: Conn, first: bytes,
                      receive: Callable[[], Awaitable[bytes]]) -> bool:
        """Pass a new connection to the other process running its session (True), or not
        (False: handle it here)."""
        return await self.takeover.pass_on(conn, first, receive, self.link)

    def restore_commands(self) -> list[Command]:
        """Redis lost everything: what writes this process's sessions back."""
        return self.takeover.restore_commands()

    async def hand_off(self) -> None:
        """Stop running sessions without ending them (scaled out, the process stops)."""
        await self.takeover.hand_off()

    async def sign_out(self, agent_id: AgentId) -> None:
        """An agent's tokens were revoked: it leaves every session, on every process."""
        await self.ending.sign_out(agent_id)

    async def sign_out_here(self, agent_id: AgentId) -> None:
        await self.ending.sign_out_here(agent_id)

    async def kill_here(self, session_id: str, detail: str) -> None:
        """Another process asked to end one of this process's sessions."""
        await self.ending.kill_here(session_id, detail)

    async def end_all(self, detail: str) -> None:
        """End every live session with reason ERROR (the server is stopping)."""
        await self.ending.end_all(detail)

    # -- lifetime --------------------------------------------------------------------------

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever(), name="coview-session-ticker")

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.end_all("the server is stopping")

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("session ticker failed")

    async def tick(self) -> None:
        """End sessions whose no-agent timeout or reconnect windows have passed."""
        self._ticks += 1
        if self._ticks % 4 == 0:
            await self.takeover.tick(self.link)
        now = self.registry.clock()
        for live in list(self.sessions.values()):
            if live.session.check_timeout(now):
                await self.ending.finish(live)
                continue
            window = live.settings.reconnect_window_seconds
            if live.visitor.link.expired(now, window):
                await self.ending.end(live, SessionEndReason.CONN_DROP)
                continue
            for party in list(live.agents.values()):
                if party.link.expired(now, window):
                    await self.ending.remove_agent(live, party)
