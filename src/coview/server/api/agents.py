"""Agents of the caller's group: admins list, create and change them.

A change of an agent's password, role or privileges, or disabling it, ends every sign-in of
the agent (an admin changing their own must sign in again); demoting or disabling the group's
last enabled admin is refused (409 ``last_admin``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request, Response

from coview.domain.agents import (
    DEFAULT_PRIVILEGES,
    Agent,
    validate_display_text,
    validate_password,
    validate_username,
)
from coview.domain.audit import AuditAction
from coview.errors import NotFound
from coview.server.api.models import (
    AgentCreateIn,
    AgentListOut,
    AgentOut,
    AgentPatchIn,
    link,
)
from coview.server.auth import AdminCaller, Principal, ServicesDep, client_address
from coview.server.hashing import HashingDep
from coview.server.services import Services

router = APIRouter(tags=["agents"])

Username = Path(min_length=1, max_length=64)

# The operationIds FastAPI gives the routes below (name, path, method), which links name.
GET_AGENT = "get_agent_api_v1_agents__username__get"
PATCH_AGENT = "patch_agent_api_v1_agents__username__patch"
_AGENT_LINKS = {
    "GetAgent": link(GET_AGENT, "Read the agent", username="$response.body#/username"),
    "PatchAgent": link(PATCH_AGENT, "Change the agent", username="$response.body#/username"),
}


async def _find(svc: Services, caller: Principal, username: str) -> Agent:
    found = await svc.database.find_agent(caller.group_id, username)
    if found is None:
        raise NotFound(f"there is no agent {username!r} in this group", code="agent_not_found")
    return found[0]


@router.get("/agents", summary="List the group's agents")
async def list_agents(caller: AdminCaller, svc: ServicesDep) -> AgentListOut:
    agents = await svc.database.list_agents(caller.group_id)
    return AgentListOut(agents=[AgentOut.of(a) for a in agents])


@router.post("/agents", status_code=201, summary="Create an agent", responses={201: {
    "links": _AGENT_LINKS,
    "headers": {"Location": {"description": "The new agent's URL", "required": True,
                             "schema": {"type": "string"}}},
}})
async def create_agent(body: AgentCreateIn, caller: AdminCaller, svc: ServicesDep,
                       hashing: HashingDep, request: Request, response: Response) -> AgentOut:
    username = validate_username(body.username)
    display_name = validate_display_text(body.display_name or body.username,
                                         field="display_name")
    title = validate_display_text(body.title, field="title")
    agent_role = validate_display_text(body.agent_role, field="agent_role")
    agent = await svc.database.create_agent(
        caller.group_id, username,
        password_hash=await hashing.hash(validate_password(body.password)),
        display_name=display_name, title=title, agent_role=agent_role, role=body.role,
        privileges=DEFAULT_PRIVILEGES if body.privileges is None else frozenset(body.privileges),
    )
    await svc.audit(caller.group_id, AuditAction.AGENT_CREATED, actor=caller.actor,
                    address=client_address(request), username=agent.username,
                    role=agent.role.value)
    response.headers["Location"] = f"/api/v1/agents/{agent.username}"
    return AgentOut.of(agent)


@router.get("/agents/{username}", summary="Read an agent",
            responses={200: {"links": {"PatchAgent": _AGENT_LINKS["PatchAgent"]}}})
async def get_agent(caller: AdminCaller, svc: ServicesDep,
                    username: str = Username) -> AgentOut:
    return AgentOut.of(await _find(svc, caller, username))


@router.patch("/agents/{username}", summary="Change an agent",
              responses={200: {"links": {"GetAgent": _AGENT_LINKS["GetAgent"]}}})
async def patch_agent(body: AgentPatchIn, caller: AdminCaller, svc: ServicesDep,
                      hashing: HashingDep, request: Request,
                      username: str = Username) -> AgentOut:
    agent = await _find(svc, caller, username)
    changes: dict[str, Any] = {}
    if body.display_name is not None:
        changes["display_name"] = validate_display_text(body.display_name, field="display_name")
    if body.title is not None:
        changes["title"] = validate_display_text(body.title, field="title")
    if body.agent_role is not None:
        changes["agent_role"] = validate_display_text(body.agent_role, field="agent_role")
    if body.role is not None:
        changes["role"] = body.role
    if body.privileges is not None:
        changes["privileges"] = frozenset(body.privileges)
    if body.disabled is not None:
        changes["disabled"] = body.disabled
    if body.password is not None:
        changes["password_hash"] = await hashing.hash(validate_password(body.password))
    updated = await svc.database.update_agent(agent.agent_id, **changes)
    if updated.token_generation != agent.token_generation:
        await request.app.state.hub.sign_out(agent.agent_id)
    await svc.audit(caller.group_id, AuditAction.AGENT_UPDATED, actor=caller.actor,
                    address=client_address(request), username=updated.username,
                    changed=sorted(k if k != "password_hash" else "password" for k in changes),
                    signed_out=updated.token_generation != agent.token_generation)
    return AgentOut.of(updated)
