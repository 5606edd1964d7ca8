"""Who may start a session under which key: key claims (unique in a group, across processes),
the start throttle, and the group's session limit."""

from __future__ import annotations

from coview.bus.names import key_claim
from coview.domain.audit import AuditAction
from coview.domain.keys import random_key
from coview.domain.settings import DuplicateKeyPolicy, GroupSettings, SessionLimitPolicy
from coview.domain.throttle import RateLimit, count_attempt
from coview.errors import Refused
from coview.ids import GroupId
from coview.server.ending import Ending
from coview.server.registry import Registry


class Claims:
    """Keys, start rates and session limits."""

    def __init__(self, registry: Registry, ending: Ending) -> None:
        self.reg = registry
        self.ending = ending

    async def claim_key(self, group_id: GroupId, key: str, session_id: str,
                        settings: GroupSettings, *, random: bool) -> str:
        for _ in range(20 if random else 1):
            holder = await self.reg.svc.bus.claim(key_claim(group_id, key), session_id)
            if holder is None:
                return key
            if random:
                key = random_key(settings.random_key_length)
                continue
            if await self.stale(holder):
                await self.reg.svc.bus.release(key_claim(group_id, key), holder)
                if await self.reg.svc.bus.claim(key_claim(group_id, key), session_id) is None:
                    return key
                continue
            if settings.duplicate_key_policy is DuplicateKeyPolicy.REFUSE:
                break
            await self.ending.kill(holder, "another session started with its key")
            await self.reg.svc.bus.release(key_claim(group_id, key), holder)
            if await self.reg.svc.bus.claim(key_claim(group_id, key), session_id) is None:
                return key
        raise Refused(f"a session with key {key!r} is already running", code="dupkey")

    async def count_start(self, group_id: GroupId, settings: GroupSettings,
                          address: str) -> None:
        """Starting a session needs no sign-in: bound starts per address and per group
        (docs/settings.md); the first refusal of a minute is audited and sent to webhooks."""
        over = await count_attempt(self.reg.svc.bus, "start", {
            "address": (address, RateLimit(settings.starts_per_address_per_minute)),
            "group": (str(group_id), RateLimit(settings.starts_per_minute))})
        if over is None:
            return
        kind, excess = over
        if excess == 1:
            await self.reg.svc.audit(group_id, AuditAction.START_THROTTLED, actor="visitor",
                                     address=address, limit=kind)
            if self.reg.webhooks is not None:
                self.reg.webhooks.emit(group_id, "security.start_throttled",
                                       {"limit": kind, "address": address})
        per = "this address" if kind == "address" else "this group"
        raise Refused(f"too many sessions started from {per} in the last minute; try again "
                      "in a minute", code="start_throttled")

    async def enforce_limit(self, group_id: GroupId, settings: GroupSettings) -> None:
        """Keep the group's session limit: refuse the new session, or end the oldest sessions
        that no agent is in. A session with an agent in it is never ended to make room."""
        here = [live.session.session_id for live in
                sorted((live for live in self.reg.sessions.values()
                        if live.session.group_id == group_id
                        and not live.session.ended and not live.parent_id),
                       key=lambda live: live.session.started_at)]
        running = await self.reg.replicas.running(group_id, here=here)  # on every process
        if len(running) < settings.max_sessions:
            return
        refusal = Refused(f"the group allows {settings.max_sessions} simultaneous sessions",
                          code="session_limit")
        if settings.session_limit_policy is SessionLimitPolicy.REFUSE_NEW:
            raise refusal
        needed = len(running) - settings.max_sessions + 1
        unattended = await self.unattended(running, needed)
        if len(unattended) < needed:
            raise refusal
        for session_id in unattended:
            await self.ending.kill(session_id, "too many simultaneous sessions")

    async def unattended(self, running: list[str], needed: int) -> list[str]:
        """Up to ``needed`` of ``running`` (oldest first) with no agent in them."""
        found: list[str] = []
        for at in range(0, len(running), 50):
            batch = running[at:at + 50]
            seated = await self.reg.replicas.seated(batch, here=self._seated_here)
            found += [sid for sid, has in zip(batch, seated, strict=True) if not has]
            if len(found) >= needed:
                return found[:needed]
        return found

    async def stale(self, holder: str) -> bool:
        """Whether a key's holder is no session at all (its end was never recorded)."""
        if holder in self.reg.sessions:
            return False
        return await self.reg.replicas.owner(holder) is None

    def _seated_here(self, sid: str) -> bool:
        live = self.reg.sessions.get(sid)
        return live is not None and bool(live.session.seats)
