"""Request and response bodies of the REST API (the OpenAPI document is made from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from coview.domain.agents import USERNAME_RE, Agent, Privilege, Role
from coview.domain.groups import MAX_GROUP_ID
from coview.domain.settings import GroupSettings, JsonInt
from coview.protocol.rules import KEY_MAX_LENGTH, KEY_PATTERN, TOKEN_MAX_LENGTH


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    # Closed, so that the document says the whole shape and a fuzzer holds answers to it.
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="A stable, machine-readable error code")
    message: str = Field(description="What went wrong and how to mend it")
    fields: dict[str, str] | None = Field(
        default=None, description="For invalid input: what is wrong with each field"
    )


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "How to authenticate: a bearer token",
                               "required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait before trying again",
                          "required": True, "schema": {"type": "integer", "minimum": 1}}},
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description,
             **({"headers": _ERROR_HEADERS[status]} if status in _ERROR_HEADERS else {})}
    for status, description in [
        (400, "Malformed request"), (401, "Not signed in, or credentials not valid"),
        (403, "Not allowed"), (404, "Not found"), (409, "Conflict"),
        (413, "Body too large"), (422, "Invalid input"), (429, "Too many attempts"),
        (503, "A part of the server is unavailable"),
    ]
}


def link(operation_id: str, description: str, *, request_body: str | None = None,
         **parameters: str) -> dict[str, Any]:
    """An OpenAPI link of a response: which operation its values lead to, and which runtime
    expression (``$response.body#/username``...) gives each parameter, or the body, of it."""
    found: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        found["parameters"] = parameters
    if request_body is not None:
        found["requestBody"] = request_body
    return found


class LoginIn(_In):
    group_id: JsonInt = Field(ge=1, le=MAX_GROUP_ID)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class AgentOut(BaseModel):
    username: str
    display_name: str
    title: str
    agent_role: str = Field(description="The agent role title (seed 002's ``agentrole``, e.g. "
                            "\"Account Support\"), which visitors' masks by role read")
    role: Role
    privileges: list[Privilege]
    disabled: bool
    group_id: int
    created_at: datetime

    @classmethod
    def of(cls, agent: Agent) -> AgentOut:
        return cls(
            username=agent.username, display_name=agent.display_name, title=agent.title,
            agent_role=agent.agent_role, role=agent.role, privileges=sorted(agent.privileges),
            disabled=agent.disabled, group_id=agent.group_id, created_at=agent.created_at,
        )


class TokenOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")
    expires_at: datetime
    sign_in_expires_at: datetime = Field(
        description="When the sign-in ends: refreshing is refused from then on (sign in again)"
    )
    agent: AgentOut


class MeOut(BaseModel):
    group_id: int
    kind: Literal["agent", "api_key"]
    agent: AgentOut | None = None


# The domain's username rule, stated in the OpenAPI document too so that a client (or the fuzzer)
# can tell a valid username from the schema alone.
USERNAME_PATTERN = f"^{USERNAME_RE.pattern}$"


class AgentCreateIn(_In):
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN)
    password: str = Field(min_length=8, max_length=256)
    display_name: str = Field(default="", max_length=100)
    title: str = Field(default="", max_length=100)
    agent_role: str = Field(default="", max_length=100)
    role: Role = Role.AGENT
    privileges: list[Privilege] | None = Field(
        default=None, max_length=len(Privilege), description="Default: every privilege"
    )


class AgentPatchIn(_In):
    display_name: str | None = Field(default=None, max_length=100)
    title: str | None = Field(default=None, max_length=100)
    agent_role: str | None = Field(default=None, max_length=100)
    role: Role | None = None
    privileges: list[Privilege] | None = Field(default=None, max_length=len(Privilege))
    password: str | None = Field(default=None, min_length=8, max_length=256)
    disabled: bool | None = Field(default=None, strict=True)


class AgentListOut(BaseModel):
    agents: list[AgentOut]


class SettingsOut(BaseModel):
    stage: Literal["staging", "production"]
    settings: GroupSettings
    updated_at: datetime
    updated_by: str


class PublishOut(SettingsOut):
    changed: list[str] = Field(description="Fields that differed from production before")


class AuditEntryOut(BaseModel):
    entry_id: int
    at: datetime
    action: str
    actor: str
    address: str
    details: dict[str, Any]


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_before: int | None = Field(
        description="Pass as ``before`` to read the next, older page; null on the last page"
    )


class VisitorTokenIn(_In):
    visitor_id: str = Field(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN)
    ttl: JsonInt = Field(default=3600, ge=1, le=30 * 24 * 3600)


class VisitorTokenOut(BaseModel):
    token: str
    visitor_id: str
    expires_at: datetime


class VisitorTokenCheckIn(_In):
    group_id: JsonInt = Field(ge=1, le=MAX_GROUP_ID)
    token: str = Field(min_length=1, max_length=TOKEN_MAX_LENGTH)
    visitor_id: str | None = Field(default=None, min_length=1, max_length=KEY_MAX_LENGTH,
                                   pattern=KEY_PATTERN)


class VisitorTokenCheckOut(BaseModel):
    valid: Literal[True] = True
    group_id: int
    visitor_id: str
    expires_at: datetime
