"""Server configuration: every option with its default, in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from coview.domain.tokens import DEFAULT_TOKEN_MAX_AGE
from coview.errors import InvalidInput
from coview.storage.key_file import MIN_KEY_LENGTH

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
    secret_key: str | None = None  # signs agent tokens and seals stored secrets
    old_secret_key: str | None = None  # a former secret key: opens what it sealed (rotation)
    demo: bool = False
    token_ttl: int = 3600
    token_max_age: int = DEFAULT_TOKEN_MAX_AGE  # a sign-in's absolute limit, refreshes included
    max_body_bytes: int = 256 * 1024
    log_level: str = "info"
    presence_port: int | None = None  # a listener for presence alone (None: off)
    presence_url: str | None = None  # how clients reach it, when not ws://<host>:<port>
    # How browsers reach this server (scheme://host[:port]); empty: the listen address.
    public_urls: tuple[str, ...] = ()
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or "*").
    forwarded_allow_ips: tuple[str, ...] = ()
    # Webhooks may go to http:// and to loopback, private and link-local addresses.
    allow_private_webhooks: bool = False

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
    "old_secret_key": "COVIEW_SECRET_KEY_OLD",
    "token_ttl": "COVIEW_TOKEN_TTL",
    "token_max_age": "COVIEW_TOKEN_MAX_AGE",
    "log_level": "COVIEW_LOG_LEVEL",
    "presence_port": "COVIEW_PRESENCE_PORT",
    "presence_url": "COVIEW_PRESENCE_URL",
    "public_url": "COVIEW_PUBLIC_URL",
    "forwarded_allow_ips": "COVIEW_FORWARDED_ALLOW_IPS",
    "allow_private_webhooks": "COVIEW_ALLOW_PRIVATE_WEBHOOKS",
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
    allow_private = str(values.get("allow_private_webhooks", "")).lower()
    if allow_private not in ("", "0", "1", "true", "false", "yes", "no"):
        raise InvalidInput("COVIEW_ALLOW_PRIVATE_WEBHOOKS must be 1/true/yes or 0/false/no")
    try:
        port = int(str(values.get("port", DEFAULT_PORT)))
        token_ttl = int(str(values.get("token_ttl", 3600)))
        token_max_age = int(str(values.get("token_max_age", DEFAULT_TOKEN_MAX_AGE)))
        presence_port = (int(str(values["presence_port"]))
                         if values.get("presence_port") is not None else None)
    except ValueError:
        raise InvalidInput("ports, token TTL and token max age must be whole numbers") from None
    if not 0 <= port <= 65535:
        raise InvalidInput(f"port {port} is out of range (0 to 65535)")
    if presence_port is not None and not 1 <= presence_port <= 65535:
        raise InvalidInput(f"presence port {presence_port} is out of range (1 to 65535)")
    presence_url = values.get("presence_url")
    if presence_url is not None and not str(presence_url).startswith(("ws://", "wss://")):
        raise InvalidInput("presence URL must start with ws:// or wss://")
    if not 60 <= token_ttl <= 86_400:
        raise InvalidInput("token TTL must be 60 to 86400 seconds")
    if not 300 <= token_max_age <= 30 * 86_400:
        raise InvalidInput("token max age must be 300 to 2592000 seconds (30 days)")
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
    if secret is not None and len(str(secret)) < MIN_KEY_LENGTH:
        raise InvalidInput(f"secret key must be at least {MIN_KEY_LENGTH} characters")
    old_secret = values.get("old_secret_key")
    if old_secret is not None and len(str(old_secret)) < MIN_KEY_LENGTH:
        raise InvalidInput(f"COVIEW_SECRET_KEY_OLD must be at least {MIN_KEY_LENGTH} characters")
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
        old_secret_key=str(old_secret) if old_secret else None,
        demo=bool(values.get("demo", False)),
        token_ttl=token_ttl,
        token_max_age=token_max_age,
        log_level=level,
        presence_port=presence_port,
        presence_url=str(presence_url) if presence_url else None,
        public_urls=_public_urls(values.get("public_url")),
        forwarded_allow_ips=_list(values.get("forwarded_allow_ips")),
        allow_private_webhooks=allow_private in ("1", "true", "yes"),
    )


def _list(value: object) -> tuple[str, ...]:
    """A comma-separated option (or a list of them) as a tuple of its non-empty items."""
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else [value]
    return tuple(part.strip() for item in items for part in str(item).split(",")
                 if part.strip())


def _public_urls(value: object) -> tuple[str, ...]:
    """``--public-url`` values as ``scheme://host[:port]`` origins (lower case, no path)."""
    origins = []
    for url in _list(value):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or \
                parts.path not in ("", "/") or parts.query or parts.username:
            raise InvalidInput(f"public URL {url!r} must be http(s)://host[:port], no path")
        try:
            port = parts.port
        except ValueError:
            raise InvalidInput(f"public URL {url!r} has an invalid port") from None
        default = 443 if parts.scheme == "https" else 80
        host = parts.hostname.lower()
        if ":" in host:
            host = f"[{host}]"
        origins.append(f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default)
                                                     else ""))
    return tuple(origins)
