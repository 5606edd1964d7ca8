"""The Redis bus: counters and claims shared by several ``coview serve`` processes.

Every key is under a prefix (``coview:`` by default). Each operation is one round trip: a
counter's first increment sets its window in the same script, a claim is ``SET NX`` with the
holder's name read back in the same script, and a release deletes only its owner's claim.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, RedisError, TimeoutError

from coview.errors import Unavailable

# A command on a connection Redis dropped (it restarted) is tried once more on a new one.
CLIENT_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 5, "socket_timeout": 10, "health_check_interval": 30,
    "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
    "retry_on_error": [ConnectionError, TimeoutError],
}

_INCR = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return false end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return false end
return holder
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBus:
    """A bus in Redis (``url`` such as ``redis://127.0.0.1:6379/0``)."""

    def __init__(self, url: str, *, prefix: str = "coview:") -> None:
        self.url = url
        self.prefix = prefix
        self._redis: Redis | None = None

    async def start(self) -> None:
        self._redis = Redis.from_url(self.url, decode_responses=True, **CLIENT_OPTIONS)
        await self.ping()

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> None:
        await self._call(lambda r: r.ping())

    async def incr(self, key: str, *, window: int) -> int:
        return int(await self._call(lambda r: r.eval(_INCR, 1, self._key(key), max(1, window))))

    async def count(self, key: str) -> tuple[int, int]:
        value = await self._call(lambda r: r.get(self._key(key)))
        if value is None:
            return 0, 0
        ttl = int(await self._call(lambda r: r.ttl(self._key(key))))
        return int(value), max(ttl, 0)

    async def reset(self, key: str) -> None:
        await self._call(lambda r: r.delete(self._key(key)))

    async def claim(self, name: str, owner: str) -> str | None:
        holder = await self._call(lambda r: r.eval(_CLAIM, 1, self._key(name), owner))
        return str(holder) if holder else None

    async def release(self, name: str, owner: str) -> None:
        await self._call(lambda r: r.eval(_RELEASE, 1, self._key(name), owner))

    async def holder(self, name: str) -> str | None:
        holder = await self._call(lambda r: r.get(self._key(name)))
        return str(holder) if holder is not None else None

    def _key(self, name: str) -> str:
        return self.prefix + name

    async def _call(self, command: Callable[[Redis], Awaitable[Any]]) -> Any:
        if self._redis is None:
            raise Unavailable("the Redis bus is not started", part="bus")
        try:
            return await command(self._redis)
        except (RedisError, OSError) as exc:
            raise Unavailable(f"Redis is unreachable ({type(exc).__name__})",
                              part="bus") from None
