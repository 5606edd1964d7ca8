"""Session rules: seats, guest limits, persist, timeouts and end reasons."""

from __future__ import annotations

import pytest

from coview.domain.sessions import (
    Participant,
    Session,
    SessionEnded,
    SessionEndReason,
    SessionFull,
    SessionState,
)
from coview.ids import AgentId, GroupId


def session(**kwargs: object) -> Session:
    options: dict[str, object] = {"session_id": "s", "call_id": 1, "group_id": GroupId(1),
                                  "key": "123456", "started_at": 100.0, "persist": False,
                                  "max_guests": 0, "no_agent_timeout": 60.0}
    options.update(kwargs)
    return Session(**options)  # type: ignore[arg-type]


def seat(agent: int) -> Participant:
    return Participant(0, AgentId(agent), f"a{agent}", "A", "", "agent", frozenset())


def test_agents_are_numbered_in_join_order() -> None:
    """Agents get numbers 1, 2, ... and peak guests is kept."""
    s = session()
    assert [s.join(seat(7)).num, s.join(seat(8)).num] == [1, 2]
    s.leave(1, 110)
    assert s.join(seat(9)).num == 3
    assert s.peak_guests == 2
    assert s.state is SessionState.ACTIVE


def test_last_agent_leaving_ends_unless_persist() -> None:
    """Without persist the session ends with OTHER_SIDE when the last agent leaves."""
    s = session()
    s.join(seat(1))
    assert s.leave(1, 120) is True
    assert s.end_reason is SessionEndReason.OTHER_SIDE
    kept = session(persist=True)
    kept.join(seat(1))
    assert kept.leave(1, 120) is False
    assert not kept.ended


def test_max_guests() -> None:
    """A session with max_guests refuses one agent more."""
    s = session(max_guests=1)
    s.join(seat(1))
    with pytest.raises(SessionFull):
        s.join(seat(2))


def test_no_agent_timeout() -> None:
    """A session no agent joined ends TIMED_OUT at the deadline, not before, never after join."""
    s = session()
    assert s.timeout_at() == 160.0
    assert s.check_timeout(159.9) is False
    assert s.check_timeout(160.0) is True
    assert s.end_reason is SessionEndReason.TIMED_OUT
    joined = session()
    joined.join(seat(1))
    assert joined.check_timeout(1000) is False
    never = session(no_agent_timeout=0)
    assert never.check_timeout(10**9) is False


def test_end_once() -> None:
    """A session ends once; the first reason stands and no one can join after."""
    s = session()
    assert s.end(SessionEndReason.KILLED, 130) is True
    assert s.end(SessionEndReason.THIS_SIDE, 131) is False
    assert s.end_reason is SessionEndReason.KILLED
    with pytest.raises(SessionEnded):
        s.join(seat(1))
