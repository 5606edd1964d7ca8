"""Admission: a connection's first frame starts a session (a visitor), joins one (an agent),
hosts a child session (an agent), views one (the visitor invited), or resumes a place.

A child session (agent video, showback) is a session of its own whose picture comes from an
agent of its parent (the ``host`` hello) and whose one viewer is the parent's visitor, invited
with a one-time join token. It never counts against the group's session limit, and it ends
with its parent.
"""

from __future__ import annotations

import logging
import secrets
import uuid

from coview._version import __version__
from coview.bus.names import key_claim
from coview.domain.agents import Agent
from coview.domain.audit import AuditAction
from coview.domain.keys import random_key
from coview.domain.sessions import Participant, Session, SessionEnded, SessionFull
from coview.domain.throttle import JOIN_POLICY, RateLimit, Throttle, count_attempt
from coview.domain.tokens import check_visitor_id
from coview.errors import AuthenticationFailed, Refused, Throttled, Unavailable
from coview.ids import GroupId
from coview.protocol.frames import ProtocolError, decode_frame, encode_frame
from coview.protocol.handshake import HostHello, JoinHello, ResumeHello, StartHello, parse_hello
from coview.protocol.messages import Welcome
from coview.protocol.server import MAX_AGENT_FRAME, Role, replay
from coview.protocol.version import VersionCheck, require_version, sdk_is_older
from coview.server.auth import authenticate_handshake
from coview.server.children import Children
from coview.server.claims import Claims
from coview.server.group_cache import GroupCache
from coview.server.live import Attachment, Conn, LiveSession, Party, new_log
from coview.server.publish import Publisher
from coview.server.registry import Registry

log = logging.getLogger("coview.sessions")

class Admission:
    """Starts, joins, hosts, views and resumes."""

    def __init__(self, registry: Registry, publisher: Publisher, claims: Claims) -> None:
        self.reg = registry
        self.pub = publisher
        self.claims = claims
        self.children = Children(registry, publisher, claims, seat=self.seat)
        self.join_throttle = Throttle(registry.svc.bus, JOIN_POLICY)
        self.groups = GroupCache(registry.svc)

    async def open(self, conn: Conn, data: bytes) -> Attachment | None:
        """Handle a connection's first frame; refuse (and close) or attach it."""
        try:
            frame = decode_frame(data, max_bytes=MAX_AGENT_FRAME)
            hello = parse_hello(frame.header)
            verdict = require_version(hello.v)
            if isinstance(hello, StartHello):
                attachment = await self.start(conn, hello)
            elif isinstance(hello, JoinHello) and hello.role == "viewer":
                attachment = await self.children.view(conn, hello)
            elif isinstance(hello, JoinHello):
                attachment = await self.join(conn, hello)
            elif isinstance(hello, HostHello):
                attachment = await self.children.host(conn, hello)
            else:
                attachment = await self.resume(conn, hello)
        except (Refused, ProtocolError, AuthenticationFailed, Throttled) as exc:
            self.refuse(conn, exc.code, exc.message)
            return None
        except Unavailable as exc:
            if isinstance(hello, ResumeHello):
                conn.close()  # no refusal: the client comes back within its window
            else:
                self.refuse(conn, "unavailable", exc.message)
            return None
        client = getattr(hello, "client", "")
        if verdict is VersionCheck.UPGRADE_AVAILABLE or sdk_is_older(client, __version__):
            conn.outbound.put_reliable(encode_frame({"t": "upgrade_available",
                                                     "version": __version__}))
        return attachment

    def refuse(self, conn: Conn, code: str, message: str) -> None:
        log.info("refused", extra={"fields": {"code": code, "error": message,
                                              "address": conn.address}})
        conn.outbound.put_reliable(encode_frame({"t": "refused", "code": code,
                                                 "message": message}))
        conn.outbound.close()
        conn.close()

    async def start(self, conn: Conn, hello: StartHello) -> Attachment:
        group_id = GroupId(hello.group_id)
        # Read afresh: a start sees a publish at once.
        group, settings = await self.groups.production(group_id, fresh=True)
        await self.claims.count_start(group_id, settings, conn.address)
        if hello.key_kind == "random":
            key = random_key(settings.random_key_length)
        elif hello.key is None:
            raise Refused("a key is needed", code="invalid_parameter")
        else:
            key = hello.key
        try:
            check_visitor_id(group.visitor_token_secret, hello.token or "",
                             visitor_id=key if hello.key_kind == "visitor" else None,
                             group_id=group_id, now=self.reg.svc.now(),
                             required=settings.visitor_id_requires_token)
        except AuthenticationFailed as exc:
            raise Refused(f"visitor token: {exc.message}", code=exc.code) from None
        if hello.main_call_id and await self.reg.svc.database.get_session_record(
                group_id, hello.main_call_id) is None:
            raise Refused("main_call_id is not a session of this group",
                          code="invalid_parameter")
        session_id = uuid.uuid4().hex
        key = await self.claims.claim_key(group_id, key, session_id, settings,
                                          random=hello.key_kind == "random")
        try:
            await self.claims.enforce_limit(group_id, settings)
            call_id = await self.reg.svc.database.start_session_record(
                session_id=session_id, group_id=group_id, key=key,
                session_type=hello.session_type, parent_call_id=hello.main_call_id or None,
                report_errors=hello.report_errors,
            )
        except BaseException:
            await self.reg.svc.bus.release(key_claim(group_id, key), session_id)
            raise
        now = self.reg.clock()
        session = Session(
            session_id=session_id, call_id=call_id, group_id=group_id, key=key,
            started_at=now,
            persist=settings.default_persist if hello.persist is None else hello.persist,
            max_guests=hello.max_guests, no_agent_timeout=settings.no_agent_timeout_seconds,
            parent_call_id=hello.main_call_id, session_type=hello.session_type,
        )
        live = LiveSession(
            session=session, settings=settings,
            visitor=Party(resume_token=secrets.token_urlsafe(24), role=Role.VISITOR, conn=conn),
            to_agents=new_log(), to_visitor=new_log(),
            paused=hello.paused, report_errors=hello.report_errors,
            visitor_info={"name": hello.name, "email": hello.email, "phone": hello.phone},
            presence_start=hello.presence_start,
        )
        await self.reg.register(live)
        self.reg.sessions[session_id] = live
        await self.reg.svc.audit(group_id, AuditAction.SESSION_START, actor="visitor",
                                 address=conn.address, call_id=call_id,
                                 session_type=hello.session_type)
        log.info("session started", extra={"fields": {"call_id": call_id,
                                                      "group_id": group_id}})
        if hello.presence_start and hello.key_kind == "visitor" and self.reg.presence is not None:
            self.reg.presence.session_started(group_id, key, key)
        self.reg.news(session, "session.start")
        conn.outbound.put_reliable(Welcome(
            session_id=session_id, call_id=call_id, key=key,
            reconnect_window=settings.reconnect_window_seconds, state=live.state(),
            resume_token=live.visitor.resume_token, persist=session.persist).frame())
        return Attachment(live, live.visitor)

    async def join(self, conn: Conn, hello: JoinHello) -> Attachment:
        principal = await authenticate_handshake(self.reg.svc, hello.token, conn.vouched)
        agent = principal.agent
        if agent is None:
            raise Refused("joining needs a signed-in agent", code="forbidden")
        group_id = principal.group_id
        subjects = {"agent": str(agent.agent_id), "address": conn.address,
                    "group": str(group_id)}
        try:
            await self.join_throttle.check(subjects)
        except Throttled as exc:
            # Audited once a minute per agent: a throttled caller cannot flood the log.
            if await count_attempt(self.reg.svc.bus, "join_throttled_audit",
                                   {"agent": (str(agent.agent_id), RateLimit(1))}) is None:
                await self.reg.svc.audit(group_id, AuditAction.JOIN_THROTTLED,
                                         actor=agent.username, address=conn.address,
                                         limit=exc.limit)
            raise
        holder = conn.vouched.session_id if conn.vouched is not None else \
            await self.reg.svc.bus.holder(key_claim(group_id, hello.key))
        live = self.reg.sessions.get(holder) if holder else None
        if live is not None and (live.session.group_id, live.session.key) != (group_id, hello.key):
            live = None  # vouched for another session than the key names: not ours to seat
        if live is None or live.session.ended:
            reached = await self.join_throttle.record_failure(subjects)
            await self.reg.svc.audit(group_id, AuditAction.JOIN_FAILED, actor=agent.username,
                                     address=conn.address, reason="no session with this key")
            if reached:
                await self.reg.svc.audit(group_id, AuditAction.JOIN_THROTTLED,
                                         actor=agent.username, address=conn.address,
                                         limits=reached)
                if self.reg.webhooks is not None:
                    self.reg.webhooks.emit(group_id, "security.join_throttled", {
                        "limits": reached, "agent": agent.username, "address": conn.address})
            raise Refused("there is no session with this key in your group",
                          code="not_found")
        if not self.reg.svc.origins.allows(conn.origin):
            raise Refused("agents join from the Coview console's own origin", code="origin")
        try:
            seat = live.session.join(Participant.of_agent(agent))
        except (SessionFull, SessionEnded) as exc:
            await self.reg.svc.audit(group_id, AuditAction.JOIN_FAILED, actor=agent.username,
                                     address=conn.address, reason=exc.code)
            raise Refused(exc.message, code=exc.code) from None
        return self.seat(live, conn, seat.num, agent)

    def seat(self, live: LiveSession, conn: Conn, num: int, agent: Agent | None) -> Attachment:
        """Welcome a guest (an agent, or a child session's viewer) in its seat."""
        party = Party(resume_token=secrets.token_urlsafe(24), conn=conn, num=num, agent=agent,
                      role=Role.AGENT if agent is not None else Role.VIEWER)
        live.agents[num] = party
        conn.outbound.put_reliable(Welcome(
            session_id=live.session.session_id, call_id=live.session.call_id,
            key=live.session.key, reconnect_window=live.settings.reconnect_window_seconds,
            state=live.state(), downlink_last=live.to_agents.last_seq, num=num,
            resume_token=party.resume_token).frame())
        self.catch_up(live, conn)
        self.pub.announce_guests(live)
        party.announced = live.guests_version
        self.pub.request_keyframe(live)
        self.reg.changed(live)
        return Attachment(live, party)

    def catch_up(self, live: LiveSession, conn: Conn) -> None:
        """Give an agent who arrives mid-page the page's latest snapshot and what followed.

        Each item is a log item as it was relayed, wrapped once more as ``catchup``: its
        number is below where the agent's downlink starts, so it is shown, not acknowledged.
        """
        for item in live.page:
            conn.outbound.put_reliable(encode_frame({"t": "catchup"}, item))

    async def resume(self, conn: Conn, hello: ResumeHello) -> Attachment:
        live = self.reg.sessions.get(hello.session_id)
        if live is None:
            reason = self.reg.ended.get(hello.session_id)
            if reason is None:  # ended on another process, or on its way back (Unavailable)
                reason = await self.reg.replicas.ended_reason(hello.session_id)
            if reason is not None:
                raise Refused(reason, code="ended")
            raise Refused("there is no such session", code="not_found")
        parties = [live.visitor, *live.agents.values()]
        party = next((p for p in parties
                      if secrets.compare_digest(p.resume_token, hello.token)), None)
        if party is None:
            raise Refused("the resume token does not match", code="invalid_token")
        if party.conn is not None:
            # The party came back on another connection (a new page, another tab): the old
            # one is told, so that it does not come back in turn.
            party.conn.outbound.put_reliable(encode_frame({"t": "replaced"}))
            party.conn.outbound.close()
            party.conn.close()
        party.conn = conn
        party.link.connection_back()
        log_ = live.to_visitor if party.num == 0 else live.to_agents
        replayed = replay(log_, hello.a)
        state = live.state()
        if party.num == 0 and live.children:
            state["children"] = self.children.invitations(live)
        conn.outbound.put_reliable(Welcome(
            session_id=live.session.session_id, call_id=live.session.call_id,
            key=live.session.key, reconnect_window=live.settings.reconnect_window_seconds,
            state=state, downlink_last=log_.last_seq, a=party.link.last_received,
            num=party.num, resumed=replayed.resumed).frame())
        if replayed.resumed:
            for item in replayed.items:
                conn.outbound.put_reliable(item)
        elif party.num != 0:
            self.catch_up(live, conn)
        if party.num == 0:
            self.pub.publish(live, to_agents=True, header={"t": "visitor", "connected": True})
        self.pub.request_keyframe(live)
        return Attachment(live, party)
