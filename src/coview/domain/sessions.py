"""Sessions: who is in them, how they end, sans I/O (the time is always passed in).

The rules of seed 000: a session ends when the visitor ends it (THIS_SIDE), when an agent ends
it (OTHER_SIDE), when the last agent leaves unless it persists (OTHER_SIDE), when no agent has
joined within the group's no-agent timeout (TIMED_OUT), when the group's simultaneous-session
limit ends it (KILLED), when the visitor's connection is gone past the reconnect window
(CONN_DROP), or on an unexpected error (ERROR).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from coview.domain.agents import Agent, Privilege
from coview.errors import Conflict, CoviewError
from coview.ids import AgentId, GroupId
from coview.protocol.reasons import SessionEndReason

__all__ = ["SessionEndReason"]  # a protocol fact, named here for the domain's own readers


class SessionState(enum.Enum):
    WAITING = "waiting"  # started; no agent has joined yet
    ACTIVE = "active"  # at least one agent has joined at some point
    ENDED = "ended"


class SessionFull(Conflict):
    """The session has as many agents as its ``max_guests`` allows."""

    code = "session_full"


class SessionEnded(CoviewError):
    """The session has ended; nothing more can happen in it."""

    code = "session_ended"


class Kind(enum.StrEnum):
    """What a participant is to the session."""

    AGENT = "agent"
    VISITOR = "visitor"  # the visitor, seated in a child session it views


@dataclass(frozen=True, slots=True)
class Participant:
    """Someone seated in a session beside the side it shows: an agent, or the visitor viewing
    a child session. ``num`` is the order of arrival (1, 2, ...); ``role`` the agent's account
    role (``visitor`` for the visitor); ``agent_role`` its role title (seed 002's
    ``agentrole``, which masks by role name; None: not known, and a mask by role hides from
    it). Admission seats it; the guests list, masks by role and the permission checks read
    it."""

    num: int
    agent_id: AgentId
    username: str
    display_name: str
    title: str
    role: str
    privileges: frozenset[str]
    agent_role: str | None = ""
    kind: Kind = Kind.AGENT

    @classmethod
    def of_agent(cls, agent: Agent) -> Participant:
        return cls(0, agent.agent_id, agent.username, agent.display_name, agent.title,
                   agent.role.value, frozenset(p.value for p in agent.privileges),
                   agent.agent_role)

    @classmethod
    def viewer(cls, name: str) -> Participant:
        return cls(0, AgentId(0), "", name, "", Kind.VISITOR.value, frozenset(),
                   kind=Kind.VISITOR)

    def may(self, privilege: Privilege) -> bool:
        """Whether this participant holds ``privilege`` (a visitor holds none)."""
        return self.kind is Kind.AGENT and privilege.value in self.privileges


@dataclass(slots=True)
class Session:
    """One live session and the rules of its life."""

    session_id: str
    call_id: int
    group_id: GroupId
    key: str
    started_at: float
    persist: bool
    max_guests: int  # 0: no limit
    no_agent_timeout: float  # 0: wait forever
    parent_call_id: int = 0
    session_type: str = "screenshare"
    state: SessionState = SessionState.WAITING
    end_reason: SessionEndReason | None = None
    ended_at: float | None = None
    seats: dict[int, Participant] = field(default_factory=dict)  # by number
    peak_guests: int = 0
    _next_num: int = 1

    @property
    def guest_count(self) -> int:
        return len(self.seats)

    @property
    def ended(self) -> bool:
        return self.state is SessionState.ENDED

    def join(self, seat: Participant) -> Participant:
        """Seat a participant, numbering it; raise SessionFull or SessionEnded."""
        if self.ended:
            raise SessionEnded("the session has ended")
        if self.max_guests and len(self.seats) >= self.max_guests:
            raise SessionFull(f"the session allows {self.max_guests} agent(s)")
        numbered = replace(seat, num=self._next_num)
        self._next_num += 1
        self.seats[numbered.num] = numbered
        self.state = SessionState.ACTIVE
        self.peak_guests = max(self.peak_guests, len(self.seats))
        return numbered

    def leave(self, num: int, now: float) -> bool:
        """An agent leaves; return True if that ends the session (last agent, not persist)."""
        self.seats.pop(num, None)
        if not self.seats and not self.persist and not self.ended:
            self.end(SessionEndReason.OTHER_SIDE, now)
            return True
        return False

    def end(self, reason: SessionEndReason, now: float) -> bool:
        """End the session; return False if it had already ended."""
        if self.ended:
            return False
        self.state = SessionState.ENDED
        self.end_reason = reason
        self.ended_at = now
        return True

    def timeout_at(self) -> float | None:
        """When the session times out for want of an agent (None: it will not)."""
        if self.state is not SessionState.WAITING or not self.no_agent_timeout:
            return None
        return self.started_at + self.no_agent_timeout

    def check_timeout(self, now: float) -> bool:
        """End the session with TIMED_OUT if no agent joined in time; return whether it did."""
        deadline = self.timeout_at()
        if deadline is not None and now >= deadline:
            return self.end(SessionEndReason.TIMED_OUT, now)
        return False
