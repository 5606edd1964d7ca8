"""The interface every message bus implements."""

from __future__ import annotations

from typing import Protocol


class Bus(Protocol):
    """Shared, short-lived state of the server processes.

    Counters back throttles (see ``coview.domain.throttle.Counters``); claims back the
    registry of session keys.
    """

    async def start(self) -> None:
        """Connect; called once when the server starts."""

    async def close(self) -> None:
        """Disconnect and free resources; called once when the server stops."""

    async def ping(self) -> None:
        """Return if the bus is reachable, else raise ``coview.errors.Unavailable``."""

    async def incr(self, key: str, *, window: int) -> int:
        """Add one to a counter that resets ``window`` seconds after its first increment."""

    async def count(self, key: str) -> tuple[int, int]:
        """Return a counter's value and the whole seconds until it resets ((0, 0) if unset)."""

    async def reset(self, key: str) -> None:
        """Forget a counter."""

    async def claim(self, name: str, owner: str) -> str | None:
        """Make ``owner`` hold ``name`` if no one does; return the holder if someone else does.

        Session keys are claimed here, so that a key is unique across every process.
        """

    async def release(self, name: str, owner: str) -> None:
        """Let go of ``name`` if ``owner`` holds it."""

    async def holder(self, name: str) -> str | None:
        """Who holds ``name``, if anyone."""
