"""Leaving and ending: a party's connection lost (its place kept for the reconnect window), an
agent removed, a session ended (told to every party, closed, its key released, its record
kept), here or, scaled out, on the process that runs it."""

from __future__ import annotations

import contextlib
import logging

from coview.domain.audit import AuditAction
from coview.domain.sessions import SessionEndReason
from coview.errors import CoviewError, Unavailable
from coview.ids import AgentId
from coview.protocol.frames import encode_frame
from coview.server.live import Attachment, Conn, LiveSession, Party
from coview.server.publish import Publisher
from coview.server.registry import Registry

log = logging.getLogger("coview.sessions")


class Ending:
    """Parties leaving and sessions ending."""

    def __init__(self, registry: Registry, publisher: Publisher) -> None:
        self.reg = registry
        self.pub = publisher

    async def end_all(self, detail: str) -> None:
        """End every live session with reason ERROR (the server is stopping)."""
        for live in list(self.reg.sessions.values()):
            await self.end(live, SessionEndReason.ERROR, detail=detail)

    async def kill(self, session_id: str, detail: str) -> None:
        """End a session (KILLED), here or on the process that runs it."""
        live = self.reg.sessions.get(session_id)
        if live is not None:
            await self.end(live, SessionEndReason.KILLED, detail=detail)
            return
        owner = await self.reg.replicas.owner(session_id)
        if owner is not None:
            self.reg.replicas.send(owner, {"t": "kill", "sid": session_id, "detail": detail})

    async def sign_out(self, agent_id: AgentId) -> None:
        """An agent's tokens were revoked (a password, role, privilege or disabled change, or
        signing out): it leaves every session it is in, here and on the other processes."""
        await self.sign_out_here(agent_id)
        replicas = self.reg.replicas
        with contextlib.suppress(Unavailable):
            for proc in await replicas.procs():
                if proc != replicas.proc:
                    replicas.send(proc, {"t": "signout", "agent": int(agent_id)})

    async def sign_out_here(self, agent_id: AgentId) -> None:
        """:meth:`sign_out` for this process's sessions."""
        for live in list(self.reg.sessions.values()):
            for party in list(live.agents.values()):
                if party.agent is not None and party.agent.agent_id == agent_id:
                    if party.conn is not None:
                        # A refusal both clients know: they stop and do not resume.
                        party.conn.outbound.put_reliable(encode_frame({
                            "t": "refused", "code": "signed_out",
                            "message": "your sign-in ended: sign in again"}))
                    await self.remove_agent(live, party)
            if live.visitor.agent is not None and live.visitor.agent.agent_id == agent_id:
                await self.end(live, SessionEndReason.OTHER_SIDE,
                               detail="its host agent was signed out")

    async def kill_here(self, session_id: str, detail: str) -> None:
        """Another process asked to end one of this process's sessions."""
        live = self.reg.sessions.get(session_id)
        if live is not None:
            await self.end(live, SessionEndReason.KILLED, detail=detail)

    async def lost(self, att: Attachment, conn: Conn) -> None:
        """A connection closed: keep the party's place for the reconnect window."""
        party = att.party
        if party.conn is not conn:
            return  # already replaced by a resumed connection
        party.conn = None
        if not self.reg.owns(att.live):
            return
        party.link.connection_lost(self.reg.clock())
        if att.is_visitor:
            self.pub.publish(att.live, to_agents=True, header={"t": "visitor", "connected": False})

    async def remove_agent(self, live: LiveSession, party: Party) -> None:
        live.agents.pop(party.num, None)
        if party.conn is not None:
            party.conn.outbound.put_reliable(encode_frame({"t": "left"}))
            party.conn.outbound.close()
            party.conn.close()
        if live.session.leave(party.num, self.reg.clock()):
            await self.finish(live)
        else:
            self.pub.announce_guests(live)
            self.reg.changed(live)

    async def end(self, live: LiveSession, reason: SessionEndReason, *,
                  detail: str = "") -> None:
        if live.session.end(reason, self.reg.clock()):
            if detail and live.report_errors:
                live.errors.append(detail)
            await self.finish(live, detail=detail)

    async def finish(self, live: LiveSession, *, detail: str = "") -> None:
        """Tell everyone the session ended, close, release the key, keep the record."""
        session = live.session
        reason = session.end_reason or SessionEndReason.ERROR
        if self.reg.sessions.pop(session.session_id, None) is None:
            return
        self.reg.ended[session.session_id] = reason.value
        while len(self.reg.ended) > 10_000:
            self.reg.ended.popitem(last=False)
        for child in list(live.children.values()):  # seed 000: the parent ends its children
            await self.end(child, reason, detail="its parent session ended")
        parent = self.reg.sessions.get(live.parent_id) if live.parent_id else None
        if parent is not None and parent.children.get(session.session_type) is live:
            del parent.children[session.session_type]
            notice = {"t": "child", "action": "ended", "key": session.key,
                      "session_type": session.session_type, "reason": reason.value}
            for to_agents in (True, False):
                self.pub.publish(parent, to_agents=to_agents, header=notice)
        for to_agents in (True, False):
            self.pub.publish(live, to_agents=to_agents,
                             header={"t": "ended", "reason": reason.value, "detail": detail})
        conns = [p.conn for p in [live.visitor, *live.agents.values()] if p.conn is not None]
        # After the ``ended`` above, which waits for Redis when scaled out.
        self.reg.replicas.when_durable(lambda: _close(conns))
        self.reg.replicas.forget(session.session_id, call_id=session.call_id,
                                 group_id=session.group_id, reason=reason.value)
        if parent is not None:
            self.reg.changed(parent)
        with contextlib.suppress(Unavailable):  # a claim without an owner is stale
            await self.reg.svc.bus.release(live.claim_name, session.session_id)
        try:
            await self.reg.svc.database.end_session_record(
                session.call_id, reason=reason.value, peak_guests=session.peak_guests,
                errors=live.errors if live.report_errors else [])
            await self.reg.svc.audit(session.group_id, AuditAction.SESSION_END, actor="coview",
                                     address="", call_id=session.call_id, reason=reason.value)
        except CoviewError:
            log.warning("could not record the end of a session",
                        extra={"fields": {"call_id": session.call_id}})
        log.info("session ended", extra={"fields": {"call_id": session.call_id,
                                                    "reason": reason.value}})
        self.reg.news(session, "session.end")
        _release(live)


def _close(conns: list[Conn]) -> None:
    for conn in conns:
        conn.outbound.close()
        conn.close()


def _release(live: LiveSession) -> None:
    """Let go of an ended session's buffers and links at once: a socket, a timer or an
    exception's traceback may still hold the session, and with it megabytes of page, until
    the garbage collector finds the cycle (issue 14: memory came back only after a full
    collection)."""
    live.page, live.page_bytes = [], 0
    live.to_agents.restore([])
    live.to_visitor.restore([])
    for party in (live.visitor, *live.agents.values()):
        if party.ack_timer is not None:
            party.ack_timer.cancel()
            party.ack_timer = None
        party.conn = None
    live.agents.clear()
    live.children.clear()
