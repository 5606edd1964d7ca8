"""Who may talk to this server from a browser: the Host and Origin rules, in one place.

Browsers send ``Host`` (the name in the page's URL) and, from scripts and WebSockets,
``Origin`` (``scheme://host[:port]`` of the page). Two attacks follow from trusting them
loosely:

* **DNS rebinding**: a page of ``evil.com`` whose name is made to resolve to this server sends
  ``Host: evil.com:PORT`` with a matching ``Origin``; a check that compares the two passes.
  So the Host must be one of the server's own names (its public URLs).
* **Look-alike origins**: ``https://``, ``chrome-extension://`` or ``http://...evil`` origins
  that share a host:port with the server. So an Origin is compared whole (scheme, host and
  port) with the server's public URLs and the group's trusted origins.

The server's public URLs come from ``--public-url`` (``COVIEW_PUBLIC_URL``); by default they
are the listen address (and its loopback names, when it listens on loopback or everywhere).
Native clients (the SDK) send no Origin; that is allowed, and they must still name a Host of
the server's.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def normalize_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case with the scheme's default port left out, or
    None if ``value`` is not such an origin (``null``, a path, user info, a bad port)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username \
            or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _host_forms(origin: str) -> set[str]:
    """The Host header values that name ``origin``'s host and port."""
    parts = urlsplit(origin)
    host = origin.split("://", 1)[1]
    forms = {host}
    if parts.port is None:  # the default port may be written out
        forms.add(f"{host}:{_DEFAULT_PORTS[parts.scheme]}")
    return forms


def normalize_host(value: str) -> str:
    """A Host header as compared: lower case, no trailing dot on the name."""
    host = value.strip().lower()
    if host.startswith("["):
        return host
    name, sep, port = host.partition(":")
    return name.rstrip(".") + sep + port


def default_public_urls(host: str, port: int) -> tuple[str, ...]:
    """The public URLs of a server listening on ``host:port`` when none is configured."""
    names: list[str] = []
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        names.append(host)  # a name: browsers use it as it is
        address = None
    if address is not None and (address.is_loopback or address.is_unspecified):
        names += _LOOPBACK_NAMES
    if address is not None and address.is_unspecified:
        # Every address of this machine: the operator should name the public URL instead.
        names.append(socket.gethostname())
        names += _machine_addresses()
    elif address is not None and not address.is_loopback:
        names.append(f"[{host}]" if address.version == 6 else host)
    return tuple(dict.fromkeys(f"http://{name}:{port}" for name in names))


def _machine_addresses() -> list[str]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return []
    found = []
    for *_, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]
        found.append(f"[{text}]" if ":" in text else text)
    return found


@dataclass(frozen=True, slots=True)
class ServerOrigins:
    """The server's own origins and the Host headers that name it."""

    origins: frozenset[str]
    hosts: frozenset[str]

    @classmethod
    def of(cls, public_urls: Iterable[str], *, extra_hosts: Iterable[str] = ()) -> ServerOrigins:
        """From public URLs (any ``scheme://host[:port]``) and further Host values (such as
        a separate presence listener's ``host:port``)."""
        origins = {o for o in (normalize_origin(u) for u in public_urls) if o is not None}
        hosts = {form for origin in origins for form in _host_forms(origin)}
        hosts |= {normalize_host(h) for h in extra_hosts}
        return cls(frozenset(origins), frozenset(hosts))

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request's Host header names this server (a missing one does not)."""
        return host is not None and normalize_host(host) in self.hosts

    def is_own(self, origin: str | None) -> bool:
        """Whether an Origin header is one of this server's own pages."""
        found = normalize_origin(origin) if origin else None
        return found is not None and found in self.origins

    def allows(self, origin: str | None, trusted: Iterable[str] = ()) -> bool:
        """Whether a browser at ``origin`` may call: no Origin (a native client), the
        server's own pages, or exactly one of ``trusted`` (a group's trusted origins)."""
        if origin is None:
            return True
        found = normalize_origin(origin)
        if found is None:
            return False
        return found in self.origins or found in {normalize_origin(t) for t in trusted}
