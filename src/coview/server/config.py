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
    except ValueError:
        raise InvalidInput("port and token TTL must be whole numbers") from None
    if not 0 <= port <= 65535:
        raise InvalidInput(f"port {port} is out of range (0 to 65535)")
    if not 60 <= token_ttl <= 86_400:
        raise InvalidInput("token TTL must be 60 to 86400 seconds")
    database_url = values.get("database_url")
    if database_url is not None and not str(database_url).startswith(
        ("sqlite+aiosqlite://", "postgresql+asyncpg://")
    ):
        raise InvalidInput(
            "database URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
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
    )
