"""The server end of a session connection, without a network: what each party may send,
delivery once and in order, acknowledgements coalesced by time, windows, and replay."""

from __future__ import annotations

import pytest

from coview.protocol.frames import ProtocolError, encode_frame
from coview.protocol.reliability import SessionLog
from coview.protocol.server import (
    ACK_DELAY,
    MAX_AGENT_FRAME,
    PartyEndpoint,
    Role,
    replay,
)


def frame(t: str, seq: int | None = None, payload: bytes = b"", **fields: object) -> bytes:
    header: dict[str, object] = {"t": t, **fields}
    if seq is not None:
        header["s"] = seq
    return encode_frame(header, payload)


def test_each_number_is_delivered_once_and_in_order() -> None:
    visitor = PartyEndpoint(Role.VISITOR)
    got = [visitor.receive(frame("dom", n), 0.0) for n in (1, 2, 2, 1, 3)]
    assert [g.frame.header["s"] if g else None for g in got] == [1, 2, None, None, 3]
    assert all(g.reliable for g in got if g)
    with pytest.raises(ProtocolError, match="missing"):
        visitor.receive(frame("dom", 5), 0.0)


def test_a_party_sends_only_what_its_role_may() -> None:
    agent = PartyEndpoint(Role.AGENT)
    for forbidden in (frame("rc", 1, enabled=True), frame("dom", 1), frame("tile")):
        with pytest.raises(ProtocolError, match="unexpected"):
            agent.receive(forbidden, 0.0)
    assert agent.receive(frame("message", 1, text="hi"), 0.0) is not None
    viewer = PartyEndpoint(Role.VIEWER)
    with pytest.raises(ProtocolError):
        viewer.receive(frame("message", 1), 0.0)
    host = PartyEndpoint(Role.HOST)
    with pytest.raises(ProtocolError):
        host.receive(frame("dom", 1), 0.0)  # a child session shares a screen, not a page
    assert host.receive(frame("display", 1), 0.0) is not None


def test_numbers_are_integers_and_frames_are_bounded() -> None:
    agent = PartyEndpoint(Role.AGENT)
    for seq in ("1", 1.0, True):
        with pytest.raises(ProtocolError):
            agent.receive(encode_frame({"t": "message", "s": seq}), 0.0)
    with pytest.raises(ProtocolError):
        agent.receive(frame("message", 1, payload=b"x" * MAX_AGENT_FRAME), 0.0)
    visitor = PartyEndpoint(Role.VISITOR)
    assert visitor.receive(frame("dom", 1, payload=b"x" * MAX_AGENT_FRAME), 0.0) is not None


def test_volatile_frames_are_relayed_unnumbered_and_acks_consumed() -> None:
    visitor = PartyEndpoint(Role.VISITOR)
    tile = visitor.receive(frame("tile", x=0, y=0), 0.0)
    assert tile is not None
    assert not tile.reliable
    assert visitor.receive(frame("ack", a=3), 0.0) is None
    assert visitor.ack(1.0) is None  # nothing numbered arrived: nothing to acknowledge


def handle(endpoint: PartyEndpoint, data: bytes, now: float) -> None:
    """What the hub does: take the frame, act on it, say so."""
    if endpoint.receive(data, now) is not None:
        endpoint.handled(now)


def test_one_acknowledgement_covers_a_burst() -> None:
    visitor = PartyEndpoint(Role.VISITOR)
    for n in range(1, 51):
        handle(visitor, frame("dom", n), 100.0 + n * 0.0001)
    assert visitor.ack_due == pytest.approx(100.0001 + ACK_DELAY)
    assert visitor.ack(100.0) is None  # not yet
    assert visitor.ack(100.0 + ACK_DELAY + 0.001) == 50
    assert visitor.ack(101.0) is None  # said once
    handle(visitor, frame("dom", 50), 101.0)  # a duplicate asks for nothing new
    assert visitor.ack_due is None
    handle(visitor, frame("dom", 51), 101.0)
    assert visitor.ack(101.0 + ACK_DELAY) == 51


def test_a_message_still_being_acted_on_is_not_acknowledged() -> None:
    """The hub may wait (an audit record) while acting on a message; an acknowledgement due
    meanwhile covers only what it finished, so the sender keeps the rest to send again."""
    visitor = PartyEndpoint(Role.VISITOR)
    handle(visitor, frame("dom", 1), 0.0)
    assert visitor.receive(frame("rc", 2, enabled=True), 0.001) is not None  # being acted on
    assert visitor.ack(ACK_DELAY) == 1
    visitor.handled(0.02)
    assert visitor.ack(0.02 + ACK_DELAY) == 2


def test_the_window_runs_from_the_drop_and_stops_on_return() -> None:
    agent = PartyEndpoint(Role.AGENT)
    handle(agent, frame("message", 1), 5.0)
    agent.connection_lost(10.0)
    assert agent.ack(20.0) is None  # nobody to tell
    assert not agent.expired(39.9, 30)
    assert agent.expired(40.0, 30)
    agent.connection_back()
    assert not agent.expired(1000.0, 30)


def test_the_position_copied_elsewhere_moves_once_per_change() -> None:
    visitor = PartyEndpoint(Role.VISITOR, last_received=7)
    assert visitor.unsynced() is None
    visitor.receive(frame("dom", 8), 0.0)
    assert visitor.unsynced() == 8
    assert visitor.unsynced() is None
    visitor.receive(frame("dom", 9), 0.0)
    assert visitor.synced_now() == 9  # copied with the message it relayed
    assert visitor.unsynced() is None


def test_replay_resumes_from_the_log_or_says_it_cannot() -> None:
    log = SessionLog(max_bytes=1000, max_items=3)
    for n in range(1, 6):
        log.append(f"m{n}".encode())
    assert replay(log, 3) == replay(log, 3)
    assert replay(log, 3).items == [b"m4", b"m5"]
    assert replay(log, 3).resumed
    assert replay(log, 5).resumed
    assert replay(log, 5).items == []
    assert not replay(log, 1).resumed  # m2 is forgotten: the party catches up instead
    assert not replay(log, 9).resumed  # a position the log never reached
