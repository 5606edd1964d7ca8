"""Group credentials: API keys that name their group and are stored only as hashes."""

from __future__ import annotations

from coview.domain.groups import api_key_matches, hash_api_key, new_credentials, parse_api_key
from coview.ids import GroupId


def test_api_key_names_its_group_and_matches_its_hash() -> None:
    """A new API key parses back to its group and matches only its own hash."""
    first, second = new_credentials(GroupId(12345)), new_credentials(GroupId(12345))
    assert parse_api_key(first.api_key) == 12345
    assert api_key_matches(first.api_key, hash_api_key(first.api_key))
    assert not api_key_matches(second.api_key, hash_api_key(first.api_key))
    assert first.visitor_token_secret != second.visitor_token_secret


def test_things_that_are_not_api_keys() -> None:
    """Tokens of other shapes are not taken for API keys."""
    for value in ("eyJhbGciOi.x.y", "cvk_0_" + "a" * 43, "cvk_99999999999_" + "a" * 43,
                  "cvk_12_short"):
        assert parse_api_key(value) is None
