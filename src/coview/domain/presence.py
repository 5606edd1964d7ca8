"""Presence and one-click starts (seed 001): who is online, and an agent's request to start.

A visitor is online while at least one of its presence connections is open, and stays online
for a grace period after the last one drops (a network blip, a laptop waking up) unless it said
goodbye (``disconnect()``, a logout). An agent's one-click request goes through the terms
statuses the visitor's application signals, and ends when a session starts under the visitor
ID, or when the visitor declines, goes offline, or lets it expire.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field

from coview.errors import NotFound
from coview.ids import GroupId

MAX_INFO_ITEMS = 10
MAX_INFO_VALUE = 200


class TermsStatus(enum.StrEnum):
    REQUESTED = "requested"  # the agent asked; the visitor's application was told
    DISPLAYED = "displayed"  # the terms are on the visitor's screen
    ACCEPTED = "accepted"
    DECLINED = "declined"
    STARTED = "started"  # the session runs under the visitor ID: the agent joins
    OFFLINE = "offline"  # the visitor went offline before starting
    EXPIRED = "expired"  # nothing happened in time


FINAL = frozenset({TermsStatus.DECLINED, TermsStatus.STARTED, TermsStatus.OFFLINE,
                   TermsStatus.EXPIRED})
# What the visitor may signal from each status.
_SIGNALS: dict[TermsStatus, frozenset[TermsStatus]] = {
    TermsStatus.REQUESTED: frozenset({TermsStatus.DISPLAYED, TermsStatus.ACCEPTED,
                                      TermsStatus.DECLINED}),
    TermsStatus.DISPLAYED: frozenset({TermsStatus.ACCEPTED, TermsStatus.DECLINED}),
}


class VisitorOffline(NotFound):
    code = "visitor_offline"


@dataclass(slots=True)
class OneClick:
    """An agent's request to start a session with an online visitor."""

    request_id: str
    visitor_id: str
    agent_username: str
    agent_name: str
    created_at: float
    updated_at: float
    status: TermsStatus = TermsStatus.REQUESTED
    session_key: str = ""
    history: list[TermsStatus] = field(default_factory=lambda: [TermsStatus.REQUESTED])

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def signal(self, status: TermsStatus, now: float) -> bool:
        """The visitor's application signalled a terms status; return whether it changed."""
        if status not in _SIGNALS.get(self.status, frozenset()):
            return False
        self.status, self.updated_at = status, now
        self.history.append(status)
        return True

    def finish(self, status: TermsStatus, now: float, *, key: str = "") -> bool:
        if self.final:
            return False
        self.status, self.updated_at, self.session_key = status, now, key
        self.history.append(status)
        return True


@dataclass(slots=True)
class Presence:
    """One online visitor."""

    group_id: GroupId
    visitor_id: str
    since: float
    info: dict[str, str] = field(default_factory=dict)
    connections: int = 0
    offline_at: float | None = None  # set while in the grace period
    request: OneClick | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """Something an observer (webhooks, logs) hears of."""

    kind: str  # online, offline, terms
    presence: Presence
    request: OneClick | None = None


def new_request_id() -> str:
    return secrets.token_urlsafe(12)


def clean_info(info: dict[str, object]) -> dict[str, str]:
    """What a visitor reports (application, page, screen): a few short strings."""
    cleaned: dict[str, str] = {}
    for key, value in list(info.items())[:MAX_INFO_ITEMS]:
        name = str(key)[:50]
        if name:
            cleaned[name] = str(value)[:MAX_INFO_VALUE]
    return cleaned


class PresenceBook:
    """Who is online, by group and visitor ID, and their one-click requests."""

    def __init__(self, *, request_ttl: float = 120.0) -> None:
        self.request_ttl = request_ttl
        self._online: dict[tuple[GroupId, str], Presence] = {}

    def get(self, group_id: GroupId, visitor_id: str) -> Presence | None:
        return self._online.get((group_id, visitor_id))

    def online(self, group_id: GroupId, prefix: str = "", limit: int = 100) -> list[Presence]:
        found = [p for (g, v), p in self._online.items()
                 if g == group_id and v.startswith(prefix)]
        found.sort(key=lambda p: p.visitor_id)
        return found[:limit]

    def count(self) -> int:
        return len(self._online)

    def everyone(self) -> list[Presence]:
        """Every online visitor, of every group."""
        return list(self._online.values())

    def connected(self, group_id: GroupId, visitor_id: str, info: dict[str, str],
                  now: float) -> list[Change]:
        presence = self._online.get((group_id, visitor_id))
        changes: list[Change] = []
        if presence is None:
            presence = Presence(group_id, visitor_id, since=now)
            self._online[(group_id, visitor_id)] = presence
            changes.append(Change("online", presence))
        presence.connections += 1
        presence.offline_at = None
        if info:
            presence.info = info
        return changes

    def disconnected(self, group_id: GroupId, visitor_id: str, now: float, *, grace: float,
                     goodbye: bool) -> list[Change]:
        """A connection closed: offline now after a goodbye, else after the grace period."""
        presence = self._online.get((group_id, visitor_id))
        if presence is None:
            return []
        presence.connections = max(0, presence.connections - 1)
        if presence.connections:
            return []
        if goodbye or grace <= 0:
            return self._offline(presence, now)
        presence.offline_at = now + grace
        return []

    def tick(self, now: float) -> list[Change]:
        """Visitors past their grace period go offline; stale requests expire."""
        changes: list[Change] = []
        for presence in list(self._online.values()):
            if presence.offline_at is not None and now >= presence.offline_at:
                changes.extend(self._offline(presence, now))
                continue
            request = presence.request
            if (request is not None and not request.final
                    and now >= request.updated_at + self.request_ttl
                    and request.finish(TermsStatus.EXPIRED, now)):
                changes.append(Change("terms", presence, request))
        return changes

    def _offline(self, presence: Presence, now: float) -> list[Change]:
        del self._online[(presence.group_id, presence.visitor_id)]
        changes = [Change("offline", presence)]
        request = presence.request
        if request is not None and request.finish(TermsStatus.OFFLINE, now):
            changes.append(Change("terms", presence, request))
        return changes

    def request(self, group_id: GroupId, visitor_id: str, *, agent_username: str,
                agent_name: str, now: float, request_id: str | None = None) -> OneClick:
        """An agent asks to start a session; a newer request replaces a pending one.
        ``request_id``: the one another process gave it (scaled out)."""
        presence = self._online.get((group_id, visitor_id))
        if presence is None or presence.offline_at is not None:
            raise VisitorOffline(f"visitor {visitor_id!r} is not online")
        request = OneClick(request_id or new_request_id(), visitor_id, agent_username,
                           agent_name, created_at=now, updated_at=now)
        presence.request = request
        return request

    def find_request(self, group_id: GroupId, visitor_id: str, request_id: str) -> OneClick:
        presence = self._online.get((group_id, visitor_id))
        request = presence.request if presence is not None else None
        if request is None or request.request_id != request_id:
            raise NotFound("there is no such one-click request", code="request_not_found")
        return request

    def signal(self, group_id: GroupId, visitor_id: str, status: str,
               now: float) -> list[Change]:
        """The visitor's ``terms`` signal."""
        presence = self._online.get((group_id, visitor_id))
        request = presence.request if presence is not None else None
        if presence is None or request is None:
            return []
        try:
            wanted = TermsStatus(status)
        except ValueError:
            return []
        if not request.signal(wanted, now):
            return []
        return [Change("terms", presence, request)]

    def session_started(self, group_id: GroupId, visitor_id: str, key: str,
                        now: float) -> list[Change]:
        """A one-click session started under the visitor ID: the waiting agent may join."""
        presence = self._online.get((group_id, visitor_id))
        request = presence.request if presence is not None else None
        if presence is None or request is None:
            return []
        if not request.finish(TermsStatus.STARTED, now, key=key):
            return []
        return [Change("terms", presence, request)]
