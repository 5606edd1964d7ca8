"""Several ``coview serve`` processes as one, through Redis.

Each live session is run by one process, its owner (the process its visitor started it on).
A client that reaches another process is forwarded: that process passes the client's frames to
the owner and the owner's frames back, over Redis publish/subscribe. The owner publishes each
relayed message once per session, never once per agent: every process with readers of the
session is subscribed to the session's channel and delivers to its own connections.

The owner keeps the session in memory, as a single process does, and copies it into Redis as it
goes: each relayed message into the session's stream (the same Redis call that publishes it),
and the session's state when it changes. A client is acknowledged only for what Redis holds, so
when the owner dies another process adopts the session from Redis and its clients resume there
without losing a message. Every process renews a heartbeat key; a process whose key lapses
is dead, and the first process to notice adopts its sessions.

Everything a process writes goes through one ordered pipeline (``bus/writes.py``): a client's
welcome (sent to one process) cannot overtake the session's earlier messages (published to
all). What presence keeps in Redis is in ``bus/presence_views.py``.

Its Redis keys and channels are named in ``coview.bus.names.ClusterKeys``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from coview.bus.names import TO_AGENTS, TO_VISITOR, ClusterKeys, Command
from coview.bus.redis import CLIENT_OPTIONS
from coview.bus.scripts import SCRIPTS
from coview.bus.writes import OrderedWrites
from coview.errors import Unavailable
from coview.protocol.frames import ProtocolError, decode_frame, encode_frame

log = logging.getLogger("coview.cluster")

MAX_MESSAGE = 17 * 1024 * 1024  # a visitor's largest frame, with its envelope

Handler = Callable[[str, bytes], None]
# A direct message's handler, by its type: called with its header and payload.
DirectHandler = Callable[[dict[str, Any], bytes], None]


class Cluster:
    """This process's place among the others: heartbeat, ownership, messages, copies."""

    def __init__(self, url: str, *, prefix: str = "coview:", lease: float = 5.0,
                 beat: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.prefix = prefix
        self.keys = ClusterKeys(prefix)
        self.lease = lease
        self.beat = beat
        self.clock = clock
        self.proc = uuid.uuid4().hex[:12]
        self.handlers: dict[str, DirectHandler] = {}  # direct messages, by type
        self.on_session: Handler = lambda _sid, _data: None
        self.on_lost: Callable[[], None] = lambda: None  # Redis dropped us: messages lost
        # Redis lost everything: each gives what writes its part of this process back.
        self.restorers: list[Callable[[], list[Command]]] = []
        self._redis: Redis | None = None
        self._sub: Redis | None = None
        self._pubsub: PubSub | None = None
        self._channels: Counter[str] = Counter()
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self.writes = OrderedWrites(lambda: self._redis, self._lose)
        self._left = False
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._beating: asyncio.Task[None] | None = None
        self._sha: dict[str, str] = {}

    # -- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        self._redis = Redis.from_url(self.url, **CLIENT_OPTIONS)
        self._sub = Redis.from_url(self.url, socket_connect_timeout=5,
                                   health_check_interval=0)
        try:
            await self._register()
        except (RedisError, OSError) as exc:
            await self.close()
            raise Unavailable(f"Redis is unreachable ({type(exc).__name__})",
                              part="bus") from None
        for target, name in ((self.writes.run, "writer"),
                             (self._listen_forever, "listener")):
            self._tasks.append(asyncio.create_task(target(), name=f"coview-cluster-{name}"))
        self._beating = asyncio.create_task(self._beat_forever(), name="coview-heartbeat")
        self._tasks.append(self._beating)
        await asyncio.wait_for(self._connected.wait(), 10)

    async def leave(self) -> None:
        """Say this process is gone (it is stopping): the others take its sessions over
        when their clients come back. Everything queued is written first."""
        if self._beating is not None:
            self._beating.cancel()
        if self._redis is None or self.broken:
            return
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self.flush(), 5)
            await self._redis.delete(self.keys.proc(self.proc))
        self._left = True
        self.writes.lose()  # nothing more: the sessions are no longer ours

    async def close(self) -> None:
        """Stop (after :meth:`leave`, or without: as if the process died)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        for client in (self._redis, self._sub):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._redis = self._sub = self._pubsub = None

    async def _register(self) -> None:
        redis = self._client()
        for name, script in SCRIPTS.items():
            self._sha[name] = str(await redis.script_load(script))
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.proc(self.proc), b"1", px=int(self.lease * 1000))
            pipe.sadd(self.keys.procs, self.proc)
            await pipe.execute()

    # -- reading -------------------------------------------------------------------------

    async def owner(self, sid: str) -> str | None:
        value = await self.call(lambda r: r.get(self.keys.owner(sid)))
        return value.decode() if value else None

    async def alive(self, proc: str) -> bool:
        return bool(await self.call(lambda r: r.exists(self.keys.proc(proc))))

    async def session_of_call(self, call_id: int) -> str | None:
        value = await self.call(lambda r: r.get(self.keys.call(call_id)))
        return value.decode() if value else None

    async def ended_reason(self, sid: str) -> str | None:
        """Why a session ended; a session Redis knows nothing of may be on its way back (Redis
        restarted and its process writes it again): Unavailable, and the client tries again
        within its reconnect window."""
        value = await self.call(lambda r: r.get(self.keys.ended(sid)))
        if not value:
            raise Unavailable("the session is not known yet", part="bus")
        return str(value.decode())

    async def running(self, group_id: int, *, here: list[str]) -> list[str]:
        """The group's sessions (not child sessions), oldest first, on every process."""
        values = await self.call(lambda r: r.zrange(self.keys.live(group_id), 0, -1))
        return [v.decode() for v in values]

    async def seated(self, sids: list[str], *, here: Callable[[str], bool]) -> list[bool]:
        """For each session, whether an agent has a seat in it (from its state in Redis;
        a session whose state is gone counts as empty)."""
        if not sids:
            return []
        states = await self.call(lambda r: r.mget([self.keys.state(sid) for sid in sids]))
        return [bool(state) and bool(json.loads(state)["session"]["seats"]) for state in states]

    async def procs(self) -> list[str]:
        """Every process that joined (dead ones included until forgotten)."""
        return sorted(v.decode() for v in
                      await self.call(lambda r: r.smembers(self.keys.procs)))

    # -- writing (ordered, batched) ----------------------------------------------------------

    async def register(self, sid: str, *, call_id: int, group_id: int, started: float,
                       counted: bool, state: Callable[[], bytes]) -> None:
        """A new session, before anyone else may look it up (written at once)."""
        async def write(r: Redis) -> None:
            async with r.pipeline(transaction=False) as pipe:
                pipe.set(self.keys.owner(sid), self.proc)
                pipe.sadd(self.keys.owned(self.proc), sid)
                pipe.set(self.keys.call(call_id), sid)
                pipe.set(self.keys.state(sid), state())
                if counted:
                    pipe.zadd(self.keys.live(group_id), {sid: started})
                await pipe.execute()
        await self.flush()
        await self.call(write)

    def append(self, sid: str, to_agents: bool, seq: int, first_seq: int, item: bytes,
               sender: int, sender_last: int) -> None:
        """A relayed message: into the session's stream and out on its channel."""
        direction = "a" if to_agents else "v"
        self.writes.put("evalsha", (self.script("append"), 3, self.keys.log(sid, direction),
                              self.keys.session_channel(sid), self.keys.inbox(sid),
                              f"{first_seq}-0", f"{seq}-1", item,
                              TO_AGENTS if to_agents else TO_VISITOR,
                              str(sender) if sender >= 0 else "", sender_last))

    def note_inbox(self, sid: str, num: int, last: int) -> None:
        self.writes.put("hset", (self.keys.inbox(sid), str(num), last))

    def changed(self, sid: str, state: Callable[[], bytes]) -> None:
        """A session's state changed: written (once) with the next batch."""
        self.writes.set_latest(self.keys.state(sid), state)

    def publish(self, sid: str, kind: bytes, data: bytes) -> None:
        """To every process with readers of the session (not kept)."""
        self.writes.put("publish", (self.keys.session_channel(sid), kind + data))

    def send(self, proc: str, header: dict[str, Any], data: bytes = b"") -> None:
        """To one process."""
        self.writes.put("publish", (self.keys.process_channel(proc), encode_frame(header, data)))

    def forget(self, sid: str, *, call_id: int, group_id: int, reason: str) -> None:
        """A session ended: drop its copies, remember why for an hour."""
        self.writes.discard_latest(self.keys.state(sid))
        keys = self.keys
        for key in (keys.owner(sid), keys.state(sid), keys.inbox(sid), keys.log(sid, "a"),
                    keys.log(sid, "v"), keys.call(call_id)):
            self.writes.put("delete", (key,))
        self.writes.put("srem", (self.keys.owned(self.proc), sid))
        self.writes.put("zrem", (self.keys.live(group_id), sid))
        self.writes.put("set", (self.keys.ended(sid), reason.encode()), ex=3600)

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call back once Redis holds everything queued so far."""
        self.writes.when_durable(callback)

    async def flush(self) -> None:
        """Wait until Redis holds everything queued so far."""
        await self.writes.flush()

    # -- subscriptions -------------------------------------------------------------------------

    async def subscribe(self, sid: str) -> None:
        """Receive the session's messages (counted: each subscriber unsubscribes once)."""
        channel = self.keys.session_channel(sid)
        self._channels[channel] += 1
        if self._channels[channel] > 1 or self._pubsub is None:
            return
        confirmed = asyncio.get_running_loop().create_future()
        self._confirm[channel] = confirmed
        await self._pubsub.subscribe(channel)
        await asyncio.wait_for(confirmed, 5)

    async def unsubscribe(self, sid: str) -> None:
        channel = self.keys.session_channel(sid)
        self._channels[channel] -= 1
        if self._channels[channel] > 0:
            return
        del self._channels[channel]
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    async def _listen_forever(self) -> None:
        direct = self.keys.process_channel(self.proc)
        session_prefix = self.keys.session_channel("")
        while not self._left:
            try:
                assert self._sub is not None
                self._pubsub = self._sub.pubsub()
                await self._pubsub.subscribe(direct, *self._channels)
                if self.broken:
                    await self._restore()
                self._connected.set()
                while not self.broken:
                    message = await self._pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    channel = message["channel"].decode()
                    if message["type"] == "subscribe":
                        future = self._confirm.pop(channel, None)
                        if future is not None and not future.done():
                            future.set_result(None)
                    elif message["type"] == "message":
                        data = message["data"]
                        if channel == direct:
                            self._dispatch(data)
                        elif channel.startswith(session_prefix):
                            self.on_session(channel[len(session_prefix):], data)
            except (RedisError, OSError) as exc:
                self._lose(exc)
            with contextlib.suppress(Exception):
                if self._pubsub is not None:
                    await self._pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            await asyncio.sleep(0.5)

    def _dispatch(self, data: bytes) -> None:
        try:
            header, payload = envelope(data)
        except ProtocolError:
            log.warning("a malformed message between processes was dropped")
            return
        handler = self.handlers.get(header["t"])
        if handler is None:
            return
        try:
            handler(header, payload)
        except Exception:  # one bad message must not stop this process hearing the others
            log.exception("a message between processes could not be handled",
                          extra={"fields": {"type": str(header["t"])[:32]}})

    def _lose(self, exc: BaseException) -> None:
        if self.broken:
            return
        log.warning("lost Redis; messages through it are lost until it is back",
                    extra={"fields": {"error": type(exc).__name__}})
        self.writes.lose()
        for future in self._confirm.values():
            if not future.done():
                future.set_exception(Unavailable("Redis is unreachable", part="bus"))
        self._confirm.clear()
        self.on_lost()

    async def _restore(self) -> None:
        """Redis is back: register again and write every owned session anew, ahead of
        anything queued after."""
        await self._register()
        commands = [command for restorer in self.restorers for command in restorer()]
        self.writes.resume(commands)
        log.info("Redis is back; this process's sessions are written again",
                 extra={"fields": {"commands": len(commands)}})

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.beat)
            if self.broken or self._redis is None:
                continue
            with contextlib.suppress(RedisError, OSError):
                await self._redis.set(self.keys.proc(self.proc), b"1",
                                      px=int(self.lease * 1000))

    # -- helpers -------------------------------------------------------------------------------

    @property
    def broken(self) -> bool:
        """Whether Redis is out of reach (everything is written anew when it is back)."""
        return self.writes.lost

    def script(self, name: str) -> str:
        """A loaded script's SHA, by its name in ``bus.scripts.SCRIPTS``."""
        return self._sha[name]

    def _client(self) -> Redis:
        if self._redis is None:
            raise Unavailable("the cluster is not started", part="bus")
        return self._redis

    async def call(self, command: Callable[[Redis], Any]) -> Any:
        try:
            return await command(self._client())
        except (RedisError, OSError) as exc:
            raise Unavailable(f"Redis is unreachable ({type(exc).__name__})",
                              part="bus") from None


def envelope(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A direct message's header and payload."""
    frame = decode_frame(data, max_bytes=MAX_MESSAGE)
    return frame.header, frame.payload
