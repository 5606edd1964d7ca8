"""Visitor tokens: minted for a group's backend, and checked for anyone who holds one."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from coview.domain.tokens import mint_visitor_token, read_visitor_token
from coview.errors import AuthenticationFailed, NotFound
from coview.ids import GroupId
from coview.server.api.models import (
    VisitorTokenCheckIn,
    VisitorTokenCheckOut,
    VisitorTokenIn,
    VisitorTokenOut,
    link,
)
from coview.server.auth import AdminOrKeyCaller, ServicesDep

router = APIRouter(tags=["visitor tokens"])


@router.post("/visitor-tokens", status_code=201, summary="Mint a visitor token", responses={201: {
    "links": {"GetPresence": link("get_presence_api_v1_presence__visitor_id__get",
                                  "Is the visitor online?",
                                  visitor_id="$response.body#/visitor_id")}}})
async def mint(body: VisitorTokenIn, caller: AdminOrKeyCaller,
               svc: ServicesDep) -> VisitorTokenOut:
    """Sign a token that lets a visitor use ``visitor_id`` (for backends that would rather not
    sign tokens themselves; see docs/visitor-tokens.md to sign them locally)."""
    group = await svc.database.require_group(caller.group_id)
    now = svc.now()
    token = mint_visitor_token(group.visitor_token_secret, group.group_id, body.visitor_id,
                               now=now, ttl=body.ttl)
    return VisitorTokenOut(token=token, visitor_id=body.visitor_id,
                           expires_at=datetime.fromtimestamp(now + body.ttl, UTC))


@router.post("/visitor-tokens/check", summary="Check a visitor token")
async def check(body: VisitorTokenCheckIn, svc: ServicesDep) -> VisitorTokenCheckOut:
    """Say whether a visitor token is valid for the group (and the visitor ID, if given).

    Answers 401 with code ``invalid_token`` or ``token_expired`` otherwise.
    """
    group = await svc.database.get_group(GroupId(body.group_id))
    if group is None:
        raise NotFound(f"there is no group {body.group_id}", code="group_not_found")
    claims = read_visitor_token(group.visitor_token_secret, body.token,
                                group_id=group.group_id, now=svc.now())
    if body.visitor_id is not None and body.visitor_id != claims.visitor_id:
        raise AuthenticationFailed("the token is for another visitor ID", code="invalid_token")
    return VisitorTokenCheckOut(group_id=group.group_id, visitor_id=claims.visitor_id,
                                expires_at=datetime.fromtimestamp(claims.expires_at, UTC))
