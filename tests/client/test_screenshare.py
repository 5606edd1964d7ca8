"""Screen share end to end: the visitor SDK on a virtual display, the server, the agent client.

A real X display (Xvfb) shows a real Tk window; the SDK captures it with mss, the server
relays over real WebSockets on loopback, and the agent client rebuilds the picture.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import simplejpeg
from PIL import Image
from playwright.sync_api import Browser, expect

import coview
from coview import EventCode, SessionEndReason
from tests.apps.board import BLOCK, GEOMETRY, SECRET
from tests.conftest import Server, run_coview, start_server, wait_until
from tests.helpers import bearer
from tests.screen_support import (
    GROUP,
    Board,
    NoWebSocketProxy,
    TapProxy,
    click_widget,
    color_distance,
    console_join,
    coview_share,
    ended,
    exit_output,
    make_visitor,
    mean_difference,
    new_group,
    read_until,
    real_screen,
    region,
    running,
    started,
)

pytestmark = pytest.mark.e2e



def test_agent_sees_the_screen_follows_it_and_the_session_is_recorded(
        server: Server, board: Board, visitors: list[coview.Visitor]) -> None:
    """A random-key session: the agent's picture matches the display and follows its changes;
    messages, pause and end reach the other side; the record keeps how it ended."""
    visitor = make_visitor(visitors, server.base_url)
    key = started(visitor, coview.RANDOM_KEY)
    assert key.isdigit()
    assert len(key) == 6
    info = visitor.session_info()
    assert (info.key, info.n_guests, info.is_connected) == (key, 0, True)
    assert info.call_id > 0

    agent = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                         password=server.demo_password)
    session = agent.join(key)
    assert visitor.wait_for(EventCode.GUEST_COUNT_CHANGE).properties["count"] == "1"
    assert visitor.session_info().n_guests == 1
    session.wait_until(lambda s: s.tiles_applied > 0, what="the first picture")
    session.wait_until(lambda s: mean_difference(np.asarray(s.screen()), real_screen()) < 3,
                       what="the agent's picture to match the display")

    board.command("color #aa00ff")
    session.wait_until(
        lambda s: color_distance(region(np.asarray(s.screen()), BLOCK), (0xAA, 0x00, 0xFF)) < 8,
        what="the agent's picture to follow the change")

    session.send_message({"topic": "billing", "step": "2"})
    assert visitor.wait_for(EventCode.MESSAGE_RECEIVED).properties == {
        "topic": "billing", "step": "2"}

    visitor.pause(True)
    session.wait_until(lambda s: s.paused, what="the pause")
    assert visitor.session_info().is_paused
    assert np.asarray(session.screen()).min() == 255  # agents see a white screen
    visitor.pause(False)
    session.wait_until(lambda s: not s.paused, what="the resume")

    visitor.end_session()
    assert ended(visitor) == SessionEndReason.THIS_SIDE
    session.wait_until(lambda s: s.ended_reason is not None, what="the end")
    assert session.ended_reason == SessionEndReason.THIS_SIDE
    assert visitor.session_info().call_id == 0
    with pytest.raises(coview.CoviewError) as over:  # the session's thread stopped with it
        session.send_message({"late": "1"})
    assert over.value.code == "closed"
    session.close()
    with server.client() as client:
        record = client.get(f"/api/v1/sessions/{info.call_id}",
                            headers=bearer(agent.token)).json()
    assert record["end_reason"] == SessionEndReason.THIS_SIDE
    assert record["peak_guests"] == 1
    assert record["key"] == key


def test_masked_pixels_never_leave_and_a_paused_session_sends_none(
        server: Server, board: Board, visitors: list[coview.Visitor]) -> None:
    """A masked rectangle is black at the agent and in every tile that left the SDK; while
    paused no tile leaves at all."""
    proxy = TapProxy(server.base_url)
    try:
        visitor = make_visitor(visitors, proxy.url)
        gx, gy = GEOMETRY[:2]
        sx0, sy0, sx1, sy1 = SECRET
        visitor.add_mask((gx + sx0, gy + sy0, sx1 - sx0, sy1 - sy0))
        key = started(visitor, "masked-1")
        session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                               password=server.demo_password).join(key)
        session.wait_until(lambda s: s.tiles_applied > 0, what="the picture")
        session.wait_until(lambda s: region(np.asarray(s.screen()), BLOCK).size > 0
                           and np.asarray(s.screen())[gy + 300, gx + 20].tolist() != [255] * 3,
                           what="the board in the picture")
        assert region(np.asarray(session.screen()), SECRET).max() < 30

        visitor.pause(True)
        session.wait_until(lambda s: s.paused, what="the pause")
        board.command("color #112233")
        visitor.pause(False)
        session.wait_until(
            lambda s: not s.paused and color_distance(
                region(np.asarray(s.screen()), BLOCK), (0x11, 0x22, 0x33)) < 8,
            what="the change made during the pause")
        session.end()
        assert ended(visitor) == SessionEndReason.OTHER_SIDE
    finally:
        proxy.close()

    frames = proxy.frames()
    tiles = [f for f in frames if f.type == "tile"]
    assert tiles
    green = np.array([0x00, 0xFF, 0x66])
    for tile in tiles:
        pixels = simplejpeg.decode_jpeg(tile.payload, colorspace="RGB").astype(int)
        assert not (np.abs(pixels - green).max(axis=2) < 40).any(), "masked pixels left the SDK"
    kinds = [(f.type, f.header.get("paused")) for f in frames if f.type in ("tile", "paused")]
    start = kinds.index(("paused", True), 1)
    stop = kinds.index(("paused", False), start)
    assert all(kind != "tile" for kind, _ in kinds[start:stop])


def test_a_drop_within_the_window_loses_and_repeats_nothing(
        server: Server, board: Board, visitors: list[coview.Visitor]) -> None:
    """The visitor's socket drops mid-stream and comes back: every message arrives once, in
    order, both ways, with CONNECTION_WARNING then CLEAR_WARNING."""
    proxy = TapProxy(server.base_url)
    try:
        visitor = make_visitor(visitors, proxy.url)
        key = started(visitor, "drop-1")
        session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                               password=server.demo_password).join(key)
        for n in range(20):
            session.send_message({"n": str(n)})
        proxy.cut()
        visitor.wait_for(EventCode.CONNECTION_WARNING)
        visitor.pause(True)  # sent while the connection is down
        for n in range(20, 40):
            session.send_message({"n": str(n)})
        visitor.wait_for(EventCode.CLEAR_WARNING)
        session.wait_until(lambda s: s.paused, what="the pause made during the drop")
        got = [visitor.wait_for(EventCode.MESSAGE_RECEIVED).properties["n"] for _ in range(40)]
        assert got == [str(n) for n in range(40)]
        assert not [e for e in visitor.events() if e.code is EventCode.MESSAGE_RECEIVED]
        visitor.end_session()
        assert ended(visitor) == SessionEndReason.THIS_SIDE
        session.close()
    finally:
        proxy.close()


def test_past_the_window_the_session_ends_with_conn_drop(
        server: Server, visitors: list[coview.Visitor], display: str) -> None:
    """When the network stays down past the reconnect window, both sides see CONN_DROP."""
    password = new_group(server, 2001, reconnect_window_seconds=5)
    proxy = TapProxy(server.base_url)
    try:
        visitor = make_visitor(visitors, proxy.url, group=2001)
        key = started(visitor, "gone-1")
        session = coview.Agent(server.base_url, group_id=2001, username="boss",
                               password=password).join(key)
        proxy.refuse = True
        proxy.cut()
        visitor.wait_for(EventCode.CONNECTION_WARNING)
        session.wait_until(lambda s: not s.visitor_connected, what="the visitor gone")
        assert ended(visitor, timeout=20) == SessionEndReason.CONN_DROP
        session.wait_until(lambda s: s.ended_reason is not None, timeout=20, what="the end")
        assert session.ended_reason == SessionEndReason.CONN_DROP
        session.close()
    finally:
        proxy.close()


def test_end_reasons_and_session_rules(server: Server, visitors: list[coview.Visitor],
                                       display: str) -> None:
    """OTHER_SIDE (agent ends; last agent leaves), persist, TIMED_OUT, KILLED, dupkey, the
    session limit, max_guests, and CANT_CONNECT each happen as the seed says."""
    url = server.base_url

    def demo_agent() -> coview.Agent:
        return coview.Agent(url, group_id=GROUP, username="demo", password=server.demo_password)

    # The last agent leaving ends a session that does not persist...
    visitor = make_visitor(visitors, url)
    session = demo_agent().join(started(visitor, "leave-1"))
    session.leave()
    assert ended(visitor) == SessionEndReason.OTHER_SIDE
    # ...but not one that does, until the agent ends it.
    key = started(visitor, coview.StartParams(key="persist-1", persist=True, max_guests=1))
    first = demo_agent().join(key)
    with pytest.raises(coview.JoinRefused) as full:
        demo_agent().join(key)
    assert full.value.code == "session_full"
    first.leave()
    visitor.wait_for(EventCode.GUEST_COUNT_CHANGE, predicate=lambda e: e.properties["count"] == "0")
    assert visitor.session_info().call_id > 0
    second = demo_agent().join(key)
    second.end()
    assert ended(visitor) == SessionEndReason.OTHER_SIDE

    # A key in use is refused (dupkey), and the visitor can start again afterwards.
    other = make_visitor(visitors, url)
    started(other, "dup-1")
    visitor.start_session("dup-1")
    failed = visitor.wait_for(EventCode.START_SESSION_FAILED)
    assert failed.properties["error"] == "dupkey"
    assert visitor.session_info().call_id == 0
    other.end_session()
    ended(other)

    # No agent in time: TIMED_OUT.
    make_visitor(visitors, url, group=2002)
    timed = visitors[-1]
    new_group(server, 2002, no_agent_timeout_seconds=1)
    started(timed, "lonely-1")
    assert ended(timed) == SessionEndReason.TIMED_OUT

    # One session at a time: the oldest is KILLED, or the new one refused.
    new_group(server, 2003, max_sessions=1)
    old, new = make_visitor(visitors, url, group=2003), make_visitor(visitors, url, group=2003)
    started(old, "one-1")
    started(new, "one-2")
    assert ended(old) == SessionEndReason.KILLED
    password = new_group(server, 2004, max_sessions=1, session_limit_policy="refuse_new")
    first_v, second_v = make_visitor(visitors, url, group=2004), make_visitor(visitors, url,
                                                                             group=2004)
    started(first_v, "only-1")
    second_v.start_session("only-2")
    assert second_v.wait_for(EventCode.PRIVILEGE_VIOLATION).properties["error"] == \
        "session_limit"
    assert second_v.wait_for(EventCode.START_SESSION_FAILED).properties["error"] == \
        "session_limit"
    assert password

    # A server that cannot be reached.
    lost = make_visitor(visitors, "http://127.0.0.1:9")
    lost.start_session()
    assert lost.wait_for(EventCode.START_SESSION_FAILED).properties["error"] == "cant_connect"
    assert ended(lost) == SessionEndReason.CANT_CONNECT


def test_mistakes_and_tokens(server: Server, visitors: list[coview.Visitor], display: str,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad parameters and states are reported; a visitor ID needs a valid token where the group
    says so; joins with a wrong key are refused and audited; old SDKs hear about upgrades."""
    url = server.base_url
    early = coview.Visitor(url)
    visitors.append(early)
    early.start_session()
    early.wait_for(EventCode.INVALID_STATE)
    early.init(GROUP, visitor_id="not valid!")
    early.wait_for(EventCode.INVALID_PARAMETER)
    visitor = make_visitor(visitors, url)
    visitor.start_session("no spaces allowed")
    visitor.wait_for(EventCode.INVALID_PARAMETER)
    visitor.start_session(coview.StartParams(key="k-1", max_guests=-1))
    visitor.wait_for(EventCode.INVALID_PARAMETER)
    visitor.pause(True)
    visitor.wait_for(EventCode.INVALID_STATE)
    started(visitor, "twice-1")
    visitor.start_session("twice-2")
    visitor.wait_for(EventCode.INVALID_STATE)
    visitor.end_session()
    ended(visitor)

    password = new_group(server, 2005, visitor_id_requires_token=True)
    claimer = make_visitor(visitors, url, group=2005, visitor_id="cust-77")
    claimer.start_session()
    claimer.wait_for(EventCode.PRIVILEGE_VIOLATION)
    assert claimer.wait_for(EventCode.START_SESSION_FAILED).properties["error"] == \
        "invalid_token"
    token = run_coview("admin", "visitor-token", "--group-id", "2005", "--visitor-id",
                       "cust-77", "--data-dir", str(server.data_dir))  # type: ignore[attr-defined]
    owner = make_visitor(visitors, url, group=2005, visitor_id="cust-77",
                         token=token.stdout.strip())
    assert started(owner) == "cust-77"
    owner.end_session()
    ended(owner)

    boss = coview.Agent(url, group_id=2005, username="boss", password=password)
    with pytest.raises(coview.JoinRefused) as wrong:
        boss.join("no-such-key")
    assert wrong.value.code == "not_found"
    with httpx.Client(base_url=url) as client:
        audit = client.get("/api/v1/audit", headers=bearer(boss.token),
                           params={"action": "join_failed"}).json()["entries"]
    assert audit[0]["actor"] == "boss"

    monkeypatch.setattr("coview.client.visitor.__version__", "0.0.1")
    old = make_visitor(visitors, url)
    started(old, "old-1")
    old.wait_for(EventCode.UPGRADE_AVAILABLE)
    old.end_session()
    ended(old)
    monkeypatch.setattr("coview.protocol.client.format_version", lambda: "0.9")
    ancient = make_visitor(visitors, url)
    ancient.start_session("ancient-1")
    ancient.wait_for(EventCode.UPGRADE_REQUIRED)
    assert ancient.wait_for(EventCode.START_SESSION_FAILED).properties["error"] == \
        "upgrade_required"
    assert time.monotonic() > 0


def test_remote_control_acts_only_while_the_visitor_allows_it(
        server: Server, board: Board, visitors: list[coview.Visitor]) -> None:
    """Agent clicks and keys land in the real window only while remote control is enabled,
    never in a masked region, and a group that forbids it gets RC_DISABLED."""
    gx, gy = GEOMETRY[:2]
    visitor = make_visitor(visitors, server.base_url)
    sx0, sy0, sx1, sy1 = SECRET
    visitor.add_mask((gx + sx0, gy + sy0, sx1 - sx0, sy1 - sy0))
    session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                           password=server.demo_password).join(started(visitor, "rc-1"))
    session.wait_until(lambda s: s.tiles_applied > 0, what="the picture")
    board.lines.clear()

    session.send_input("click", x=gx + 100, y=gy + 100)
    session.wait_for("rc_refused")
    session.request_remote_control()
    asked = visitor.wait_for(EventCode.MESSAGE_RECEIVED)
    assert asked.properties == {"coview": "rc_request", "agent": "demo"}
    visitor.enable_rc(True)
    session.wait_until(lambda s: s.rc_enabled, what="remote control on")
    assert visitor.session_info().rc_enabled

    session.send_input("click", x=gx + 400, y=gy + 100)  # inside the mask: not applied
    session.send_input("click", x=gx + 120, y=gy + 110)
    assert board.wait_line("click") == f"click {gx + 120} {gy + 110}"
    session.send_input("click", x=gx + 310, y=gy + 350)  # the entry, to focus it
    session.send_input("key", keysym="q")
    assert board.wait_line("key") == "key q"
    assert not [line for line in board.lines if line.startswith("click")]

    visitor.enable_rc(False)
    session.wait_until(lambda s: not s.rc_enabled, what="remote control off")
    refusals = sum(r.type == "rc_refused" for r in session.received)
    session.send_input("click", x=gx + 120, y=gy + 110)
    session.wait_until(lambda s: sum(r.type == "rc_refused" for r in s.received) > refusals,
                       what="the refusal once control is off")
    assert not [line for line in board.lines if line.startswith("click")]
    visitor.end_session()
    ended(visitor)
    session.close()

    new_group(server, 2006, remote_control_enabled=False)
    forbidden = make_visitor(visitors, server.base_url, group=2006)
    started(forbidden, "no-rc-1")
    forbidden.enable_rc(True)
    forbidden.wait_for(EventCode.RC_DISABLED)
    assert not forbidden.session_info().rc_enabled


def test_the_tunnel_when_websockets_are_refused(server: Server, board: Board,
                                                 visitors: list[coview.Visitor]) -> None:
    """Behind a proxy that refuses WebSocket upgrades the SDK tunnels over HTTP (TUNNELING),
    and with force_tunnel it tunnels from the start; the session works the same."""
    proxy = NoWebSocketProxy(server.base_url)
    try:
        visitor = make_visitor(visitors, proxy.url)
        key = started(visitor, "tunnel-1")
        visitor.wait_for(EventCode.TUNNELING)
        assert proxy.refused_upgrades >= 1
        session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                               password=server.demo_password).join(key)
        assert visitor.wait_for(EventCode.GUEST_COUNT_CHANGE).properties["count"] == "1"
        session.wait_until(
            lambda s: s.tiles_applied > 0
            and mean_difference(np.asarray(s.screen()), real_screen()) < 3,
            what="the picture through the tunnel")
        session.send_message({"via": "tunnel"})
        assert visitor.wait_for(EventCode.MESSAGE_RECEIVED).properties == {"via": "tunnel"}
        visitor.pause(True)
        session.wait_until(lambda s: s.paused, what="the pause through the tunnel")
        visitor.end_session()
        assert ended(visitor) == SessionEndReason.THIS_SIDE
        session.wait_until(lambda s: s.ended_reason is not None, what="the end")
        assert session.ended_reason == SessionEndReason.THIS_SIDE, [
            r.header for r in session.received]
        session.close()
    finally:
        proxy.close()

    forced = make_visitor(visitors, server.base_url)
    forced.start_session(coview.StartParams(key="tunnel-2", force_tunnel=True))
    forced.wait_for(EventCode.TUNNELING)
    forced.wait_for(EventCode.CONNECTED_TO_SESSION)
    forced.end_session()
    assert ended(forced) == SessionEndReason.THIS_SIDE


def test_coview_share_command(server: Server, board: Board, display: str) -> None:
    """``coview share`` prints the key, an agent joins and sees the screen, and when the agent
    ends the session the command prints the end and exits 0."""
    with running(coview_share(server, display, "--key", "cli-1")) as process:
        assert read_until(process, "Session key:").startswith("Session key: cli-1")
        session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                               password=server.demo_password).join("cli-1")
        session.wait_until(
            lambda s: s.tiles_applied > 0
            and mean_difference(np.asarray(s.screen()), real_screen()) < 3,
            what="the shared screen")
        session.end()
        rest = exit_output(process)
    assert "GUEST_COUNT_CHANGE count=1" in rest
    assert f"SESSION_ENDED reason={SessionEndReason.OTHER_SIDE.value}" in rest


def test_agent_console_shows_and_controls_the_shared_screen(
        server: Server, board: Board, visitors: list[coview.Visitor],
        browser: Browser) -> None:
    """In Chromium the console joins by key, its canvas shows the shared screen (compared with
    the display), and its message, pause notice, remote control and end buttons work."""
    visitor = make_visitor(visitors, server.base_url)
    started(visitor, "console-1")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        console_join(page, server, "console-1")
        assert visitor.wait_for(EventCode.GUEST_COUNT_CHANGE).properties["count"] == "1"
        expect(page.get_by_test_id("guest-count")).to_have_text("1")

        canvas = page.get_by_test_id("screen")

        def canvas_picture() -> np.ndarray:
            data = canvas.evaluate("c => c.toDataURL('image/png')")
            image = Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1])))
            return np.asarray(image.convert("RGB"))

        deadline = time.monotonic() + 15
        while True:
            picture = canvas_picture()
            if picture.shape == real_screen().shape and \
                    mean_difference(picture, real_screen()) < 4:
                break
            assert time.monotonic() < deadline, "the console never showed the screen"
            page.wait_for_timeout(100)

        page.get_by_test_id("message-text").fill("hello from the console")
        page.get_by_test_id("message-send").click()
        assert visitor.wait_for(EventCode.MESSAGE_RECEIVED).properties == {
            "text": "hello from the console"}

        visitor.pause(True)
        expect(page.get_by_test_id("screen-notice")).to_be_visible()
        expect(page.get_by_test_id("screen-notice")).to_contain_text("paused")
        visitor.pause(False)
        expect(page.get_by_test_id("screen-notice")).to_be_hidden()

        # The console's socket drops: it resumes, and a message sent around the drop arrives
        # once.
        page.evaluate("window.coviewConsoleSession.dropForTest()")
        page.get_by_test_id("message-text").fill("sent around a drop")
        page.get_by_test_id("message-send").click()
        expect(page.get_by_test_id("session-status")).to_contain_text("Reconnected")
        assert visitor.wait_for(EventCode.MESSAGE_RECEIVED).properties == {
            "text": "sent around a drop"}
        assert not [e for e in visitor.events() if e.code is EventCode.MESSAGE_RECEIVED]

        page.get_by_test_id("rc-request").click()
        assert visitor.wait_for(EventCode.MESSAGE_RECEIVED).properties["coview"] == "rc_request"
        visitor.enable_rc(True)
        expect(page.get_by_test_id("rc-state")).to_have_text("on")
        board.lines.clear()
        box = canvas.bounding_box()
        assert box is not None
        width = canvas.evaluate("c => c.width")
        gx, gy = GEOMETRY[:2]
        target = (gx + 150, gy + 120)
        canvas.click(position={"x": target[0] * box["width"] / width,
                               "y": target[1] * box["width"] / width})
        _, x, y = board.wait_line("click").split()
        assert abs(int(x) - target[0]) <= 2
        assert abs(int(y) - target[1]) <= 2

        page.get_by_test_id("session-end").click()
        assert ended(visitor) == SessionEndReason.OTHER_SIDE
        expect(page.get_by_test_id("session-status")).to_contain_text("ended")
        assert problems == []
    finally:
        context.close()


def test_the_shown_window_going_and_coming_back(
        server: Server, board: Board, visitors: list[coview.Visitor]) -> None:
    """Showing the application's window: when it goes away the SDK reports
    DEVICE_DISCONNECTED and the agent hears of it; when it is back, DEVICE_RECONNECTED."""
    visitor = make_visitor(visitors, server.base_url)
    shown = {"visible": True}
    visitor.set_application_window(lambda: GEOMETRY if shown["visible"] else None)
    key = started(visitor, coview.StartParams(
        key="window-1", display=coview.DisplayParams(display_name="application")))
    session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                           password=server.demo_password).join(key)
    session.wait_until(lambda s: s.tiles_applied > 0, what="the window's picture")
    assert (session.display["width"], session.display["height"]) == GEOMETRY[2:]
    assert color_distance(np.asarray(session.screen())[60:190, 60:240], (0xFF, 0x88, 0x00)) < 8 \
        or color_distance(np.asarray(session.screen())[60:190, 60:240], (0x11, 0x22, 0x33)) < 8
    shown["visible"] = False
    visitor.wait_for(EventCode.DEVICE_DISCONNECTED)
    session.wait_for("device", predicate=lambda r: r.header.get("connected") is False)
    shown["visible"] = True
    visitor.wait_for(EventCode.DEVICE_RECONNECTED)
    session.wait_for("device", predicate=lambda r: r.header.get("connected") is True)
    visitor.end_session()
    ended(visitor)
    session.close()


def test_a_corrupted_stream_is_an_exception_and_a_stopping_server_an_error(
        tmp_path: Path, visitors: list[coview.Visitor], display: str) -> None:
    """Garbage from the network ends the session with EXCEPTION and reason ERROR; a server
    that stops ends its sessions with reason ERROR."""
    own = start_server(tmp_path, ["--data-dir", str(tmp_path / "data")])
    proxy = TapProxy(own.base_url)
    try:
        corrupted = make_visitor(visitors, proxy.url)
        started(corrupted, "garbage-1")
        proxy.inject(b"\x00\x03not a frame")
        corrupted.wait_for(EventCode.EXCEPTION)
        assert ended(corrupted) == SessionEndReason.ERROR

        visitor = make_visitor(visitors, own.base_url)
        started(visitor, "stopping-1")
        assert own.stop() == 0
        assert ended(visitor) == SessionEndReason.ERROR
    finally:
        proxy.close()
        own.stop()


def test_display_parameters_and_switching_live(
        server: Server, board: Board, visitors: list[coview.Visitor]) -> None:
    """Displays are listed by count, type and name; scale and capture size shrink the picture;
    show_display switches what is shown while the session runs."""
    visitor = make_visitor(visitors, server.base_url)
    assert visitor.display_count() == 1
    assert visitor.main_monitor() == 0
    assert visitor.display_type(0) == "Monitor"
    name = visitor.display_name(0)
    with pytest.raises(IndexError):
        visitor.display_name(5)
    visitor.start_session(coview.StartParams(key="scaled-1", display=coview.DisplayParams(
        display_name=name, scale=0.5)))
    visitor.wait_for(EventCode.CONNECTED_TO_SESSION)
    session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                           password=server.demo_password).join("scaled-1")
    session.wait_until(lambda s: s.tiles_applied > 0, what="the picture")
    assert (session.display["width"], session.display["height"]) == (640, 400)
    half = np.asarray(Image.fromarray(real_screen()).resize((640, 400)))
    session.wait_until(lambda s: mean_difference(np.asarray(s.screen()), half) < 6,
                       what="the half-size picture")

    visitor.show_display(coview.DisplayParams(display_name="main", capture_width=320,
                                              capture_height=320))
    session.wait_until(lambda s: (s.display.get("width"), s.display.get("height")) == (320, 200),
                       what="the switch to a 320-wide capture")
    visitor.show_display(coview.DisplayParams(display_name="application"))  # none set: gone
    visitor.wait_for(EventCode.DEVICE_DISCONNECTED)
    visitor.show_display(coview.DisplayParams(scale=0))
    visitor.wait_for(EventCode.INVALID_PARAMETER)
    visitor.show_display(coview.DisplayParams(display_name="all"))
    visitor.wait_for(EventCode.DEVICE_RECONNECTED)
    session.wait_until(lambda s: (s.display.get("width"), s.display.get("height")) == (1280, 800),
                       what="the whole screen again")
    assert visitor.session_info().display_name == "all"
    visitor.end_session()
    ended(visitor)
    session.close()

    visitor.identify_monitors(1.0)  # the monitor's number, drawn in its middle for a second

    def number_shown() -> bool:  # a pixel inside the number's box, off the digit
        return [int(c) for c in real_screen()[300, 540]] == [0x1D, 0x23, 0x30]

    wait_until(number_shown, timeout=10, what="the monitor's number")
    wait_until(lambda: not number_shown(), timeout=10, what="the number to go")


def test_the_default_ui_asks_consent_shows_the_key_and_controls_the_session(
        server: Server, board: Board, display: str, visitors: list[coview.Visitor]) -> None:
    """With the default UI the SDK's own window asks for consent first (declining starts
    nothing), then shows the key and the agents, and its pause, end and remote control buttons
    work when clicked on the display."""

    def click(visitor: coview.Visitor, name: str) -> None:
        click_widget(visitor, name, display)

    visitor = coview.Visitor(server.base_url)
    visitors.append(visitor)
    visitor.init(GROUP)
    visitor.start_session("ui-1")
    click(visitor, "decline")
    assert visitor.wait_for(EventCode.START_SESSION_FAILED).properties["error"] == "declined"
    assert visitor.session_info().call_id == 0

    visitor.start_session("ui-1")
    click(visitor, "accept")
    visitor.wait_for(EventCode.CONNECTED_TO_SESSION)
    assert visitor.ui is not None
    assert visitor.ui.widget("key")["text"] == "ui-1"
    session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                           password=server.demo_password).join("ui-1")
    visitor.wait_for(EventCode.GUEST_COUNT_CHANGE)
    ui = visitor.ui
    wait_until(lambda: ui.widget("agents")["text"] == "Agents watching: 1", timeout=10,
               what="the agent count")

    click(visitor, "pause")
    session.wait_until(lambda s: s.paused, what="the pause from the button")
    click(visitor, "pause")
    session.wait_until(lambda s: not s.paused, what="the resume from the button")

    session.request_remote_control()
    click(visitor, "allow")
    session.wait_until(lambda s: s.rc_enabled, what="control allowed from the prompt")

    click(visitor, "end")
    assert ended(visitor) == SessionEndReason.THIS_SIDE
    session.wait_until(lambda s: s.ended_reason is not None, what="the end")
    session.close()


def test_capture_errors_are_reported_and_recorded(
        server: Server, visitors: list[coview.Visitor], display: str) -> None:
    """A capture error fires EXCEPTION once, the session goes on, and with report_errors the
    error is kept in the session record."""
    visitor = make_visitor(visitors, server.base_url)

    def broken_window() -> tuple[int, int, int, int]:
        raise RuntimeError("the window went wrong")

    visitor.set_application_window(broken_window)
    visitor.start_session(coview.StartParams(
        key="errors-1", report_errors=True,
        display=coview.DisplayParams(display_name="application")))
    call_id = int(visitor.wait_for(EventCode.CONNECTED_TO_SESSION).properties["callid"])
    session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                           password=server.demo_password).join("errors-1")
    failed = visitor.wait_for(EventCode.EXCEPTION)
    assert "the window went wrong" in failed.message
    visitor.set_application_window(lambda: GEOMETRY)
    session.wait_until(lambda s: s.tiles_applied > 0, what="capture working again")
    assert not [e for e in visitor.events() if e.code is EventCode.EXCEPTION]
    visitor.end_session()
    assert ended(visitor) == SessionEndReason.THIS_SIDE
    session.close()
    with server.client() as client:
        record = client.get(f"/api/v1/sessions/{call_id}", headers=bearer(session.agent.token))
    assert record.json()["errors"] == ["cannot find what to show: the window went wrong"]
