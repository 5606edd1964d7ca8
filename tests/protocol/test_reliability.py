"""Sequence numbers, acknowledgements, replay, and the shared session log."""

from __future__ import annotations

import pytest

from coview.protocol.frames import ProtocolError
from coview.protocol.reliability import BufferFull, Inbox, Outbox, SessionLog


def test_outbox_replays_what_is_not_acknowledged() -> None:
    """After an acknowledgement only later messages are kept for replay."""
    box = Outbox(max_bytes=100)
    assert [box.add(b"a"), box.add(b"b"), box.add(b"c")] == [1, 2, 3]
    box.ack(1)
    assert box.after(1) == [(2, b"b"), (3, b"c")]
    assert box.pending_bytes == 2
    with pytest.raises(ProtocolError):
        box.ack(4)
    with pytest.raises(ProtocolError):
        box.after(0)


def test_outbox_is_bounded() -> None:
    """An outbox refuses to hold more than its bound."""
    box = Outbox(max_bytes=5)
    box.add(b"abc")
    with pytest.raises(BufferFull):
        box.add(b"abc")


def test_inbox_delivers_once_in_order() -> None:
    """Duplicates are dropped and a gap is an error."""
    inbox = Inbox()
    assert [inbox.accept(1), inbox.accept(2), inbox.accept(2), inbox.accept(1)] == [
        True, True, False, False]
    with pytest.raises(ProtocolError):
        inbox.accept(4)


def test_session_log_bounds_and_replay() -> None:
    """The log forgets its oldest items past its bounds and says what it can replay."""
    log = SessionLog(max_bytes=10, max_items=3)
    for item in (b"aa", b"bb", b"cc", b"dd"):
        log.append(item)
    assert log.first_seq == 2
    assert log.after(2) == [(3, b"cc"), (4, b"dd")]
    assert log.can_replay_after(1)
    assert not log.can_replay_after(0)
    with pytest.raises(ProtocolError):
        log.after(0)
    log.append(b"e" * 9)  # over the byte bound: only the newest stays
    assert log.first_seq == 5
