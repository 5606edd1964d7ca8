"""The audit log, readable by the group's admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from coview.domain.audit import AuditAction
from coview.server.api.models import AuditEntryOut, AuditPageOut
from coview.server.auth import AdminCaller, ServicesDep

router = APIRouter(tags=["audit"])


@router.get("/audit", summary="Read the audit log, newest first")
async def read_audit(
    caller: AdminCaller,
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    action: Annotated[list[AuditAction] | None, Query(max_length=20)] = None,
) -> AuditPageOut:
    entries = await svc.database.read_audit(caller.group_id, limit=limit, before=before,
                                            actions=action or ())
    return AuditPageOut(
        entries=[AuditEntryOut(entry_id=e.entry_id, at=e.at, action=e.action.value,
                               actor=e.actor, address=e.address, details=e.details)
                 for e in entries],
        next_before=entries[-1].entry_id if len(entries) == limit else None,
    )
