"""Signing in: ``POST /api/v1/auth/login`` gives a short-lived bearer token."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from coview.domain.agents import Agent
from coview.domain.audit import AuditAction
from coview.domain.passwords import verify_password
from coview.domain.tokens import mint_agent_token
from coview.errors import AuthenticationFailed, Throttled
from coview.ids import GroupId
from coview.server.api.models import AgentOut, LoginIn, MeOut, TokenOut
from coview.server.auth import AgentCaller, AnyCaller, ServicesDep, client_address
from coview.server.services import Services

router = APIRouter(tags=["auth"])


def _token(svc: Services, agent: Agent) -> TokenOut:
    now = svc.now()
    ttl = svc.config.token_ttl
    token = mint_agent_token(svc.token_secret, agent.agent_id, agent.group_id, now=now, ttl=ttl)
    return TokenOut(token=token, expires_in=ttl,
                    expires_at=datetime.fromtimestamp(now + ttl, UTC), agent=AgentOut.of(agent))


@router.post("/auth/login", summary="Sign in as an agent")
async def login(body: LoginIn, request: Request, svc: ServicesDep) -> TokenOut:
    """Check an agent's password and give a bearer token valid for the server's token TTL.

    Failed attempts are throttled per user and per address (429 with ``Retry-After``).
    """
    address = client_address(request)
    group_id = GroupId(body.group_id)
    subjects = {"user": f"{group_id}:{body.username}", "address": address}
    group = await svc.database.get_group(group_id)
    try:
        await svc.login_throttle.check(subjects)
    except Throttled:
        svc.metrics.logins.labels("throttled").inc()
        raise
    found = await svc.database.find_agent(group_id, body.username) if group else None
    agent, stored_hash = found if found else (None, None)
    if agent is None or agent.disabled or not verify_password(stored_hash, body.password):
        svc.metrics.logins.labels("failed").inc()
        reached = await svc.login_throttle.record_failure(subjects)
        if group is not None:
            await svc.audit(group_id, AuditAction.LOGIN_FAILED, actor=body.username,
                            address=address)
            if reached:
                await svc.audit(group_id, AuditAction.LOGIN_THROTTLED, actor=body.username,
                                address=address, limits=reached)
        raise AuthenticationFailed("wrong group ID, username or password",
                                   code="invalid_credentials")
    await svc.login_throttle.record_success(subjects)
    svc.metrics.logins.labels("ok").inc()
    await svc.audit(group_id, AuditAction.LOGIN, actor=agent.username, address=address)
    return _token(svc, agent)


@router.post("/auth/refresh", summary="Trade a valid agent token for a fresh one")
async def refresh(caller: AgentCaller, svc: ServicesDep) -> TokenOut:
    """Give a new token with a full lifetime to an agent whose token is still valid."""
    assert caller.agent is not None
    return _token(svc, caller.agent)


@router.get("/me", summary="Who the caller is")
async def me(caller: AnyCaller) -> MeOut:
    """The signed-in agent, or the group of an API key."""
    if caller.agent is None:
        return MeOut(group_id=caller.group_id, kind="api_key")
    return MeOut(group_id=caller.group_id, kind="agent", agent=AgentOut.of(caller.agent))
