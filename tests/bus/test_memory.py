"""The in-process bus's counters."""

from __future__ import annotations

import asyncio

from coview.bus.memory import MemoryBus


def test_counters_expire_after_their_window() -> None:
    """A counter counts within its window and resets after it."""
    now = [0.0]
    bus = MemoryBus(clock=lambda: now[0])

    async def scenario() -> None:
        assert await bus.incr("k", window=10) == 1
        assert await bus.incr("k", window=10) == 2
        assert await bus.count("k") == (2, 10)
        now[0] = 9.5
        assert await bus.count("k") == (2, 1)
        now[0] = 10.0
        assert await bus.count("k") == (0, 0)
        assert await bus.incr("k", window=10) == 1
        await bus.reset("k")
        assert await bus.count("k") == (0, 0)
        await bus.ping()

    asyncio.run(scenario())
