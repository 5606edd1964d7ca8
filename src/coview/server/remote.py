"""Clients connected to one process whose session another process runs.

On the process a client reached, a :class:`Forward` passes the client's frames to the
session's owner and delivers what comes back: frames meant for this client alone (its welcome,
a replay, an acknowledgement) on the process's own channel, and the session's relayed messages
on the session's channel, where the owner published each once for every process.

On the owner, a :class:`RemoteConn` stands for that client: the hub serves it like any other
connection, and what the hub writes to it goes to the client's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from coview.bus.cluster import MAX_MESSAGE, Cluster, envelope
from coview.bus.names import MOVED, TO_AGENTS, TO_VISITOR, VOLATILE
from coview.domain.agents import Agent
from coview.errors import CoviewError, Unavailable
from coview.ids import AgentId
from coview.protocol.frames import ProtocolError, decode_frame
from coview.server.hub import SessionHub
from coview.server.live import Conn, Vouched
from coview.server.outbound import OutboundOverflow
from coview.server.ws import Disconnected, serve_session

log = logging.getLogger("coview.cluster")

SIGN_OUT_MEMORY = 120.0  # seconds a sign-out heard from another process keeps vouches out


def _slot(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else str(value)


class RemoteOutbound:
    """The owner's side of a remote client's queue: each frame goes to its process now."""

    def __init__(self, cluster: Cluster, proc: str, cid: str) -> None:
        self.cluster, self.proc, self.cid = cluster, proc, cid
        self.closed = False

    def put_reliable(self, frame: bytes) -> None:
        if not self.closed:
            self.cluster.send(self.proc, {"t": "rel", "c": self.cid}, frame)

    def put_volatile(self, slot: Hashable, frame: bytes, *, replaces_all: bool = False) -> None:
        if not self.closed:
            self.cluster.send(self.proc, {"t": "vol", "c": self.cid, "slot": slot,
                                          "all": replaces_all}, frame)

    def clear_volatile(self) -> None:
        if not self.closed:
            self.cluster.send(self.proc, {"t": "clear", "c": self.cid})

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.cluster.send(self.proc, {"t": "close", "c": self.cid})


class RemoteConn:
    """A client of another process, as this process's hub sees it."""

    remote = True

    def __init__(self, cluster: Cluster, proc: str, cid: str, header: dict[str, Any],
                 vouched: Vouched | None) -> None:
        self.outbound = RemoteOutbound(cluster, proc, cid)
        self.address = str(header.get("addr", ""))[:64]
        # The process the client reached checked its Origin: one of that process's own pages
        # arrives as no Origin (each process has its own listen address).
        origin = None if header.get("own") else header.get("origin")
        self.origin = str(origin)[:512] if origin is not None else None
        self.host = str(header.get("host", ""))[:256]
        self.proc = proc
        self.vouched = vouched
        self.inbound: asyncio.Queue[bytes | None] = asyncio.Queue()

    def close(self) -> None:
        self.outbound.close()


@dataclass(eq=False)
class Forward:
    """A client of this process whose session another process runs."""

    conn: Conn
    cid: str
    sid: str
    owner: str
    reader: bytes = b""  # TO_AGENTS or TO_VISITOR once welcomed: what it reads

    def close(self) -> None:
        self.conn.outbound.close()
        self.conn.close()

    def deliver(self, frame: bytes) -> None:
        try:
            self.conn.outbound.put_reliable(frame)
        except OutboundOverflow:
            self.close()  # too slow: it resumes from the session's log


class Link:
    """This process's forwards and remote clients, joined to the hub and the cluster."""

    def __init__(self, hub: SessionHub, cluster: Cluster) -> None:
        self.hub, self.cluster = hub, cluster
        self.forwards: dict[str, Forward] = {}
        self.by_session: defaultdict[str, set[Forward]] = defaultdict(set)
        self.remote: dict[str, RemoteConn] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._signed_out: dict[int, float] = {}  # agent ID: when another process said so
        for kind in ("rel", "vol", "clear", "close"):
            cluster.handlers[kind] = self._to_forward
        cluster.handlers.update(open=self._open, data=self._data, gone=self._gone,
                                kill=self._kill, signout=self._sign_out)
        cluster.on_session = self._session
        cluster.on_lost = self.lost_everything
        cluster.restorers.append(hub.restore_commands)
        hub.link = self

    # -- the client's process ------------------------------------------------------------------

    async def forward(self, conn: Conn, first: bytes, receive: Callable[[], Awaitable[bytes]],
                      owner: str, vouched: Vouched) -> None:
        """Serve a client whose session ``owner`` runs, until either side closes; the owner
        takes ``vouched`` as checked."""
        sid = vouched.session_id
        agent = vouched.agent.record() if vouched.agent else None
        fw = Forward(conn, f"{self.cluster.proc}.{next(self._ids)}", sid, owner)
        try:
            await self.cluster.subscribe(sid)
        except (Unavailable, TimeoutError):
            fw.close()  # the client comes back within its window
            return
        self.forwards[fw.cid] = fw
        self.by_session[sid].add(fw)
        try:
            self.cluster.send(owner, {"t": "open", "c": fw.cid, "from": self.cluster.proc,
                                      "addr": conn.address, "origin": conn.origin,
                                      "own": self.hub.svc.origins.is_own(conn.origin),
                                      "host": conn.host, "sid": sid, "agent": agent,
                                      "vouch": vouch_mac(self.hub.svc.token_secret, fw.cid,
                                                         sid, agent, first)}, first)
            while not conn.outbound.closed:
                data = await receive()
                if conn.outbound.closed:
                    break
                self.cluster.send(owner, {"t": "data", "c": fw.cid}, data)
        except (Disconnected, TimeoutError, ProtocolError):
            pass
        finally:
            self.cluster.send(owner, {"t": "gone", "c": fw.cid})
            self.forwards.pop(fw.cid, None)
            self.by_session[sid].discard(fw)
            if not self.by_session[sid]:
                del self.by_session[sid]
            fw.close()
            with contextlib.suppress(CoviewError, TimeoutError):
                await self.cluster.unsubscribe(sid)

    def _to_forward(self, header: dict[str, Any], payload: bytes) -> None:
        fw = self.forwards.get(str(header.get("c")))
        if fw is None:
            return
        kind = header["t"]
        if kind == "rel":
            if not fw.reader:
                first = decode_frame(payload, max_bytes=MAX_MESSAGE)
                if first.type == "welcome":
                    fw.reader = TO_VISITOR if first.header.get("num") == 0 else TO_AGENTS
            fw.deliver(payload)
        elif kind == "vol":
            fw.conn.outbound.put_volatile(_slot(header.get("slot")), payload,
                                          replaces_all=bool(header.get("all")))
        elif kind == "clear":
            fw.conn.outbound.clear_volatile()
        elif kind == "close":
            fw.close()

    def _session(self, sid: str, data: bytes) -> None:
        forwards = self.by_session.get(sid)
        if not forwards:
            return
        kind = data[:1]
        if kind == MOVED:
            for fw in list(forwards):
                fw.close()  # its client resumes, and reaches the new owner
            return
        if kind == VOLATILE:
            header, payload = envelope(data[1:])
            slot = _slot(header.get("slot"))
            for fw in forwards:
                if fw.reader == TO_AGENTS:
                    fw.conn.outbound.put_volatile(slot, payload,
                                                  replaces_all=bool(header.get("all")))
            return
        item = data[1:]
        for fw in list(forwards):
            if fw.reader == kind:
                fw.deliver(item)

    # -- the owner's process ------------------------------------------------------------------

    def _open(self, header: dict[str, Any], payload: bytes) -> None:
        vouched = read_vouch(header, payload, self.hub.svc.token_secret)
        if vouched is not None and vouched.agent is not None \
                and self._signed_out_lately(vouched.agent.agent_id):
            # Its sign-out reached this process before the client did: check the token here.
            vouched = Vouched(vouched.session_id, None)
        log.info("a client passed on by another process", extra={"fields": {
            "from": str(header.get("from"))[:32],
            "vouched": "agent" if vouched is not None and vouched.agent is not None
            else "session" if vouched is not None else "nothing"}})
        conn = RemoteConn(self.cluster, str(header.get("from")), str(header.get("c")), header,
                          vouched)
        self.remote[conn.outbound.cid] = conn
        conn.inbound.put_nowait(payload)
        self._spawn(self._serve_remote(conn))

    def _data(self, header: dict[str, Any], payload: bytes) -> None:
        remote = self.remote.get(str(header.get("c")))
        if remote is not None:
            remote.inbound.put_nowait(payload)

    def _gone(self, header: dict[str, Any], _payload: bytes) -> None:
        remote = self.remote.get(str(header.get("c")))
        if remote is not None:
            remote.inbound.put_nowait(None)

    def _kill(self, header: dict[str, Any], _payload: bytes) -> None:
        self._spawn(self.hub.kill_here(str(header.get("sid")), str(header.get("detail"))))

    def _sign_out(self, header: dict[str, Any], _payload: bytes) -> None:
        agent = header.get("agent")
        if isinstance(agent, int):
            now = time.monotonic()
            self._signed_out = {a: at for a, at in self._signed_out.items()
                                if now - at < SIGN_OUT_MEMORY}
            self._signed_out[agent] = now
            self._spawn(self.hub.sign_out_here(AgentId(agent)))

    def _signed_out_lately(self, agent_id: int) -> bool:
        at = self._signed_out.get(agent_id)
        return at is not None and time.monotonic() - at < SIGN_OUT_MEMORY

    async def _serve_remote(self, conn: RemoteConn) -> None:
        async def receive() -> bytes:
            data = await conn.inbound.get()
            if data is None:
                raise Disconnected
            return data

        try:
            await serve_session(self.hub, conn, receive)
        finally:
            self.remote.pop(conn.outbound.cid, None)

    # -- faults -------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Clients of processes that died are gone; forwards to owners that died close
        (their clients resume, and another process takes the session over)."""
        procs = {conn.proc for conn in self.remote.values()} | \
            {fw.owner for fw in self.forwards.values()}
        for proc in procs:
            if await self.cluster.alive(proc):
                continue
            for conn in [c for c in self.remote.values() if c.proc == proc]:
                conn.inbound.put_nowait(None)
            for fw in [f for f in self.forwards.values() if f.owner == proc]:
                fw.close()

    def lost_everything(self) -> None:
        """Redis dropped this process: messages between processes may be lost, so every
        client that depends on them reconnects."""
        for conn in list(self.remote.values()):
            conn.inbound.put_nowait(None)
        for fw in list(self.forwards.values()):
            fw.close()

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self.lost_everything()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task



def vouch_mac(secret: str, cid: str, sid: str, agent: dict[str, Any] | None,
              first: bytes) -> str:
    """The signature of what a process vouches for a client it passes on (its connection,
    session, agent and first frame), with the key every process of the server shares (the
    one that signs agent tokens): a message put on Redis by anyone else vouches for nothing."""
    body = json.dumps([cid, sid, agent, hashlib.sha256(first).hexdigest()], sort_keys=True,
                      separators=(",", ":")).encode()
    return hmac.new(secret.encode(), b"coview vouch v1\0" + body, hashlib.sha256).hexdigest()


def read_vouch(header: dict[str, Any], first: bytes, secret: str) -> Vouched | None:
    """What the client's process checked of it, if its signature holds (a process of an
    older version says nothing, and a damaged or forged vouch counts for nothing: the client
    is then authenticated here)."""
    sid, agent, mac = header.get("sid"), header.get("agent"), header.get("vouch")
    if not isinstance(sid, str) or not isinstance(mac, str) \
            or not (agent is None or isinstance(agent, dict)):
        return None
    if not hmac.compare_digest(mac, vouch_mac(secret, str(header.get("c")), sid, agent, first)):
        log.warning("a forwarded client's vouch does not hold: it is authenticated here")
        return None
    try:
        return Vouched(sid, Agent.from_record(agent) if agent is not None else None)
    except (KeyError, ValueError, TypeError, OverflowError):
        return None
