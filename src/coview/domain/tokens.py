"""Signed tokens: agent bearer tokens and visitor tokens.

Both are JWTs signed with HMAC-SHA256 (RFC 7519), so that a customer's backend can mint a
visitor token with a few lines of standard library code in any language.

* An **agent token** is signed with the server's secret key and names an agent of a group.
  It also carries the agent's token generation when it was issued (``gen``: a token of an
  older generation has been revoked) and when the agent signed in (``auth_time``, unchanged by
  refreshes: a sign-in lasts at most its ``max_age``, whatever the refreshes).
* A **visitor token** is signed with the group's visitor-token secret by the customer's own
  backend after its own login, and says which visitor ID the holder may use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coview.domain.keys import validate_key
from coview.errors import AuthenticationFailed, InvalidInput
from coview.ids import AgentId, GroupId

_ALGORITHM = "HS256"
_AGENT_TOKEN_TYPE = "agent"
MAX_TOKEN_LENGTH = 4096
MAX_VISITOR_TOKEN_TTL = 30 * 24 * 3600
# How long a sign-in lasts at most, refreshes included, unless the server is told otherwise.
DEFAULT_TOKEN_MAX_AGE = 12 * 3600


@dataclass(frozen=True, slots=True)
class AgentClaims:
    """What an agent token says (``signed_in_at``: when the agent gave their password)."""

    agent_id: AgentId
    group_id: GroupId
    expires_at: int
    generation: int
    signed_in_at: int


@dataclass(frozen=True, slots=True)
class VisitorClaims:
    """What a visitor token says."""

    group_id: GroupId
    visitor_id: str
    expires_at: int


def sign_in_ends_at(signed_in_at: int, *, max_age: int) -> int:
    """When a sign-in made at ``signed_in_at`` ends: no token of it is valid after that."""
    return signed_in_at + max_age


def agent_token_expires_at(*, now: int, ttl: int, signed_in_at: int, max_age: int) -> int:
    """When an agent token minted at ``now`` expires: ``ttl`` later, but never past the end
    of its sign-in."""
    return min(now + ttl, sign_in_ends_at(signed_in_at, max_age=max_age))


def mint_agent_token(secret: str, agent_id: AgentId, group_id: GroupId, *, generation: int,
                     now: int, ttl: int, signed_in_at: int | None = None,
                     max_age: int = DEFAULT_TOKEN_MAX_AGE) -> str:
    """Sign a bearer token for an agent in token generation ``generation``.

    It is valid ``ttl`` seconds from ``now``, but never past the end of its sign-in (made at
    ``signed_in_at``, default ``now``: a fresh sign-in; a refresh passes the old token's).
    Raise AuthenticationFailed (code ``sign_in_expired``) when that end has come.
    """
    signed_in = now if signed_in_at is None else signed_in_at
    if sign_in_ends_at(signed_in, max_age=max_age) <= now:
        raise AuthenticationFailed(
            f"a sign-in lasts at most {max_age} seconds, refreshes included: sign in again",
            code="sign_in_expired",
        )
    claims = {"typ": _AGENT_TOKEN_TYPE, "sub": str(agent_id), "gid": group_id,
              "gen": generation, "auth_time": signed_in, "iat": now,
              "exp": agent_token_expires_at(now=now, ttl=ttl, signed_in_at=signed_in,
                                            max_age=max_age)}
    return _encode(claims, secret)


def read_agent_token(secret: str, token: str, *, now: int) -> AgentClaims:
    """Verify an agent token and return its claims, or raise AuthenticationFailed.

    Whether its generation is still the agent's is for the caller, who has the agent.
    """
    claims = _decode(secret, token, now=now,
                     required=("sub", "gid", "exp", "typ", "gen", "auth_time"))
    if claims.get("typ") != _AGENT_TOKEN_TYPE:
        raise AuthenticationFailed("not an agent token", code="invalid_token")
    generation, signed_in_at = claims["gen"], claims["auth_time"]
    if not isinstance(generation, int) or not isinstance(signed_in_at, int):
        raise AuthenticationFailed("malformed token claims", code="invalid_token")
    try:
        agent_id = int(claims["sub"])
        group_id = int(claims["gid"])
    except (TypeError, ValueError):
        raise AuthenticationFailed("malformed token claims", code="invalid_token") from None
    return AgentClaims(AgentId(agent_id), GroupId(group_id), int(claims["exp"]), generation,
                       signed_in_at)


def mint_visitor_token(secret: str, group_id: GroupId, visitor_id: str, *, now: int,
                       ttl: int) -> str:
    """Sign a visitor token (what a customer's backend does after its own login)."""
    validate_key(visitor_id, what="visitor_id")
    if not 1 <= ttl <= MAX_VISITOR_TOKEN_TTL:
        raise InvalidInput(
            f"ttl must be 1 to {MAX_VISITOR_TOKEN_TTL} seconds", fields={"ttl": "out of range"}
        )
    claims = {"sub": visitor_id, "gid": group_id, "iat": now, "exp": now + ttl}
    return _encode(claims, secret)


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


# PyJWT (with the cryptography modules it loads, about 12 MB) is imported at the first token
# signed or read, not when the server starts.

def _encode(claims: dict[str, Any], secret: str) -> str:
    import jwt

    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def _decode(secret: str, token: str, *, now: int, required: tuple[str, ...]) -> dict[str, Any]:
    import jwt

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


def check_visitor_id(secret: str, token: str, *, visitor_id: str | None, group_id: GroupId,
                     now: int, required: bool) -> None:
    """The one rule for who may use a visitor ID (sessions and presence alike).

    A token given is always verified, and must name ``visitor_id`` when there is one;
    without a token, a visitor ID is refused where the group requires tokens. Raises
    AuthenticationFailed (``invalid_token`` or ``token_expired``).
    """
    if not token:
        if required and visitor_id is not None:
            raise AuthenticationFailed("this group needs a visitor token for a visitor ID",
                                       code="invalid_token")
        return
    claims = read_visitor_token(secret, token, group_id=group_id, now=now)
    if visitor_id is not None and claims.visitor_id != visitor_id:
        raise AuthenticationFailed("the visitor token is for another visitor ID",
                                   code="invalid_token")
