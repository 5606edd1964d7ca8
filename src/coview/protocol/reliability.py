"""Reliable delivery: sequence numbers, acknowledgements and replay after a reconnect.

Each direction of a session carries reliable messages numbered 1, 2, 3... by their sender.
The receiver delivers each number once, in order, and acknowledges the highest it delivered;
the sender keeps what is not yet acknowledged and sends it again after a reconnect. So a
connection that drops and comes back within the reconnect window loses and duplicates nothing.
"""

from __future__ import annotations

from collections import deque

from coview.protocol.frames import ProtocolError


class BufferFull(ProtocolError):
    """More unacknowledged data than the bound: the peer has stopped acknowledging."""

    code = "buffer_full"


class Outbox:
    """The sender's side: numbers messages and keeps them until acknowledged."""

    def __init__(self, *, max_bytes: int, first_seq: int = 1) -> None:
        self.max_bytes = max_bytes
        self.next_seq = first_seq
        self.acked = first_seq - 1
        self._pending: deque[tuple[int, bytes]] = deque()
        self._bytes = 0

    def add(self, item: bytes) -> int:
        """Keep ``item`` under the next number and return that number."""
        if self._bytes + len(item) > self.max_bytes:
            raise BufferFull(f"over {self.max_bytes} bytes are waiting for acknowledgement")
        seq = self.next_seq
        self.next_seq += 1
        self._pending.append((seq, item))
        self._bytes += len(item)
        return seq

    def ack(self, seq: int) -> None:
        """Forget everything numbered up to ``seq`` (acknowledgements only move forward)."""
        if seq >= self.next_seq:
            raise ProtocolError(f"acknowledgement {seq} of a message never sent")
        while self._pending and self._pending[0][0] <= seq:
            _, item = self._pending.popleft()
            self._bytes -= len(item)
        self.acked = max(self.acked, seq)

    def after(self, seq: int) -> list[tuple[int, bytes]]:
        """What the peer has not received if it has everything up to ``seq``."""
        if seq < self.acked:
            raise ProtocolError(f"peer asks from {seq} but {self.acked} was acknowledged")
        return [(s, item) for s, item in self._pending if s > seq]

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1


class Inbox:
    """The receiver's side: delivers each number once and in order."""

    def __init__(self, last: int = 0) -> None:
        self.last = last

    def accept(self, seq: int) -> bool:
        """Return True to deliver ``seq``, False for a duplicate; a gap is a protocol error."""
        if seq == self.last + 1:
            self.last = seq
            return True
        if seq <= self.last:
            return False
        raise ProtocolError(f"message {seq} arrived after {self.last}: one is missing")


class SessionLog:
    """A bounded, numbered log of one direction of a session, shared by all its readers.

    The server appends each reliable message once; every agent (or the visitor) reads it from
    its own position, and a reader that comes back reads again from where it was.
    """

    def __init__(self, *, max_bytes: int, max_items: int) -> None:
        self.max_bytes = max_bytes
        self.max_items = max_items
        self.last_seq = 0
        self._items: deque[tuple[int, bytes]] = deque()
        self._bytes = 0

    def append(self, item: bytes) -> int:
        """Add an item, forgetting the oldest past the bounds; return its number."""
        self.last_seq += 1
        self._items.append((self.last_seq, item))
        self._bytes += len(item)
        while self._items and (self._bytes > self.max_bytes or len(self._items) > self.max_items):
            _, old = self._items.popleft()
            self._bytes -= len(old)
        return self.last_seq

    def restore(self, items: list[tuple[int, bytes]]) -> None:
        """Hold ``items`` (numbered, in order) as the log another process kept held them."""
        self._items = deque(items)
        self._bytes = sum(len(item) for _, item in items)
        self.last_seq = items[-1][0] if items else 0

    @property
    def first_seq(self) -> int:
        """The oldest number still held (last_seq + 1 when empty)."""
        return self._items[0][0] if self._items else self.last_seq + 1

    def can_replay_after(self, seq: int) -> bool:
        """Whether every item after ``seq`` is still held."""
        return self.first_seq <= seq + 1 <= self.last_seq + 1

    def after(self, seq: int) -> list[tuple[int, bytes]]:
        """Items numbered above ``seq``."""
        if not self.can_replay_after(seq):
            raise ProtocolError(f"items after {seq} are no longer held")
        return [(s, item) for s, item in self._items if s > seq]
