"""Presence and one-click sessions end to end (seed 001): the visitor SDK's presence
connection, the server, the agent client, and signed webhooks caught by a test receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

import coview
from coview import EventCode
from tests.conftest import Server, free_port, start_server, wait_until
from tests.helpers import bearer
from tests.screen_support import (
    GROUP,
    TapProxy,
    click_widget,
    console_sign_in,
    coview_share,
    ended,
    exit_output,
    make_visitor,
    new_group,
    read_until,
    running,
    visitor_token,
)
from tests.webhook_support import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def signature_ok(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does with ``Coview-Signature: t=...,v1=...`` (written from the docs)."""
    fields = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def boss(server: Server, group: int, password: str) -> coview.Agent:
    return coview.Agent(server.base_url, group_id=group, username="boss", password=password)


def logged_in(visitors: list[coview.Visitor], url: str, group: int, visitor_id: str,
              token: str) -> tuple[coview.Visitor, coview.PresenceVisitor]:
    """A visitor whose application called init before login and again after it."""
    visitor = make_visitor(visitors, url, group=group)
    presence = coview.PresenceVisitor(visitor)
    presence.default_ui(False)
    presence.connect()
    visitor.wait_for(EventCode.INVALID_STATE)  # no visitor ID yet: no presence
    visitor.init(group, token=token, visitor_id=visitor_id)
    visitor.wait_for(EventCode.VISITOR_INITIALIZED)
    return visitor, presence


def test_one_click_accepted_beside_a_manual_key_with_signed_webhooks(
        server: Server, visitors: list[coview.Visitor], receiver: Receiver) -> None:
    """The agent sees the visitor online, clicks, sees each terms status; on accept the session
    starts under the visitor ID and the agent joins by itself. A manual random-key session
    works beside presence. Webhooks arrive signed, retried after a failure."""
    password = new_group(server, 2201, webhooks=[{"url": receiver.url}])
    receiver.fail_first = 1  # the first delivery fails: it is retried
    visitor, presence = logged_in(visitors, server.base_url, 2201, "cust-1",
                                  visitor_token(server, 2201, "cust-1"))
    presence.connect(info={"screen": "billing"})
    visitor.wait_for(EventCode.PRESENCE_CONNECTED)
    agent = boss(server, 2201, password)
    seen = agent.presence("cust-1")
    assert seen["online"] is True
    assert seen["info"] == {"screen": "billing"}
    assert [v["visitor_id"] for v in agent.online("cust")] == ["cust-1"]
    assert agent.presence("someone-else")["online"] is False

    visitor.start_session(coview.RANDOM_KEY)  # the manual button, beside presence
    key = visitor.wait_for(EventCode.CONNECTED_TO_SESSION).properties["sessionkey"]
    assert key.isdigit()
    assert not visitor.session_info().presence_start
    visitor.end_session()
    ended(visitor)

    statuses: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        waiting: Future[coview.AgentSession] = pool.submit(
            agent.start_one_click, "cust-1", timeout=30, on_status=statuses.append)
        asked = visitor.wait_for(EventCode.PRESENCE_SHOW_TERMS)
        assert asked.properties["agent"] == "boss"
        presence.signal_agent("terms", {"status": "displayed"})
        wait_until(lambda: "displayed" in statuses, what="the agent to see the terms shown")
        presence.signal_agent("terms", {"status": "accepted"})
        visitor.start_session()
        connected = visitor.wait_for(EventCode.CONNECTED_TO_SESSION)
        assert connected.properties["sessionkey"] == "cust-1"
        assert visitor.session_info().presence_start
        session = waiting.result(timeout=30)
    assert statuses == ["requested", "displayed", "accepted", "started"]
    assert session.key == "cust-1"
    assert visitor.wait_for(EventCode.GUEST_COUNT_CHANGE).properties["count"] == "1"
    visitor.end_session()
    ended(visitor)
    session.close()

    presence.disconnect()
    visitor.wait_for(EventCode.PRESENCE_DISCONNECTED)
    assert agent.presence("cust-1")["online"] is False  # a logout is offline at once

    wanted = {"visitor.online", "presence.terms", "session.start", "session.end",
              "visitor.offline"}
    wait_until(lambda: wanted <= set(receiver.types()), timeout=20, what="the webhooks")
    with httpx.Client() as client:
        secret = client.get(f"{server.base_url}/api/v1/webhooks/secret",
                            headers=bearer(agent.token)).json()["secret"]
    for headers, body in receiver.requests:
        assert signature_ok(secret, headers["coview-signature"], body)
        assert not signature_ok(secret, headers["coview-signature"], body + b" ")
        assert headers["coview-event"] == json.loads(body)["type"]
    # Deliveries run side by side and the failed one is retried later: order by creation.
    terms = [e["data"]["status"] for e in sorted(receiver.events(), key=lambda e: e["created"])
             if e["type"] == "presence.terms"]
    assert terms == ["requested", "displayed", "accepted", "started"]
    online = next(e for e in receiver.events() if e["type"] == "visitor.online")
    assert online["data"]["visitor_id"] == "cust-1"
    assert online["group_id"] == 2201


def test_declined_offline_and_logout_while_the_agent_waits(
        server: Server, visitors: list[coview.Visitor]) -> None:
    """No session starts when the visitor declines, is not online, or logs out mid-wait; the
    agent is told which."""
    password = new_group(server, 2202)
    agent = boss(server, 2202, password)
    with pytest.raises(coview.OneClickFailed) as offline:
        agent.start_one_click("nobody", timeout=10)
    assert offline.value.code == "visitor_offline"

    visitor, presence = logged_in(visitors, server.base_url, 2202, "cust-2",
                                  visitor_token(server, 2202, "cust-2"))
    presence.connect()
    visitor.wait_for(EventCode.PRESENCE_CONNECTED)
    with ThreadPoolExecutor(1) as pool:
        declined = pool.submit(agent.start_one_click, "cust-2", timeout=30)
        visitor.wait_for(EventCode.PRESENCE_SHOW_TERMS)
        presence.signal_agent("terms", {"status": "declined"})
        with pytest.raises(coview.OneClickFailed) as refused:
            declined.result(timeout=30)
        assert refused.value.code == "declined"

        gone = pool.submit(agent.start_one_click, "cust-2", timeout=30)
        visitor.wait_for(EventCode.PRESENCE_SHOW_TERMS)
        presence.disconnect()
        with pytest.raises(coview.OneClickFailed) as logged_out:
            gone.result(timeout=30)
        assert logged_out.value.code == "offline"
    assert visitor.session_info().call_id == 0
    presence.signal_agent("terms", {"status": "maybe"})
    visitor.wait_for(EventCode.INVALID_PARAMETER)


def test_presence_needs_a_valid_token_and_survives_a_dropped_connection(
        server: Server, visitors: list[coview.Visitor]) -> None:
    """Where the group requires visitor tokens, a visitor cannot claim another's ID. A dropped
    connection comes back within the grace period without ever showing offline; a network
    that stays down shows offline once the grace period is over."""
    password = new_group(server, 2203, visitor_id_requires_token=True,
                         presence_grace_seconds=3)
    agent = boss(server, 2203, password)
    with httpx.Client() as client:
        token = client.post(f"{server.base_url}/api/v1/visitor-tokens",
                            headers=bearer(agent.token),
                            json={"visitor_id": "bob", "ttl": 600}).json()["token"]
    impostor, impostor_presence = logged_in(visitors, server.base_url, 2203, "alice", token)
    impostor_presence.connect()
    failed = impostor.wait_for(EventCode.PRESENCE_CONNECT_FAILED)
    assert failed.properties["error"] == "invalid_token"
    assert agent.presence("alice")["online"] is False

    proxy = TapProxy(server.base_url)
    try:
        visitor, presence = logged_in(visitors, proxy.url, 2203, "bob", token)
        presence.connect()
        visitor.wait_for(EventCode.PRESENCE_CONNECTED)
        assert agent.presence("bob")["online"] is True
        proxy.cut()
        wait_until(lambda: agent.presence("bob")["online"] and len(proxy.sent) >= 2,
                   timeout=15, what="the SDK to reconnect through the proxy")
        until = time.monotonic() + 5  # past the grace period: online all along

        def stays_online() -> bool:
            assert agent.presence("bob")["online"] is True
            return time.monotonic() > until

        wait_until(stays_online, timeout=15, what="five seconds online after the drop")
        assert not [e for e in visitor.events() if e.code is EventCode.PRESENCE_DISCONNECTED]

        proxy.refuse = True
        proxy.cut()
        wait_until(lambda: agent.presence("bob")["online"] is False, timeout=15,
                   what="offline once the grace period is over")
        proxy.refuse = False
        wait_until(lambda: agent.presence("bob")["online"] is True, timeout=15,
                   what="online again when the network is back")
        presence.disconnect()
    finally:
        proxy.close()


def test_the_default_presence_ui_asks_and_starts_without_showing_a_key(
        server: Server, display: str, visitors: list[coview.Visitor]) -> None:
    """With the SDK's own windows, the terms prompt appears by itself on the agent's click;
    Accept (clicked on the display) starts the one-click session and no key is shown."""
    password = new_group(server, 2204)
    visitor = coview.Visitor(server.base_url)
    visitors.append(visitor)
    visitor.init(2204, visitor_id="cust-4", token=visitor_token(server, 2204, "cust-4"))
    presence = coview.PresenceVisitor(visitor)
    presence.connect()
    visitor.wait_for(EventCode.PRESENCE_CONNECTED)
    agent = boss(server, 2204, password)
    statuses: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(agent.start_one_click, "cust-4", timeout=30,
                              on_status=statuses.append)
        click_widget(visitor, "accept", display)
        session = waiting.result(timeout=30)
    assert statuses == ["requested", "displayed", "accepted", "started"]
    visitor.wait_for(EventCode.CONNECTED_TO_SESSION)
    ui = visitor.ui
    assert ui is not None
    wait_until(lambda: ui.widget("agents")["shown"], what="the session window")
    assert not ui.widget("key")["shown"]
    visitor.end_session()
    ended(visitor)
    session.close()
    presence.disconnect()


def test_the_console_lists_online_visitors_and_connects_with_one_click(
        server: Server, visitors: list[coview.Visitor], browser: Browser) -> None:
    """In Chromium the agent finds the visitor online by ID, clicks Connect, watches the terms
    status, and the session opens by itself on accept; a decline is shown as such."""
    visitor, presence = logged_in(visitors, server.base_url, GROUP, "console-cust",
                                  visitor_token(server, GROUP, "console-cust"))
    presence.connect(info={"page": "checkout"})
    visitor.wait_for(EventCode.PRESENCE_CONNECTED)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        console_sign_in(page, server)
        row = page.get_by_test_id("presence-console-cust")
        expect(row).to_contain_text("page: checkout")
        page.get_by_test_id("presence-search").fill("nobody-like-this")
        expect(row).to_have_count(0)
        page.get_by_test_id("presence-search").fill("console-")
        status = page.get_by_test_id("one-click-status")

        page.get_by_test_id("connect-console-cust").click()
        visitor.wait_for(EventCode.PRESENCE_SHOW_TERMS)
        presence.signal_agent("terms", {"status": "declined"})
        expect(status).to_have_attribute("data-status", "declined")
        expect(status).to_contain_text("declined")

        page.get_by_test_id("connect-console-cust").click()
        visitor.wait_for(EventCode.PRESENCE_SHOW_TERMS)
        presence.signal_agent("terms", {"status": "displayed"})
        expect(status).to_have_attribute("data-status", "displayed")
        presence.signal_agent("terms", {"status": "accepted"})
        visitor.start_session()
        assert visitor.wait_for(EventCode.CONNECTED_TO_SESSION).properties["sessionkey"] == \
            "console-cust"
        expect(page.get_by_test_id("session-status")).to_contain_text(
            "In session console-cust")
        assert visitor.wait_for(EventCode.GUEST_COUNT_CHANGE).properties["count"] == "1"
        assert problems == []
    finally:
        context.close()
    visitor.end_session()
    ended(visitor)
    presence.disconnect()


def test_coview_share_presence_waits_online_and_accepts(server: Server, display: str) -> None:
    """``coview share --presence --accept`` shows online, takes an agent's one-click request
    and shares under the visitor ID; the agent joins by itself."""
    token = visitor_token(server, GROUP, "cli-cust")
    with running(coview_share(server, display, "--visitor-id", "cli-cust", "--presence",
                              "--token", token, "--accept")) as process:
        assert read_until(process, "Online as").startswith("Online as cli-cust")
        agent = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                             password=server.demo_password)
        session = agent.start_one_click("cli-cust", timeout=30)
        session.wait_until(lambda s: s.tiles_applied > 0, what="the shared screen")
        session.end()
        rest = exit_output(process)
    assert "CONNECTED_TO_SESSION" in rest
    assert "sessionkey=cli-cust" in rest


def test_the_sdk_moves_to_the_presence_listener_and_stays_online(
        tmp_path: Path, visitors: list[coview.Visitor]) -> None:
    """With ``--presence-port`` the main port's welcome names the listener; the SDK moves
    there by itself, agents see the visitor online throughout, and the rest works as before.
    The listener serves presence only, and no browser."""
    listener_port = free_port()
    own = start_server(tmp_path, ["--data-dir", str(tmp_path / "data"), "--presence-port",
                                  str(listener_port)])
    own.data_dir = tmp_path / "data"  # type: ignore[attr-defined]
    try:
        visitor, presence = logged_in(visitors, own.base_url, GROUP, "moving-1",
                                      visitor_token(own, GROUP, "moving-1"))
        presence.connect()
        visitor.wait_for(EventCode.PRESENCE_CONNECTED)
        wait_until(lambda: presence._listener.endswith(f":{listener_port}/ws/v1/presence"),
                   what="the move to the listener")
        agent = coview.Agent(own.base_url, group_id=GROUP, username="demo",
                             password=own.demo_password)
        wait_until(lambda: presence._socket is not None, what="the listener's welcome")
        assert agent.presence("moving-1")["online"] is True
        with ThreadPoolExecutor(1) as pool:
            declined = pool.submit(agent.start_one_click, "moving-1", timeout=30)
            visitor.wait_for(EventCode.PRESENCE_SHOW_TERMS)  # sent over the listener
            presence.signal_agent("terms", {"status": "declined"})
            with pytest.raises(coview.OneClickFailed):
                declined.result(timeout=30)
        presence.disconnect()
        assert agent.presence("moving-1")["online"] is False
        assert not [e for e in visitor.events() if e.code is EventCode.PRESENCE_CONNECTED]

        with httpx.Client() as client:
            other = client.get(f"http://127.0.0.1:{listener_port}/ws/v1/session",
                               headers={"connection": "upgrade", "upgrade": "websocket",
                                        "sec-websocket-version": "13",
                                        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="})
            assert other.status_code == 404
            browser = client.get(f"http://127.0.0.1:{listener_port}/ws/v1/presence",
                                 headers={"connection": "upgrade", "upgrade": "websocket",
                                          "sec-websocket-version": "13", "origin":
                                          "https://evil.example",
                                          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="})
            assert browser.status_code == 403
    finally:
        own.stop()


class _SleptClock:
    """``time`` as the presence watchdog reads it, with the wall clock pushed ahead."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def time(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic()


def test_after_the_machine_sleeps_presence_reconnects_at_once(
        server: Server, visitors: list[coview.Visitor], monkeypatch: pytest.MonkeyPatch) -> None:
    """The desktop's "background": when the wall clock jumps ahead of the monotonic one (the
    machine slept), the SDK replaces its connection at once, without going offline."""
    from coview.client import presence as presence_module

    clock = _SleptClock()
    monkeypatch.setattr(presence_module, "time", clock)
    proxy = TapProxy(server.base_url)
    try:
        visitor, presence = logged_in(visitors, proxy.url, GROUP, "sleeper-1",
                                      visitor_token(server, GROUP, "sleeper-1"))
        presence.connect()
        visitor.wait_for(EventCode.PRESENCE_CONNECTED)
        assert len(proxy.sent) == 1  # one hello
        clock.ahead = 3600.0  # an hour asleep
        wait_until(lambda: len(proxy.sent) >= 2, timeout=15, what="a new connection")
        agent = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                             password=server.demo_password)
        assert agent.presence("sleeper-1")["online"] is True
        assert not [e for e in visitor.events() if e.code is EventCode.PRESENCE_DISCONNECTED]
        presence.disconnect()
    finally:
        proxy.close()
