"""The session hub: live sessions of this process, and the relay between their parties.

A connection's first frame starts a session (a visitor), joins one (an agent) or resumes
either. After that the hub routes frames: a visitor's reliable messages go once into the
session's agent-bound log and out to every agent; its volatile frames (tiles, pointer) go to
each agent's outbound queue, coalesced. Agents' reliable messages go into the visitor-bound log.
The hub reads only frame headers; payloads pass through untouched.

A child session (agent video, showback) is a session of its own whose picture comes from an
agent of its parent (the ``host`` hello) and whose one viewer is the parent's visitor, invited
with a one-time join token. It never counts against the group's session limit, and it ends
with its parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from coview._version import __version__
from coview.bus.names import MOVED, VOLATILE, Command, key_claim
from coview.domain.agents import Agent, Privilege
from coview.domain.audit import AuditAction
from coview.domain.keys import random_key
from coview.domain.sessions import (
    Seat,
    Session,
    SessionEnded,
    SessionEndReason,
    SessionFull,
)
from coview.domain.settings import DuplicateKeyPolicy, GroupSettings, SessionLimitPolicy
from coview.domain.throttle import JOIN_POLICY, RateLimit, Throttle, count_attempt
from coview.domain.tokens import check_visitor_id
from coview.errors import AuthenticationFailed, CoviewError, Refused, Throttled, Unavailable
from coview.ids import AgentId, GroupId
from coview.protocol.frames import (
    Frame,
    ProtocolError,
    decode_frame,
    encode_frame,
    encode_relayed,
)
from coview.protocol.handshake import (
    Hello,
    HostHello,
    JoinHello,
    ResumeHello,
    StartHello,
    parse_hello,
)
from coview.protocol.messages import Welcome
from coview.protocol.reliability import Inbox
from coview.protocol.version import VersionCheck, require_version, sdk_is_older
from coview.server.auth import authenticate
from coview.server.group_cache import GroupCache
from coview.server.live import (
    CONTROL_TYPES,
    Attachment,
    Conn,
    LiveSession,
    Party,
    from_state,
    new_log,
    to_state,
)
from coview.server.outbound import OutboundOverflow
from coview.server.presence import PresenceService
from coview.server.services import Services
from coview.server.webhooks import Webhooks

if TYPE_CHECKING:
    from coview.server.cluster import Cluster

log = logging.getLogger("coview.sessions")


class Forwarder(Protocol):
    """Passes clients on to the process that runs their session (``remote.Link``, when
    scaled out)."""

    async def tick(self) -> None: ...

    async def forward(self, conn: Conn, first: bytes, receive: Callable[[], Awaitable[bytes]],
                      owner: str, sid: str) -> None: ...

MAX_VISITOR_FRAME = 16 * 1024 * 1024
MAX_AGENT_FRAME = 256 * 1024
PAGE_MAX_BYTES = 16 * 1024 * 1024  # a cobrowse page's latest snapshot and what followed

# Child session types: the agent privilege and the group setting each needs.
CHILD_TYPES: dict[str, tuple[Privilege, str]] = {
    "agentVideo": (Privilege.VIDEO, "agent_video_enabled"),
    "agentVideoHD": (Privilege.VIDEO, "agent_video_enabled"),
    "showback": (Privilege.SHOW, "showback_enabled"),
}
CHILD_JOIN_TIMEOUT = 60.0  # a child session nobody views in this time ends (TIMED_OUT)
ACK_DELAY = 0.01  # seconds an acknowledgement waits to cover what arrives after


class SessionHub:
    """Every live session of this process."""

    def __init__(self, services: Services, *, clock: Callable[[], float] = time.monotonic,
                 tick_seconds: float = 0.25, presence: PresenceService | None = None,
                 webhooks: Webhooks | None = None, cluster: Cluster | None = None) -> None:
        self.svc = services
        self.cluster = cluster
        self.link: Forwarder | None = None  # set when scaled out: forwards clients to owners
        self.presence = presence
        self.webhooks = webhooks
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.sessions: dict[str, LiveSession] = {}
        self.ended: OrderedDict[str, str] = OrderedDict()
        self.join_throttle = Throttle(services.bus, JOIN_POLICY)
        self.groups = GroupCache(services)
        self._ticker: asyncio.Task[None] | None = None
        self._ticks = 0

    # -- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever(), name="coview-session-ticker")

    async def end_all(self, detail: str) -> None:
        """End every live session with reason ERROR (the server is stopping)."""
        for live in list(self.sessions.values()):
            await self._end(live, SessionEndReason.ERROR, detail=detail)

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
        if self.cluster is not None and self._ticks % 4 == 0 and not self.cluster.broken:
            await self._adopt_orphans()
            if self.link is not None:
                with contextlib.suppress(Unavailable):
                    await self.link.tick()
        now = self.clock()
        for live in list(self.sessions.values()):
            if live.session.check_timeout(now):
                await self._finish(live)
                continue
            window = live.settings.reconnect_window_seconds
            if live.visitor.lost_at is not None and now >= live.visitor.lost_at + window:
                await self._end(live, SessionEndReason.CONN_DROP)
                continue
            for party in list(live.agents.values()):
                if party.lost_at is not None and now >= party.lost_at + window:
                    await self._remove_agent(live, party)

    # -- handshake -----------------------------------------------------------------------

    async def open(self, conn: Conn, data: bytes) -> Attachment | None:
        """Handle a connection's first frame; refuse (and close) or attach it."""
        try:
            frame = decode_frame(data, max_bytes=MAX_AGENT_FRAME)
            hello = parse_hello(frame.header)
            verdict = require_version(hello.v)
            if isinstance(hello, StartHello):
                attachment = await self._start(conn, hello)
            elif isinstance(hello, JoinHello) and hello.role == "viewer":
                attachment = await self._view(conn, hello)
            elif isinstance(hello, JoinHello):
                attachment = await self._join(conn, hello)
            elif isinstance(hello, HostHello):
                attachment = await self._host(conn, hello)
            else:
                attachment = await self._resume(conn, hello)
        except (Refused, ProtocolError, AuthenticationFailed, Throttled) as exc:
            self._refuse(conn, exc.code, exc.message)
            return None
        except Unavailable as exc:
            if isinstance(hello, ResumeHello):
                conn.close()  # no refusal: the client comes back within its window
            else:
                self._refuse(conn, "unavailable", exc.message)
            return None
        client = getattr(hello, "client", "")
        if verdict is VersionCheck.UPGRADE_AVAILABLE or sdk_is_older(client, __version__):
            conn.outbound.put_reliable(encode_frame({"t": "upgrade_available",
                                                     "version": __version__}))
        return attachment

    def _refuse(self, conn: Conn, code: str, message: str) -> None:
        log.info("refused", extra={"fields": {"code": code, "error": message,
                                              "address": conn.address}})
        conn.outbound.put_reliable(encode_frame({"t": "refused", "code": code,
                                                 "message": message}))
        conn.outbound.close()
        conn.close()

    async def _start(self, conn: Conn, hello: StartHello) -> Attachment:
        group_id = GroupId(hello.group_id)
        # Read afresh: a start sees a publish at once.
        group, settings = await self.groups.production(group_id, fresh=True)
        await self._count_start(group_id, settings, conn.address)
        if hello.key_kind == "random":
            key = random_key(settings.random_key_length)
        elif hello.key is None:
            raise Refused("a key is needed", code="invalid_parameter")
        else:
            key = hello.key
        try:
            check_visitor_id(group.visitor_token_secret, hello.token or "",
                             visitor_id=key if hello.key_kind == "visitor" else None,
                             group_id=group_id, now=self.svc.now(),
                             required=settings.visitor_id_requires_token)
        except AuthenticationFailed as exc:
            raise Refused(f"visitor token: {exc.message}", code=exc.code) from None
        if hello.main_call_id and await self.svc.database.get_session_record(
                group_id, hello.main_call_id) is None:
            raise Refused("main_call_id is not a session of this group",
                          code="invalid_parameter")
        session_id = uuid.uuid4().hex
        key = await self._claim_key(group_id, key, session_id, settings,
                                    random=hello.key_kind == "random")
        try:
            await self._enforce_limit(group_id, settings)
            call_id = await self.svc.database.start_session_record(
                session_id=session_id, group_id=group_id, key=key,
                session_type=hello.session_type, parent_call_id=hello.main_call_id or None,
                report_errors=hello.report_errors,
            )
        except BaseException:
            await self.svc.bus.release(key_claim(group_id, key), session_id)
            raise
        now = self.clock()
        session = Session(
            session_id=session_id, call_id=call_id, group_id=group_id, key=key,
            started_at=now,
            persist=settings.default_persist if hello.persist is None else hello.persist,
            max_guests=hello.max_guests, no_agent_timeout=settings.no_agent_timeout_seconds,
            parent_call_id=hello.main_call_id, session_type=hello.session_type,
        )
        live = LiveSession(
            session=session, settings=settings,
            visitor=Party(resume_token=secrets.token_urlsafe(24), conn=conn),
            to_agents=new_log(), to_visitor=new_log(),
            paused=hello.paused, report_errors=hello.report_errors,
            visitor_info={"name": hello.name, "email": hello.email, "phone": hello.phone},
            presence_start=hello.presence_start,
        )
        await self._register(live)
        self.sessions[session_id] = live
        await self.svc.audit(group_id, AuditAction.SESSION_START, actor="visitor",
                             address=conn.address, call_id=call_id,
                             session_type=hello.session_type)
        log.info("session started", extra={"fields": {"call_id": call_id,
                                                      "group_id": group_id}})
        if hello.presence_start and hello.key_kind == "visitor" and self.presence is not None:
            self.presence.session_started(group_id, key, key)
        self._news(session, "session.start")
        conn.outbound.put_reliable(Welcome(
            session_id=session_id, call_id=call_id, key=key,
            reconnect_window=settings.reconnect_window_seconds, state=live.state(),
            resume_token=live.visitor.resume_token, persist=session.persist).frame())
        return Attachment(live, live.visitor)

    async def _claim_key(self, group_id: GroupId, key: str, session_id: str,
                         settings: GroupSettings, *, random: bool) -> str:
        for _ in range(20 if random else 1):
            holder = await self.svc.bus.claim(key_claim(group_id, key), session_id)
            if holder is None:
                return key
            if random:
                key = random_key(settings.random_key_length)
                continue
            if await self._stale(holder):
                await self.svc.bus.release(key_claim(group_id, key), holder)
                if await self.svc.bus.claim(key_claim(group_id, key), session_id) is None:
                    return key
                continue
            if settings.duplicate_key_policy is DuplicateKeyPolicy.REFUSE:
                break
            await self._kill(holder, "another session started with its key")
            await self.svc.bus.release(key_claim(group_id, key), holder)
            if await self.svc.bus.claim(key_claim(group_id, key), session_id) is None:
                return key
        raise Refused(f"a session with key {key!r} is already running", code="dupkey")

    async def _count_start(self, group_id: GroupId, settings: GroupSettings,
                           address: str) -> None:
        """Starting a session needs no sign-in: bound starts per address and per group
        (docs/settings.md); the first refusal of a minute is audited and sent to webhooks."""
        over = await count_attempt(self.svc.bus, "start", {
            "address": (address, RateLimit(settings.starts_per_address_per_minute)),
            "group": (str(group_id), RateLimit(settings.starts_per_minute))})
        if over is None:
            return
        kind, excess = over
        if excess == 1:
            await self.svc.audit(group_id, AuditAction.START_THROTTLED, actor="visitor",
                                 address=address, limit=kind)
            if self.webhooks is not None:
                self.webhooks.emit(group_id, "security.start_throttled",
                                   {"limit": kind, "address": address})
        per = "this address" if kind == "address" else "this group"
        raise Refused(f"too many sessions started from {per} in the last minute; try again "
                      "in a minute", code="start_throttled")

    async def _enforce_limit(self, group_id: GroupId, settings: GroupSettings) -> None:
        """Keep the group's session limit: refuse the new session, or end the oldest sessions
        that no agent is in. A session with an agent in it is never ended to make room."""
        if self.cluster is not None:
            running = await self.cluster.running(group_id)  # on every process
        else:
            running = [live.session.session_id for live in
                       sorted((live for live in self.sessions.values()
                               if live.session.group_id == group_id
                               and not live.session.ended and not live.parent_id),
                              key=lambda live: live.session.started_at)]
        if len(running) < settings.max_sessions:
            return
        refusal = Refused(f"the group allows {settings.max_sessions} simultaneous sessions",
                          code="session_limit")
        if settings.session_limit_policy is SessionLimitPolicy.REFUSE_NEW:
            raise refusal
        needed = len(running) - settings.max_sessions + 1
        unattended = await self._unattended(running, needed)
        if len(unattended) < needed:
            raise refusal
        for session_id in unattended:
            await self._kill(session_id, "too many simultaneous sessions")

    async def _unattended(self, running: list[str], needed: int) -> list[str]:
        """Up to ``needed`` of ``running`` (oldest first) with no agent in them."""
        found: list[str] = []
        for at in range(0, len(running), 50):
            batch = running[at:at + 50]
            if self.cluster is None:
                seated = [bool(self.sessions[sid].session.seats) if sid in self.sessions
                          else False for sid in batch]
            else:
                seated = await self.cluster.seated(batch)
            found += [sid for sid, has in zip(batch, seated, strict=True) if not has]
            if len(found) >= needed:
                return found[:needed]
        return found

    async def _kill(self, session_id: str, detail: str) -> None:
        """End a session (KILLED), here or on the process that runs it."""
        live = self.sessions.get(session_id)
        if live is not None:
            await self._end(live, SessionEndReason.KILLED, detail=detail)
            return
        if self.cluster is not None:
            owner = await self.cluster.owner(session_id)
            if owner is not None:
                self.cluster.send(owner, {"t": "kill", "sid": session_id, "detail": detail})

    async def sign_out(self, agent_id: AgentId) -> None:
        """An agent's tokens were revoked (a password, role, privilege or disabled change, or
        signing out): it leaves every session it is in, here and on the other processes."""
        await self.sign_out_here(agent_id)
        if self.cluster is not None:
            with contextlib.suppress(Unavailable):
                for proc in await self.cluster.procs():
                    if proc != self.cluster.proc:
                        self.cluster.send(proc, {"t": "signout", "agent": int(agent_id)})

    async def sign_out_here(self, agent_id: AgentId) -> None:
        """:meth:`sign_out` for this process's sessions."""
        for live in list(self.sessions.values()):
            for party in list(live.agents.values()):
                if party.agent is not None and party.agent.agent_id == agent_id:
                    if party.conn is not None:
                        # A refusal both clients know: they stop and do not resume.
                        party.conn.outbound.put_reliable(encode_frame({
                            "t": "refused", "code": "signed_out",
                            "message": "your sign-in ended: sign in again"}))
                    await self._remove_agent(live, party)
            if live.visitor.agent is not None and live.visitor.agent.agent_id == agent_id:
                await self._end(live, SessionEndReason.OTHER_SIDE,
                                detail="its host agent was signed out")

    async def kill_here(self, session_id: str, detail: str) -> None:
        """Another process asked to end one of this process's sessions."""
        live = self.sessions.get(session_id)
        if live is not None:
            await self._end(live, SessionEndReason.KILLED, detail=detail)

    async def _stale(self, holder: str) -> bool:
        """Whether a key's holder is no session at all (its end was never recorded)."""
        if holder in self.sessions:
            return False
        if self.cluster is None:
            return True
        return await self.cluster.owner(holder) is None

    async def _join(self, conn: Conn, hello: JoinHello) -> Attachment:
        principal = await authenticate(self.svc, hello.token)
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
            if await count_attempt(self.svc.bus, "join_throttled_audit",
                                   {"agent": (str(agent.agent_id), RateLimit(1))}) is None:
                await self.svc.audit(group_id, AuditAction.JOIN_THROTTLED,
                                     actor=agent.username, address=conn.address,
                                     limit=exc.limit)
            raise
        holder = await self.svc.bus.holder(key_claim(group_id, hello.key))
        live = self.sessions.get(holder) if holder else None
        if live is None or live.session.ended:
            reached = await self.join_throttle.record_failure(subjects)
            await self.svc.audit(group_id, AuditAction.JOIN_FAILED, actor=agent.username,
                                 address=conn.address, reason="no session with this key")
            if reached:
                await self.svc.audit(group_id, AuditAction.JOIN_THROTTLED,
                                     actor=agent.username, address=conn.address,
                                     limits=reached)
                if self.webhooks is not None:
                    self.webhooks.emit(group_id, "security.join_throttled", {
                        "limits": reached, "agent": agent.username, "address": conn.address})
            raise Refused("there is no session with this key in your group",
                          code="not_found")
        if not self.svc.origins.allows(conn.origin):
            raise Refused("agents join from the Coview console's own origin", code="origin")
        try:
            seat = live.session.join(Seat(0, agent.agent_id, agent.username,
                                          agent.display_name, agent.title, agent.role.value,
                                          frozenset(p.value for p in agent.privileges),
                                          agent.agent_role))
        except (SessionFull, SessionEnded) as exc:
            await self.svc.audit(group_id, AuditAction.JOIN_FAILED, actor=agent.username,
                                 address=conn.address, reason=exc.code)
            raise Refused(exc.message, code=exc.code) from None
        return self._seat(live, conn, seat.num, agent)

    def _seat(self, live: LiveSession, conn: Conn, num: int, agent: Agent | None) -> Attachment:
        """Welcome a guest (an agent, or a child session's viewer) in its seat."""
        party = Party(resume_token=secrets.token_urlsafe(24), conn=conn, num=num, agent=agent)
        live.agents[num] = party
        conn.outbound.put_reliable(Welcome(
            session_id=live.session.session_id, call_id=live.session.call_id,
            key=live.session.key, reconnect_window=live.settings.reconnect_window_seconds,
            state=live.state(), downlink_last=live.to_agents.last_seq, num=num,
            resume_token=party.resume_token).frame())
        self._catch_up(live, conn)
        self._announce_guests(live)
        party.announced = live.guests_version
        self._request_keyframe(live)
        self._changed(live)
        return Attachment(live, party)

    def _catch_up(self, live: LiveSession, conn: Conn) -> None:
        """Give an agent who arrives mid-page the page's latest snapshot and what followed.

        Each item is a log item as it was relayed, wrapped once more as ``catchup``: its
        number is below where the agent's downlink starts, so it is shown, not acknowledged.
        """
        for item in live.page:
            conn.outbound.put_reliable(encode_frame({"t": "catchup"}, item))

    async def _host(self, conn: Conn, hello: HostHello) -> Attachment:
        """An agent of a session starts a child session of it and invites its visitor."""
        principal = await authenticate(self.svc, hello.token)
        agent = principal.agent
        if agent is None:
            raise Refused("a child session needs a signed-in agent", code="forbidden")
        if not self.svc.origins.allows(conn.origin):
            raise Refused("agents connect from the Coview console's own origin", code="origin")
        parent = next((live for live in self.sessions.values()
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
        if privilege not in agent.privileges:
            raise Refused(f"you do not have the {privilege.value} privilege", code="forbidden")
        if hello.session_type in parent.children:
            raise Refused(f"a {hello.session_type} session is already running",
                          code="conflict")
        group_id, settings = parent.session.group_id, parent.settings
        session_id = uuid.uuid4().hex
        key = await self._claim_key(group_id, random_key(settings.random_key_length),
                                    session_id, settings, random=True)
        try:
            call_id = await self.svc.database.start_session_record(
                session_id=session_id, group_id=group_id, key=key,
                session_type=hello.session_type, parent_call_id=parent.session.call_id,
                report_errors=False)
        except BaseException:
            await self.svc.bus.release(key_claim(group_id, key), session_id)
            raise
        session = Session(
            session_id=session_id, call_id=call_id, group_id=group_id, key=key,
            started_at=self.clock(), persist=False, max_guests=1,
            no_agent_timeout=CHILD_JOIN_TIMEOUT, parent_call_id=parent.session.call_id,
            session_type=hello.session_type)
        live = LiveSession(
            session=session, settings=settings,
            visitor=Party(resume_token=secrets.token_urlsafe(24), conn=conn, agent=agent),
            to_agents=new_log(), to_visitor=new_log(),
            visitor_info=dict(parent.visitor_info), parent_id=parent.session.session_id,
            join_token=secrets.token_urlsafe(24), host_num=host_num)
        await self._register(live)
        self.sessions[session_id] = live
        parent.children[hello.session_type] = live
        self._changed(parent)
        await self.svc.audit(group_id, AuditAction.SESSION_START, actor=agent.username,
                             address=conn.address, call_id=call_id,
                             session_type=hello.session_type,
                             parent_call_id=parent.session.call_id)
        notice = {**live.notice(), "timestamp": int(self.svc.clock() * 1000)}
        self._publish(parent, to_agents=False, header={**notice, "join_token": live.join_token})
        self._publish(parent, to_agents=True, header=notice)
        conn.outbound.put_reliable(Welcome(
            session_id=session_id, call_id=call_id, key=key,
            reconnect_window=settings.reconnect_window_seconds, state=live.state(),
            resume_token=live.visitor.resume_token, persist=False).frame())
        return Attachment(live, live.visitor)

    async def _view(self, conn: Conn, hello: JoinHello) -> Attachment:
        """The visitor takes up its invitation to a child session (each token once).

        A browser visitor's new page (or tab) gets a fresh token with its welcome and takes
        the viewer's seat over from the page it left, as a resume would.
        """
        holder = await self.svc.bus.holder(key_claim(hello.group_id, hello.key))
        live = self.sessions.get(holder) if holder else None
        if (live is None or not live.parent_id or not live.join_token
                or not secrets.compare_digest(live.join_token, hello.token)):
            raise Refused("there is no child session to view with this key and token",
                          code="not_found")
        live.join_token = ""
        self._changed(live)
        viewer = next(iter(live.agents.values()), None)
        if viewer is not None:
            if viewer.conn is not None:
                old, viewer.conn = viewer.conn, None
                old.outbound.put_reliable(encode_frame({"t": "replaced"}))
                old.outbound.close()
                old.close()
            return self._seat(live, conn, viewer.num, None)
        try:
            seat = live.session.join(Seat(0, AgentId(0), "", live.visitor_info.get("name", ""),
                                          "", "visitor", frozenset()))
        except (SessionFull, SessionEnded) as exc:
            raise Refused(exc.message, code=exc.code) from None
        return self._seat(live, conn, seat.num, None)

    def _invitations(self, live: LiveSession) -> list[dict[str, Any]]:
        """The running child sessions of a visitor's session, each with a fresh join token
        (the welcome of a new page: its viewer replaces the one the old page had)."""
        invitations = []
        for child in live.children.values():
            child.join_token = secrets.token_urlsafe(24)
            invitations.append({**child.notice(), "join_token": child.join_token})
            self._changed(child)
        return invitations

    async def _resume(self, conn: Conn, hello: ResumeHello) -> Attachment:
        live = self.sessions.get(hello.session_id)
        if live is None:
            reason = self.ended.get(hello.session_id)
            if reason is None and self.cluster is not None:
                reason = await self.cluster.ended_reason(hello.session_id)
                if reason is None:
                    # Perhaps on its way back (Redis restarted, its process writes it
                    # again): the client tries again within its reconnect window.
                    raise Unavailable("the session is not known yet", part="bus")
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
        party.conn, party.lost_at = conn, None
        log_ = live.to_visitor if party.num == 0 else live.to_agents
        resumed = log_.can_replay_after(hello.a)
        state = live.state()
        if party.num == 0 and live.children:
            state["children"] = self._invitations(live)
        conn.outbound.put_reliable(Welcome(
            session_id=live.session.session_id, call_id=live.session.call_id,
            key=live.session.key, reconnect_window=live.settings.reconnect_window_seconds,
            state=state, downlink_last=log_.last_seq, a=party.inbox.last, num=party.num,
            resumed=resumed).frame())
        if resumed:
            for _, item in log_.after(hello.a):
                conn.outbound.put_reliable(item)
        elif party.num != 0:
            self._catch_up(live, conn)
        if party.num == 0:
            self._publish(live, to_agents=True, header={"t": "visitor", "connected": True})
        self._request_keyframe(live)
        return Attachment(live, party)

    # -- scaled out: several processes -------------------------------------------------------

    async def route(self, data: bytes) -> tuple[str, str] | None:
        """For a connection's first frame, the process running its session and the session,
        when that is another process; None to handle it here (it starts a session, its
        session is here or nowhere, or its owner died and this process took it over)."""
        if self.cluster is None:
            return None
        try:
            hello = parse_hello(decode_frame(data, max_bytes=MAX_AGENT_FRAME).header)
            session_id = await self._session_for(hello)
            for _ in range(3):
                if session_id is None or session_id in self.sessions:
                    return None
                owner = await self.cluster.owner(session_id)
                if owner is None or owner == self.cluster.proc:
                    return None
                if await self.cluster.alive(owner):
                    return owner, session_id
                if await self.adopt(session_id, owner):
                    return None
        except CoviewError:
            pass  # handled here: refused as a single process would
        return None

    async def _session_for(self, hello: Hello) -> str | None:
        assert self.cluster is not None
        if isinstance(hello, ResumeHello):
            return hello.session_id
        if isinstance(hello, JoinHello) and hello.role == "viewer":
            return await self.svc.bus.holder(key_claim(hello.group_id, hello.key))
        if isinstance(hello, JoinHello | HostHello):
            principal = await authenticate(self.svc, hello.token)
            if isinstance(hello, HostHello):
                return await self.cluster.session_of_call(hello.main_call_id)
            return await self.svc.bus.holder(key_claim(principal.group_id, hello.key))
        return None

    async def adopt(self, session_id: str, dead: str) -> bool:
        """Take over a session whose process died, from its copy in Redis; its parties
        are away until they resume here (within their reconnect window)."""
        assert self.cluster is not None
        if not await self.cluster.take(session_id, dead):
            return False
        loaded = await self.cluster.load(session_id)
        if loaded is None:
            self.cluster.drop_owner(session_id)
            return False
        state, inbox, logs = loaded
        agents: dict[int, Agent] = {}
        for _, _, agent_id, *_ in state["parties"]:
            agent = await self.svc.database.get_agent(AgentId(agent_id)) if agent_id else None
            if agent is not None:
                agents[agent_id] = agent
        now = self.clock()
        ago = max(0.0, self.svc.clock() - state["session"]["started"])
        live = from_state(state, agents, started=now - ago, lost_at=now)
        for party in (live.visitor, *live.agents.values()):
            party.inbox = Inbox(inbox.get(party.num, 0))
            party.synced = party.inbox.last
        live.to_agents.restore(logs["a"])
        live.to_visitor.restore(logs["v"])
        for _, item in logs["a"]:
            inner = decode_frame(decode_frame(item, max_bytes=len(item)).payload,
                                 max_bytes=len(item))
            if inner.type == "dom":
                self._keep_page(live, bool(inner.header.get("full")), item)
        self.sessions[session_id] = live
        for kind, child_id in state["children"].items():
            if child_id in self.sessions or await self.adopt(child_id, dead):
                live.children[kind] = self.sessions[child_id]
        parent = self.sessions.get(live.parent_id)
        if parent is not None:
            parent.children.setdefault(live.session.session_type, live)
        self.cluster.publish(session_id, MOVED, b"")  # forwarded clients reconnect
        log.info("session adopted", extra={"fields": {"call_id": live.session.call_id,
                                                       "from": dead}})
        return True

    async def _adopt_orphans(self) -> None:
        """Take over the sessions of processes that died with no client coming back."""
        assert self.cluster is not None
        try:
            for dead in await self.cluster.dead_procs():
                for session_id in await self.cluster.owned_by(dead):
                    if session_id not in self.sessions:
                        await self.adopt(session_id, dead)
                await self.cluster.forget_proc(dead)
        except Unavailable:
            pass

    async def _register(self, live: LiveSession) -> None:
        """Before a new session is known: its copy and its owner in Redis."""
        if self.cluster is None:
            return
        session = live.session
        try:
            await self.cluster.register(
                session.session_id, call_id=session.call_id, group_id=session.group_id,
                started=self.svc.clock(), counted=not live.parent_id,
                state=lambda: self._state(live))
        except Unavailable:
            with contextlib.suppress(CoviewError):
                await self.svc.bus.release(live.claim_name, session.session_id)
                await self.svc.database.end_session_record(
                    session.call_id, reason=SessionEndReason.ERROR.value, peak_guests=0,
                    errors=[])
            raise

    def _changed(self, live: LiveSession) -> None:
        if self.cluster is not None and self.sessions.get(live.session.session_id) is live:
            self.cluster.changed(live.session.session_id, lambda: self._state(live))

    def _state(self, live: LiveSession) -> bytes:
        started = self.svc.clock() - (self.clock() - live.session.started_at)
        return to_state(live, started_wall=started)

    def restore_commands(self) -> list[Command]:
        """Redis lost everything: what writes this process's sessions back."""
        assert self.cluster is not None
        commands: list[Command] = []
        for live in self.sessions.values():
            session = live.session
            commands += self.cluster.session_commands(
                session.session_id, call_id=session.call_id, group_id=session.group_id,
                started=self.svc.clock() - (self.clock() - session.started_at),
                counted=not live.parent_id, claim=live.claim_name, state=self._state(live),
                inbox={p.num: p.inbox.last for p in (live.visitor, *live.agents.values())},
                logs={"a": live.to_agents.after(live.to_agents.first_seq - 1),
                      "v": live.to_visitor.after(live.to_visitor.first_seq - 1)})
        asyncio.get_running_loop().create_task(self._check_after_restore())
        return commands

    async def _check_after_restore(self) -> None:
        """Sessions never mix: one whose key or ownership another took meanwhile ends."""
        assert self.cluster is not None
        with contextlib.suppress(Unavailable):
            await self.cluster.flush()
            for live in list(self.sessions.values()):
                session_id = live.session.session_id
                if (await self.cluster.owner(session_id) != self.cluster.proc
                        or await self.svc.bus.holder(live.claim_name) != session_id):
                    await self._end(live, SessionEndReason.ERROR,
                                    detail="its key was taken while Redis was unavailable")

    async def hand_off(self) -> None:
        """Stop running sessions without ending them (scaled out, the process stops): the
        other processes take them over as their clients come back."""
        if self.cluster is None:
            await self.end_all("the server is stopping")
            return
        await self.cluster.leave()
        self.sessions.clear()

    # -- traffic -------------------------------------------------------------------------

    async def receive(self, att: Attachment, data: bytes) -> None:
        """Route one frame from an attached connection."""
        live, party = att.live, att.party
        if live.session.ended or self.sessions.get(live.session.session_id) is not live:
            return  # ended, or no longer this process's (handed off)
        frame = decode_frame(data, max_bytes=MAX_VISITOR_FRAME if att.is_visitor
                             else MAX_AGENT_FRAME)
        reliable_types, volatile_types = att.allowed()
        seq = frame.header.get("s")
        if seq is None:
            if frame.type not in volatile_types:
                raise ProtocolError(f"unexpected volatile {frame.type!r}")
            if frame.type != "ack":
                self._relay_volatile(live, att, frame, data)
            return
        if frame.type not in reliable_types or not isinstance(seq, int):
            raise ProtocolError(f"unexpected reliable {frame.type!r}")
        if not party.inbox.accept(seq):
            return
        if att.is_visitor:
            await self._from_visitor(live, frame, data)
        else:
            await self._from_agent(live, party, frame, data)
        # Acknowledged a little later, once for all that arrived meanwhile: a busy sender
        # (a page's burst of changes) gets one acknowledgement, not one per message.
        if self.cluster is not None and party.inbox.last != party.synced:
            party.synced = party.inbox.last
            self.cluster.note_inbox(live.session.session_id, party.num, party.inbox.last)
        if party.ack_timer is None:
            party.ack_timer = asyncio.get_running_loop().call_later(ACK_DELAY, self._ack, party)

    def _relay_volatile(self, live: LiveSession, att: Attachment, frame: Frame,
                        data: bytes) -> None:
        if not att.is_visitor:
            return  # an agent's pointer is drawn only by the visitor's UI: not relayed yet
        if frame.type == "tile":
            if live.paused:
                return  # a paused session sends no pixels (seed 000, pause)
            h = frame.header
            slot: tuple[Any, ...] = ("tile", h.get("e"), h.get("x"), h.get("y"), h.get("w"),
                                     h.get("h"))
            replaces = bool(h.get("key"))
        else:
            slot, replaces = (frame.type,), False
        # Pictures the visitor made before it knew of an agent may lack that agent's masks
        # (masks by role): an agent gets only pictures made with it in the guests list.
        made_for = frame.header.get("gv") if frame.type == "tile" else None
        remote = remote_barred = False
        for party in live.agents.values():
            barred = isinstance(made_for, int) and made_for < party.announced
            if party.conn is None:
                continue
            if party.conn.remote:
                # Another process forwards to all its parties of the session alike.
                remote, remote_barred = True, remote_barred or barred
            elif not barred:
                party.conn.outbound.put_volatile(slot, data, replaces_all=replaces)
        if remote and not remote_barred and self.cluster is not None:
            self.cluster.publish(live.session.session_id, VOLATILE,
                                 encode_frame({"t": "v", "slot": slot, "all": replaces}, data))

    async def _from_visitor(self, live: LiveSession, frame: Frame, data: bytes) -> None:
        kind, header = frame.type, frame.header
        if kind == "end":
            await self._end(live, SessionEndReason.THIS_SIDE)
            return
        if kind == "error":
            if live.report_errors and len(live.errors) < 100:
                live.errors.append(str(header.get("message", ""))[:500])
                self._changed(live)
            return
        if kind == "dom":
            self._keep_page(live, bool(header.get("full")),
                            self._publish_raw(live, to_agents=True, inner=data, sender=0))
            return
        if kind == "rc":
            enabled = bool(header.get("enabled"))
            if enabled and not live.settings.remote_control_enabled:
                self._publish(live, to_agents=False,
                              header={"t": "rc_disabled",
                                      "message": "remote control is off for this group"})
                return
            live.rc_enabled = enabled
            if enabled:
                await self.svc.audit(live.session.group_id, AuditAction.REMOTE_CONTROL_GRANTED,
                                     actor="visitor", address=_address(live.visitor),
                                     call_id=live.session.call_id,
                                     agents=sorted(live.agents))
        elif kind == "paused":
            live.note_paused(header)
            for party in live.agents.values():
                if party.conn is not None and live.paused:
                    party.conn.outbound.clear_volatile()
        elif kind == "display":
            live.display = {k: header[k] for k in ("name", "width", "height", "e", "index",
                                                     "kind") if k in header}
        if kind in ("rc", "paused", "display"):
            self._changed(live)
        self._publish_raw(live, to_agents=True, inner=data, sender=0)

    async def _from_agent(self, live: LiveSession, party: Party, frame: Frame,
                          data: bytes) -> None:
        kind = frame.type
        if kind == "leave":
            await self._remove_agent(live, party)
            return
        if kind == "end":
            await self._end(live, SessionEndReason.OTHER_SIDE)
            return
        if kind in CONTROL_TYPES:
            agent = party.agent
            allowed = (live.rc_enabled and live.settings.remote_control_enabled
                       and agent is not None and Privilege.REMOTE_CONTROL in agent.privileges)
            if not allowed:
                self._send_to(party, {"t": "rc_refused",
                                      "message": "remote control is not enabled"})
                return
            if live.visitor.conn is None:
                # Control acts only on what the visitor shows now: input kept for a visitor
                # who is away would act blind after its resume (issue 14, suite item 8).
                self._send_to(party, {"t": "rc_refused",
                                      "message": "the visitor is not connected"})
                return
        if kind == "rc_request":
            agent = party.agent
            if agent is None or Privilege.REMOTE_CONTROL not in agent.privileges:
                self._send_to(party, {"t": "rc_refused",
                                      "message": "you do not have the remote control "
                                                 "privilege"})
                return
        if kind == "pause" and live.refuses_pause(frame.header):
            self._send_to(party, {"t": "pause_refused",
                                  "message": "the visitor paused the session: only the "
                                             "visitor can resume it"})
            return
        if kind == "gesture" and not live.settings.gestures_enabled:
            self._send_to(party, {"t": "gesture_refused",
                                  "message": "gestures are off for this group"})
            return
        self._publish_raw(live, to_agents=False, inner=data, sender=party.num)
        if kind in ("message", "gesture"):
            # Other agents see what their colleagues do in the session too.
            self._publish_raw(live, to_agents=True, inner=data, sender=party.num)

    def _ack(self, party: Party) -> None:
        party.ack_timer = None
        last = party.inbox.last
        if self.cluster is not None:
            # Only what Redis holds: another process could take the session over.
            self.cluster.when_durable(lambda: self._send_ack(party, last))
        else:
            self._send_ack(party, last)

    def _send_ack(self, party: Party, last: int) -> None:
        conn = party.conn
        if conn is not None and not conn.outbound.closed:
            conn.outbound.put_volatile("ack", encode_frame({"t": "ack", "a": last}))

    def _send_to(self, party: Party, header: dict[str, Any]) -> None:
        """Tell one party something now (not logged: it is not replayed after a resume)."""
        if party.conn is not None:
            party.conn.outbound.put_reliable(encode_frame(header))

    # -- publishing ----------------------------------------------------------------------

    def _publish(self, live: LiveSession, *, to_agents: bool, header: dict[str, Any]) -> None:
        self._publish_raw(live, to_agents=to_agents, inner=encode_frame(header), sender=-1)

    def _keep_page(self, live: LiveSession, full: bool, item: bytes) -> None:
        """Keep a cobrowse page's events since its latest full snapshot (bounded)."""
        if full:
            live.page, live.page_bytes = [], 0
        elif not live.page:
            return  # no snapshot to build on: wait for the next one
        live.page.append(item)
        live.page_bytes += len(item)
        if live.page_bytes > PAGE_MAX_BYTES:
            # Too much since the snapshot: forget it and ask the visitor for a new one.
            live.page, live.page_bytes = [], 0
            self._request_keyframe(live)

    def _publish_raw(self, live: LiveSession, *, to_agents: bool, inner: bytes,
                     sender: int) -> bytes:
        """Append a message once to a direction's log and queue it for each reader."""
        log_ = live.to_agents if to_agents else live.to_visitor
        seq = log_.last_seq + 1
        wrapped = encode_relayed(seq, sender, inner)
        log_.append(wrapped)
        if self.cluster is not None:
            # Once into the session's copy and out to every other process with its readers.
            origin = (live.visitor if sender == 0 else live.agents.get(sender)) \
                if sender >= 0 else None
            last = origin.inbox.last if origin is not None else 0
            if origin is not None:
                origin.synced = last
            self.cluster.append(live.session.session_id, to_agents, seq, log_.first_seq,
                                wrapped, sender if origin is not None else -1, last)
        readers = list(live.agents.values()) if to_agents else [live.visitor]
        conns = [p.conn for p in readers if p.conn is not None and not p.conn.remote]
        if self.cluster is not None:
            # Scaled out, a reader here gets a message once Redis holds it: were this process
            # to die first, the one taking the session over would number it anew, and the
            # reader would see it twice. (A reader that resumes meanwhile has it from the log.)
            self.cluster.when_durable(lambda: _deliver(conns, wrapped))
        else:
            _deliver(conns, wrapped)
        return wrapped

    def _announce_guests(self, live: LiveSession) -> None:
        live.guests_version += 1
        guests = live.guests()
        for to_agents in (True, False):
            self._publish(live, to_agents=to_agents, header={"t": "guests", **guests})

    def _request_keyframe(self, live: LiveSession) -> None:
        conn = live.visitor.conn
        if conn is not None and live.agents:
            conn.outbound.put_volatile("keyframe", encode_frame({"t": "keyframe"}))

    # -- leaving and ending --------------------------------------------------------------

    async def lost(self, att: Attachment, conn: Conn) -> None:
        """A connection closed: keep the party's place for the reconnect window."""
        party = att.party
        if party.conn is not conn:
            return  # already replaced by a resumed connection
        party.conn = None
        if att.live.session.ended or \
                self.sessions.get(att.live.session.session_id) is not att.live:
            return
        party.lost_at = self.clock()
        if att.is_visitor:
            self._publish(att.live, to_agents=True, header={"t": "visitor", "connected": False})

    async def _remove_agent(self, live: LiveSession, party: Party) -> None:
        live.agents.pop(party.num, None)
        if party.conn is not None:
            party.conn.outbound.put_reliable(encode_frame({"t": "left"}))
            party.conn.outbound.close()
            party.conn.close()
        if live.session.leave(party.num, self.clock()):
            await self._finish(live)
        else:
            self._announce_guests(live)
            self._changed(live)

    async def _end(self, live: LiveSession, reason: SessionEndReason, *,
                   detail: str = "") -> None:
        if live.session.end(reason, self.clock()):
            if detail and live.report_errors:
                live.errors.append(detail)
            await self._finish(live, detail=detail)

    async def _finish(self, live: LiveSession, *, detail: str = "") -> None:
        """Tell everyone the session ended, close, release the key, keep the record."""
        session = live.session
        reason = session.end_reason or SessionEndReason.ERROR
        if self.sessions.pop(session.session_id, None) is None:
            return
        self.ended[session.session_id] = reason.value
        while len(self.ended) > 10_000:
            self.ended.popitem(last=False)
        for child in list(live.children.values()):  # seed 000: the parent ends its children
            await self._end(child, reason, detail="its parent session ended")
        parent = self.sessions.get(live.parent_id) if live.parent_id else None
        if parent is not None and parent.children.get(session.session_type) is live:
            del parent.children[session.session_type]
            notice = {"t": "child", "action": "ended", "key": session.key,
                      "session_type": session.session_type, "reason": reason.value}
            for to_agents in (True, False):
                self._publish(parent, to_agents=to_agents, header=notice)
        for to_agents in (True, False):
            self._publish(live, to_agents=to_agents,
                          header={"t": "ended", "reason": reason.value, "detail": detail})
        conns = [p.conn for p in [live.visitor, *live.agents.values()] if p.conn is not None]
        if self.cluster is not None:  # after the ``ended`` above, which waits for Redis
            self.cluster.when_durable(lambda: _close(conns))
        else:
            _close(conns)
        if self.cluster is not None:
            self.cluster.forget(session.session_id, call_id=session.call_id,
                                group_id=session.group_id, reason=reason.value)
        if parent is not None:
            self._changed(parent)
        with contextlib.suppress(Unavailable):  # a claim without an owner is stale
            await self.svc.bus.release(live.claim_name, session.session_id)
        try:
            await self.svc.database.end_session_record(
                session.call_id, reason=reason.value, peak_guests=session.peak_guests,
                errors=live.errors if live.report_errors else [])
            await self.svc.audit(session.group_id, AuditAction.SESSION_END, actor="coview",
                                 address="", call_id=session.call_id, reason=reason.value)
        except CoviewError:
            log.warning("could not record the end of a session",
                        extra={"fields": {"call_id": session.call_id}})
        log.info("session ended", extra={"fields": {"call_id": session.call_id,
                                                    "reason": reason.value}})
        self._news(session, "session.end")
        _release(live)

    def _news(self, session: Session, event: str) -> None:
        if self.webhooks is None:
            return
        data: dict[str, Any] = {"call_id": session.call_id, "key": session.key,
                                "session_type": session.session_type,
                                "parent_call_id": session.parent_call_id or None}
        if session.end_reason is not None:
            data.update(reason=session.end_reason.value, peak_guests=session.peak_guests)
        self.webhooks.emit(session.group_id, event, data)


def _deliver(conns: list[Conn], wrapped: bytes) -> None:
    """Queue a relayed message for the readers connected to this process."""
    for conn in conns:
        try:
            conn.outbound.put_reliable(wrapped)
        except OutboundOverflow:
            # Too slow: drop the connection; the client resumes from the log.
            conn.outbound.close()
            conn.close()


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


def _address(party: Party) -> str:
    return party.conn.address if party.conn is not None else ""

