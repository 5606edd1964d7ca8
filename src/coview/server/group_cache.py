"""Groups and their production settings, read at most every few seconds.

Presence connections and webhook events come by the thousand (every visitor reconnecting after
a restart, say); each must not query the database for the same group again. Settings published
reach them within ``ttl`` seconds. Sessions read the database directly: a start must see a
publish at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from coview.domain.groups import Group
from coview.domain.records import PRODUCTION
from coview.domain.settings import GroupSettings
from coview.errors import Refused
from coview.ids import GroupId
from coview.server.services import Services

TTL = 5.0
MAX_GROUPS = 10_000


class GroupCache:
    """A group and its production settings, by group ID, kept for ``ttl`` seconds."""

    def __init__(self, svc: Services, *, ttl: float = TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.svc = svc
        self.ttl = ttl
        self.clock = clock
        self._groups: dict[GroupId, tuple[float, Group, GroupSettings]] = {}

    async def production(self, group_id: GroupId, *, fresh: bool = False,
                         ) -> tuple[Group, GroupSettings]:
        """The group and its production settings, for a hello that names the group; refused
        (``invalid_group``) if there is none. ``fresh`` reads past the cache (a session start
        must see a publish at once)."""
        found = await self.get(group_id, fresh=fresh)
        if found is None:
            raise Refused(f"there is no group {group_id}", code="invalid_group")
        return found

    async def get(self, group_id: GroupId, *, fresh: bool = False,
                  ) -> tuple[Group, GroupSettings] | None:
        """The group and its settings, or None if there is no such group."""
        now = self.clock()
        cached = self._groups.get(group_id)
        if cached is not None and cached[0] > now and not fresh:
            return cached[1], cached[2]
        group = await self.svc.database.get_group(group_id)
        if group is None:
            return None
        settings, _, _ = await self.svc.database.get_settings(group_id, PRODUCTION)
        if len(self._groups) >= MAX_GROUPS:
            self._groups.clear()
        self._groups[group_id] = (now + self.ttl, group, settings)
        return group, settings
