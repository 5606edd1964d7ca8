"""The relay: a party's frames after its handshake, checked by its endpoint
(:class:`coview.protocol.server.PartyEndpoint`) and acted on by the session's rules. A visitor's
reliable messages go once into the agent-bound log and out to every agent; its volatile frames
(tiles, its pointer) go to each agent's queue, coalesced. Agents' reliable messages go into the
visitor-bound log. Only headers are read; payloads pass through untouched.
"""

from __future__ import annotations

import asyncio
from typing import Any

from coview.bus.names import VOLATILE
from coview.domain.agents import Privilege
from coview.domain.audit import AuditAction
from coview.domain.sessions import SessionEndReason
from coview.protocol.frames import Frame, encode_frame
from coview.protocol.server import CONTROL_TYPES
from coview.server.ending import Ending
from coview.server.live import Attachment, LiveSession, Party
from coview.server.publish import Publisher
from coview.server.registry import Registry


class Relay:
    """Frames from attached connections."""

    def __init__(self, registry: Registry, publisher: Publisher, ending: Ending) -> None:
        self.reg = registry
        self.pub = publisher
        self.ending = ending

    async def receive(self, att: Attachment, data: bytes) -> None:
        """Route one frame from an attached connection."""
        live, party = att.live, att.party
        if not self.reg.owns(live):
            return  # ended, or no longer this process's (handed off)
        now = self.reg.clock()
        incoming = party.link.receive(data, now)
        if incoming is None:
            return  # an acknowledgement, or a message taken before
        if not incoming.reliable:
            self.relay_volatile(live, att, incoming.frame, data)
            return
        if att.is_visitor:
            await self.from_visitor(live, incoming.frame, data)
        else:
            await self.from_agent(live, party, incoming.frame, data)
        party.link.handled(now)
        if (position := party.link.unsynced()) is not None:
            self.reg.replicas.note_inbox(live.session.session_id, party.num, position)
        self.schedule_ack(party, now)

    def schedule_ack(self, party: Party, now: float) -> None:
        """Acknowledged a little later, once for all that arrived meanwhile: a busy sender
        (a page's burst of changes) gets one acknowledgement, not one per message."""
        due = party.link.ack_due
        if due is not None and party.ack_timer is None:
            party.ack_timer = asyncio.get_running_loop().call_later(
                max(0.0, due - now), self.ack, party)

    def relay_volatile(self, live: LiveSession, att: Attachment, frame: Frame,
                       data: bytes) -> None:
        if not att.is_visitor:
            return  # an agent sends only acknowledgements volatile: nothing to relay
        if frame.type == "tile":
            if live.paused:
                return  # a paused session sends no pixels (seed 000, pause)
            h = frame.header
            slot: tuple[Any, ...] = ("tile", h.get("e"), h.get("x"), h.get("y"), h.get("w"),
                                     h.get("h"))
            replaces = bool(h.get("key"))
        else:
            slot, replaces = (frame.type,), False
        # Pictures the visitor made before it knew of an agent may lack that agent's masks
        # (masks by role): an agent gets only pictures made with it in the guests list.
        made_for = frame.header.get("gv") if frame.type == "tile" else None
        remote = remote_barred = False
        for party in live.agents.values():
            barred = isinstance(made_for, int) and made_for < party.announced
            if party.conn is None:
                continue
            if party.conn.remote:
                # Another process forwards to all its parties of the session alike.
                remote, remote_barred = True, remote_barred or barred
            elif not barred:
                party.conn.outbound.put_volatile(slot, data, replaces_all=replaces)
        if remote and not remote_barred:
            self.reg.replicas.publish(live.session.session_id, VOLATILE,
                                      encode_frame({"t": "v", "slot": slot, "all": replaces}, data))

    async def from_visitor(self, live: LiveSession, frame: Frame, data: bytes) -> None:
        kind, header = frame.type, frame.header
        if kind == "end":
            await self.ending.end(live, SessionEndReason.THIS_SIDE)
            return
        if kind == "error":
            if live.report_errors and len(live.errors) < 100:
                live.errors.append(str(header.get("message", ""))[:500])
                self.reg.changed(live)
            return
        if kind == "dom":
            self.pub.keep_page(live, bool(header.get("full")),
                               self.pub.publish_raw(live, to_agents=True, inner=data, sender=0))
            return
        if kind == "rc":
            enabled = bool(header.get("enabled"))
            if enabled and not live.settings.remote_control_enabled:
                self.pub.publish(live, to_agents=False,
                                 header={"t": "rc_disabled",
                                         "message": "remote control is off for this group"})
                return
            live.rc_enabled = enabled
            if enabled:
                await self.reg.svc.audit(live.session.group_id, AuditAction.REMOTE_CONTROL_GRANTED,
                                         actor="visitor", address=_address(live.visitor),
                                         call_id=live.session.call_id,
                                         agents=sorted(live.agents))
        elif kind == "paused":
            live.note_paused(header)
            for party in live.agents.values():
                if party.conn is not None and live.paused:
                    party.conn.outbound.clear_volatile()
        elif kind == "display":
            live.display = {k: header[k] for k in ("name", "width", "height", "e", "index",
                                                   "kind") if k in header}
        if kind in ("rc", "paused", "display"):
            self.reg.changed(live)
        self.pub.publish_raw(live, to_agents=True, inner=data, sender=0)

    async def from_agent(self, live: LiveSession, party: Party, frame: Frame,
                         data: bytes) -> None:
        kind = frame.type
        if kind == "leave":
            await self.ending.remove_agent(live, party)
            return
        if kind == "end":
            await self.ending.end(live, SessionEndReason.OTHER_SIDE)
            return
        if kind in CONTROL_TYPES:
            allowed = (live.rc_enabled and live.settings.remote_control_enabled
                       and live.may(party, Privilege.REMOTE_CONTROL))
            if not allowed:
                self.pub.send_to(party, {"t": "rc_refused",
                                         "message": "remote control is not enabled"})
                return
            if live.visitor.conn is None:
                # Control acts only on what the visitor shows now: input kept for a visitor
                # who is away would act blind after its resume (issue 14, suite item 8).
                self.pub.send_to(party, {"t": "rc_refused",
                                         "message": "the visitor is not connected"})
                return
        if kind == "rc_request" and not live.may(party, Privilege.REMOTE_CONTROL):
            self.pub.send_to(party, {"t": "rc_refused",
                                     "message": "you do not have the remote control "
                                     "privilege"})
            return
        if kind == "pause" and live.refuses_pause(frame.header):
            self.pub.send_to(party, {"t": "pause_refused",
                                     "message": "the visitor paused the session: only the "
                                     "visitor can resume it"})
            return
        if kind == "gesture" and not live.settings.gestures_enabled:
            self.pub.send_to(party, {"t": "gesture_refused",
                                     "message": "gestures are off for this group"})
            return
        self.pub.publish_raw(live, to_agents=False, inner=data, sender=party.num)
        if kind in ("message", "gesture"):
            # Other agents see what their colleagues do in the session too.
            self.pub.publish_raw(live, to_agents=True, inner=data, sender=party.num)

    def ack(self, party: Party) -> None:
        party.ack_timer = None
        # The timer fires when the endpoint said the acknowledgement is due.
        now = max(self.reg.clock(), party.link.ack_due or 0.0)
        last = party.link.ack(now)
        if last is None:
            self.schedule_ack(party, now)  # not due yet (or nobody to tell)
            return
        # Only what Redis holds, scaled out: another process could take the session over.
        self.reg.replicas.when_durable(lambda: self.send_ack(party, last))

    def send_ack(self, party: Party, last: int) -> None:
        conn = party.conn
        if conn is not None and not conn.outbound.closed:
            conn.outbound.put_volatile("ack", encode_frame({"t": "ack", "a": last}))


def _address(party: Party) -> str:
    return party.conn.address if party.conn is not None else ""
