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

Everything a process writes goes through one ordered pipeline (one connection, in order, in
batches): a client's welcome (sent to one process) cannot overtake the session's earlier
messages (published to all).

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
from coview.errors import Unavailable
from coview.protocol.frames import ProtocolError, decode_frame, encode_frame

log = logging.getLogger("coview.cluster")

MAX_MESSAGE = 17 * 1024 * 1024  # a visitor's largest frame, with its envelope

# Append a relayed item to a session direction's stream, publish it to the session's channel,
# and note how far the sender's messages were taken: one call per relayed message.
_APPEND = """
redis.call('XADD', KEYS[1], 'MINID', ARGV[1], ARGV[2], 'd', ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[4] .. ARGV[3])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[5], ARGV[6]) end
return 0
"""
# Take a session over from a dead owner (only if it still names that owner).
_TAKE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
"""

# A one-click request's view, from one of the processes that hold the visitor: each hears of
# some of its statuses, so the view that has heard the most of a request wins.
_ONE_CLICK = """
local old = redis.call('GET', KEYS[1])
if old then
  local was, now = cjson.decode(old), cjson.decode(ARGV[1])
  if was.request_id == now.request_id and #was.history >= #now.history then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""

# Broadcast kinds: the first byte of a message on a session's channel.

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
        self._queue: list[Command] = []
        self._dirty: dict[str, Callable[[], bytes]] = {}
        self._queued = 0
        self._durable = 0
        self._waiters: list[tuple[int, Callable[[], None]]] = []
        self._wake = asyncio.Event()
        self._broken = False
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
        for target, name in ((self._write_forever, "writer"),
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
        if self._redis is None or self._broken:
            return
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self.flush(), 5)
            await self._redis.delete(self.keys.proc(self.proc))
        self._left = self._broken = True  # nothing more: the sessions are no longer ours

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
        for name, script in (("append", _APPEND), ("take", _TAKE), ("one_click", _ONE_CLICK)):
            self._sha[name] = str(await redis.script_load(script))
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.proc(self.proc), b"1", px=int(self.lease * 1000))
            pipe.sadd(self.keys.procs, self.proc)
            await pipe.execute()

    # -- reading -------------------------------------------------------------------------

    async def owner(self, sid: str) -> str | None:
        value = await self._call(lambda r: r.get(self.keys.owner(sid)))
        return value.decode() if value else None

    async def alive(self, proc: str) -> bool:
        return bool(await self._call(lambda r: r.exists(self.keys.proc(proc))))

    async def session_of_call(self, call_id: int) -> str | None:
        value = await self._call(lambda r: r.get(self.keys.call(call_id)))
        return value.decode() if value else None

    async def ended_reason(self, sid: str) -> str | None:
        """Why a session ended; a session Redis knows nothing of may be on its way back (Redis
        restarted and its process writes it again): Unavailable, and the client tries again
        within its reconnect window."""
        value = await self._call(lambda r: r.get(self.keys.ended(sid)))
        if not value:
            raise Unavailable("the session is not known yet", part="bus")
        return str(value.decode())

    async def running(self, group_id: int, *, here: list[str]) -> list[str]:
        """The group's sessions (not child sessions), oldest first, on every process."""
        values = await self._call(lambda r: r.zrange(self.keys.live(group_id), 0, -1))
        return [v.decode() for v in values]

    async def seated(self, sids: list[str], *, here: Callable[[str], bool]) -> list[bool]:
        """For each session, whether an agent has a seat in it (from its state in Redis;
        a session whose state is gone counts as empty)."""
        if not sids:
            return []
        states = await self._call(lambda r: r.mget([self.keys.state(sid) for sid in sids]))
        return [bool(state) and bool(json.loads(state)["session"]["seats"]) for state in states]

    async def procs(self) -> list[str]:
        """Every process that joined (dead ones included until forgotten)."""
        return sorted(v.decode() for v in
                      await self._call(lambda r: r.smembers(self.keys.procs)))

    async def dead_procs(self) -> list[str]:
        procs = sorted(v.decode() for v in
                       await self._call(lambda r: r.smembers(self.keys.procs)))
        others = [p for p in procs if p != self.proc]
        if not others:
            return []
        beats = await self._call(lambda r: r.mget([self.keys.proc(p) for p in others]))
        return [p for p, beat in zip(others, beats, strict=True) if beat is None]

    async def owned_by(self, proc: str) -> list[str]:
        values = await self._call(lambda r: r.smembers(self.keys.owned(proc)))
        return sorted(v.decode() for v in values)

    async def forget_proc(self, proc: str) -> None:
        """A dead process whose sessions have all been adopted: forget it and the visitors
        it had online."""
        async def drop(r: Redis) -> None:
            if await r.scard(self.keys.owned(proc)):
                return
            for member in await r.smembers(self.keys.presences(proc)):
                text = member.decode() if isinstance(member, bytes) else str(member)
                group, _, entry = text.partition("|")
                await r.hdel(self.keys.presence(group), entry)
            await r.delete(self.keys.presences(proc))
            await r.srem(self.keys.procs, proc)
        await self._call(drop)

    async def take(self, sid: str, dead: str) -> bool:
        """Become the owner of a session whose owner ``dead`` is gone; False if another
        process did first."""
        keys = (self.keys.owner(sid), self.keys.owned(dead), self.keys.owned(self.proc))
        done = await self._call(lambda r: r.evalsha(self._sha["take"], 3, *keys, dead,
                                                    self.proc, sid))
        return bool(done)

    async def load(self, sid: str) -> tuple[dict[str, Any], dict[int, int],
                                            dict[str, list[tuple[int, bytes]]]] | None:
        """A session's state, its parties' inbox positions and both logs (None: not held)."""
        async def read(r: Redis) -> list[Any]:
            async with r.pipeline(transaction=False) as pipe:
                pipe.get(self.keys.state(sid))
                pipe.hgetall(self.keys.inbox(sid))
                pipe.xrange(self.keys.log(sid, "a"))
                pipe.xrange(self.keys.log(sid, "v"))
                return list(await pipe.execute())
        state, inbox, to_agents, to_visitor = await self._call(read)
        if state is None:
            return None
        logs = {direction: [(int(entry_id.split(b"-")[0]), fields[b"d"])
                            for entry_id, fields in entries]
                for direction, entries in (("a", to_agents), ("v", to_visitor))}
        return (json.loads(state), {int(k): int(v) for k, v in inbox.items()}, logs)

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
        await self._call(write)

    def append(self, sid: str, to_agents: bool, seq: int, first_seq: int, item: bytes,
               sender: int, sender_last: int) -> None:
        """A relayed message: into the session's stream and out on its channel."""
        direction = "a" if to_agents else "v"
        self._put("evalsha", (self._sha["append"], 3, self.keys.log(sid, direction),
                              self.keys.session_channel(sid), self.keys.inbox(sid),
                              f"{first_seq}-0", f"{seq}-1", item,
                              TO_AGENTS if to_agents else TO_VISITOR,
                              str(sender) if sender >= 0 else "", sender_last))

    def note_inbox(self, sid: str, num: int, last: int) -> None:
        self._put("hset", (self.keys.inbox(sid), str(num), last))

    def changed(self, sid: str, state: Callable[[], bytes]) -> None:
        """A session's state changed: written (once) with the next batch."""
        self._dirty[sid] = state
        self._wake.set()

    def publish(self, sid: str, kind: bytes, data: bytes) -> None:
        """To every process with readers of the session (not kept)."""
        self._put("publish", (self.keys.session_channel(sid), kind + data))

    def send(self, proc: str, header: dict[str, Any], data: bytes = b"") -> None:
        """To one process."""
        self._put("publish", (self.keys.process_channel(proc), encode_frame(header, data)))

    def forget(self, sid: str, *, call_id: int, group_id: int, reason: str) -> None:
        """A session ended: drop its copies, remember why for an hour."""
        self._dirty.pop(sid, None)
        keys = self.keys
        for key in (keys.owner(sid), keys.state(sid), keys.inbox(sid), keys.log(sid, "a"),
                    keys.log(sid, "v"), keys.call(call_id)):
            self._put("delete", (key,))
        self._put("srem", (self.keys.owned(self.proc), sid))
        self._put("zrem", (self.keys.live(group_id), sid))
        self._put("set", (self.keys.ended(sid), reason.encode()), ex=3600)

    def drop_owner(self, sid: str) -> None:
        """A session taken over with nothing to run (its copy is gone)."""
        self._put("delete", (self.keys.owner(sid),))
        self._put("srem", (self.keys.owned(self.proc), sid))

    def session_commands(self, sid: str, *, call_id: int, group_id: int, started: float,
                         counted: bool, claim: str, state: bytes, inbox: dict[int, int],
                         logs: dict[str, list[tuple[int, bytes]]]) -> list[Command]:
        """What writes a whole session back (after Redis lost it). Its owner and its key's
        claim are written only if no one holds them: a session never takes another's."""
        commands: list[Command] = [
            ("set", (self.keys.owner(sid), self.proc), {"nx": True}),
            ("set", (self.keys.full(claim), sid), {"nx": True}),
            ("sadd", (self.keys.owned(self.proc), sid), {}),
            ("set", (self.keys.call(call_id), sid), {}),
            ("set", (self.keys.state(sid), state), {}),
            ("delete", (self.keys.log(sid, "a"), self.keys.log(sid, "v")), {}),
        ]
        if inbox:
            commands.append(("hset", (self.keys.inbox(sid),),
                             {"mapping": {str(num): last for num, last in inbox.items()}}))
        if counted:
            commands.append(("zadd", (self.keys.live(group_id), {sid: started}), {}))
        for direction, items in logs.items():
            commands += [("xadd", (self.keys.log(sid, direction), {"d": item}),
                          {"id": f"{seq}-1"}) for seq, item in items]
        return commands

    # -- presence across processes --------------------------------------------------------------

    def presence_set(self, group_id: int, visitor_id: str, view: bytes | None) -> None:
        """This process's view of an online visitor (None: it went offline here)."""
        for command, args, kwargs in self.presence_commands(group_id, visitor_id, view):
            self._put(command, args, **kwargs)

    def presence_commands(self, group_id: int, visitor_id: str,
                          view: bytes | None) -> list[Command]:
        name, entry = self.keys.presence(group_id), f"{visitor_id}|{self.proc}"
        mine = self.keys.presences(self.proc)
        if view is None:
            return [("hdel", (name, entry), {}), ("srem", (mine, f"{group_id}|{entry}"), {})]
        return [("hset", (name, entry, view), {}), ("sadd", (mine, f"{group_id}|{entry}"), {})]

    def one_click_set(self, group_id: int, visitor_id: str, view: bytes) -> None:
        """A one-click request's view (kept a day after its last change), unless Redis has
        one of the same request that has heard of as many of its statuses."""
        command, args, kwargs = self.one_click_command(group_id, visitor_id, view)
        self._put(command, args, **kwargs)

    def one_click_command(self, group_id: int, visitor_id: str, view: bytes) -> Command:
        return ("evalsha", (self._sha["one_click"], 1,
                            self.keys.one_click(group_id, visitor_id), view, 86_400), {})

    async def first(self, name: str, ttl: int) -> bool:
        """Whether this process is the first to ask for ``name`` (within ``ttl`` seconds):
        what several processes would each do, done once."""
        return bool(await self._call(lambda r: r.set(self.keys.once(name), b"1", nx=True,
                                                     ex=ttl)))

    async def presences(self, group_id: int, visitor_id: str | None = None
                        ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """The group's online visitors (or one), each with every live process's view."""
        name = self.keys.presence(group_id)
        if visitor_id is None:
            entries = await self._call(lambda r: r.hgetall(name))
        else:
            pattern = "".join("\\" + c if c in "*?[]\\" else c for c in visitor_id) + "|*"
            async def scan(r: Redis) -> dict[bytes, bytes]:
                return {k: v async for k, v in r.hscan_iter(name, match=pattern, count=100)}
            entries = await self._call(scan)
        found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for entry, view in entries.items():
            text = entry.decode() if isinstance(entry, bytes) else str(entry)
            visitor, _, proc = text.rpartition("|")
            found.setdefault(visitor, []).append((proc, json.loads(view)))
        procs = sorted({proc for views in found.values() for proc, _ in views})
        if procs:
            beats = await self._call(lambda r: r.mget([self.keys.proc(p) for p in procs]))
            dead = {p for p, beat in zip(procs, beats, strict=True) if beat is None}
            found = {v: live for v, views in found.items()
                     if (live := [(p, view) for p, view in views if p not in dead])}
        return found

    async def one_click(self, group_id: int, visitor_id: str) -> dict[str, Any] | None:
        value = await self._call(
            lambda r: r.get(self.keys.one_click(group_id, visitor_id)))
        return json.loads(value) if value else None

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call back once Redis holds everything queued so far."""
        if self._durable >= self._queued:
            callback()
            return
        self._waiters.append((self._queued, callback))

    async def flush(self) -> None:
        """Wait until Redis holds everything queued so far."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle() -> None:
            if not done.done():
                done.set_result(None)

        self.when_durable(settle)
        await done

    def _put(self, command: str, args: tuple[Any, ...], **kwargs: Any) -> None:
        if self._broken:
            return  # the full copy written on reconnection covers it
        self._queue.append((command, args, kwargs))
        self._queued += 1
        self._wake.set()

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._broken or self._redis is None:
                continue
            batch, self._queue = self._queue, []
            dirty, self._dirty = self._dirty, {}
            target = self._queued
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for command, args, kwargs in batch:
                        getattr(pipe, command)(*args, **kwargs)
                    for sid, state in dirty.items():
                        pipe.set(self.keys.state(sid), state())
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self._lose(exc)
                continue
            self._settle(target)

    def _settle(self, durable: int) -> None:
        self._durable = max(self._durable, durable)
        ready = [cb for at, cb in self._waiters if at <= self._durable]
        self._waiters = [(at, cb) for at, cb in self._waiters if at > self._durable]
        for callback in ready:
            callback()

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
                if self._broken:
                    await self._restore()
                self._connected.set()
                while not self._broken:
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
        if handler is not None:
            handler(header, payload)

    def _lose(self, exc: BaseException) -> None:
        if self._broken:
            return
        log.warning("lost Redis; messages through it are lost until it is back",
                    extra={"fields": {"error": type(exc).__name__}})
        self._broken = True
        self._queue.clear()
        self._dirty.clear()
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
        self._broken = False
        self._queue[:0] = commands
        self._queued += len(commands)
        self._wake.set()
        log.info("Redis is back; this process's sessions are written again",
                 extra={"fields": {"commands": len(commands)}})

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.beat)
            if self._broken or self._redis is None:
                continue
            with contextlib.suppress(RedisError, OSError):
                await self._redis.set(self.keys.proc(self.proc), b"1",
                                      px=int(self.lease * 1000))

    # -- helpers -------------------------------------------------------------------------------

    @property
    def broken(self) -> bool:
        return self._broken

    def _client(self) -> Redis:
        if self._redis is None:
            raise Unavailable("the cluster is not started", part="bus")
        return self._redis

    async def _call(self, command: Callable[[Redis], Any]) -> Any:
        try:
            return await command(self._client())
        except (RedisError, OSError) as exc:
            raise Unavailable(f"Redis is unreachable ({type(exc).__name__})",
                              part="bus") from None


def envelope(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A direct message's header and payload."""
    frame = decode_frame(data, max_bytes=MAX_MESSAGE)
    return frame.header, frame.payload
