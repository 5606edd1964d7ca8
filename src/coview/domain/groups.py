"""Groups: the tenant of Coview, with a numeric group ID, an API key and a visitor-token secret."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from coview.errors import InvalidInput
from coview.ids import GroupId
from coview.protocol.rules import GROUP_ID_MAX

MAX_GROUP_ID = GROUP_ID_MAX
API_KEY_PREFIX = "cvk_"
_API_KEY_RE = re.compile(r"cvk_([1-9][0-9]{0,9})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class Group:
    """A group as stored; the API key is kept only as its hash."""

    group_id: GroupId
    name: str
    api_key_hash: str
    visitor_token_secret: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class GroupCredentials:
    """The secrets of a new group, shown once to whoever created it."""

    api_key: str
    visitor_token_secret: str


def validate_group_id(value: int) -> GroupId:
    """Return ``value`` as a GroupId if it is 1 to GROUP_ID_MAX."""
    if not 1 <= value <= MAX_GROUP_ID:
        raise InvalidInput(
            f"group ID must be a whole number from 1 to {MAX_GROUP_ID}",
            fields={"group_id": "out of range"},
        )
    return GroupId(value)


def validate_group_name(value: str) -> str:
    """Return the trimmed name if it has 1 to 100 printable characters."""
    name = value.strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise InvalidInput(
            "group name must be 1 to 100 printable characters",
            fields={"name": "1 to 100 printable characters"},
        )
    return name


def new_credentials(group_id: GroupId) -> GroupCredentials:
    """Draw a fresh API key (which names its group) and visitor-token secret."""
    return GroupCredentials(
        api_key=f"{API_KEY_PREFIX}{group_id}_{secrets.token_urlsafe(32)}",
        visitor_token_secret=secrets.token_urlsafe(32),
    )


def hash_api_key(api_key: str) -> str:
    """Hash an API key for storage.

    API keys carry 256 random bits, so a plain SHA-256 is enough: there is nothing to guess
    that a slow hash would protect.
    """
    return hashlib.sha256(api_key.encode()).hexdigest()


def parse_api_key(api_key: str) -> GroupId | None:
    """Return the group ID an API key names, or None if it does not look like one."""
    match = _API_KEY_RE.fullmatch(api_key)
    if match is None:
        return None
    group_id = int(match.group(1))
    return GroupId(group_id) if group_id <= MAX_GROUP_ID else None


def api_key_matches(api_key: str, stored_hash: str) -> bool:
    """Compare an API key with a stored hash in constant time."""
    return hmac.compare_digest(hash_api_key(api_key), stored_hash)
