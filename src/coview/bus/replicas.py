"""What the session hub asks of the other processes that serve the same sessions.

A process runs its own sessions in memory. Scaled out, it also keeps a copy of each one where
the other processes can take it over (its state, both logs, how far each party's messages
were taken), tells them what their readers of its sessions must get, and asks them what they
run. :class:`SessionReplicas` is that conversation; the hub holds one and never asks which
kind it is. Two implementations:

- :class:`LocalReplicas`: one process. There is no copy to keep and nobody to tell; what it
  is asked about, the process's own sessions answer (the caller passes them).
- ``coview.bus.cluster.Cluster``: several processes, through Redis (``--redis-url``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class SessionReplicas(Protocol):
    """Copies of this process's sessions, and the other processes' view of theirs."""

    @property
    def proc(self) -> str:
        """This process's name among the processes."""

    @property
    def broken(self) -> bool:
        """Whether the copies are out of reach (they are written back when they return)."""

    async def register(self, sid: str, *, call_id: int, group_id: int, started: float,
                       counted: bool, state: Callable[[], bytes]) -> None:
        """A new session and its first state, before anyone is welcomed to it; raise
        :class:`~coview.errors.Unavailable` if that cannot be written."""

    def changed(self, sid: str, state: Callable[[], bytes]) -> None:
        """The session's state changed (``state()`` gives it when it is written)."""

    def append(self, sid: str, to_agents: bool, seq: int, first_seq: int, item: bytes,
               sender: int, sender_last: int) -> None:
        """A message numbered ``seq`` in one direction's log (the log keeps ``first_seq``
        on), out to every other process's readers; ``sender`` (-1: the server) has had its
        messages taken up to ``sender_last``."""

    def note_inbox(self, sid: str, num: int, last: int) -> None:
        """Party ``num``'s messages were taken up to ``last``."""

    def publish(self, sid: str, kind: bytes, data: bytes) -> None:
        """A message for the session's readers on the other processes (not kept)."""

    def send(self, proc: str, header: dict[str, Any], data: bytes = b"") -> None:
        """A message for one process (ending a session it runs, signing an agent out)."""

    def forget(self, sid: str, *, call_id: int, group_id: int, reason: str) -> None:
        """The session ended with ``reason``: drop its copy, keep why for a while."""

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call back once everything written so far is held where a takeover reads it."""

    async def owner(self, sid: str) -> str | None:
        """The process running the session, if any does."""

    async def running(self, group_id: int, *, here: list[str]) -> list[str]:
        """The group's sessions (not child sessions), oldest first, on every process;
        ``here``: this process's, oldest first."""

    async def seated(self, sids: list[str], *, here: Callable[[str], bool]) -> list[bool]:
        """For each session, whether an agent has a seat in it; ``here(sid)`` answers for
        this process's sessions."""

    async def procs(self) -> list[str]:
        """Every process serving."""

    async def ended_reason(self, sid: str) -> str | None:
        """Why a session this process does not run ended. None: there is no such session
        (one process knows all of its sessions); scaled out, a session nobody knows of may
        still be on its way back (Redis restarted): :class:`~coview.errors.Unavailable`."""


class LocalReplicas:
    """One process: nothing to copy, nobody to tell; everything is durable at once."""

    proc = "local"
    broken = False

    async def register(self, sid: str, *, call_id: int, group_id: int, started: float,
                       counted: bool, state: Callable[[], bytes]) -> None:
        return None

    def changed(self, sid: str, state: Callable[[], bytes]) -> None:
        return None

    def append(self, sid: str, to_agents: bool, seq: int, first_seq: int, item: bytes,
               sender: int, sender_last: int) -> None:
        return None

    def note_inbox(self, sid: str, num: int, last: int) -> None:
        return None

    def publish(self, sid: str, kind: bytes, data: bytes) -> None:
        return None

    def send(self, proc: str, header: dict[str, Any], data: bytes = b"") -> None:
        return None

    def forget(self, sid: str, *, call_id: int, group_id: int, reason: str) -> None:
        return None

    def when_durable(self, callback: Callable[[], None]) -> None:
        callback()

    async def owner(self, sid: str) -> str | None:
        return None  # a session of this process is found before asking

    async def running(self, group_id: int, *, here: list[str]) -> list[str]:
        return here

    async def seated(self, sids: list[str], *, here: Callable[[str], bool]) -> list[bool]:
        return [here(sid) for sid in sids]

    async def procs(self) -> list[str]:
        return [self.proc]

    async def ended_reason(self, sid: str) -> str | None:
        return None  # this process's own ends are in the hub's registry
