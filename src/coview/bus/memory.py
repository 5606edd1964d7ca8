"""The in-process bus: the default when one ``coview serve`` process does everything."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

Clock = Callable[[], float]
_MAX_COUNTERS = 100_000


class MemoryBus:
    """A bus that lives in this process; ``clock`` is injectable for deterministic tests."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._counters: dict[str, tuple[int, float]] = {}
        self._claims: dict[str, str] = {}

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        self._counters.clear()
        self._claims.clear()

    async def ping(self) -> None:
        """Always reachable."""

    async def incr(self, key: str, *, window: int) -> int:
        now = self._clock()
        count, resets_at = self._live(key, now)
        if count == 0:
            if len(self._counters) >= _MAX_COUNTERS:
                self._expire(now)
            resets_at = now + window
        self._counters[key] = (count + 1, resets_at)
        return count + 1

    async def count(self, key: str) -> tuple[int, int]:
        now = self._clock()
        count, resets_at = self._live(key, now)
        return (count, math.ceil(resets_at - now)) if count else (0, 0)

    async def reset(self, key: str) -> None:
        self._counters.pop(key, None)

    async def claim(self, name: str, owner: str) -> str | None:
        current = self._claims.setdefault(name, owner)
        return None if current == owner else current

    async def release(self, name: str, owner: str) -> None:
        if self._claims.get(name) == owner:
            del self._claims[name]

    async def holder(self, name: str) -> str | None:
        return self._claims.get(name)

    def _live(self, key: str, now: float) -> tuple[int, float]:
        entry = self._counters.get(key)
        if entry is None or entry[1] <= now:
            self._counters.pop(key, None)
            return 0, 0.0
        return entry

    def _expire(self, now: float) -> None:
        # Bounded memory: drop expired counters, then the oldest if still full.
        for key in [k for k, (_, at) in self._counters.items() if at <= now]:
            del self._counters[key]
        while len(self._counters) >= _MAX_COUNTERS:
            del self._counters[next(iter(self._counters))]
