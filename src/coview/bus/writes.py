"""Ordered writes to Redis: one connection, in order, in batches, with a count of what is held.

Everything a scaled-out process writes goes through one :class:`OrderedWrites`: a client's
welcome (sent to one process) cannot overtake the session's earlier messages (published to
all). A value that changes often (a session's state) is written once per batch, with its
latest content. ``when_durable`` calls back once Redis holds everything queued before it.

While Redis is away the writes are dropped (``lose``): whoever queued them writes everything
anew when it is back (``resume``), ahead of what is queued after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from coview.bus.names import Command


class OrderedWrites:
    """The ordered pipeline of one process's writes."""

    def __init__(self, client: Callable[[], Redis | None],
                 on_error: Callable[[BaseException], None]) -> None:
        self._client = client
        self._on_error = on_error
        self._queue: list[Command] = []
        self._latest: dict[str, Callable[[], bytes]] = {}  # key: its latest value, when asked
        self._queued = 0
        self._durable = 0
        self._waiters: list[tuple[int, Callable[[], None]]] = []
        self._wake = asyncio.Event()
        self.lost = False

    def put(self, command: str, args: tuple[object, ...], **kwargs: object) -> None:
        if self.lost:
            return  # the full copy written on reconnection covers it
        self._queue.append((command, args, kwargs))
        self._queued += 1
        self._wake.set()

    def set_latest(self, key: str, value: Callable[[], bytes]) -> None:
        """``key`` is set to ``value()`` with the next batch (once, however often asked)."""
        self._latest[key] = value
        self._wake.set()

    def discard_latest(self, key: str) -> None:
        self._latest.pop(key, None)

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call back once Redis holds everything queued so far."""
        if self._durable >= self._queued:
            callback()
            return
        self._waiters.append((self._queued, callback))

    async def flush(self) -> None:
        """Wait until Redis holds everything queued so far."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle() -> None:
            if not done.done():
                done.set_result(None)

        self.when_durable(settle)
        await done

    def lose(self) -> None:
        """Redis is gone: drop what is queued; write nothing until :meth:`resume`."""
        self.lost = True
        self._queue.clear()
        self._latest.clear()

    def resume(self, commands: list[Command]) -> None:
        """Redis is back: ``commands`` (what writes everything anew) go first."""
        self.lost = False
        self._queue[:0] = commands
        self._queued += len(commands)
        self._wake.set()

    async def run(self) -> None:
        """Write batches as they come, forever."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            redis = self._client()
            if self.lost or redis is None:
                continue
            batch, self._queue = self._queue, []
            latest, self._latest = self._latest, {}
            target = self._queued
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    for command, args, kwargs in batch:
                        getattr(pipe, command)(*args, **kwargs)
                    for key, value in latest.items():
                        pipe.set(key, value())
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self._on_error(exc)
                continue
            self._settle(target)

    def _settle(self, durable: int) -> None:
        self._durable = max(self._durable, durable)
        ready = [cb for at, cb in self._waiters if at <= self._durable]
        self._waiters = [(at, cb) for at, cb in self._waiters if at > self._durable]
        for callback in ready:
            callback()
