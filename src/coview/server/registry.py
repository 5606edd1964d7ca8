"""The sessions this process runs, and what each part of the hub shares about them.

The registry holds the live sessions by ID and the end reasons of recent ones (a late resume
is told how its session ended). Scaled out, it keeps each session's copy in Redis current
(:meth:`Registry.changed`); it sends the session webhooks.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from coview.bus.replicas import LocalReplicas, SessionReplicas
from coview.domain.sessions import Session, SessionEndReason
from coview.errors import CoviewError, Unavailable
from coview.server.live import LiveSession, to_state
from coview.server.presence import PresenceService
from coview.server.services import Services
from coview.server.webhooks import Webhooks

if TYPE_CHECKING:
    from coview.bus.cluster import Cluster


class Registry:
    """The live sessions of this process and the services the hub's parts share."""

    def __init__(self, services: Services, *, clock: Callable[[], float],
                 presence: PresenceService | None, webhooks: Webhooks | None,
                 cluster: Cluster | None) -> None:
        self.svc = services
        # The copies of this process's sessions: in Redis when scaled out, else nowhere.
        self.replicas: SessionReplicas = cluster if cluster is not None else LocalReplicas()
        self.presence = presence
        self.webhooks = webhooks
        self.clock = clock
        self.sessions: dict[str, LiveSession] = {}
        self.ended: OrderedDict[str, str] = OrderedDict()

    def owns(self, live: LiveSession) -> bool:
        """Whether ``live`` is still this process's and running."""
        return not live.session.ended and self.sessions.get(live.session.session_id) is live

    async def register(self, live: LiveSession) -> None:
        """Before a new session is known: its copy and its owner in Redis."""
        session = live.session
        try:
            await self.replicas.register(
                session.session_id, call_id=session.call_id, group_id=session.group_id,
                started=self.svc.clock(), counted=not live.parent_id,
                state=lambda: self.state(live))
        except Unavailable:
            with contextlib.suppress(CoviewError):
                await self.svc.bus.release(live.claim_name, session.session_id)
                await self.svc.database.end_session_record(
                    session.call_id, reason=SessionEndReason.ERROR.value, peak_guests=0,
                    errors=[])
            raise

    def changed(self, live: LiveSession) -> None:
        if self.sessions.get(live.session.session_id) is live:
            self.replicas.changed(live.session.session_id, lambda: self.state(live))

    def state(self, live: LiveSession) -> bytes:
        started = self.svc.clock() - (self.clock() - live.session.started_at)
        return to_state(live, started_wall=started)

    def news(self, session: Session, event: str) -> None:
        if self.webhooks is None:
            return
        data: dict[str, Any] = {"call_id": session.call_id, "key": session.key,
                                "session_type": session.session_type,
                                "parent_call_id": session.parent_call_id or None}
        if session.end_reason is not None:
            data.update(reason=session.end_reason.value, peak_guests=session.peak_guests)
        self.webhooks.emit(session.group_id, event, data)
