"""What a server connection has yet to write: reliable frames in order, volatile ones coalesced.

A slow reader (an agent on a poor network) must not make the server's memory grow, nor fall
ever further behind. Reliable frames queue in order up to a bound (past it the connection is
dropped and the client resumes from the session log). Volatile frames (screen tiles, pointer
moves) are kept by what they update: a newer tile at the same place replaces the older one, and
a key frame replaces everything, so a slow reader gets fewer, newer frames and still a whole
picture.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable


class OutboundOverflow(Exception):
    """The reader fell too far behind on reliable frames."""


class Outbound:
    """The frames waiting for one connection's writer."""

    def __init__(self, *, max_reliable_bytes: int, max_volatile_bytes: int,
                 on_ready: Callable[[], None] | None = None) -> None:
        """``on_ready``: called after each frame queued and at close, for a connection that
        writes at once (rather than awaiting :meth:`get` in a writer task)."""
        self.max_reliable_bytes = max_reliable_bytes
        self.max_volatile_bytes = max_volatile_bytes
        self._reliable: deque[bytes] = deque()
        self._reliable_bytes = 0
        self._volatile: OrderedDict[Hashable, bytes] = OrderedDict()
        self._volatile_bytes = 0
        self._ready = asyncio.Event()
        self._on_ready = on_ready
        self.closed = False

    def put_reliable(self, frame: bytes) -> None:
        if self.closed:
            return
        if self._reliable_bytes + len(frame) > self.max_reliable_bytes:
            raise OutboundOverflow("reader is too slow")
        self._reliable.append(frame)
        self._reliable_bytes += len(frame)
        self._wake()

    def put_volatile(self, slot: Hashable, frame: bytes, *, replaces_all: bool = False) -> None:
        """Queue a volatile frame for ``slot``, replacing one waiting there (or every one)."""
        if self.closed:
            return
        if replaces_all:
            self._volatile.clear()
            self._volatile_bytes = 0
        old = self._volatile.pop(slot, None)
        if old is not None:
            self._volatile_bytes -= len(old)
        self._volatile[slot] = frame
        self._volatile_bytes += len(frame)
        while self._volatile_bytes > self.max_volatile_bytes and len(self._volatile) > 1:
            _, dropped = self._volatile.popitem(last=False)
            self._volatile_bytes -= len(dropped)
        self._wake()

    @property
    def reliable_waiting(self) -> bool:
        """Whether a reliable frame waits to be written."""
        return bool(self._reliable)

    def clear_volatile(self) -> None:
        self._volatile.clear()
        self._volatile_bytes = 0

    async def get(self) -> bytes | None:
        """The next frame to write (reliable first), or None once closed."""
        while True:
            frame = self.get_nowait()
            if frame is not None:
                return frame
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()

    def next_size(self) -> int | None:
        """The size of the frame :meth:`get_nowait` would return, if one is waiting."""
        if self._reliable:
            return len(self._reliable[0])
        if self._volatile:
            return len(next(iter(self._volatile.values())))
        return None

    def get_nowait(self) -> bytes | None:
        """The next frame if one is waiting, else None."""
        if self._reliable:
            frame = self._reliable.popleft()
            self._reliable_bytes -= len(frame)
            return frame
        if self._volatile:
            _, frame = self._volatile.popitem(last=False)
            self._volatile_bytes -= len(frame)
            return frame
        return None

    def discard(self) -> None:
        """The socket is gone: drop what is queued, close, and forget the socket's callback
        (which would hold the socket and this queue in a reference cycle)."""
        self._reliable.clear()
        self._reliable_bytes = 0
        self.clear_volatile()
        self.close()
        self._on_ready = None

    def close(self) -> None:
        """No more frames; the writer finishes what is queued, then stops."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._ready.set()
        if self._on_ready is not None:
            self._on_ready()
