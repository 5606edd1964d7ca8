"""Signing in and out: ``POST /api/v1/auth/login`` gives a short-lived bearer token,
``/auth/refresh`` renews it up to the sign-in's absolute limit, ``/auth/logout`` ends it."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from coview.domain.agents import Agent
from coview.domain.audit import AuditAction
from coview.domain.tokens import agent_token_expires_at, mint_agent_token, sign_in_ends_at
from coview.errors import AuthenticationFailed, Throttled
from coview.ids import GroupId
from coview.server.api.models import AgentOut, LoginIn, MeOut, TokenOut
from coview.server.auth import AgentCaller, AnyCaller, ServicesDep, client_address
from coview.server.hashing import HashingDep
from coview.server.services import Services

router = APIRouter(tags=["auth"])


def _token(svc: Services, agent: Agent, *, signed_in_at: int | None = None) -> TokenOut:
    now = svc.now()
    ttl, max_age = svc.config.token_ttl, svc.config.token_max_age
    signed_in = now if signed_in_at is None else signed_in_at
    token = mint_agent_token(svc.token_secret, agent.agent_id, agent.group_id,
                             generation=agent.token_generation, now=now, ttl=ttl,
                             signed_in_at=signed_in, max_age=max_age)
    expires_at = agent_token_expires_at(now=now, ttl=ttl, signed_in_at=signed_in,
                                        max_age=max_age)
    return TokenOut(token=token, expires_in=expires_at - now,
                    expires_at=datetime.fromtimestamp(expires_at, UTC),
                    sign_in_expires_at=datetime.fromtimestamp(
                        sign_in_ends_at(signed_in, max_age=max_age), UTC),
                    agent=AgentOut.of(agent))


@router.post("/auth/login", summary="Sign in as an agent")
async def login(body: LoginIn, request: Request, svc: ServicesDep,
                hashing: HashingDep) -> TokenOut:
    """Check an agent's password and give a bearer token valid for the server's token TTL.

    Failed attempts are throttled per user and per address (429 ``throttled`` with
    ``Retry-After``). Passwords are checked a few at a time: in a burst of sign-ins the
    server may answer 429 ``busy`` with ``Retry-After`` instead.
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
    try:
        matches = await hashing.verify(stored_hash, body.password)
    except Throttled:
        svc.metrics.logins.labels("busy").inc()
        raise
    if agent is None or agent.disabled or not matches:
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
    """Give a new token of the same sign-in to an agent whose token is still valid.

    A sign-in lasts at most the server's token max age (12 hours by default), refreshes
    included: the new token expires no later than the sign-in, and a token of a sign-in older
    than that (the limit was lowered since) answers 401 ``sign_in_expired``.
    """
    assert caller.agent is not None
    assert caller.token is not None
    return _token(svc, caller.agent, signed_in_at=caller.token.signed_in_at)


@router.post("/auth/logout", status_code=204, summary="Sign out everywhere")
async def logout(caller: AgentCaller, svc: ServicesDep, request: Request) -> Response:
    """End every sign-in of the calling agent: each of its tokens is refused from now on."""
    assert caller.agent is not None
    await svc.database.update_agent(caller.agent.agent_id, revoke_tokens=True)
    await request.app.state.hub.sign_out(caller.agent.agent_id)
    await svc.audit(caller.group_id, AuditAction.LOGOUT, actor=caller.agent.username,
                    address=client_address(request))
    return Response(status_code=204)


@router.get("/me", summary="Who the caller is")
async def me(caller: AnyCaller) -> MeOut:
    """The signed-in agent, or the group of an API key."""
    if caller.agent is None:
        return MeOut(group_id=caller.group_id, kind="api_key")
    return MeOut(group_id=caller.group_id, kind="agent", agent=AgentOut.of(caller.agent))
