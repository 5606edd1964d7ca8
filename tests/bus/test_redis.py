"""The Redis bus against the Redis running here: the same behaviour as the in-process bus,
shared by two bus instances as two server processes would share it."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from coview.bus.memory import MemoryBus
from coview.bus.redis import RedisBus
from coview.errors import Unavailable

REDIS_URL = "redis://127.0.0.1:6379/0"


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def two_processes() -> tuple[RedisBus, RedisBus]:
    prefix = f"coview-test-{uuid.uuid4().hex}:"
    first, second = RedisBus(REDIS_URL, prefix=prefix), RedisBus(REDIS_URL, prefix=prefix)
    await first.start()
    await second.start()
    return first, second


def test_claims_are_shared_and_released_only_by_their_owner() -> None:
    async def scenario() -> None:
        a, b = await two_processes()
        try:
            assert await a.claim("key:1:4321", "session-a") is None
            assert await a.claim("key:1:4321", "session-a") is None  # its own: fine
            assert await b.claim("key:1:4321", "session-b") == "session-a"
            assert await b.holder("key:1:4321") == "session-a"
            await b.release("key:1:4321", "session-b")  # not the owner: no effect
            assert await b.holder("key:1:4321") == "session-a"
            await a.release("key:1:4321", "session-a")
            assert await b.holder("key:1:4321") is None
            assert await b.claim("key:1:4321", "session-b") is None
            await b.release("key:1:4321", "session-b")
        finally:
            await a.close()
            await b.close()
    run(scenario())


def test_counters_are_shared_within_their_window() -> None:
    async def scenario() -> None:
        a, b = await two_processes()
        try:
            assert await a.incr("login:1:ann", window=60) == 1
            assert await b.incr("login:1:ann", window=60) == 2
            count, resets_in = await a.count("login:1:ann")
            assert count == 2
            assert 0 < resets_in <= 60
            await b.reset("login:1:ann")
            assert await a.count("login:1:ann") == (0, 0)
            # The window is Redis's own expiry, set by the first increment only.
            assert await a.incr("short", window=7) == 1
            assert await b.incr("short", window=60) == 2
            assert await a.count("short") == (2, 7)
        finally:
            await a.close()
            await b.close()
    run(scenario())


@pytest.mark.parametrize("make", [MemoryBus, lambda: RedisBus(REDIS_URL,
                                                               prefix=f"t-{uuid.uuid4().hex}:")])
def test_both_buses_answer_alike(make) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> list[object]:
        bus = make()
        await bus.start()
        try:
            return [await bus.claim("n", "o1"), await bus.claim("n", "o2"),
                    await bus.holder("n"), await bus.incr("c", window=30),
                    (await bus.count("c"))[0], await bus.count("none"),
                    await bus.release("n", "o1"), await bus.holder("n")]
        finally:
            await bus.close()
    assert run(scenario()) == [None, "o1", "o1", 1, 1, (0, 0), None, None]


def test_an_unreachable_redis_is_unavailable() -> None:
    async def scenario() -> str:
        bus = RedisBus("redis://127.0.0.1:1/0")
        with pytest.raises(Unavailable) as down:
            await bus.start()
        await bus.close()
        return down.value.part
    assert run(scenario()) == "bus"
