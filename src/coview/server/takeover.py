"""Sessions moving between processes: which process runs a connection's session, taking over
the sessions of a process that died, writing this process's sessions back after Redis lost
them, and handing them off when this process stops.

The hub holds a :class:`Moves`: :class:`Takeover` when scaled out, :class:`Staying` on one
process (sessions never move; stopping ends them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from coview.bus.names import MOVED, Command, key_claim
from coview.domain.agents import Agent
from coview.domain.sessions import SessionEndReason
from coview.errors import CoviewError, Unavailable
from coview.ids import AgentId
from coview.protocol.frames import decode_frame
from coview.protocol.handshake import Hello, HostHello, JoinHello, ResumeHello, parse_hello
from coview.protocol.server import MAX_AGENT_FRAME
from coview.server.auth import authenticate
from coview.server.ending import Ending
from coview.server.live import Conn, Forwarder, Vouched, from_state
from coview.server.publish import Publisher
from coview.server.registry import Registry

if TYPE_CHECKING:
    from coview.bus.cluster import Cluster

log = logging.getLogger("coview.sessions")


class Moves(Protocol):
    """What the hub asks about sessions moving between processes."""

    async def pass_on(self, conn: Conn, first: bytes, receive: Callable[[], Awaitable[bytes]],
                      link: Forwarder | None) -> bool:
        """Pass a new connection, by its first frame, to the other process running its
        session (through ``link``) and return True; False to handle it here."""

    async def tick(self, link: Forwarder | None) -> None:
        """Now and then: take over what dead processes left; let ``link`` check its
        forwarded clients."""

    def restore_commands(self) -> list[Command]:
        """Redis lost everything: what writes this process's sessions back."""

    async def hand_off(self) -> None:
        """The process stops: hand its sessions to the others, or end them."""


class Staying:
    """One process: sessions never move, and stopping ends them."""

    def __init__(self, ending: Ending) -> None:
        self.ending = ending

    async def pass_on(self, conn: Conn, first: bytes, receive: Callable[[], Awaitable[bytes]],
                      link: Forwarder | None) -> bool:
        return False

    async def tick(self, link: Forwarder | None) -> None:
        return None

    def restore_commands(self) -> list[Command]:
        return []

    async def hand_off(self) -> None:
        await self.ending.end_all("the server is stopping")


class Takeover:
    """Sessions moving between processes, through the cluster."""

    def __init__(self, registry: Registry, publisher: Publisher, ending: Ending,
                 cluster: Cluster) -> None:
        self.reg = registry
        self.pub = publisher
        self.ending = ending
        self.cluster = cluster
        from coview.bus.moves import SessionMoves  # scaled out only: it imports redis

        self.copies = SessionMoves(cluster)

    async def tick(self, link: Forwarder | None) -> None:
        if self.cluster.broken:
            return
        await self.adopt_orphans()
        if link is not None:
            with contextlib.suppress(Unavailable):
                await link.tick()

    async def pass_on(self, conn: Conn, first: bytes, receive: Callable[[], Awaitable[bytes]],
                      link: Forwarder | None) -> bool:
        if link is None or conn.remote:  # a forwarded client is served where it arrives
            return False
        target = await self.route(first)
        if target is None:
            return False
        owner, vouched = target
        await link.forward(conn, first, receive, owner, vouched)
        return True

    async def route(self, data: bytes) -> tuple[str, Vouched] | None:
        """For a connection's first frame, the process running its session and what was
        checked of it here, when that is another process; None to handle it here (it starts
        a session, its session is here or nowhere, or its owner died and this process took it
        over). An agent is authenticated, and a key looked up, here only: the owner takes
        them as checked."""
        try:
            hello = parse_hello(decode_frame(data, max_bytes=MAX_AGENT_FRAME).header)
            session_id, agent = await self.session_for(hello)
            for _ in range(3):
                if session_id is None or session_id in self.reg.sessions:
                    return None
                owner = await self.cluster.owner(session_id)
                if owner is None or owner == self.cluster.proc:
                    return None
                if await self.cluster.alive(owner):
                    return owner, Vouched(session_id, agent)
                if await self.adopt(session_id, owner):
                    return None
        except CoviewError:
            pass  # handled here: refused as a single process would
        return None

    async def session_for(self, hello: Hello) -> tuple[str | None, Agent | None]:
        """The session a first frame names, and the agent its token names (if an agent's)."""
        if isinstance(hello, ResumeHello):
            return hello.session_id, None
        if isinstance(hello, JoinHello) and hello.role == "viewer":
            return await self.reg.svc.bus.holder(key_claim(hello.group_id, hello.key)), None
        if isinstance(hello, JoinHello | HostHello):
            principal = await authenticate(self.reg.svc, hello.token)
            if isinstance(hello, HostHello):
                return await self.cluster.session_of_call(hello.main_call_id), principal.agent
            return (await self.reg.svc.bus.holder(key_claim(principal.group_id, hello.key)),
                    principal.agent)
        return None, None

    async def adopt(self, session_id: str, dead: str) -> bool:
        """Take over a session whose process died, from its copy in Redis; its parties
        are away until they resume here (within their reconnect window)."""
        if not await self.copies.take(session_id, dead):
            return False
        loaded = await self.copies.load(session_id)
        if loaded is None:
            self.copies.drop_owner(session_id)
            return False
        state, inbox, logs = loaded
        agents: dict[int, Agent] = {}
        for _, _, agent_id, *_ in state["parties"]:
            agent = await self.reg.svc.database.get_agent(AgentId(agent_id)) if agent_id else None
            if agent is not None:
                agents[agent_id] = agent
        now = self.reg.clock()
        ago = max(0.0, self.reg.svc.clock() - state["session"]["started"])
        live = from_state(state, agents, started=now - ago, lost_at=now, positions=inbox)
        live.to_agents.restore(logs["a"])
        live.to_visitor.restore(logs["v"])
        for _, item in logs["a"]:
            inner = decode_frame(decode_frame(item, max_bytes=len(item)).payload,
                                 max_bytes=len(item))
            if inner.type == "dom":
                self.pub.keep_page(live, bool(inner.header.get("full")), item)
        self.reg.sessions[session_id] = live
        for kind, child_id in state["children"].items():
            if child_id in self.reg.sessions or await self.adopt(child_id, dead):
                live.children[kind] = self.reg.sessions[child_id]
        parent = self.reg.sessions.get(live.parent_id)
        if parent is not None:
            parent.children.setdefault(live.session.session_type, live)
        self.cluster.publish(session_id, MOVED, b"")  # forwarded clients reconnect
        log.info("session adopted", extra={"fields": {"call_id": live.session.call_id,
                                                      "from": dead}})
        return True

    async def adopt_orphans(self) -> None:
        """Take over the sessions of processes that died with no client coming back."""
        try:
            for dead in await self.copies.dead_procs():
                for session_id in await self.copies.owned_by(dead):
                    if session_id not in self.reg.sessions:
                        await self.adopt(session_id, dead)
                await self.copies.forget_proc(dead)
        except Unavailable:
            pass

    def restore_commands(self) -> list[Command]:
        """Redis lost everything: what writes this process's sessions back."""
        commands: list[Command] = []
        for live in self.reg.sessions.values():
            session = live.session
            commands += self.copies.session_commands(
                session.session_id, call_id=session.call_id, group_id=session.group_id,
                started=self.reg.svc.clock() - (self.reg.clock() - session.started_at),
                counted=not live.parent_id, claim=live.claim_name, state=self.reg.state(live),
                inbox={p.num: p.link.last_received
                       for p in (live.visitor, *live.agents.values())},
                logs={"a": live.to_agents.after(live.to_agents.first_seq - 1),
                      "v": live.to_visitor.after(live.to_visitor.first_seq - 1)})
        asyncio.get_running_loop().create_task(self.check_after_restore())
        return commands

    async def check_after_restore(self) -> None:
        """Sessions never mix: one whose key or ownership another took meanwhile ends."""
        with contextlib.suppress(Unavailable):
            await self.cluster.flush()
            for live in list(self.reg.sessions.values()):
                session_id = live.session.session_id
                if (await self.cluster.owner(session_id) != self.cluster.proc
                        or await self.reg.svc.bus.holder(live.claim_name) != session_id):
                    await self.ending.end(live, SessionEndReason.ERROR,
                                          detail="its key was taken while Redis was unavailable")

    async def hand_off(self) -> None:
        """Stop running sessions without ending them (scaled out, the process stops): the
        other processes take them over as their clients come back."""
        await self.cluster.leave()
        self.reg.sessions.clear()
