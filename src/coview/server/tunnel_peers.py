"""Tunnels held by other processes: a request for one is passed to its process over Redis.

The tunnels of this process (``tunnel.py``) hold a :class:`Peers`: :class:`Alone` on one
process (every tunnel is here), :class:`Shared` scaled out, where a tunnel's id starts with
its process's id, a request that reaches another process is passed to it, and the answer is
passed back. If that process dies, the request answers 404 and the client reconnects (and
resumes).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from starlette.responses import JSONResponse, Response

from coview.errors import Unavailable
from coview.server.errors import error_response

if TYPE_CHECKING:
    from coview.bus.cluster import Cluster

SEND_SECONDS = 10.0  # how long a send waits for room in the connection's queue
POLL_SECONDS = 20.0
ASK_GRACE = 10.0  # how much longer than the tunnel's process itself a passed request may take
WAITS = {"send": SEND_SECONDS, "recv": POLL_SECONDS, "close": 0.0}
_PROC = re.compile(r"[0-9a-f]{12}")

# Answers a tunnel request here: (op, tunnel id, body) -> the response.
Handle = Callable[[str, str, bytes], Awaitable[Response]]


def gone() -> JSONResponse:
    return error_response(404, "tunnel_not_found", "the tunnel's server is gone; reconnect")


class Peers(Protocol):
    """The other processes' tunnels."""

    def tunnel_id(self, token: str) -> str:
        """The id of a new tunnel of this process."""

    def home(self, tunnel_id: str) -> str | None:
        """The process holding the tunnel, if another one."""

    async def ask(self, proc: str, op: str, tunnel_id: str, body: bytes) -> Response:
        """Pass a request to the tunnel's process and return its answer."""

    async def check(self) -> None:
        """Now and then: answer the requests waiting on processes that died."""

    async def close(self) -> None: ...


class Alone:
    """One process: every tunnel is here."""

    def tunnel_id(self, token: str) -> str:
        return token

    def home(self, tunnel_id: str) -> str | None:
        return None

    async def ask(self, proc: str, op: str, tunnel_id: str, body: bytes) -> Response:
        return gone()

    async def check(self) -> None:
        pass

    async def close(self) -> None:
        pass


class Shared:
    """Several processes, through the cluster's direct messages (``tun`` asks, ``tunr``
    answers)."""

    def __init__(self, cluster: Cluster, handle: Handle, *, max_asking: int) -> None:
        self.cluster = cluster
        self.handle = handle
        self.max_asking = max_asking
        self._asking: dict[str, tuple[str, asyncio.Future[Response]]] = {}  # by request id
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        cluster.handlers.update(tun=self._asked, tunr=self._answered)

    def tunnel_id(self, token: str) -> str:
        return f"{self.cluster.proc}.{token}"  # a token never holds a dot

    def home(self, tunnel_id: str) -> str | None:
        proc, dot, _ = tunnel_id.partition(".")
        if not dot or proc == self.cluster.proc or not _PROC.fullmatch(proc):
            return None
        return proc

    async def close(self) -> None:
        self._closed = True
        self._give_up(lambda _proc: True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- this process's tunnels, asked by others ------------------------------------------

    def _asked(self, header: dict[str, Any], payload: bytes) -> None:
        """Another process passes on a request for one of this process's tunnels."""
        op, tunnel_id = header.get("op"), header.get("id")
        if self._closed or op not in WAITS or not isinstance(tunnel_id, str) \
                or len(tunnel_id) > 128:
            return
        task = asyncio.create_task(self._answer(op, tunnel_id, payload, header))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, op: str, tunnel_id: str, body: bytes,
                      header: dict[str, Any]) -> None:
        # Only this process's own tunnels: a request is passed on once, never again.
        response = gone() if self.home(tunnel_id) is not None else \
            await self.handle(op, tunnel_id, body)
        asker, request = header.get("from"), header.get("r")
        if isinstance(asker, str) and request:
            self.cluster.send(asker, {"t": "tunr", "r": request, "s": response.status_code,
                                      "m": response.media_type or ""}, bytes(response.body))

    # -- another process's tunnel ---------------------------------------------------------

    async def ask(self, proc: str, op: str, tunnel_id: str, body: bytes) -> Response:
        if len(self._asking) >= self.max_asking:
            return error_response(503, "busy", "try again")
        request = str(next(self._ids))
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._asking[request] = (proc, answer)
        try:
            self.cluster.send(proc, {"t": "tun", "op": op, "id": tunnel_id, "r": request,
                                     "from": self.cluster.proc}, body)
            return await asyncio.wait_for(answer, WAITS[op] + ASK_GRACE)
        except TimeoutError:
            # The answer is lost (frames with it, perhaps): end the connection, its client
            # reconnects and resumes from what it has.
            self.cluster.send(proc, {"t": "tun", "op": "close", "id": tunnel_id})
            return gone()
        finally:
            self._asking.pop(request, None)

    def _answered(self, header: dict[str, Any], payload: bytes) -> None:
        waiting = self._asking.get(str(header.get("r")))
        if waiting is None or waiting[1].done():
            return
        status = header.get("s")
        media = header.get("m")
        waiting[1].set_result(Response(payload, status_code=status if isinstance(status, int)
                                       else 502, media_type=str(media) if media else None))

    def _give_up(self, lost: Callable[[str], bool]) -> None:
        """Answer the requests waiting on processes that are gone."""
        for proc, answer in list(self._asking.values()):
            if lost(proc) and not answer.done():
                answer.set_result(gone())

    async def check(self) -> None:
        if not self._asking:
            return
        dead: set[str] = set()
        for proc in {proc for proc, _ in self._asking.values()}:
            try:
                if self.cluster.broken or not await self.cluster.alive(proc):
                    dead.add(proc)
            except Unavailable:
                dead.add(proc)
        self._give_up(dead.__contains__)
