"""What is kept of sessions and settings: a session's record after it ends, and the two
stages of a group's settings (staging, edited by admins; production, what sessions use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from coview.ids import GroupId

Stage = Literal["staging", "production"]
STAGING: Stage = "staging"
PRODUCTION: Stage = "production"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What is kept of a session after it ends."""

    call_id: int
    session_id: str
    group_id: GroupId
    key: str
    session_type: str
    parent_call_id: int | None
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    peak_guests: int
    errors: list[str]
