"""The first frame of a connection: ``start`` (a visitor), ``join`` (an agent, or the visitor
joining a child session), ``host`` (an agent starting a child session), ``resume``.

Every field is bounded; a frame that does not fit is refused with ``invalid_parameter``.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coview.protocol.frames import ProtocolError
from coview.protocol.rules import (
    CLIENT_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    GROUP_ID_MAX,
    KEY_PATTERN,
    MAX_GUESTS_MAX,
    NAME_MAX_LENGTH,
    PHONE_MAX_LENGTH,
    SESSION_TYPE_PATTERN,
    TOKEN_MAX_LENGTH,
)

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], header: dict[str, Any]) -> M:
    """``header`` as ``model``; raise ProtocolError(invalid_parameter) naming the first
    field that does not fit."""
    try:
        return model.model_validate(header)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProtocolError(f"{where}: {first['msg']}", code="invalid_parameter") from None


class _Hello(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    v: str = Field(max_length=16)


class DisplayInfo(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: str = Field(default="main", max_length=200)
    width: int = Field(default=0, ge=0, le=16384)
    height: int = Field(default=0, ge=0, le=16384)


class StartHello(_Hello):
    """A visitor starts a session."""

    t: Literal["start"]
    group_id: int = Field(ge=1, le=GROUP_ID_MAX)
    key_kind: Literal["visitor", "random", "named"]
    key: str | None = Field(default=None, pattern=KEY_PATTERN)
    token: str = Field(default="", max_length=TOKEN_MAX_LENGTH)
    name: str = Field(default="", max_length=NAME_MAX_LENGTH)
    email: str = Field(default="", max_length=EMAIL_MAX_LENGTH)
    phone: str = Field(default="", max_length=PHONE_MAX_LENGTH)
    max_guests: int = Field(default=0, ge=0, le=MAX_GUESTS_MAX)
    persist: bool | None = None
    paused: bool = False
    main_call_id: int = Field(default=0, ge=0)
    report_errors: bool = False
    presence_start: bool = False
    session_type: str = Field(default="screenshare", pattern=SESSION_TYPE_PATTERN)
    client: str = Field(default="", max_length=CLIENT_MAX_LENGTH)


class JoinHello(_Hello):
    """An agent joins a session by key (token: the agent's), or the visitor's SDK joins a
    child session (role ``viewer``; token: the one-time join token of the invitation)."""

    t: Literal["join"]
    key: str = Field(pattern=KEY_PATTERN)
    token: str = Field(default="", max_length=TOKEN_MAX_LENGTH)
    role: Literal["agent", "viewer"] = "agent"
    group_id: int = Field(default=0, ge=0, le=GROUP_ID_MAX)
    resume_token: str = Field(default="", max_length=200)
    client: str = Field(default="", max_length=CLIENT_MAX_LENGTH)


class HostHello(_Hello):
    """An agent in a session starts a child session of it (agent video, showback) and sends
    its pictures; the session's visitor is invited to view it."""

    t: Literal["host"]
    token: str = Field(max_length=TOKEN_MAX_LENGTH)
    main_call_id: int = Field(ge=1)
    session_type: str = Field(pattern=SESSION_TYPE_PATTERN)
    client: str = Field(default="", max_length=CLIENT_MAX_LENGTH)


class ResumeHello(_Hello):
    """Either side comes back after a drop."""

    t: Literal["resume"]
    session_id: str = Field(max_length=64)
    token: str = Field(max_length=200)
    a: int = Field(ge=0)


Hello = StartHello | JoinHello | HostHello | ResumeHello


def parse_hello(header: dict[str, Any]) -> Hello:
    """Validate a first frame's header; raise ProtocolError(code invalid_parameter)."""
    kinds: dict[str, type[Hello]] = {
        "start": StartHello, "join": JoinHello, "host": HostHello, "resume": ResumeHello}
    model = kinds.get(str(header.get("t")))
    if model is None:
        raise ProtocolError("the first frame must be start, join, host or resume",
                            code="invalid_parameter")
    return validated(model, header)
