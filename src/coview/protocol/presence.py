"""The presence protocol (docs/protocol.md, "Presence"): frames on ``/ws/v1/presence``.

The visitor's first frame is ``presence`` (who it is); the server answers ``welcome`` or
``refused``. Then the visitor sends ``info`` (what it shows now), ``signal`` (to the agent,
e.g. the terms status) and ``bye`` (a logout: offline at once); the server sends
``show_terms`` when an agent asks for a one-click session. Frames use the session protocol's
envelope (``coview.protocol.frames``); there are no sequence numbers: presence is state, and a
reconnect sends it whole again.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from coview.protocol.frames import ProtocolError
from coview.protocol.handshake import validated
from coview.protocol.rules import (
    CLIENT_MAX_LENGTH,
    GROUP_ID_MAX,
    INFO_MAX_ITEMS,
    KEY_PATTERN,
    PROPERTIES_MAX_ITEMS,
    SIGNAL_NAME_PATTERN,
    TOKEN_MAX_LENGTH,
)

MAX_PRESENCE_FRAME = 8 * 1024


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PresenceHello(_Message):
    t: Literal["presence"]
    v: str = Field(max_length=16)
    group_id: int = Field(ge=1, le=GROUP_ID_MAX)
    visitor_id: str = Field(pattern=KEY_PATTERN)
    token: str = Field(default="", max_length=TOKEN_MAX_LENGTH)
    info: dict[str, str] = Field(default_factory=dict, max_length=INFO_MAX_ITEMS)
    client: str = Field(default="", max_length=CLIENT_MAX_LENGTH)


class InfoMessage(_Message):
    t: Literal["info"]
    info: dict[str, str] = Field(default_factory=dict, max_length=INFO_MAX_ITEMS)


class SignalMessage(_Message):
    t: Literal["signal"]
    name: str = Field(pattern=SIGNAL_NAME_PATTERN)
    properties: dict[str, str] = Field(default_factory=dict, max_length=PROPERTIES_MAX_ITEMS)


class ByeMessage(_Message):
    t: Literal["bye"]


VisitorMessage = InfoMessage | SignalMessage | ByeMessage
_KINDS: dict[str, type[VisitorMessage]] = {"info": InfoMessage, "signal": SignalMessage,
                                           "bye": ByeMessage}
# Every message of the presence protocol: the visitor's, then the server's.
PRESENCE_MESSAGES = frozenset({"presence", *_KINDS, "welcome", "show_terms", "refused"})


def parse_presence_hello(header: dict[str, Any]) -> PresenceHello:
    if header.get("t") != "presence":
        raise ProtocolError("the first frame must be presence", code="invalid_parameter")
    return validated(PresenceHello, header)


def parse_visitor_message(header: dict[str, Any]) -> VisitorMessage:
    model = _KINDS.get(str(header.get("t")))
    if model is None:
        raise ProtocolError(f"unexpected presence message {header.get('t')!r}")
    return validated(model, header)
