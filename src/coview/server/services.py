"""What the request handlers share: config, records (a domain ``Store``), bus, signing
secret, throttles."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from coview.bus.base import Bus
from coview.domain.audit import AuditAction, AuditEntry
from coview.domain.store import Store
from coview.domain.throttle import LOGIN_POLICY, Throttle
from coview.ids import GroupId
from coview.server.config import ServerConfig
from coview.server.metrics import Metrics
from coview.server.origins import ServerOrigins, default_public_urls

TOKEN_SECRET_NAME = "agent_token_signing"


@dataclass(slots=True)
class Services:
    """The long-lived parts of one server process."""

    config: ServerConfig
    database: Store
    bus: Bus
    token_secret: str
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], float] = time.time
    login_throttle: Throttle = field(init=False)
    origins: ServerOrigins = field(init=False)

    def __post_init__(self) -> None:
        self.login_throttle = Throttle(self.bus, LOGIN_POLICY)
        self.origins = server_origins(self.config)

    def now(self) -> int:
        """Seconds since the epoch, for token expiry."""
        return int(self.clock())

    async def audit(self, group_id: GroupId, action: AuditAction, *, actor: str, address: str,
                    **details: object) -> None:
        """Add a line to the group's audit log."""
        await self.database.audit(AuditEntry(group_id, action, actor, address, dict(details)))


def server_origins(config: ServerConfig) -> ServerOrigins:
    """The server's own origins and Host names: its public URLs (by default its listen
    address), and the same names at the presence listener's port."""
    urls = list(config.public_urls or default_public_urls(config.host, config.port))
    extra: list[str] = []
    if config.host not in ("0.0.0.0", "::", ""):  # noqa: S104 (a comparison, not a bind)
        # The listen address itself is the server's too (a proxy or a browser on the same
        # network may use it); no DNS name of an attacker's can stand for it.
        urls += default_public_urls(config.host, config.port)
    if config.presence_port is not None:
        for url in urls:
            name = urlsplit(url).hostname or ""
            extra.append(f"[{name}]:{config.presence_port}" if ":" in name
                         else f"{name}:{config.presence_port}")
    if config.presence_url:
        extra.append(urlsplit(config.presence_url).netloc)
    return ServerOrigins.of(urls, extra_hosts=extra)
