"""The visitor SDK's public types: events, end reasons, start and display parameters.

Event names are those of seed 000's table (and seed 001's presence events), in upper snake case
with the seed's name as value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from coview.protocol import rules
from coview.protocol.reasons import SessionEndReason

RANDOM_KEY = "GLANCE_KEYTYPE_RANDOM"  # the seed's name for "draw a random key"


class EventCode(enum.StrEnum):
    """Every event the visitor SDK reports."""

    INVALID_PARAMETER = "EventInvalidParameter"
    INVALID_STATE = "EventInvalidState"
    VISITOR_INITIALIZED = "EventVisitorInitialized"
    PRIVILEGE_VIOLATION = "EventPrivilegeViolation"
    UPGRADE_AVAILABLE = "EventUpgradeAvailable"
    UPGRADE_REQUIRED = "EventUpgradeRequired"
    COMPOSITION_DISABLED = "EventCompositionDisabled"  # Windows only: never fires on Linux
    CONNECTED_TO_SESSION = "EventConnectedToSession"
    SWITCHING_TO_VIEW = "EventSwitchingToView"
    START_SESSION_FAILED = "EventStartSessionFailed"
    SESSION_ENDED = "EventSessionEnded"
    TUNNELING = "EventTunneling"
    CONNECTION_WARNING = "EventConnectionWarning"
    CLEAR_WARNING = "EventClearWarning"
    GUEST_COUNT_CHANGE = "EventGuestCountChange"
    RC_DISABLED = "EventRCDisabled"
    DEVICE_DISCONNECTED = "EventDeviceDisconnected"
    DEVICE_RECONNECTED = "EventDeviceReconnected"
    EXCEPTION = "EventException"
    SCREENSHARE_INVITATION = "EventScreenshareInvitation"  # not used by the visitor API
    MESSAGE_RECEIVED = "EventMessageReceived"
    CHILD_SESSION_STARTED = "EventChildSessionStarted"
    CHILD_SESSION_ENDED = "EventChildSessionEnded"
    JOIN_CHILD_SESSION_FAILED = "EventJoinChildSessionFailed"
    # Seed 001: presence and one-click.
    PRESENCE_CONNECTED = "EventPresenceConnected"
    PRESENCE_DISCONNECTED = "EventPresenceDisconnected"
    PRESENCE_SHOW_TERMS = "EventPresenceShowTerms"
    PRESENCE_CONNECT_FAILED = "EventPresenceConnectFailed"


class EventType(enum.StrEnum):
    """The seed's classification of events."""

    ASSERT = "Assert"
    INFO = "Info"
    WARNING = "Warning"
    ERROR = "Error"


EVENT_TYPES: dict[EventCode, EventType] = {
    EventCode.INVALID_PARAMETER: EventType.ASSERT,
    EventCode.INVALID_STATE: EventType.ASSERT,
    EventCode.PRIVILEGE_VIOLATION: EventType.ERROR,
    EventCode.UPGRADE_REQUIRED: EventType.ERROR,
    EventCode.START_SESSION_FAILED: EventType.ERROR,
    EventCode.EXCEPTION: EventType.ERROR,
    EventCode.CONNECTION_WARNING: EventType.WARNING,
    EventCode.PRESENCE_CONNECT_FAILED: EventType.ERROR,
}


@dataclass(frozen=True, slots=True)
class Event:
    """One event: its code, the seed's type, a message, and string properties."""

    code: EventCode
    message: str = ""
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> EventType:
        return EVENT_TYPES.get(self.code, EventType.INFO)


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayParams:
    """What to show (seed 000 DisplayParams).

    ``display_name``: ``"main"`` (the primary monitor), a name from ``display_name(n)``,
    ``"all"`` (every monitor), or ``"application"`` (the application's own window, set with
    ``Visitor.set_application_window``). ``scale`` or ``capture_width``/``capture_height``
    shrink the capture; ``video`` sends it as video (for low-resolution devices).
    """

    display_name: str = "main"
    scale: float = 1.0
    capture_width: int = 0
    capture_height: int = 0
    video: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StartParams:
    """How a session starts (seed 000 StartParams)."""

    key: str = ""
    max_guests: int = 0
    main_call_id: int = 0
    persist: bool | None = None
    paused: bool = False
    force_tunnel: bool = False
    report_errors: bool = False
    presence_start: bool = False
    display: DisplayParams = field(default_factory=DisplayParams)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """The running session, if any (seed 000 SessionInfo; ``call_id`` 0 when none)."""

    call_id: int = 0
    n_guests: int = 0
    key: str = ""
    rc_enabled: bool = False
    sb_enabled: bool = False
    gestures_enabled: bool = False
    is_paused: bool = False
    is_connected: bool = False
    is_showing: bool = False
    is_viewing: bool = False
    display_name: str = ""
    is_guest: bool = False
    is_reverse: bool = False
    presence_start: bool = False


__all__ = [
    "RANDOM_KEY",
    "DisplayParams",
    "Event",
    "EventCode",
    "EventType",
    "SessionEndReason",
    "SessionInfo",
    "StartParams",
]


def check_params(params: StartParams) -> str:
    """What is wrong with start parameters, in one sentence (empty: nothing)."""
    if params.key != RANDOM_KEY and not rules.is_key(params.key):
        return "the key must be 1 to 50 letters, digits, '_' or '-', or coview.RANDOM_KEY"
    if not 0 <= params.max_guests <= rules.MAX_GUESTS_MAX:
        return f"max_guests must be 0 to {rules.MAX_GUESTS_MAX}"
    if params.main_call_id < 0:
        return "main_call_id must not be negative"
    return check_display(params.display)


def check_display(display: DisplayParams) -> str:
    """What is wrong with display parameters, in one sentence (empty: nothing)."""
    if not 0.05 <= display.scale <= 4:
        return "scale must be 0.05 to 4"
    if display.capture_width < 0 or display.capture_height < 0:
        return "capture_width and capture_height must not be negative"
    if not display.display_name:
        return "display_name must not be empty"
    return ""
