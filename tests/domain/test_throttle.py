"""Throttles over the bus's counters, with a fake clock (no sleeping)."""

from __future__ import annotations

import asyncio

import pytest

from coview.bus.memory import MemoryBus
from coview.domain.throttle import Limit, Throttle, ThrottlePolicy
from coview.errors import Throttled


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = ThrottlePolicy("test", {"user": Limit(3, 60), "address": Limit(5, 60)})


def test_limit_reached_then_window_passes() -> None:
    """The nth failure locks the subject until its window passes."""
    clock = FakeClock()
    throttle = Throttle(MemoryBus(clock=clock), POLICY)

    async def scenario() -> None:
        subjects = {"user": "u", "address": "a"}
        for expected in ([], [], ["user"]):
            await throttle.check(subjects)
            assert await throttle.record_failure(subjects) == expected
        with pytest.raises(Throttled) as caught:
            await throttle.check(subjects)
        assert caught.value.retry_after == 60
        clock.now += 30
        with pytest.raises(Throttled) as caught:
            await throttle.check({"user": "u"})
        assert caught.value.retry_after == 30
        clock.now += 30
        await throttle.check({"user": "u"})

    asyncio.run(scenario())


def test_success_clears_the_user_but_not_the_address() -> None:
    """A successful sign-in forgets the user's failures, not the address's."""
    throttle = Throttle(MemoryBus(clock=FakeClock()), POLICY)

    async def scenario() -> None:
        for _ in range(2):
            await throttle.record_failure({"user": "u", "address": "a"})
        await throttle.record_success({"user": "u", "address": "a"})
        for _ in range(2):
            await throttle.record_failure({"user": "u", "address": "a"})
        await throttle.check({"user": "u"})
        await throttle.record_failure({"address": "a"})
        with pytest.raises(Throttled):
            await throttle.check({"address": "a"})

    asyncio.run(scenario())
