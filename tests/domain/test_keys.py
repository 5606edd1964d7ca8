"""Session keys: visitor IDs and named keys, random digit keys."""

from __future__ import annotations

import pytest

from coview.domain.keys import random_key, validate_key
from coview.errors import InvalidInput


@pytest.mark.parametrize("key", ["a", "A-b_9", "x" * 50, "12345"])
def test_valid_keys(key: str) -> None:
    """1 to 50 of letters, digits, '_' and '-' make a key."""
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 51, "a b", "ü", "a/b", "a\n"])
def test_invalid_keys(key: str) -> None:
    """Anything else is refused."""
    with pytest.raises(InvalidInput):
        validate_key(key)


@pytest.mark.parametrize("length", [4, 6, 12])
def test_random_keys_are_digits_of_the_length(length: int) -> None:
    """A random key has only digits, exactly as many as the group's setting."""
    keys = {random_key(length) for _ in range(200)}
    assert all(k.isdigit() and len(k) == length for k in keys)
    assert len(keys) > 150  # drawn, not fixed


@pytest.mark.parametrize("length", [3, 13])
def test_random_key_length_bounds(length: int) -> None:
    """Lengths outside 4 to 12 are refused."""
    with pytest.raises(InvalidInput):
        random_key(length)
