"""Presence across processes, as Redis holds it: each process's view of its online visitors,
each visitor's latest one-click request, and news sent once.

``presence:G`` maps ``visitor|process`` to that process's view (JSON) of the visitor; a dead
process's views are left out when read, and dropped when the process is forgotten.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from coview.bus.cluster import Cluster
from coview.bus.names import Command


class PresenceViews:
    """The presence part of a cluster's Redis."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.keys = cluster.keys

    def set(self, group_id: int, visitor_id: str, view: bytes | None) -> None:
        """This process's view of an online visitor (None: it went offline here)."""
        for command, args, kwargs in self.commands(group_id, visitor_id, view):
            self.cluster.writes.put(command, args, **kwargs)

    def commands(self, group_id: int, visitor_id: str, view: bytes | None) -> list[Command]:
        proc = self.cluster.proc
        name, entry = self.keys.presence(group_id), f"{visitor_id}|{proc}"
        mine = self.keys.presences(proc)
        if view is None:
            return [("hdel", (name, entry), {}), ("srem", (mine, f"{group_id}|{entry}"), {})]
        return [("hset", (name, entry, view), {}), ("sadd", (mine, f"{group_id}|{entry}"), {})]

    def set_one_click(self, group_id: int, visitor_id: str, view: bytes) -> None:
        """A one-click request's view (kept a day after its last change), unless Redis has
        one of the same request that has heard of as many of its statuses."""
        command, args, kwargs = self.one_click_command(group_id, visitor_id, view)
        self.cluster.writes.put(command, args, **kwargs)

    def one_click_command(self, group_id: int, visitor_id: str, view: bytes) -> Command:
        return ("evalsha", (self.cluster.script("one_click"), 1,
                            self.keys.one_click(group_id, visitor_id), view, 86_400), {})

    async def first(self, name: str, ttl: int) -> bool:
        """Whether this process is the first to ask for ``name`` (within ``ttl`` seconds):
        what several processes would each do, done once."""
        return bool(await self.cluster.call(
            lambda r: r.set(self.keys.once(name), b"1", nx=True, ex=ttl)))

    async def views(self, group_id: int, visitor_id: str | None = None
                    ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """The group's online visitors (or one), each with every live process's view."""
        name = self.keys.presence(group_id)
        if visitor_id is None:
            entries = await self.cluster.call(lambda r: r.hgetall(name))
        else:
            pattern = "".join("\\" + c if c in "*?[]\\" else c for c in visitor_id) + "|*"

            async def scan(r: Redis) -> dict[bytes, bytes]:
                return {k: v async for k, v in r.hscan_iter(name, match=pattern, count=100)}
            entries = await self.cluster.call(scan)
        found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for entry, view in entries.items():
            text = entry.decode() if isinstance(entry, bytes) else str(entry)
            visitor, _, proc = text.rpartition("|")
            found.setdefault(visitor, []).append((proc, json.loads(view)))
        procs = sorted({proc for views in found.values() for proc, _ in views})
        if procs:
            beats = await self.cluster.call(
                lambda r: r.mget([self.keys.proc(p) for p in procs]))
            dead = {p for p, beat in zip(procs, beats, strict=True) if beat is None}
            found = {v: live for v, views in found.items()
                     if (live := [(p, view) for p, view in views if p not in dead])}
        return found

    async def one_click(self, group_id: int, visitor_id: str) -> dict[str, Any] | None:
        value = await self.cluster.call(
            lambda r: r.get(self.keys.one_click(group_id, visitor_id)))
        return json.loads(value) if value else None
