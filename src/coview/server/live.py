"""A live session as its owner process holds it: the parties, the logs, the state.

A session's state also travels: :func:`to_state` writes what another process needs to run it
on (in JSON, for the Redis copy of a scaled-out server), :func:`from_state` reads it back.
Its parties' connections and the logs' contents do not travel in it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from coview.bus.names import key_claim
from coview.domain.agents import Agent, Privilege
from coview.domain.sessions import Kind, Participant, Session, SessionState
from coview.domain.settings import GroupSettings
from coview.ids import AgentId, GroupId
from coview.protocol.reliability import SessionLog
from coview.protocol.server import PartyEndpoint, Role

LOG_MAX_BYTES = 16 * 1024 * 1024
LOG_MAX_ITEMS = 20_000

# Who paused a session: the side whose pause it is, the only side an agent's resume may lift.
PausedBy = Literal["visitor", "agent"]


def paused_by(value: object) -> PausedBy:
    """Who paused, as a ``paused`` frame or a stored state says (the visitor unless it says
    the agent: the SDK and older state do not say)."""
    return "agent" if value == "agent" else "visitor"


class Sink(Protocol):
    """Where the hub puts a connection's frames (an :class:`Outbound`, or a stand-in that
    passes them to the process the client is connected to)."""

    closed: bool

    def put_reliable(self, frame: bytes) -> None: ...

    def put_volatile(self, slot: Hashable, frame: bytes, *,
                     replaces_all: bool = False) -> None: ...

    def clear_volatile(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Vouched:
    """What the process a client reached checked of its first frame before passing it on:
    the session it names, and the agent its token names (None: not an agent's). The process
    running the session takes it as checked rather than authenticating and looking up again."""

    session_id: str
    agent: Agent | None


class Conn(Protocol):
    """A client's transport as the hub sees it (a WebSocket, an HTTP tunnel, or a client
    of another process)."""

    @property
    def outbound(self) -> Sink: ...

    @property
    def remote(self) -> bool:
        """Whether the client is connected to another process (its frames go there)."""

    @property
    def vouched(self) -> Vouched | None:
        """For a client of another process: what that process checked of it."""
    address: str
    origin: str | None
    host: str

    def close(self) -> None:
        """Close once what is queued has been written."""


class Forwarder(Protocol):
    """Passes clients on to the process that runs their session (``remote.Link``, when
    scaled out)."""

    async def tick(self) -> None: ...

    async def forward(self, conn: Conn, first: bytes, receive: Callable[[], Awaitable[bytes]],
                      owner: str, vouched: Vouched) -> None:
        """Serve ``conn`` through the process ``owner``, which runs its session."""


@dataclass(eq=False)
class Party:
    """One side of a session (the visitor, or an agent), connected or within its window."""

    resume_token: str
    role: Role
    conn: Conn | None = None
    num: int = 0  # 0: the visitor (or a child session's host)
    agent: Agent | None = None
    ack_timer: asyncio.TimerHandle | None = None  # an acknowledgement on its way
    # The guests list version that first named this party: the visitor's pictures made
    # before it knew of the party (a smaller ``gv``) are not for its eyes (masks by role).
    announced: int = 0
    # Its reliable delivery: what it sent that was taken, when it went away, acks due.
    link: PartyEndpoint = field(init=False)

    def __post_init__(self) -> None:
        self.link = PartyEndpoint(self.role)


@dataclass(eq=False)
class LiveSession:
    """A session running in this process."""

    session: Session
    settings: GroupSettings
    visitor: Party
    to_agents: SessionLog
    to_visitor: SessionLog
    agents: dict[int, Party] = field(default_factory=dict)
    display: dict[str, Any] | None = None
    paused: bool = False
    paused_by: PausedBy = "visitor"
    rc_enabled: bool = False
    report_errors: bool = False
    errors: list[str] = field(default_factory=list)
    visitor_info: dict[str, str] = field(default_factory=dict)
    presence_start: bool = False
    parent_id: str = ""  # a child session: its parent's session ID
    join_token: str = ""  # a child session: the visitor's one-time invitation
    host_num: int = 0  # a child session: its host agent's number in the parent session
    children: dict[str, LiveSession] = field(default_factory=dict)  # by session type
    # Cobrowse: the log items since the page's latest full snapshot, for late agents.
    page: list[bytes] = field(default_factory=list)
    page_bytes: int = 0
    guests_version: int = 0  # each guests list told to the parties has the next number

    @property
    def claim_name(self) -> str:
        return key_claim(self.session.group_id, self.session.key)

    def state(self) -> dict[str, Any]:
        """What a party joining or resyncing needs to know."""
        return {
            "session_type": self.session.session_type, "group_id": self.session.group_id,
            "display": self.display, "paused": self.paused, "paused_by": self.paused_by,
            "rc_enabled": self.rc_enabled, "guests": self.guests(),
            "visitor_connected": self.visitor.conn is not None,
            "visitor": self.visitor_info,
            "features": {"remote_control": self.settings.remote_control_enabled,
                         "agent_video": self.settings.agent_video_enabled,
                         "showback": self.settings.showback_enabled,
                         "gestures": self.settings.gestures_enabled},
            "children": [child.notice() for child in self.children.values()],
        }

    def note_paused(self, header: dict[str, Any]) -> None:
        """The visitor's ``paused`` frame: whether the session is paused, and by whom."""
        self.paused = bool(header.get("paused"))
        self.paused_by = paused_by(header.get("by"))

    def refuses_pause(self, header: dict[str, Any]) -> bool:
        """Whether an agent's ``pause`` frame is refused: a resume while the visitor's own
        pause is on (issue 14: only the side that paused resumes)."""
        return not header.get("paused") and self.paused and self.paused_by == "visitor"

    def may(self, party: Party, privilege: Privilege) -> bool:
        """Whether ``party`` is seated here with ``privilege``."""
        seat = self.session.seats.get(party.num)
        return seat is not None and seat.may(privilege)

    def guests(self) -> dict[str, Any]:
        """The guests list every party is told (seed 002's fields), from the participants."""
        group_id = self.session.group_id
        agents = [
            {"num": p.num, "username": p.username, "name": p.display_name, "title": p.title,
             "role": "agent", "agentrole": p.agent_role, "guestid": p.agent_id,
             "partnerid": group_id}
            if p.kind is Kind.AGENT else
            {"num": p.num, "username": "", "name": p.display_name, "title": "",
             "role": "visitor", "agentrole": "", "guestid": 0, "partnerid": group_id}
            for p in self.session.seats.values()
        ]
        return {"count": len(agents), "agents": agents, "gv": self.guests_version}

    def notice(self) -> dict[str, Any]:
        """A child session as its parent's parties hear of it (no join token)."""
        host = self.visitor.agent
        return {"t": "child", "action": "started", "key": self.session.key,
                "session_type": self.session.session_type, "group_id": self.session.group_id,
                "agentnum": self.host_num, "username": host.username if host else "",
                "name": host.display_name if host else ""}


@dataclass(frozen=True, slots=True)
class Attachment:
    """Which party of which session a connection speaks for."""

    live: LiveSession
    party: Party

    @property
    def is_visitor(self) -> bool:
        """The party whose picture the session shows (a child session's host agent)."""
        return self.party.num == 0




def new_log() -> SessionLog:
    return SessionLog(max_bytes=LOG_MAX_BYTES, max_items=LOG_MAX_ITEMS)


def to_state(live: LiveSession, *, started_wall: float) -> bytes:
    """What another process needs to take the session over (``started_wall``: when it
    started, in seconds since the epoch)."""
    s = live.session
    return json.dumps({
        "session": {
            "session_id": s.session_id, "call_id": s.call_id, "group_id": s.group_id,
            "key": s.key, "started": started_wall, "persist": s.persist,
            "max_guests": s.max_guests, "no_agent_timeout": s.no_agent_timeout,
            "parent_call_id": s.parent_call_id, "session_type": s.session_type,
            "state": s.state.name, "peak_guests": s.peak_guests, "next_num": s._next_num,
            # Seven fields a seat, as the previous version reads them (a rolling upgrade
            # may hand a session back to it); what came after is in ``seat_more``.
            "seats": [[seat.num, seat.agent_id, seat.username, seat.display_name, seat.title,
                       seat.role, sorted(seat.privileges)] for seat in s.seats.values()],
        },
        "seat_more": {str(seat.num): [seat.agent_role, seat.kind.value]
                      for seat in s.seats.values()},
        "settings": live.settings.model_dump(mode="json"),
        "parties": [[p.num, p.resume_token, p.agent.agent_id if p.agent else 0, p.announced]
                    for p in (live.visitor, *live.agents.values())],
        "gv": live.guests_version,
        "display": live.display, "paused": live.paused, "paused_by": live.paused_by,
        "rc_enabled": live.rc_enabled, "report_errors": live.report_errors,
        "errors": live.errors,
        "visitor_info": live.visitor_info, "presence_start": live.presence_start,
        "parent_id": live.parent_id, "join_token": live.join_token, "host_num": live.host_num,
        "children": {kind: child.session.session_id for kind, child in live.children.items()},
    }, separators=(",", ":")).encode()


def from_state(state: dict[str, Any], agents: dict[int, Agent], *, started: float,
               lost_at: float, positions: dict[int, int] | None = None) -> LiveSession:
    """A session taken over: every party away (within its reconnect window from
    ``lost_at``), children linked by the caller. ``agents``: each agent by ID;
    ``positions``: the last message number taken from each party, by number."""
    s = state["session"]
    session = Session(
        session_id=s["session_id"], call_id=s["call_id"], group_id=GroupId(s["group_id"]),
        key=s["key"], started_at=started, persist=s["persist"], max_guests=s["max_guests"],
        no_agent_timeout=s["no_agent_timeout"], parent_call_id=s["parent_call_id"],
        session_type=s["session_type"], state=SessionState[s["state"]],
        seats={seat[0]: _participant(seat, state.get("seat_more", {}).get(str(seat[0])), agents)
               for seat in s["seats"]},
        peak_guests=s["peak_guests"], _next_num=s["next_num"])
    parties = [Party(resume_token=token, num=num, agent=agents.get(agent_id),
                     role=_role(num, agents.get(agent_id), child=bool(state["parent_id"])),
                     announced=int(rest[0]) if rest else 0)
               for num, token, agent_id, *rest in state["parties"]]
    for party in parties:
        party.link = PartyEndpoint(party.role, last_received=(positions or {}).get(party.num, 0))
        party.link.connection_lost(lost_at)
    return LiveSession(
        session=session, settings=GroupSettings.model_validate(state["settings"]),
        visitor=parties[0], to_agents=new_log(), to_visitor=new_log(),
        agents={p.num: p for p in parties[1:]}, display=state["display"],
        paused=state["paused"], paused_by=paused_by(state.get("paused_by")),
        rc_enabled=state["rc_enabled"],
        report_errors=state["report_errors"], errors=list(state["errors"]),
        visitor_info=dict(state["visitor_info"]), presence_start=state["presence_start"],
        parent_id=state["parent_id"], join_token=state["join_token"],
        host_num=state["host_num"], guests_version=int(state.get("gv", 0)))


def _role(num: int, agent: Agent | None, *, child: bool) -> Role:
    if num == 0:
        return Role.HOST if child else Role.VISITOR
    return Role.AGENT if agent is not None else Role.VIEWER


def _participant(fields: list[Any], more: list[Any] | None,
                 agents: dict[int, Agent]) -> Participant:
    """A participant as a state holds it: a seat's seven fields, and its role title and kind
    (``more``). A state from before participants kept them (a rolling upgrade) has no
    ``more``: the title comes from the agent's record (a mask by role must not lapse with a
    takeover), or is unknown (None: masks by role hide from it), the kind from ``role``."""
    num, agent_id, username, name, title, role, privileges = fields[:7]
    agent = agents.get(agent_id)
    if more is not None:
        agent_role, kind = more[0], Kind(more[1])
    else:
        agent_role = agent.agent_role if agent is not None else None
        kind = Kind.VISITOR if role == Kind.VISITOR.value else Kind.AGENT
    return Participant(num, AgentId(agent_id), username, name, title, role,
                       frozenset(privileges), agent_role, kind)
