"""Presence for CRMs: who is online, and one-click starts (seed 001)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from coview.errors import PermissionDenied
from coview.protocol.rules import KEY_PATTERN
from coview.server.api.models import link
from coview.server.auth import AgentCaller, AnyCaller
from coview.server.presence import PresenceService

router = APIRouter(tags=["presence"])

VisitorId = Annotated[str, Path(pattern=KEY_PATTERN, description="the visitor ID")]


class OneClickOut(BaseModel):
    request_id: str
    status: str
    history: list[str]
    agent: str
    session_key: str


class PresenceOut(BaseModel):
    visitor_id: str
    online: bool
    since: float | None = None
    info: dict[str, str] = {}
    signal: dict[str, Any] | None = None
    request: OneClickOut | None = None


class PresenceListOut(BaseModel):
    visitors: list[PresenceOut]


def _service(request: Request) -> PresenceService:
    found: PresenceService = request.app.state.presence
    return found


@router.get("/presence", summary="List the group's online visitors")
async def list_presence(caller: AnyCaller, request: Request,
                        q: Annotated[str, Query(max_length=50)] = "",
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> PresenceListOut:
    """Visitors online now, by visitor ID; ``q`` keeps those whose ID starts with it."""
    views = await _service(request).online(caller.group_id, q, limit)
    return PresenceListOut(visitors=[PresenceOut(**view) for view in views])


@router.get("/presence/{visitor_id}", summary="Is a visitor online?")
async def get_presence(visitor_id: VisitorId, caller: AnyCaller,
                       request: Request) -> PresenceOut:
    """Online or not, since when, what the visitor reported (application, page or screen),
    its last signal and the latest one-click request."""
    view = await _service(request).lookup(caller.group_id, visitor_id)
    if view is None:
        return PresenceOut(visitor_id=visitor_id, online=False)
    return PresenceOut(**view)


@router.post("/presence/{visitor_id}/start", status_code=202,
             summary="Start a one-click session with an online visitor", responses={202: {
                 "links": {"FollowRequest": link(
                     "get_one_click_api_v1_presence__visitor_id__requests__request_id__get",
                     "Follow the request", visitor_id="$request.path.visitor_id",
                     request_id="$response.body#/request_id")}}})
async def start_one_click(visitor_id: VisitorId, caller: AgentCaller,
                          request: Request) -> OneClickOut:
    """Ask the visitor's application to show its terms. Follow the request's ``status``
    (``requested``, ``displayed``, ``accepted``, then ``started`` with ``session_key`` to join,
    or ``declined``, ``offline``, ``expired``). 404 ``visitor_offline`` if not online."""
    agent = caller.agent
    if agent is None:
        raise PermissionDenied("a one-click session needs an agent to join it")
    return OneClickOut(**await _service(request).request(caller.group_id, visitor_id, agent))


@router.get("/presence/{visitor_id}/requests/{request_id}",
            summary="Follow a one-click request")
async def get_one_click(visitor_id: VisitorId, caller: AnyCaller, request: Request,
                        request_id: Annotated[str, Path(max_length=64)]) -> OneClickOut:
    return OneClickOut(**await _service(request).find_request(caller.group_id, visitor_id,
                                                              request_id))
