"""The names of what server processes share through the bus, built in one place.

Every name here is relative: a bus puts its own prefix before it (``coview:`` in Redis).
"""

from __future__ import annotations

from typing import Any

# What travels on a session's channel between processes: the first byte says which.
TO_AGENTS = b"a"
TO_VISITOR = b"v"
VOLATILE = b"t"
MOVED = b"x"  # the session has a new owner: forwarded clients reconnect

# One Redis command for the cluster's ordered pipeline: its name, arguments and keywords.
Command = tuple[str, tuple[Any, ...], dict[str, Any]]


def key_claim(group_id: int, key: str) -> str:
    """The claim that makes a session key unique in its group, across every process."""
    return f"key:{group_id}:{key}"
