"""Presence rules: online, the grace period, goodbye, and one-click requests' statuses."""

from __future__ import annotations

import pytest

from coview.domain.presence import PresenceBook, TermsStatus, VisitorOffline, clean_info
from coview.errors import NotFound
from coview.ids import GroupId

G = GroupId(7)


def kinds(changes: list) -> list[str]:  # type: ignore[type-arg]
    return [c.kind for c in changes]


def test_online_until_the_grace_period_passes_after_the_last_connection() -> None:
    book = PresenceBook()
    assert kinds(book.connected(G, "v1", {"page": "home"}, now=0)) == ["online"]
    assert book.connected(G, "v1", {}, now=1) == []  # a second connection (another window)
    assert book.disconnected(G, "v1", now=2, grace=10, goodbye=False) == []
    assert book.disconnected(G, "v1", now=3, grace=10, goodbye=False) == []
    presence = book.get(G, "v1")
    assert presence is not None
    assert presence.info == {"page": "home"}
    assert book.tick(now=12.9) == []  # still within the grace period
    assert book.connected(G, "v1", {}, now=12.95) == []  # back: no offline, no new online
    assert book.disconnected(G, "v1", now=20, grace=10, goodbye=False) == []
    assert kinds(book.tick(now=30)) == ["offline"]
    assert book.get(G, "v1") is None


def test_goodbye_is_offline_at_once_and_groups_are_apart() -> None:
    book = PresenceBook()
    book.connected(G, "v1", {}, now=0)
    book.connected(GroupId(8), "v1", {}, now=0)
    assert kinds(book.disconnected(G, "v1", now=1, grace=30, goodbye=True)) == ["offline"]
    assert book.get(GroupId(8), "v1") is not None
    assert [p.visitor_id for p in book.online(GroupId(8))] == ["v1"]


def test_search_by_prefix() -> None:
    book = PresenceBook()
    for visitor in ("anna", "andy", "bob"):
        book.connected(G, visitor, {}, now=0)
    assert [p.visitor_id for p in book.online(G, "an")] == ["andy", "anna"]
    assert [p.visitor_id for p in book.online(G, "", limit=1)] == ["andy"]


def test_one_click_accepted_then_started() -> None:
    book = PresenceBook()
    book.connected(G, "v1", {}, now=0)
    request = book.request(G, "v1", agent_username="janet", agent_name="Janet", now=1)
    assert request.status is TermsStatus.REQUESTED
    assert kinds(book.signal(G, "v1", "displayed", now=2)) == ["terms"]
    assert book.signal(G, "v1", "displayed", now=2) == []  # no change, no news
    assert book.signal(G, "v1", "nonsense", now=2) == []
    assert kinds(book.signal(G, "v1", "accepted", now=3)) == ["terms"]
    assert book.signal(G, "v1", "declined", now=4) == []  # too late to change its mind here
    assert kinds(book.session_started(G, "v1", "v1", now=5)) == ["terms"]
    assert (request.status, request.session_key) == (TermsStatus.STARTED, "v1")
    assert book.find_request(G, "v1", request.request_id) is request
    with pytest.raises(NotFound):
        book.find_request(G, "v1", "other")


def test_one_click_declined_offline_or_expired() -> None:
    book = PresenceBook(request_ttl=60)
    with pytest.raises(VisitorOffline):
        book.request(G, "nobody", agent_username="a", agent_name="", now=0)
    book.connected(G, "v1", {}, now=0)
    declined = book.request(G, "v1", agent_username="a", agent_name="", now=0)
    book.signal(G, "v1", "declined", now=1)
    assert declined.status is TermsStatus.DECLINED
    assert book.session_started(G, "v1", "v1", now=2) == []

    expiring = book.request(G, "v1", agent_username="a", agent_name="", now=10)
    book.signal(G, "v1", "displayed", now=20)
    assert book.tick(now=79) == []
    assert kinds(book.tick(now=80)) == ["terms"]
    assert expiring.status is TermsStatus.EXPIRED

    waiting = book.request(G, "v1", agent_username="a", agent_name="", now=100)
    changes = book.disconnected(G, "v1", now=101, grace=5, goodbye=True)  # a logout
    assert kinds(changes) == ["offline", "terms"]
    assert waiting.status is TermsStatus.OFFLINE


def test_reported_info_is_bounded() -> None:
    info = clean_info({f"k{i}": "x" * 500 for i in range(20)} | {"": "empty"})
    assert len(info) == 10
    assert all(len(v) == 200 for v in info.values())
