"""Password hashing off the event loop, a few at a time.

One argon2id hash (:mod:`coview.domain.passwords`) takes 64 MiB and about a tenth of a second
of a core. Run on the event loop, each one stalls every session and request of the process;
run in threads without a bound, a burst of sign-ins takes 64 MiB each. So hashes run on
:data:`HASH_SLOTS` threads of their own, and a request waits for one with at most
:data:`MAX_WAITING` others and for at most :data:`MAX_WAIT` seconds; past either it gets
Throttled (code ``busy``: 429 with ``Retry-After``). The hash parameters stay as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from coview.domain.passwords import hash_password, verify_password
from coview.errors import Throttled

T = TypeVar("T")

HASH_SLOTS = 2  # hashes at once: the cores of a small server, 128 MiB at most
MAX_WAITING = 8  # requests waiting for a slot, beyond which the next is turned away at once
MAX_WAIT = 2.0  # seconds a request waits for a slot at most
RETRY_AFTER = 1  # seconds, told to a request turned away


class PasswordHashing:
    """Hashes and checks passwords on :data:`HASH_SLOTS` threads, waiting in a bounded line."""

    def __init__(self, *, slots: int = HASH_SLOTS, max_waiting: int = MAX_WAITING,
                 max_wait: float = MAX_WAIT) -> None:
        self._slots = asyncio.Semaphore(slots)
        # As many threads as slots: even a request abandoned mid-hash leaves no extra hash.
        self._threads = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="coview-hash")
        self._waiting = 0
        self._max_waiting = max_waiting
        self._max_wait = max_wait

    async def hash(self, password: str) -> str:
        """Hash a password for storage; raise Throttled (``busy``) when too many wait."""
        return await self._run(lambda: hash_password(password))

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash`` (None: spend the time, then fail);
        raise Throttled (``busy``) when too many wait."""
        return await self._run(lambda: verify_password(stored_hash, password))

    async def _run(self, work: Callable[[], T]) -> T:
        if self._slots.locked() and self._waiting >= self._max_waiting:
            raise _busy()
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self._max_wait)
        except TimeoutError:
            raise _busy() from None
        finally:
            self._waiting -= 1
        done = asyncio.get_running_loop().run_in_executor(self._threads, work)
        # The slot is free when the hash is done, not when an impatient caller leaves.
        done.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(done)


def _busy() -> Throttled:
    return Throttled("the server is busy checking other passwords; try again in a second",
                     retry_after=RETRY_AFTER, code="busy")


async def password_hashing(request: Request) -> PasswordHashing:
    """The application's password hashing (made on first use, on the event loop: one per
    application)."""
    state = request.app.state
    found: PasswordHashing | None = getattr(state, "password_hashing", None)
    if found is None:
        found = state.password_hashing = PasswordHashing()
    return found


HashingDep = Annotated[PasswordHashing, Depends(password_hashing)]
