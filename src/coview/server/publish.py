"""Publishing into a session: each message numbered once in a direction's log, framed once,
and queued for every reader of that direction (scaled out, once Redis holds it)."""

from __future__ import annotations

import logging
from typing import Any

from coview.protocol.frames import encode_frame, encode_relayed
from coview.server.live import Conn, LiveSession, Party
from coview.server.outbound import OutboundOverflow
from coview.server.registry import Registry

log = logging.getLogger("coview.sessions")

PAGE_MAX_BYTES = 16 * 1024 * 1024  # a cobrowse page's latest snapshot and what followed


class Publisher:
    """Puts messages into sessions' logs and readers' queues."""

    def __init__(self, registry: Registry) -> None:
        self.reg = registry

    def send_to(self, party: Party, header: dict[str, Any]) -> None:
        """Tell one party something now (not logged: it is not replayed after a resume)."""
        if party.conn is not None:
            party.conn.outbound.put_reliable(encode_frame(header))

    def publish(self, live: LiveSession, *, to_agents: bool, header: dict[str, Any]) -> None:
        self.publish_raw(live, to_agents=to_agents, inner=encode_frame(header), sender=-1)

    def keep_page(self, live: LiveSession, full: bool, item: bytes) -> None:
        """Keep a cobrowse page's events since its latest full snapshot (bounded)."""
        if full:
            live.page, live.page_bytes = [], 0
        elif not live.page:
            return  # no snapshot to build on: wait for the next one
        live.page.append(item)
        live.page_bytes += len(item)
        if live.page_bytes > PAGE_MAX_BYTES:
            # Too much since the snapshot: forget it and ask the visitor for a new one.
            live.page, live.page_bytes = [], 0
            self.request_keyframe(live)

    def publish_raw(self, live: LiveSession, *, to_agents: bool, inner: bytes,
                    sender: int) -> bytes:
        """Append a message once to a direction's log and queue it for each reader."""
        log_ = live.to_agents if to_agents else live.to_visitor
        seq = log_.last_seq + 1
        wrapped = encode_relayed(seq, sender, inner)
        log_.append(wrapped)
        # Once into the session's copy and out to every other process with its readers.
        origin = (live.visitor if sender == 0 else live.agents.get(sender)) \
            if sender >= 0 else None
        last = origin.link.synced_now() if origin is not None else 0
        replicas = self.reg.replicas
        replicas.append(live.session.session_id, to_agents, seq, log_.first_seq, wrapped,
                        sender if origin is not None else -1, last)
        readers = list(live.agents.values()) if to_agents else [live.visitor]
        conns = [p.conn for p in readers if p.conn is not None and not p.conn.remote]
        # Scaled out, a reader here gets a message once Redis holds it: were this process
        # to die first, the one taking the session over would number it anew, and the
        # reader would see it twice. (A reader that resumes meanwhile has it from the log.)
        replicas.when_durable(lambda: _deliver(conns, wrapped))
        return wrapped

    def announce_guests(self, live: LiveSession) -> None:
        live.guests_version += 1
        guests = live.guests()
        for to_agents in (True, False):
            self.publish(live, to_agents=to_agents, header={"t": "guests", **guests})

    def request_keyframe(self, live: LiveSession) -> None:
        conn = live.visitor.conn
        if conn is not None and live.agents:
            conn.outbound.put_volatile("keyframe", encode_frame({"t": "keyframe"}))


def _deliver(conns: list[Conn], wrapped: bytes) -> None:
    """Queue a relayed message for the readers connected to this process."""
    for conn in conns:
        try:
            conn.outbound.put_reliable(wrapped)
        except OutboundOverflow:
            # Too slow: drop the connection; the client resumes from the log.
            conn.outbound.close()
            conn.close()
