"""The server end of a session connection, sans I/O: one party's reliable delivery.

The server keeps, for each party of a session (the visitor, each agent, a child session's
host and viewer), a :class:`PartyEndpoint`. The hub hands it every frame the party sends
with the current time; the endpoint checks that the party may send it, delivers each
numbered message once and in order, and says when an acknowledgement is due (cumulative, at
most one per :data:`ACK_DELAY`, so a burst of page changes costs one). The hub calls
:meth:`PartyEndpoint.ack` at that time, and :meth:`PartyEndpoint.expired` from its ticker.
What goes the other way is numbered once for all readers in the session's
:class:`~coview.protocol.reliability.SessionLog`; :func:`replay` says what a party that comes
back gets from it.

The client half is :mod:`coview.protocol.client` (and ``web/src/shared/protocol.js``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from coview.protocol.catalog import Delivery, Sender, sent_by
from coview.protocol.frames import Frame, ProtocolError, decode_frame
from coview.protocol.reliability import Inbox, SessionLog

# Seconds an acknowledgement waits to cover what arrives after the message it answers.
ACK_DELAY = 0.01
# The largest frame each kind of party may send: a page's full snapshot from a visitor, a
# message or an input event from an agent.
MAX_VISITOR_FRAME = 16 * 1024 * 1024
MAX_AGENT_FRAME = 256 * 1024


class Role(enum.Enum):
    """What a party is to the session, which decides what it may send."""

    VISITOR = "visitor"  # the side whose screen or page the session shows
    AGENT = "agent"
    HOST = "host"  # a child session's visitor side: the agent who shares
    VIEWER = "viewer"  # a child session's watcher: the visitor

    @property
    def shows(self) -> bool:
        """Whether this party's frames are the session's picture (number 0)."""
        return self in (Role.VISITOR, Role.HOST)


# What each party may send after the handshake (anything else is a protocol error): reliable
# types, volatile types, from the catalog of messages.
ALLOWED: dict[Role, tuple[frozenset[str], frozenset[str]]] = {
    role: (sent_by(Sender(role.value), Delivery.RELIABLE),
           sent_by(Sender(role.value), Delivery.VOLATILE))
    for role in Role
}
# Agent messages that drive the visitor's page or screen: only under remote control.
CONTROL_TYPES = frozenset({"input", "navigate"})


@dataclass(frozen=True, slots=True)
class Incoming:
    """A frame the party sent, to act on: ``reliable`` if it carried a number (delivered
    once), else volatile (a tile, a pointer move: relayed or dropped, never replayed)."""

    frame: Frame
    reliable: bool


@dataclass(frozen=True, slots=True)
class Replay:
    """What a party that comes back is sent: everything after its position if the log
    still holds it (``resumed``), else nothing (it catches up from the session's state)."""

    resumed: bool
    items: list[bytes]


class PartyEndpoint:
    """One party's reliable delivery on the server."""

    def __init__(self, role: Role, *, last_received: int = 0) -> None:
        self.role = role
        self.inbox = Inbox(last_received)
        self.lost_at: float | None = None  # when its connection went, inside its window
        self.ack_due: float | None = None  # when the next acknowledgement goes
        self.handled_last = last_received  # the last message the server has acted on
        self.synced = last_received  # the position another process's copy holds

    @property
    def last_received(self) -> int:
        return self.inbox.last

    @property
    def max_frame(self) -> int:
        return MAX_VISITOR_FRAME if self.role.shows else MAX_AGENT_FRAME

    def receive(self, data: bytes, now: float) -> Incoming | None:
        """The party's frame checked: what to act on (then :meth:`handled` once acted on),
        or None (an acknowledgement, a message already delivered). Raise
        :class:`ProtocolError` for a frame out of bounds, a type the party may not send, or a
        gap in its numbers."""
        frame = decode_frame(data, max_bytes=self.max_frame)
        reliable_types, volatile_types = ALLOWED[self.role]
        seq = frame.header.get("s")
        if seq is None:
            if frame.type not in volatile_types:
                raise ProtocolError(f"unexpected volatile {frame.type!r}")
            return None if frame.type == "ack" else Incoming(frame, reliable=False)
        if frame.type not in reliable_types or type(seq) is not int:
            raise ProtocolError(f"unexpected reliable {frame.type!r}")
        if not self.inbox.accept(seq):
            return None
        return Incoming(frame, reliable=True)

    def handled(self, now: float) -> None:
        """The server has acted on the last message taken (relayed it, written it where a
        takeover reads it): it may be acknowledged from now on. A message still being acted
        on is never acknowledged, so a sender never forgets one the server could still lose."""
        self.handled_last = self.inbox.last
        if self.ack_due is None:
            self.ack_due = now + ACK_DELAY

    def ack(self, now: float) -> int | None:
        """The position to acknowledge if an acknowledgement is due at ``now``."""
        if self.ack_due is None or now < self.ack_due:
            return None
        self.ack_due = None
        return self.handled_last

    def unsynced(self) -> int | None:
        """The position to copy to the other processes, if it moved since the last copy."""
        if self.inbox.last == self.synced:
            return None
        self.synced = self.inbox.last
        return self.synced

    def synced_now(self) -> int:
        """The position, copied along with a message this party caused (nothing left for
        :meth:`unsynced` to copy)."""
        self.synced = self.inbox.last
        return self.synced

    def connection_lost(self, now: float) -> None:
        self.lost_at = now
        self.ack_due = None

    def connection_back(self) -> None:
        self.lost_at = None

    def expired(self, now: float, window: float) -> bool:
        """Whether the party has been away longer than the reconnect window."""
        return self.lost_at is not None and now >= self.lost_at + window


def replay(log: SessionLog, after: int) -> Replay:
    """What a party that had everything up to ``after`` is sent on its resume."""
    if not log.can_replay_after(after):
        return Replay(resumed=False, items=[])
    return Replay(resumed=True, items=[item for _, item in log.after(after)])
