"""The names of what server processes share through the bus, built in one place.

Every name here is relative: a bus puts its own prefix before it (``coview:`` in Redis).
"""

from __future__ import annotations


def key_claim(group_id: int, key: str) -> str:
    """The claim that makes a session key unique in its group, across every process."""
    return f"key:{group_id}:{key}"
