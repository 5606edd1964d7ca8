"""Who is calling: bearer tokens of agents, and group API keys for server-to-server calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coview.domain.agents import Agent
from coview.domain.groups import api_key_matches, parse_api_key
from coview.domain.tokens import AgentClaims, read_agent_token
from coview.errors import AuthenticationFailed, PermissionDenied
from coview.ids import GroupId
from coview.server.live import Vouched
from coview.server.services import Services

_bearer = HTTPBearer(auto_error=False, description="An agent token from /api/v1/auth/login, "
                     "or the group's API key")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an agent of a group, or a group's API key (``agent`` None);
    ``token``: what the agent's token says."""

    group_id: GroupId
    agent: Agent | None
    token: AgentClaims | None = None

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return self.agent.username if self.agent else "api-key"

    @property
    def is_admin(self) -> bool:
        return self.agent is not None and self.agent.is_admin


def services(request: Request) -> Services:
    """The server's shared parts."""
    found: Services = request.app.state.services
    return found


def client_address(request: Request) -> str:
    """The caller's address (the direct peer; a proxy's header is not trusted)."""
    return request.client.host if request.client else "unknown"


async def authenticate_handshake(svc: Services, token: str,
                                 vouched: Vouched | None) -> Principal:
    """The caller a session handshake's token names: as the process the client reached
    checked it (a client passed on by another process), else authenticated here."""
    if vouched is not None and vouched.agent is not None and not vouched.agent.disabled:
        return Principal(vouched.agent.group_id, vouched.agent)
    return await authenticate(svc, token)


async def authenticate(svc: Services, token: str) -> Principal:
    """The caller that a bearer token (agent token or API key) names, or AuthenticationFailed.

    An agent token is refused once its agent is gone or disabled, and once the agent's sign-ins
    were ended (signing out, a new password, role or privileges): the token's generation is
    then no longer the agent's.
    """
    group_id = parse_api_key(token)
    if group_id is not None:
        group = await svc.database.get_group(group_id)
        if group is None or not api_key_matches(token, group.api_key_hash):
            raise AuthenticationFailed("the API key is not valid", code="invalid_token")
        return Principal(group_id, None)
    claims = read_agent_token(svc.token_secret, token, now=svc.now())
    agent = await svc.database.get_agent(claims.agent_id)
    if agent is None or agent.disabled or agent.group_id != claims.group_id:
        raise AuthenticationFailed("the agent of this token no longer exists or is disabled",
                                   code="invalid_token")
    if claims.generation != agent.token_generation:
        raise AuthenticationFailed("this token was revoked (signed out, or the account "
                                   "changed): sign in again", code="token_revoked")
    return Principal(agent.group_id, agent, claims)


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the caller from its bearer token or API key."""
    if credentials is None:
        raise AuthenticationFailed("sign in first: send 'Authorization: Bearer <token>'",
                                   code="unauthenticated")
    return await authenticate(services(request), credentials.credentials)


async def agent_principal(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    """Authenticate a signed-in agent (not an API key)."""
    if caller.agent is None:
        raise PermissionDenied("this needs a signed-in agent, not an API key")
    return caller


async def admin_principal(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    """Authenticate a signed-in admin of the group."""
    if not caller.is_admin:
        raise PermissionDenied("only an admin of the group may do this", code="admin_only")
    return caller


async def admin_or_api_key(caller: Annotated[Principal, Depends(principal)]) -> Principal:
    """Authenticate an admin, or the group's API key (a server of the group)."""
    if caller.agent is not None and not caller.is_admin:
        raise PermissionDenied("only an admin or the group's API key may do this",
                               code="admin_only")
    return caller


AnyCaller = Annotated[Principal, Depends(principal)]
AgentCaller = Annotated[Principal, Depends(agent_principal)]
AdminCaller = Annotated[Principal, Depends(admin_principal)]
AdminOrKeyCaller = Annotated[Principal, Depends(admin_or_api_key)]
ServicesDep = Annotated[Services, Depends(services)]
