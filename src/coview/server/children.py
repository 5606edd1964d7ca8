"""Child sessions (agent video, showback): sessions of their own whose picture comes from an
agent of the parent session (the ``host`` hello) and whose one viewer is the parent's visitor,
invited with a one-time join token. A child never counts against the group's session limit,
and it ends with its parent.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Any

from coview.bus.names import key_claim
from coview.domain.agents import Agent, Privilege
from coview.domain.audit import AuditAction
from coview.domain.keys import random_key
from coview.domain.sessions import Participant, Session, SessionEnded, SessionFull
from coview.errors import Refused
from coview.protocol.frames import encode_frame
from coview.protocol.handshake import HostHello, JoinHello
from coview.protocol.messages import Welcome
from coview.protocol.server import Role
from coview.server.auth import authenticate_handshake
from coview.server.claims import Claims
from coview.server.live import Attachment, Conn, LiveSession, Party, new_log
from coview.server.publish import Publisher
from coview.server.registry import Registry

# Child session types: the agent privilege and the group setting each needs.
CHILD_TYPES: dict[str, tuple[Privilege, str]] = {
    "agentVideo": (Privilege.VIDEO, "agent_video_enabled"),
    "agentVideoHD": (Privilege.VIDEO, "agent_video_enabled"),
    "showback": (Privilege.SHOW, "showback_enabled"),
}
CHILD_JOIN_TIMEOUT = 60.0  # a child session nobody views in this time ends (TIMED_OUT)


SeatGuest = Callable[[LiveSession, Conn, int, Agent | None], Attachment]


class Children:
    """Hosting and viewing child sessions."""

    def __init__(self, registry: Registry, publisher: Publisher, claims: Claims, *,
                 seat: SeatGuest) -> None:
        self.reg = registry
        self.pub = publisher
        self.claims = claims
        self.seat = seat

    async def host(self, conn: Conn, hello: HostHello) -> Attachment:
        """An agent of a session starts a child session of it and invites its visitor."""
        principal = await authenticate_handshake(self.reg.svc, hello.token, conn.vouched)
        agent = principal.agent
        if agent is None:
            raise Refused("a child session needs a signed-in agent", code="forbidden")
        if not self.reg.svc.origins.allows(conn.origin):
            raise Refused("agents connect from the Coview console's own origin", code="origin")
        parent = next((live for live in self.reg.sessions.values()
                       if live.session.call_id == hello.main_call_id
                       and live.session.group_id == principal.group_id
                       and not live.parent_id and not live.session.ended), None)
        host_num = next((p.num for p in (parent.agents.values() if parent else ())
                         if p.agent is not None and p.agent.agent_id == agent.agent_id), None)
        if parent is None or host_num is None:
            raise Refused("you are in no running session with this call ID", code="not_found")
        rule = CHILD_TYPES.get(hello.session_type)
        if rule is None:
            raise Refused(f"child sessions are of types {', '.join(CHILD_TYPES)}",
                          code="invalid_parameter")
        privilege, setting = rule
        if not getattr(parent.settings, setting):
            raise Refused(f"{setting.removesuffix('_enabled').replace('_', ' ')} is off for "
                          "this group", code="disabled")
        host = parent.session.seats.get(host_num)
        if host is None or not host.may(privilege):
            raise Refused(f"you do not have the {privilege.value} privilege", code="forbidden")
        if hello.session_type in parent.children:
            raise Refused(f"a {hello.session_type} session is already running",
                          code="conflict")
        group_id, settings = parent.session.group_id, parent.settings
        session_id = uuid.uuid4().hex
        key = await self.claims.claim_key(group_id, random_key(settings.random_key_length),
                                          session_id, settings, random=True)
        try:
            call_id = await self.reg.svc.database.start_session_record(
                session_id=session_id, group_id=group_id, key=key,
                session_type=hello.session_type, parent_call_id=parent.session.call_id,
                report_errors=False)
        except BaseException:
            await self.reg.svc.bus.release(key_claim(group_id, key), session_id)
            raise
        session = Session(
            session_id=session_id, call_id=call_id, group_id=group_id, key=key,
            started_at=self.reg.clock(), persist=False, max_guests=1,
            no_agent_timeout=CHILD_JOIN_TIMEOUT, parent_call_id=parent.session.call_id,
            session_type=hello.session_type)
        live = LiveSession(
            session=session, settings=settings,
            visitor=Party(resume_token=secrets.token_urlsafe(24), role=Role.HOST, conn=conn,
                          agent=agent),
            to_agents=new_log(), to_visitor=new_log(),
            visitor_info=dict(parent.visitor_info), parent_id=parent.session.session_id,
            join_token=secrets.token_urlsafe(24), host_num=host_num)
        await self.reg.register(live)
        self.reg.sessions[session_id] = live
        parent.children[hello.session_type] = live
        self.reg.changed(parent)
        await self.reg.svc.audit(group_id, AuditAction.SESSION_START, actor=agent.username,
                                 address=conn.address, call_id=call_id,
                                 session_type=hello.session_type,
                                 parent_call_id=parent.session.call_id)
        notice = {**live.notice(), "timestamp": int(self.reg.svc.clock() * 1000)}
        self.pub.publish(parent, to_agents=False, header={**notice, "join_token": live.join_token})
        self.pub.publish(parent, to_agents=True, header=notice)
        conn.outbound.put_reliable(Welcome(
            session_id=session_id, call_id=call_id, key=key,
            reconnect_window=settings.reconnect_window_seconds, state=live.state(),
            resume_token=live.visitor.resume_token, persist=False).frame())
        return Attachment(live, live.visitor)

    async def view(self, conn: Conn, hello: JoinHello) -> Attachment:
        """The visitor takes up its invitation to a child session (each token once).

        A browser visitor's new page (or tab) gets a fresh token with its welcome and takes
        the viewer's seat over from the page it left, as a resume would.
        """
        holder = await self.reg.svc.bus.holder(key_claim(hello.group_id, hello.key))
        live = self.reg.sessions.get(holder) if holder else None
        if (live is None or not live.parent_id or not live.join_token
                or not secrets.compare_digest(live.join_token, hello.token)):
            raise Refused("there is no child session to view with this key and token",
                          code="not_found")
        live.join_token = ""
        self.reg.changed(live)
        viewer = next(iter(live.agents.values()), None)
        if viewer is not None:
            if viewer.conn is not None:
                old, viewer.conn = viewer.conn, None
                old.outbound.put_reliable(encode_frame({"t": "replaced"}))
                old.outbound.close()
                old.close()
            return self.seat(live, conn, viewer.num, None)
        try:
            seat = live.session.join(Participant.viewer(live.visitor_info.get("name", "")))
        except (SessionFull, SessionEnded) as exc:
            raise Refused(exc.message, code=exc.code) from None
        return self.seat(live, conn, seat.num, None)

    def invitations(self, live: LiveSession) -> list[dict[str, Any]]:
        """The running child sessions of a visitor's session, each with a fresh join token
        (the welcome of a new page: its viewer replaces the one the old page had)."""
        invitations = []
        for child in live.children.values():
            child.join_token = secrets.token_urlsafe(24)
            invitations.append({**child.notice(), "join_token": child.join_token})
            self.reg.changed(child)
        return invitations
