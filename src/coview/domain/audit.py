"""The audit log: who did what, when, from where."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coview.ids import GroupId


class AuditAction(enum.StrEnum):
    """Everything that the audit log records."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    LOGOUT = "logout"
    JOIN_FAILED = "join_failed"
    JOIN_THROTTLED = "join_throttled"
    START_THROTTLED = "start_throttled"
    SESSION_START = "session_start"
    SESSION_END = "session_end"
    REMOTE_CONTROL_GRANTED = "remote_control_granted"
    SETTINGS_STAGED = "settings_staged"
    SETTINGS_PUBLISHED = "settings_published"
    AGENT_CREATED = "agent_created"
    AGENT_UPDATED = "agent_updated"
    GROUP_CREATED = "group_created"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log."""

    group_id: GroupId
    action: AuditAction
    actor: str
    address: str
    details: dict[str, Any] = field(default_factory=dict)
    entry_id: int = 0
    at: datetime | None = None
