"""Session keys and visitor IDs.

A random key is digits only, of the group's configured length, drawn with ``secrets``
(seed 000, "Session Key"). A visitor ID or a key the application names is 1 to 50 of
``[A-Za-z0-9_-]``.
"""

from __future__ import annotations

import re
import secrets

from coview.errors import InvalidInput

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,50}")  # use with fullmatch
MIN_RANDOM_KEY_LENGTH = 4
MAX_RANDOM_KEY_LENGTH = 12


def validate_key(value: str, *, what: str = "key") -> str:
    """Return ``value`` if it is a valid session key or visitor ID, else raise InvalidInput."""
    if not KEY_PATTERN.fullmatch(value):
        raise InvalidInput(
            f"{what} must be 1 to 50 letters, digits, '_' or '-'",
            fields={what: "must match [A-Za-z0-9_-]{1,50}"},
        )
    return value


def random_key(length: int) -> str:
    """Draw a random all-digit key of ``length`` digits."""
    if not MIN_RANDOM_KEY_LENGTH <= length <= MAX_RANDOM_KEY_LENGTH:
        raise InvalidInput(
            f"random key length must be {MIN_RANDOM_KEY_LENGTH} to {MAX_RANDOM_KEY_LENGTH}",
            fields={"random_key_length": "out of range"},
        )
    return "".join(secrets.choice("0123456789") for _ in range(length))
