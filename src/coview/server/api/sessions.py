"""Session records of the caller's group: who, when, how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from coview.errors import NotFound
from coview.server.api.models import link
from coview.server.auth import AnyCaller, ServicesDep

router = APIRouter(tags=["sessions"])


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    call_id: int
    key: str
    session_type: str
    parent_call_id: int | None
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    peak_guests: int
    errors: list[str]


class SessionPageOut(BaseModel):
    sessions: list[SessionOut]
    next_before: int | None


@router.get("/sessions", summary="List the group's sessions, newest first", responses={200: {
    "links": {"GetSession": link("get_session_api_v1_sessions__call_id__get",
                                 "Read the newest session of the page",
                                 call_id="$response.body#/sessions/0/call_id")}}})
async def list_sessions(
    caller: AnyCaller, svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> SessionPageOut:
    records = await svc.database.list_session_records(caller.group_id, limit=limit,
                                                      before=before)
    return SessionPageOut(sessions=[SessionOut.model_validate(r) for r in records],
                          next_before=records[-1].call_id if len(records) == limit else None)


@router.get("/sessions/{call_id}", summary="Read a session record")
async def get_session(caller: AnyCaller, svc: ServicesDep,
                      call_id: int = Path(ge=1, le=2**62)) -> SessionOut:
    record = await svc.database.get_session_record(caller.group_id, call_id)
    if record is None:
        raise NotFound(f"there is no session {call_id} in this group", code="session_not_found")
    return SessionOut.model_validate(record)
