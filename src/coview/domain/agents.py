"""Agents: the people (and admins) of a group who join sessions.

Two rules of accounts live here: a group always keeps an enabled admin
(:func:`check_an_admin_remains`), and which changes end an agent's sign-ins
(:func:`revokes_tokens`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coview.errors import Conflict, InvalidInput
from coview.ids import AgentId, GroupId

USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
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
    """An agent as stored, without the password hash.

    ``agent_role`` is the agent role title of seed 002's ``agentrole`` (e.g. "Account
    Support"), which visitors' masks by role read. ``token_generation`` counts the times the
    agent's sign-ins were ended: a token carries the generation it was issued in.
    """

    agent_id: AgentId
    group_id: GroupId
    username: str
    display_name: str
    title: str
    agent_role: str
    role: Role
    privileges: frozenset[Privilege]
    disabled: bool
    created_at: datetime
    token_generation: int

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_active_admin(self) -> bool:
        """An admin who can sign in (not disabled)."""
        return self.is_admin and not self.disabled

    def record(self) -> dict[str, object]:
        """The agent as JSON (what one server process tells another)."""
        return {"agent_id": self.agent_id, "group_id": self.group_id, "username": self.username,
                "display_name": self.display_name, "title": self.title,
                "agent_role": self.agent_role, "role": self.role.value,
                "privileges": sorted(self.privileges), "disabled": self.disabled,
                "created_at": self.created_at.isoformat(),
                "token_generation": self.token_generation}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Agent:
        """The agent :meth:`record` gave; ValueError if it is not one (a field missing or of
        another type)."""
        def field(name: str, kind: type) -> Any:
            value = record.get(name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"an agent record's {name} is not a {kind.__name__}")
            return value

        privileges = field("privileges", list)
        if not all(isinstance(p, str) for p in privileges):
            raise ValueError("an agent record's privileges are not strings")
        return cls(
            agent_id=AgentId(field("agent_id", int)), group_id=GroupId(field("group_id", int)),
            username=field("username", str), display_name=field("display_name", str),
            title=field("title", str), agent_role=field("agent_role", str),
            role=Role(field("role", str)),
            privileges=frozenset(Privilege(p) for p in privileges),
            disabled=field("disabled", bool),
            created_at=datetime.fromisoformat(field("created_at", str)),
            token_generation=field("token_generation", int))


class LastAdmin(Conflict):
    """The change would leave the group without an enabled admin."""

    code = "last_admin"


def check_an_admin_remains(before: Agent, after: Agent, *, other_active_admins: int) -> None:
    """Raise LastAdmin if changing ``before`` into ``after`` leaves its group with no enabled
    admin (``other_active_admins``: the group's enabled admins besides this agent)."""
    if before.is_active_admin and not after.is_active_admin and other_active_admins == 0:
        raise LastAdmin(
            f"{before.username!r} is the group's only enabled admin: make another agent an "
            "admin first, then demote or disable this one"
        )


def revokes_tokens(before: Agent, after: Agent, *, password_changed: bool) -> bool:
    """Whether changing ``before`` into ``after`` ends every sign-in of the agent: a new
    password, or another role, other privileges, or being disabled or enabled."""
    return password_changed or (before.role, before.privileges, before.disabled) != (
        after.role, after.privileges, after.disabled)


def validate_username(value: str) -> str:
    """Return ``value`` if it is a valid username (1 to 64 of letters, digits, ``._@-``)."""
    if not USERNAME_RE.fullmatch(value):
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
    """Return trimmed display text (name, title, agent role) of at most 100 printable
    characters."""
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
