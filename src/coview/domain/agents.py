"""Agents: the people (and admins) of a group who join sessions."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from coview.errors import InvalidInput
from coview.ids import AgentId, GroupId

_USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


class Role(enum.StrEnum):
    """What an agent may administer: an ``admin`` also edits settings and reads the audit log."""

    AGENT = "agent"
    ADMIN = "admin"


class Privilege(enum.StrEnum):
    """What an agent may do inside a session."""

    REMOTE_CONTROL = "remote_control"
    SHOW = "show"
    VIEW = "view"
    VIDEO = "video"


DEFAULT_PRIVILEGES: frozenset[Privilege] = frozenset(Privilege)


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent as stored, without the password hash."""

    agent_id: AgentId
    group_id: GroupId
    username: str
    display_name: str
    title: str
    role: Role
    privileges: frozenset[Privilege]
    disabled: bool
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def validate_username(value: str) -> str:
    """Return ``value`` if it is a valid username (1 to 64 of letters, digits, ``._@-``)."""
    if not _USERNAME_RE.fullmatch(value):
        raise InvalidInput(
            "username must be 1 to 64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit",
            fields={"username": "invalid characters or length"},
        )
    return value


def validate_password(value: str) -> str:
    """Return ``value`` if it is long enough to be a password."""
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            fields={"password": "too short or too long"},
        )
    return value


def validate_display_text(value: str, *, field: str) -> str:
    """Return trimmed display text (name, title) of at most 100 printable characters."""
    text = value.strip()
    if len(text) > 100 or not text.isprintable():
        raise InvalidInput(
            f"{field} must be at most 100 printable characters",
            fields={field: "at most 100 printable characters"},
        )
    return text


def parse_privileges(values: Iterable[str]) -> frozenset[Privilege]:
    """Turn privilege names into Privilege members, naming any that is unknown."""
    result: set[Privilege] = set()
    for value in values:
        try:
            result.add(Privilege(value))
        except ValueError:
            known = ", ".join(p.value for p in Privilege)
            raise InvalidInput(
                f"unknown privilege {value!r}; known: {known}",
                fields={"privileges": f"unknown privilege {value!r}"},
            ) from None
    return frozenset(result)
