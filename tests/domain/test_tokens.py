"""Agent and visitor tokens: signed, expiring, bound to their group."""

from __future__ import annotations

import pytest

from coview.domain.tokens import (
    mint_agent_token,
    mint_visitor_token,
    read_agent_token,
    read_visitor_token,
)
from coview.errors import AuthenticationFailed, InvalidInput
from coview.ids import AgentId, GroupId

SECRET = "s" * 40
NOW = 1_800_000_000


def test_agent_token_round_trip() -> None:
    """An agent token reads back its agent and group until it expires."""
    token = mint_agent_token(SECRET, AgentId(7), GroupId(12345), generation=0, now=NOW,
                             ttl=60)
    claims = read_agent_token(SECRET, token, now=NOW + 59)
    assert (claims.agent_id, claims.group_id) == (7, 12345)
    with pytest.raises(AuthenticationFailed) as caught:
        read_agent_token(SECRET, token, now=NOW + 60)
    assert caught.value.code == "token_expired"


def test_visitor_token_is_not_an_agent_token() -> None:
    """A visitor token signed with the same key is no agent token."""
    token = mint_visitor_token(SECRET, GroupId(1), "v1", now=NOW, ttl=60)
    with pytest.raises(AuthenticationFailed):
        read_agent_token(SECRET, token, now=NOW)


def test_visitor_token_checks() -> None:
    """A visitor token is refused for another group, another key, or after expiry."""
    token = mint_visitor_token(SECRET, GroupId(1), "v1", now=NOW, ttl=60)
    assert read_visitor_token(SECRET, token, group_id=GroupId(1), now=NOW).visitor_id == "v1"
    for secret, group, now, code in [
        (SECRET, 2, NOW, "invalid_token"),
        ("t" * 40, 1, NOW, "invalid_token"),
        (SECRET, 1, NOW + 60, "token_expired"),
    ]:
        with pytest.raises(AuthenticationFailed) as caught:
            read_visitor_token(secret, token, group_id=GroupId(group), now=now)
        assert caught.value.code == code


def test_visitor_token_needs_a_valid_visitor_id_and_ttl() -> None:
    """Minting refuses a bad visitor ID or a TTL out of range."""
    with pytest.raises(InvalidInput):
        mint_visitor_token(SECRET, GroupId(1), "no spaces", now=NOW, ttl=60)
    with pytest.raises(InvalidInput):
        mint_visitor_token(SECRET, GroupId(1), "v", now=NOW, ttl=0)


def test_oversized_token_refused() -> None:
    """A token longer than the bound is refused before parsing."""
    with pytest.raises(AuthenticationFailed):
        read_visitor_token(SECRET, "a" * 5000, group_id=GroupId(1), now=NOW)
