"""A connection's outbound queue: reliable in order and bounded, volatile coalesced by place."""

from __future__ import annotations

import asyncio

import pytest

from coview.server.outbound import Outbound, OutboundOverflow


def drain(queue: Outbound) -> list[bytes]:
    frames = []
    while (frame := queue.get_nowait()) is not None:
        frames.append(frame)
    return frames


def test_reliable_first_then_the_newest_tile_of_each_place() -> None:
    """A slow reader gets every reliable frame in order, and only the newest tile per place."""
    queue = Outbound(max_reliable_bytes=100, max_volatile_bytes=100)
    queue.put_volatile(("tile", 0, 0), b"a1")
    queue.put_volatile(("tile", 64, 0), b"b1")
    queue.put_reliable(b"r1")
    queue.put_volatile(("tile", 0, 0), b"a2")
    queue.put_reliable(b"r2")
    assert drain(queue) == [b"r1", b"r2", b"b1", b"a2"]


def test_a_key_frame_replaces_every_waiting_tile() -> None:
    """A key frame makes every older tile useless."""
    queue = Outbound(max_reliable_bytes=100, max_volatile_bytes=100)
    queue.put_volatile(("tile", 0, 0), b"a")
    queue.put_volatile(("tile", 64, 0), b"b")
    queue.put_volatile(("tile", "key"), b"KEY", replaces_all=True)
    assert drain(queue) == [b"KEY"]


def test_bounds() -> None:
    """Volatile frames past the bound drop the oldest; reliable ones past it overflow."""
    queue = Outbound(max_reliable_bytes=4, max_volatile_bytes=5)
    for n in range(5):
        queue.put_volatile(n, b"xx")
    assert drain(queue) == [b"xx", b"xx"]
    queue.put_reliable(b"1234")
    with pytest.raises(OutboundOverflow):
        queue.put_reliable(b"5")


def test_get_waits_and_close_ends() -> None:
    """get() waits for a frame, and returns None once closed and drained."""
    async def scenario() -> list[bytes | None]:
        queue = Outbound(max_reliable_bytes=10, max_volatile_bytes=10)
        waiter = asyncio.create_task(queue.get())  # runs first, finds nothing, waits
        asyncio.get_running_loop().call_soon(queue.put_reliable, b"x")
        first = await waiter
        queue.put_reliable(b"y")
        queue.close()
        queue.put_reliable(b"after close")
        return [first, await queue.get(), await queue.get()]

    assert asyncio.run(scenario()) == [b"x", b"y", None]


def test_next_size_names_the_frame_get_nowait_returns() -> None:
    out = Outbound(max_reliable_bytes=1024, max_volatile_bytes=1024)
    assert out.next_size() is None
    out.put_volatile("tile", b"v" * 7)
    out.put_reliable(b"r" * 3)
    assert out.next_size() == 3
    assert out.get_nowait() == b"rrr"
    assert out.next_size() == 7
    assert out.get_nowait() == b"v" * 7
    assert out.next_size() is None
