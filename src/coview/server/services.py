"""What the request handlers share: config, database, bus, signing secret, throttles."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from coview.bus.base import Bus
from coview.domain.audit import AuditAction, AuditEntry
from coview.domain.throttle import LOGIN_POLICY, Throttle
from coview.ids import GroupId
from coview.server.config import ServerConfig
from coview.server.metrics import Metrics
from coview.storage.database import Database

TOKEN_SECRET_NAME = "agent_token_signing"


@dataclass(slots=True)
class Services:
    """The long-lived parts of one server process."""

    config: ServerConfig
    database: Database
    bus: Bus
    token_secret: str
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], float] = time.time
    login_throttle: Throttle = field(init=False)

    def __post_init__(self) -> None:
        self.login_throttle = Throttle(self.bus, LOGIN_POLICY)

    def now(self) -> int:
        """Seconds since the epoch, for token expiry."""
        return int(self.clock())

    async def audit(self, group_id: GroupId, action: AuditAction, *, actor: str, address: str,
                    **details: object) -> None:
        """Add a line to the group's audit log."""
        await self.database.audit(AuditEntry(group_id, action, actor, address, dict(details)))
