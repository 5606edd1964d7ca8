"""Protocol versions: ``major.minor``; a different major cannot talk, an older minor may."""

from __future__ import annotations

import enum
import re

from coview.errors import Refused

PROTOCOL_VERSION = (1, 0)
_VERSION_RE = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})")


class VersionCheck(enum.Enum):
    """What a server says of a client's protocol version."""

    OK = "ok"
    UPGRADE_AVAILABLE = "upgrade_available"  # seed 000 EventUpgradeAvailable
    UPGRADE_REQUIRED = "upgrade_required"  # seed 000 EventUpgradeRequired


def format_version(version: tuple[int, int] = PROTOCOL_VERSION) -> str:
    return f"{version[0]}.{version[1]}"


def check_version(client: str, server: tuple[int, int] = PROTOCOL_VERSION) -> VersionCheck:
    """Compare a client's ``major.minor`` with the server's."""
    match = _VERSION_RE.fullmatch(client)
    if match is None:
        return VersionCheck.UPGRADE_REQUIRED
    major, minor = int(match.group(1)), int(match.group(2))
    if major != server[0]:
        return VersionCheck.UPGRADE_REQUIRED
    if minor < server[1]:
        return VersionCheck.UPGRADE_AVAILABLE
    return VersionCheck.OK


def require_version(client: str) -> VersionCheck:
    """:func:`check_version` for a hello: a version the server cannot talk to is refused
    (``upgrade_required``), on every path (sessions, presence) with the same words."""
    verdict = check_version(client)
    if verdict is VersionCheck.UPGRADE_REQUIRED:
        raise Refused(f"protocol {client} is not supported; upgrade the client",
                      code="upgrade_required")
    return verdict


def sdk_is_older(client: str, server_version: str) -> bool:
    """Whether a client string like ``coview-python/0.1.0`` names an SDK older than the
    server's own version (so that a newer SDK is available)."""
    _, _, version = client.rpartition("/")

    def parts(text: str) -> tuple[int, ...]:
        numbers = []
        for piece in text.split(".")[:3]:
            digits = "".join(c for c in piece if c.isdigit())
            numbers.append(int(digits) if digits else 0)
        return tuple(numbers)

    return bool(version) and parts(version) < parts(server_version)
