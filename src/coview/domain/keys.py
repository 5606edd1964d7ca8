"""Session keys and visitor IDs.

A random key is digits only, of the group's configured length, drawn with ``secrets``
(seed 000, "Session Key"). A visitor ID or a key the application names is 1 to 50 of
``[A-Za-z0-9_-]``.
"""

from __future__ import annotations

import secrets

from coview.errors import InvalidInput
from coview.protocol.rules import (
    KEY_PATTERN,
    RANDOM_KEY_MAX_LENGTH,
    RANDOM_KEY_MIN_LENGTH,
    is_key,
)


def validate_key(value: str, *, what: str = "key") -> str:
    """Return ``value`` if it is a valid session key or visitor ID, else raise InvalidInput."""
    if not is_key(value):
        raise InvalidInput(
            f"{what} must be 1 to 50 letters, digits, '_' or '-'",
            fields={what: f"must match {KEY_PATTERN.strip('^$')}"},
        )
    return value


def random_key(length: int) -> str:
    """Draw a random all-digit key of ``length`` digits."""
    if not RANDOM_KEY_MIN_LENGTH <= length <= RANDOM_KEY_MAX_LENGTH:
        raise InvalidInput(
            f"random key length must be {RANDOM_KEY_MIN_LENGTH} to {RANDOM_KEY_MAX_LENGTH}",
            fields={"random_key_length": "out of range"},
        )
    return "".join(secrets.choice("0123456789") for _ in range(length))
