"""Throttles for failed attempts (logins now, session joins later).

A throttle counts failures per subject (a user, an address, a group) in a fixed window kept by
the message bus, so that the count holds across server processes when the bus is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from coview.errors import Throttled


class Counters(Protocol):
    """A store of counters that expire (the message bus provides one)."""

    async def incr(self, key: str, *, window: int) -> int:
        """Add one to ``key`` and return the new count; the count resets ``window`` s after
        the first increment."""

    async def count(self, key: str) -> tuple[int, int]:
        """Return the count of ``key`` and the seconds until it resets (0, 0 if unset)."""

    async def reset(self, key: str) -> None:
        """Forget ``key``."""


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``failures`` failures per ``window`` seconds for one subject."""

    failures: int
    window: int


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """The limits of one kind of attempt, per kind of subject (``user``, ``address``...).

    ``shared`` kinds are subjects many people share (an address, a group): past their limit
    they refuse only a caller whose ``personal`` subject has failed too, so that guessing
    spread over many accounts stays bounded without locking out those who were not failing.
    """

    name: str
    limits: dict[str, Limit]
    personal: str = ""
    shared: frozenset[str] = frozenset()


LOGIN_POLICY = ThrottlePolicy(
    "login", {"user": Limit(failures=5, window=300), "address": Limit(failures=20, window=300)}
)


class Throttle:
    """Checks and records failed attempts against a policy."""

    def __init__(self, counters: Counters, policy: ThrottlePolicy) -> None:
        self._counters = counters
        self._policy = policy

    def _key(self, kind: str, subject: str) -> str:
        return f"throttle:{self._policy.name}:{kind}:{subject}"

    async def check(self, subjects: dict[str, str]) -> None:
        """Raise Throttled if any subject has used up its failures (a shared subject only
        for a caller who has failed too); ``Throttled.limit`` names the subject's kind."""
        counts = {kind: await self._counters.count(self._key(kind, subject))
                  for kind, subject in subjects.items()}
        personal = counts.get(self._policy.personal, (1, 0))[0]
        for kind, (count, remaining) in counts.items():
            if count < self._policy.limits[kind].failures:
                continue
            if kind in self._policy.shared and personal == 0:
                continue  # others failed, not this caller
            throttled = Throttled(
                f"too many failed {self._policy.name} attempts; try again in "
                f"{remaining} seconds",
                retry_after=max(remaining, 1),
            )
            throttled.limit = kind
            raise throttled

    async def record_failure(self, subjects: dict[str, str]) -> list[str]:
        """Count one failure against each subject; return the kinds that just hit their limit."""
        reached = []
        for kind, subject in subjects.items():
            limit = self._policy.limits[kind]
            count = await self._counters.incr(self._key(kind, subject), window=limit.window)
            if count == limit.failures:
                reached.append(kind)
        return reached

    async def record_success(self, subjects: dict[str, str]) -> None:
        """Clear the failures of the subjects of kind ``user`` after a success."""
        if "user" in subjects:
            await self._counters.reset(self._key("user", subjects["user"]))

JOIN_POLICY = ThrottlePolicy(
    "join",
    {
        "agent": Limit(failures=10, window=300),
        "address": Limit(failures=30, window=300),
        "group": Limit(failures=200, window=300),
    },
    personal="agent",
    shared=frozenset({"address", "group"}),
)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``attempts`` attempts per ``window`` seconds for one subject."""

    attempts: int
    window: int = 60


async def count_attempt(counters: Counters, name: str,
                        subjects: dict[str, tuple[str, RateLimit]]) -> tuple[str, int] | None:
    """Count one attempt of ``name`` (every attempt, not only failures) against each
    subject; return the kind of the first subject now over its limit and its count, or None.
    The count goes on past the limit, so that the first refusal of a window is
    ``count == attempts + 1`` (what callers audit once)."""
    over = None
    for kind, (subject, limit) in subjects.items():
        count = await counters.incr(f"rate:{name}:{kind}:{subject}", window=limit.window)
        if count > limit.attempts and over is None:
            over = (kind, count - limit.attempts)
    return over
