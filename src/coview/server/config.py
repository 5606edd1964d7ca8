"""Server configuration: every option with its default, in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coview.errors import InvalidInput

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700
DEFAULT_DATA_DIR = "./coview-data"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How a ``coview serve`` process runs.

    Command-line options win over ``COVIEW_*`` environment variables, which win over defaults.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    demo: bool = False
    token_ttl: int = 3600
    max_body_bytes: int = 256 * 1024
    log_level: str = "info"
    presence_port: int | None = None  # a listener for presence alone (None: off)
    presence_url: str | None = None  # how clients reach it, when not ws://<host>:<port>

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'coview.db').resolve()}"


_ENV = {
    "host": "COVIEW_HOST",
    "port": "COVIEW_PORT",
    "data_dir": "COVIEW_DATA_DIR",
    "database_url": "COVIEW_DATABASE_URL",
    "redis_url": "COVIEW_REDIS_URL",
    "secret_key": "COVIEW_SECRET_KEY",
    "token_ttl": "COVIEW_TOKEN_TTL",
    "log_level": "COVIEW_LOG_LEVEL",
    "presence_port": "COVIEW_PRESENCE_PORT",
    "presence_url": "COVIEW_PRESENCE_URL",
}


def load_config(options: Mapping[str, object], environ: Mapping[str, str] | None = None,
                ) -> ServerConfig:
    """Build a ServerConfig from options (None means "not given") over the environment."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name, variable in _ENV.items():
        if options.get(name) is not None:
            values[name] = options[name]
        elif env.get(variable):
            values[name] = env[variable]
    if options.get("demo"):
        values["demo"] = True
    try:
        port = int(str(values.get("port", DEFAULT_PORT)))
        token_ttl = int(str(values.get("token_ttl", 3600)))
        presence_port = (int(str(values["presence_port"]))
                         if values.get("presence_port") is not None else None)
    except ValueError:
        raise InvalidInput("ports and token TTL must be whole numbers") from None
    if not 0 <= port <= 65535:
        raise InvalidInput(f"port {port} is out of range (0 to 65535)")
    if presence_port is not None and not 1 <= presence_port <= 65535:
        raise InvalidInput(f"presence port {presence_port} is out of range (1 to 65535)")
    presence_url = values.get("presence_url")
    if presence_url is not None and not str(presence_url).startswith(("ws://", "wss://")):
        raise InvalidInput("presence URL must start with ws:// or wss://")
    if not 60 <= token_ttl <= 86_400:
        raise InvalidInput("token TTL must be 60 to 86400 seconds")
    database_url = values.get("database_url")
    if database_url is not None and not str(database_url).startswith(
        ("sqlite+aiosqlite://", "postgresql+asyncpg://")
    ):
        raise InvalidInput(
            "database URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    redis_url = values.get("redis_url")
    if redis_url is not None:
        if not str(redis_url).startswith(("redis://", "rediss://", "unix://")):
            raise InvalidInput("Redis URL must start with redis://, rediss:// or unix://")
        if not str(database_url or "").startswith("postgresql+asyncpg://"):
            raise InvalidInput("several processes (a Redis URL) share one database: give a "
                               "PostgreSQL database URL (postgresql+asyncpg://...)")
    secret = values.get("secret_key")
    if secret is not None and len(str(secret)) < 32:
        raise InvalidInput("secret key must be at least 32 characters")
    level = str(values.get("log_level", "info")).lower()
    if level not in ("debug", "info", "warning", "error"):
        raise InvalidInput("log level must be debug, info, warning or error")
    return ServerConfig(
        host=str(values.get("host", DEFAULT_HOST)),
        port=port,
        data_dir=Path(str(values.get("data_dir", DEFAULT_DATA_DIR))),
        database_url=str(database_url) if database_url else None,
        redis_url=str(values["redis_url"]) if values.get("redis_url") else None,
        secret_key=str(secret) if secret else None,
        demo=bool(values.get("demo", False)),
        token_ttl=token_ttl,
        log_level=level,
        presence_port=presence_port,
        presence_url=str(presence_url) if presence_url else None,
    )
