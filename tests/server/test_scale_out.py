"""Scaled out: two ``coview serve`` processes on loopback with a private Redis and the
PostgreSQL here, behind a load balancer without sticky sessions.

Visitors and agents sit on different processes and see the same sessions; a session key is
unique across processes; killing a process mid-stream loses no message (count and order
checked), over a WebSocket or the HTTP tunnel, and restarting Redis under load resumes the
sessions; presence and its webhooks are what one process would give.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Browser, expect

import coview
from coview import EventCode
from coview.client.agent import AgentSession
from coview.client.connection import SessionConnection
from coview.errors import JoinRefused
from coview.protocol import client as proto
from tests.cobrowse_support import (
    Site,
    console_cobrowse,
    publish_settings,
    replayed,
    start_visitor,
    wait_event,
)
from tests.conftest import PostgresDatabases, Server, start_server
from tests.helpers import bearer, error_code, login
from tests.scale_support import Balancer, PrivatePostgres, RedisServer, eventually
from tests.screen_support import (
    GROUP,
    make_visitor,
    new_group,
    started,
    visitor_token,
    x_display,
)
from tests.webhook_support import Receiver

pytestmark = pytest.mark.e2e


@dataclass
class Deployment:
    redis: RedisServer
    servers: list[Server]
    balancer: Balancer
    database_url: str
    tmp: Path
    password: str = ""

    def agent(self, server: Server | None = None) -> coview.Agent:
        url = server.base_url if server is not None else self.balancer.url
        return coview.Agent(url, group_id=GROUP, username="demo", password=self.password)

    def rebalance(self) -> None:
        self.balancer.backends[:] = [int(s.base_url.rsplit(":", 1)[1]) for s in self.servers]

    def start(self, *, demo: bool = False) -> Server:
        server = start_server(self.tmp, ["--data-dir", str(self.tmp / "data"),
                                         "--database-url", self.database_url,
                                         "--redis-url", self.redis.url,
                                         "--allow-private-webhooks",  # receiver on loopback
                                         # browsers reach the processes through the balancer
                                         "--public-url", self.balancer.url],
                              demo=demo)
        server.data_dir = self.tmp / "data"  # type: ignore[attr-defined]
        return server


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory,
               postgres: PostgresDatabases) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("scale")
    redis = RedisServer()
    deployment = Deployment(redis, [], Balancer([]), postgres.create(), tmp)
    try:
        deployment.servers.append(deployment.start(demo=True))
        deployment.password = deployment.servers[0].demo_password
        deployment.servers.append(deployment.start())
        deployment.rebalance()
        yield deployment
    finally:
        for server in deployment.servers:
            server.stop(signal.SIGKILL)
        deployment.balancer.close()
        redis.stop()


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with x_display() as name:
        yield name


def test_a_screen_share_runs_across_processes_and_keys_are_unique_across_them(
        deployment: Deployment, display: str) -> None:
    first, second = deployment.servers[:2]
    visitors: list[coview.Visitor] = []
    try:
        visitor = make_visitor(visitors, first.base_url)
        key = started(visitor, "shared-key-1")
        # The agent signs in and joins on the other process, which checks its token and looks
        # its key up, and vouches for it to the session's process (which checks neither again).
        session = deployment.agent(second).join(key)
        assert visitor.wait_for(EventCode.GUEST_COUNT_CHANGE).properties["count"] == "1"
        assert '"vouched": "agent"' in first.logs()
        session.wait_until(lambda s: s.tiles_applied > 0, what="the picture")
        session.send_message({"step": "1"})
        assert visitor.wait_for(EventCode.MESSAGE_RECEIVED).properties == {"step": "1"}
        visitor.pause(True)
        session.wait_until(lambda s: s.paused, what="the pause")
        visitor.pause(False)
        session.wait_until(lambda s: not s.paused, what="the resume")

        # The same key on the other process is refused (the group refuses duplicates).
        other = make_visitor(visitors, second.base_url)
        other.start_session("shared-key-1")
        failed = other.wait_for(EventCode.START_SESSION_FAILED)
        assert failed.properties["error"] == "dupkey"

        # A second agent on the first process joins the same session.
        colleague = deployment.agent(first).join(key)
        colleague.wait_until(lambda s: s.guests["count"] == 2, what="both agents")
        session.wait_until(lambda s: s.guests["count"] == 2, what="both agents, there too")

        visitor.end_session()
        for agent_side in (session, colleague):
            agent_side.wait_until(lambda s: s.ended_reason is not None, what="the end")
            assert agent_side.ended_reason == coview.SessionEndReason.THIS_SIDE
        with pytest.raises(JoinRefused):
            deployment.agent(second).join(key, timeout=10)
    finally:
        for made in visitors:
            made.close()


class RawVisitor:
    """A visitor speaking the protocol itself: numbered ``info`` messages, one after another."""

    def __init__(self, url: str, key: str, *, tunnel: bool = False) -> None:
        self.welcomed = asyncio.Event()
        self.ended: str | None = None
        self.conn = SessionConnection(url, {
            "t": "start", "v": "1.0", "group_id": GROUP, "key_kind": "named", "key": key,
            "client": "scale-test"}, self._on_event, force_tunnel=tunnel)
        self.task = asyncio.create_task(self.conn.run())

    async def _on_event(self, event: proto.Event) -> None:
        if isinstance(event, proto.Welcomed):
            self.welcomed.set()
        elif isinstance(event, proto.Delivered) and event.header.get("t") == "ended":
            self.ended = str(event.header.get("reason"))

    async def send(self, n: int) -> None:
        await self.conn.send({"t": "info", "n": n}, reliable=True)


def numbers(received: list[Any]) -> list[int]:
    return [int(r.header["n"]) for r in received if r.header.get("t") == "info"]


async def has(agent: AgentSession, count: int) -> None:
    """Wait until the agent has ``count`` numbered messages."""
    await asyncio.to_thread(agent.wait_until, lambda s: len(numbers(s.received)) >= count,
                            60, f"{count} messages")


async def finish(visitor: RawVisitor, agent: AgentSession, total: int) -> list[int]:
    """Send the last number, ``total``: once the agent has it, whatever a replay repeated
    has arrived before it (the log replays in order). Returns what the agent got."""
    await visitor.send(total)
    await asyncio.to_thread(agent.wait_until, lambda s: total in numbers(s.received), 60,
                            "the last message")
    await visitor.conn.close()
    visitor.task.cancel()
    await asyncio.to_thread(agent.close)  # the visitor may come back: the agent stays till then
    return numbers(agent.received)


def tunnelled(server: Server) -> int:
    """How many tunnel requests the server has answered with frames or taken frames from."""
    return len(re.findall(r'"/tunnel/v1/\{tunnel_id\}/(?:send|recv)", "status": 20[04]',
                          server.logs()))


@pytest.mark.parametrize("tunnel", [False, True], ids=["websocket", "http-tunnel"])
def test_killing_a_process_mid_stream_loses_no_message(deployment: Deployment,
                                                       tunnel: bool) -> None:
    """The visitor streams through the balancer; its process is killed while messages are in
    flight. It comes back through the balancer to the other process, which takes the session
    over: the agent gets every message once, in order.

    Over the HTTP tunnel the visitor's requests land on both processes (the balancer has no
    stickiness): the one without the tunnel passes them to the one with it."""
    total = 400
    key = f"stream-key-{tunnel}"
    first, second = deployment.servers[:2]
    tunnelled_before = [tunnelled(s) for s in (first, second)]

    async def scenario() -> list[int]:
        visitor = RawVisitor(deployment.balancer.url, key, tunnel=tunnel)
        await asyncio.wait_for(visitor.welcomed.wait(), 15)
        agent = await asyncio.to_thread(deployment.agent().join, key)
        for n in range(total // 2):
            await visitor.send(n)
        await has(agent, total // 4)  # the rest of the first half may still be on its way
        if tunnel:
            await asyncio.to_thread(
                eventually, lambda: all(tunnelled(s) > before for s, before
                                        in zip((first, second), tunnelled_before, strict=True)),
                what="tunnel requests on both processes")
        await asyncio.to_thread(kill_owner, deployment, agent.welcome["session_id"])
        for n in range(total // 2, total):
            await visitor.send(n)
        return await finish(visitor, agent, total)

    assert asyncio.run(scenario()) == list(range(total + 1))
    survivor = deployment.servers[0]
    assert "session adopted" in survivor.logs()
    deployment.servers.append(deployment.start())  # back to two, for the next tests
    deployment.rebalance()


def kill_owner(deployment: Deployment, session_id: str) -> None:
    """SIGKILL the process that runs the session (as Redis names it)."""
    owner_proc = redis.Redis(port=deployment.redis.port).get(f"coview:owner:{session_id}")
    assert owner_proc, "Redis names no owner"
    owner = next(s for s in deployment.servers
                 if f'"proc": "{owner_proc.decode()}"' in s.logs())
    owner.process.send_signal(signal.SIGKILL)
    owner.process.wait()
    deployment.servers.remove(owner)
    deployment.rebalance()


def test_any_process_answers_for_a_tunnel_and_unknown_ones_are_404(
        deployment: Deployment) -> None:
    """A tunnel opened on one process is used and closed through the other (its errors come
    back as they are); a tunnel that does not exist, or whose process does not, is a 404 on
    every process."""
    first, second = deployment.servers[:2]
    tunnel = httpx.post(f"{first.base_url}/tunnel/v1").json()["tunnel"]
    proc = tunnel.split(".")[0]
    for server, unknown in ((second, f"{proc}.no-such-tunnel"), (second, "0123456789ab.x"),
                            (first, "no-such-tunnel")):
        response = httpx.get(f"{server.base_url}/tunnel/v1/{unknown}/recv", timeout=30)
        assert response.status_code == 404
        assert error_code(response) == "tunnel_not_found"
    base = f"{second.base_url}/tunnel/v1/{tunnel}"
    assert httpx.post(f"{base}/send", content=b"\x00\x00").status_code == 400  # bad framing
    assert httpx.post(f"{base}/send", content=b"").status_code == 204  # no frames: fine
    assert httpx.delete(base).status_code == 204
    response = httpx.get(f"{first.base_url}/tunnel/v1/{tunnel}/recv", timeout=30)
    assert error_code(response) == "tunnel_not_found"


def test_redis_restarted_under_load_the_session_resumes(deployment: Deployment) -> None:
    """Redis dies mid-stream and comes back empty: each process writes its sessions back,
    the agent on the other process comes back, and nothing is lost or repeated."""
    total = 300
    first, second = deployment.servers[:2]

    async def scenario() -> list[int]:
        visitor = RawVisitor(first.base_url, "redis-restart")
        await asyncio.wait_for(visitor.welcomed.wait(), 15)
        agent = await asyncio.to_thread(deployment.agent(second).join, "redis-restart")
        for n in range(total // 3):
            await visitor.send(n)
        await has(agent, total // 6)
        deployment.redis.stop()
        for n in range(total // 3, 2 * total // 3):  # sent while Redis is down
            await visitor.send(n)
        await asyncio.to_thread(deployment.redis.start)
        for n in range(2 * total // 3, total):
            await visitor.send(n)
        got = await finish(visitor, agent, total)
        assert visitor.ended is None
        return got

    assert asyncio.run(scenario()) == list(range(total + 1))
    assert "Redis is back" in first.logs()


def test_presence_and_one_click_across_processes(deployment: Deployment, display: str) -> None:
    """The visitor is online on one process; Redis restarts (the process writes the visitor
    back); a second window of its application connects to the other process. The agent's CRM
    asks that process, clicks, follows the terms statuses, and joins the session the visitor
    starts under its visitor ID. The group's webhooks hear each piece of news once, as with one
    process: online when the first window connects, offline when the last one leaves."""
    first, second = deployment.servers[:2]
    group = 2601
    receiver = Receiver()
    password = new_group(first, group, database_url=deployment.database_url,
                         webhooks=[{"url": receiver.url}])
    stored = redis.Redis(port=deployment.redis.port)
    visitors: list[coview.Visitor] = []

    def window(server: Server) -> tuple[coview.Visitor, coview.PresenceVisitor]:
        visitor = make_visitor(visitors, server.base_url, group=group)
        presence = coview.PresenceVisitor(visitor)
        presence.default_ui(False)
        visitor.init(group, visitor_id="cust-9", token=visitor_token(
            first, group, "cust-9", database_url=deployment.database_url))
        visitor.wait_for(EventCode.VISITOR_INITIALIZED)
        presence.connect(info={"screen": "billing"})
        visitor.wait_for(EventCode.PRESENCE_CONNECTED)
        return visitor, presence

    try:
        visitor, presence = window(first)
        agent = coview.Agent(second.base_url, group_id=group, username="boss",
                             password=password)
        eventually(lambda: agent.presence("cust-9")["online"] is True, what="online")
        assert agent.presence("cust-9")["info"] == {"screen": "billing"}
        assert [v["visitor_id"] for v in agent.online("cust-")] == ["cust-9"]
        eventually(lambda: "visitor.online" in receiver.types(), what="the online webhook")

        deployment.redis.stop()
        deployment.redis.start()  # empty: each process writes its visitors back
        eventually(lambda: stored.hlen(f"coview:presence:{group}") == 1,
                   what="the visitor written back")
        assert agent.presence("cust-9")["online"] is True

        _, other_window = window(second)
        eventually(lambda: stored.hlen(f"coview:presence:{group}") == 2,
                   what="the second window")
        statuses: list[str] = []
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(agent.start_one_click, "cust-9", timeout=30,
                                  on_status=statuses.append)
            assert visitor.wait_for(EventCode.PRESENCE_SHOW_TERMS).properties["agent"] == "boss"
            presence.signal_agent("terms", {"status": "accepted"})
            visitor.start_session()
            assert visitor.wait_for(
                EventCode.CONNECTED_TO_SESSION).properties["sessionkey"] == "cust-9"
            session = waiting.result(timeout=30)
        assert statuses == ["requested", "accepted", "started"]
        assert visitor.wait_for(EventCode.GUEST_COUNT_CHANGE).properties["count"] == "1"
        visitor.end_session()
        session.wait_until(lambda s: s.ended_reason is not None, what="the end")

        other_window.disconnect()  # still online in the first window
        eventually(lambda: stored.hlen(f"coview:presence:{group}") == 1, what="one window")
        assert agent.presence("cust-9")["online"] is True
        presence.disconnect()
        eventually(lambda: agent.presence("cust-9")["online"] is False, what="offline")
        expected = Counter({"visitor.online": 1, "visitor.offline": 1, "presence.terms": 3,
                            "session.start": 1, "session.end": 1})
        eventually(lambda: Counter(receiver.types()) >= expected, what="the webhooks")
        assert Counter(receiver.types()) == expected
        assert Counter(e["data"]["status"] for e in receiver.events()
                       if e["type"] == "presence.terms") == Counter(statuses)
    finally:
        for made in visitors:
            made.close()
        receiver.close()


def test_postgresql_stopped_answers_503_and_recovers_by_itself(tmp_path: Path) -> None:
    """A process on a PostgreSQL of its own, stopped under it: requests answer 503 with a
    clear error, /readyz names the database (and the bus as up); started again, all
    recovers without a restart."""
    database = PrivatePostgres()
    server = None
    try:
        server = start_server(tmp_path, ["--data-dir", str(tmp_path / "data"), "--database-url",
                                         database.url])
        with server.client() as client:
            token = login(client, server.demo_password)
            assert client.get("/api/v1/sessions", headers=bearer(token)).status_code == 200
            database.stop()
            answer = client.get("/api/v1/sessions", headers=bearer(token))
            assert answer.status_code == 503
            assert error_code(answer) == "unavailable"
            assert "database" in answer.json()["error"]["message"]
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {"status": "not ready", "database": "down", "bus": "ok"}
            database.start()
            eventually(lambda: client.get("/readyz").status_code == 200, what="ready again")
            assert client.get("/api/v1/sessions", headers=bearer(token)).status_code == 200
            assert server.process.poll() is None
    finally:
        if server is not None:
            server.stop()
        database.remove()


def test_a_cobrowse_session_runs_across_processes(deployment: Deployment,
                                                  browser: Browser) -> None:
    """The page's script talks to one process, the agent's console to the other: the console
    replays the page and follows its changes. (Last in this module: Playwright's loop.)"""
    first, second = deployment.servers[:2]
    for server in (first, second):
        server.demo_password = deployment.password
    shop = Site(first.base_url, pages={"/": "<h1 id='title'>Plans</h1><ul id='list'></ul>"})
    try:
        publish_settings(second, trusted_origins=[shop.origin()])
        context = browser.new_context()
        page, key = start_visitor(context, shop.origin() + "/")
        agent_context, console = console_cobrowse(browser, second, key)
        frame = replayed(console)
        expect(frame.locator("#title")).to_have_text("Plans")
        page.evaluate("document.getElementById('list').innerHTML = '<li>one</li><li>two</li>'")
        expect(frame.locator("#list li")).to_have_count(2)
        page.evaluate("COVIEW.Cobrowse.Visitor.stopSession()")
        assert wait_event(page, "sessionend") == {"reason": "visitor"}
        expect(console.get_by_test_id("session-status")).to_contain_text("ended")
        agent_context.close()
        context.close()
    finally:
        shop.close()
