"""Signed tokens: agent bearer tokens and visitor tokens.

Both are JWTs signed with HMAC-SHA256 (RFC 7519), so that a customer's backend can mint a
visitor token with a few lines of standard library code in any language.

* An **agent token** is signed with the server's secret key and names an agent of a group.
* A **visitor token** is signed with the group's visitor-token secret by the customer's own
  backend after its own login, and says which visitor ID the holder may use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from coview.domain.keys import validate_key
from coview.errors import AuthenticationFailed, InvalidInput
from coview.ids import AgentId, GroupId

_ALGORITHM = "HS256"
_AGENT_TOKEN_TYPE = "agent"
MAX_TOKEN_LENGTH = 4096
MAX_VISITOR_TOKEN_TTL = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class AgentClaims:
    """What an agent token says."""

    agent_id: AgentId
    group_id: GroupId
    expires_at: int


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    """What a visitor token says."""

    group_id: GroupId
    visitor_id: str
    expires_at: int


def mint_agent_token(secret: str, agent_id: AgentId, group_id: GroupId, *, now: int,
                     ttl: int) -> str:
    """Sign a bearer token for an agent, valid ``ttl`` seconds from ``now``."""
    claims = {"typ": _AGENT_TOKEN_TYPE, "sub": str(agent_id), "gid": group_id,
              "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_agent_token(secret: str, token: str, *, now: int) -> AgentClaims:
    """Verify an agent token and return its claims, or raise AuthenticationFailed."""
    claims = _decode(secret, token, now=now, required=("sub", "gid", "exp", "typ"))
    if claims.get("typ") != _AGENT_TOKEN_TYPE:
        raise AuthenticationFailed("not an agent token", code="invalid_token")
    try:
        agent_id = int(claims["sub"])
        group_id = int(claims["gid"])
    except (TypeError, ValueError):
        raise AuthenticationFailed("malformed token claims", code="invalid_token") from None
    return AgentClaims(AgentId(agent_id), GroupId(group_id), int(claims["exp"]))


def mint_visitor_token(secret: str, group_id: GroupId, visitor_id: str, *, now: int,
                       ttl: int) -> str:
    """Sign a visitor token (what a customer's backend does after its own login)."""
    validate_key(visitor_id, what="visitor_id")
    if not 1 <= ttl <= MAX_VISITOR_TOKEN_TTL:
        raise InvalidInput(
            f"ttl must be 1 to {MAX_VISITOR_TOKEN_TTL} seconds", fields={"ttl": "out of range"}
        )
    claims = {"sub": visitor_id, "gid": group_id, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_visitor_token(secret: str, token: str, *, group_id: GroupId, now: int) -> VisitorClaims:
    """Verify a visitor token for ``group_id`` and return its claims.

    Raises AuthenticationFailed (code ``token_expired`` or ``invalid_token``) when the token is
    forged, expired, or for another group.
    """
    claims = _decode(secret, token, now=now, required=("sub", "gid", "exp"))
    if claims.get("gid") != group_id:
        raise AuthenticationFailed("token is for another group", code="invalid_token")
    visitor_id = claims.get("sub")
    if not isinstance(visitor_id, str):
        raise AuthenticationFailed("malformed token claims", code="invalid_token")
    try:
        validate_key(visitor_id, what="visitor_id")
    except InvalidInput:
        raise AuthenticationFailed("token names an invalid visitor ID",
                                   code="invalid_token") from None
    return VisitorClaims(group_id, visitor_id, int(claims["exp"]))


def _decode(secret: str, token: str, *, now: int, required: tuple[str, ...]) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthenticationFailed("token too long", code="invalid_token")
    try:
        # Expiry is checked here against the caller's clock rather than PyJWT's, so that the
        # rule stays testable without sleeping.
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[_ALGORITHM],
            options={"require": list(required), "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError:
        raise AuthenticationFailed("token is not valid", code="invalid_token") from None
    exp = claims.get("exp")
    if not isinstance(exp, int):
        raise AuthenticationFailed("malformed token claims", code="invalid_token")
    if exp <= now:
        raise AuthenticationFailed("token has expired", code="token_expired")
    return claims
