"""Sessions moving between processes, as Redis holds them: the dead processes and what they
owned, taking a session over, reading its whole copy, and writing it back after Redis lost it.

The rules of a takeover (who adopts what, when a client's reconnect moves it) are the server's
(``coview.server.takeover``); this module only reads and writes the keys.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from coview.bus.cluster import Cluster
from coview.bus.names import Command

# A session's copy: its state, its parties' inbox positions, and both directions' logs.
Copy = tuple[dict[str, Any], dict[int, int], dict[str, list[tuple[int, bytes]]]]


class SessionMoves:
    """What a takeover reads and writes in a cluster's Redis."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.keys = cluster.keys

    async def dead_procs(self) -> list[str]:
        procs = sorted(v.decode() for v in
                       await self.cluster.call(lambda r: r.smembers(self.keys.procs)))
        others = [p for p in procs if p != self.cluster.proc]
        if not others:
            return []
        beats = await self.cluster.call(lambda r: r.mget([self.keys.proc(p) for p in others]))
        return [p for p, beat in zip(others, beats, strict=True) if beat is None]

    async def owned_by(self, proc: str) -> list[str]:
        values = await self.cluster.call(lambda r: r.smembers(self.keys.owned(proc)))
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
        await self.cluster.call(drop)

    async def take(self, sid: str, dead: str) -> bool:
        """Become the owner of a session whose owner ``dead`` is gone; False if another
        process did first."""
        here = self.cluster.proc
        keys = (self.keys.owner(sid), self.keys.owned(dead), self.keys.owned(here))
        done = await self.cluster.call(
            lambda r: r.evalsha(self.cluster.script("take"), 3, *keys, dead, here, sid))
        return bool(done)

    async def load(self, sid: str) -> Copy | None:
        """A session's state, its parties' inbox positions and both logs (None: not held)."""
        async def read(r: Redis) -> list[Any]:
            async with r.pipeline(transaction=False) as pipe:
                pipe.get(self.keys.state(sid))
                pipe.hgetall(self.keys.inbox(sid))
                pipe.xrange(self.keys.log(sid, "a"))
                pipe.xrange(self.keys.log(sid, "v"))
                return list(await pipe.execute())
        state, inbox, to_agents, to_visitor = await self.cluster.call(read)
        if state is None:
            return None
        logs = {direction: [(int(entry_id.split(b"-")[0]), fields[b"d"])
                            for entry_id, fields in entries]
                for direction, entries in (("a", to_agents), ("v", to_visitor))}
        return (json.loads(state), {int(k): int(v) for k, v in inbox.items()}, logs)

    def drop_owner(self, sid: str) -> None:
        """A session taken over with nothing to run (its copy is gone)."""
        self.cluster.writes.put("delete", (self.keys.owner(sid),))
        self.cluster.writes.put("srem", (self.keys.owned(self.cluster.proc), sid))

    def session_commands(self, sid: str, *, call_id: int, group_id: int, started: float,
                         counted: bool, claim: str, state: bytes, inbox: dict[int, int],
                         logs: dict[str, list[tuple[int, bytes]]]) -> list[Command]:
        """What writes a whole session back (after Redis lost it). Its owner and its key's
        claim are written only if no one holds them: a session never takes another's."""
        commands: list[Command] = [
            ("set", (self.keys.owner(sid), self.cluster.proc), {"nx": True}),
            ("set", (self.keys.full(claim), sid), {"nx": True}),
            ("sadd", (self.keys.owned(self.cluster.proc), sid), {}),
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
