"""Child sessions, showback and gestures end to end, on a virtual display.

An agent (the Python client) starts agent video or showback in a running screen share; the
visitor's SDK joins by itself and shows the pictures in its own Tk window (checked on the real
screen) or hands them to the application. Gestures are drawn on the real screen and never come
back in what the SDK sends.
"""

from __future__ import annotations

import threading

import httpx
import numpy as np
import pytest
import simplejpeg
from PIL import Image
from playwright.sync_api import Browser, expect

import coview
from coview import EventCode, SessionEndReason
from coview.client.agent import AgentSession
from coview.client.gestures import COLOR
from coview.errors import JoinRefused
from tests.apps.board import GEOMETRY
from tests.conftest import Server, wait_until
from tests.helpers import bearer
from tests.screen_support import (
    GROUP,
    Board,
    TapProxy,
    color_distance,
    console_join,
    ended,
    make_visitor,
    new_group,
    real_screen,
    started,
)

pytestmark = pytest.mark.e2e

GREEN = (0, 160, 80)
RED = (200, 30, 30)
MAGENTA = tuple(int(COLOR[i:i + 2], 16) for i in (1, 3, 5))


def join(server: Server, key: str, group: int = GROUP, username: str = "demo",
         password: str = "") -> AgentSession:
    agent = coview.Agent(server.base_url, group_id=group, username=username,
                         password=password or server.demo_password)
    return agent.join(key)


def solid(rgb: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> Image.Image:
    return Image.new("RGB", size, rgb)


def record(server: Server, session: AgentSession, call_id: int) -> dict[str, object]:
    response = httpx.get(f"{server.base_url}/api/v1/sessions/{call_id}",
                         headers=bearer(session.agent.token))
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


def test_agent_video_is_joined_shown_closed_and_ends_with_its_parent(
        server: Server, board: Board, visitors: list[coview.Visitor]) -> None:
    """The SDK joins agent video by itself and shows it in its own window; closing it ends
    the child only; ending the parent ends the child first; records link them."""
    visitor = make_visitor(visitors, server.base_url)
    started(visitor, "video-1")
    parent_call = visitor.session_info().call_id
    session = join(server, "video-1")

    host = session.start_agent_video(lambda: solid(GREEN))
    event = visitor.wait_for(EventCode.CHILD_SESSION_STARTED)
    assert event.properties["sessionkey"] == host.key
    assert event.properties["sessiontype"] == "agentVideo"
    assert event.properties["username"] == "demo"
    assert int(event.properties["timestamp"]) > 0
    session.wait_until(lambda s: "agentVideo" in s.children, what="the agents to hear of it")
    host.wait_until(lambda h: h.guests == 1, what="the visitor to view it")

    windows = visitor.windows
    assert windows is not None
    wait_until(lambda: windows.viewer_rect("agentVideo") is not None, what="the viewer")

    def viewer_shows(rgb: tuple[int, int, int]) -> bool:
        rect = windows.viewer_rect("agentVideo")
        if rect is None or rect.w < 100:
            return False
        shot = real_screen()[rect.y + 10:rect.y + rect.h - 10, rect.x + 10:rect.x + rect.w - 10]
        return color_distance(shot, rgb) < 12

    wait_until(lambda: viewer_shows(GREEN), what="the agent's video on the visitor's screen")
    child = record(server, session, host.call_id)
    assert child["parent_call_id"] == parent_call
    assert child["session_type"] == "agentVideo"

    with pytest.raises(JoinRefused) as twice:  # one agent video at a time
        session.start_agent_video(lambda: solid(GREEN))
    assert twice.value.code == "conflict"

    visitor.close_child_session("agentVideo")
    assert visitor.wait_for(EventCode.CHILD_SESSION_ENDED).properties == {
        "sessiontype": "agentVideo"}
    host.wait_until(lambda h: h.ended_reason is not None, what="the child to end")
    wait_until(lambda: windows.viewer_rect("agentVideo") is None, what="the viewer to close")
    assert visitor.session_info().call_id == parent_call  # the parent goes on
    host.stop()
    visitor.close_child_session("agentVideo")
    visitor.wait_for(EventCode.INVALID_STATE)

    again = session.start_agent_video(lambda: solid(GREEN))
    visitor.wait_for(EventCode.CHILD_SESSION_STARTED)
    order: list[EventCode] = []
    visitor.add_listener(lambda e: order.append(e.code))
    visitor.end_session()
    assert ended(visitor) == SessionEndReason.THIS_SIDE
    assert order.index(EventCode.CHILD_SESSION_ENDED) < order.index(EventCode.SESSION_ENDED)
    again.wait_until(lambda h: h.ended_reason is not None, what="the child to end")
    assert again.ended_reason == SessionEndReason.THIS_SIDE
    wait_until(lambda: record(server, session, again.call_id)["end_reason"] is not None,
               what="the child's record")
    again.stop()
    session.close()


def test_showback_in_the_applications_viewer_refusals_and_a_failed_join(
        server: Server, board: Board, visitors: list[coview.Visitor]) -> None:
    """Showback switches the visitor to viewing (SWITCHING_TO_VIEW, is_viewing, no pixels
    sent meanwhile) in the application's own viewer; group settings and privileges refuse;
    an invitation that cannot be taken up is JOIN_CHILD_SESSION_FAILED."""
    visitor = make_visitor(visitors, server.base_url)
    shown: list[tuple[str, Image.Image | None]] = []
    lock = threading.Lock()

    def viewer(session_type: str, picture: Image.Image | None) -> None:
        with lock:
            shown.append((session_type, picture))

    visitor.set_video_viewer(viewer)
    started(visitor, "showback-1")
    session = join(server, "showback-1")
    session.wait_until(lambda s: s.tiles_applied > 0, what="the visitor's picture")
    assert visitor.session_info().sb_enabled

    host = session.start_showback(lambda: solid(RED, (800, 500)))
    switching = visitor.wait_for(EventCode.SWITCHING_TO_VIEW)
    assert switching.properties["username"] == "demo"
    assert visitor.wait_for(EventCode.CHILD_SESSION_STARTED).properties["sessiontype"] == \
        "showback"
    info = visitor.session_info()
    assert (info.is_viewing, info.is_showing) == (True, False)
    session.wait_until(lambda s: s.viewing, what="the agent to hear the visitor views")

    def last_picture() -> Image.Image | None:
        with lock:
            return shown[-1][1] if shown else None

    wait_until(lambda: last_picture() is not None, what="a showback picture")
    picture = last_picture()
    assert picture is not None
    assert picture.size == (800, 500)
    assert color_distance(np.asarray(picture), RED) < 8
    applied = session.tiles_applied
    host.wait_until(lambda h: h.frames_sent >= 3, what="a few more showback frames")
    assert session.tiles_applied == applied  # the visitor shows nothing while viewing

    host.stop()
    assert visitor.wait_for(EventCode.CHILD_SESSION_ENDED).properties["sessiontype"] == \
        "showback"
    session.wait_until(lambda s: not s.viewing, what="the visitor to show again")
    assert not visitor.session_info().is_viewing
    wait_until(lambda: shown[-1] == ("showback", None), what="the viewer to be told")
    session.wait_until(lambda s: s.tiles_applied > applied, what="the visitor's picture again")

    # An invitation the SDK cannot take up: the network refuses new connections.
    proxy = TapProxy(server.base_url)
    try:
        behind = make_visitor(visitors, proxy.url)
        behind.set_video_viewer(viewer)
        started(behind, "video-behind")
        agent_side = join(server, "video-behind")
        proxy.refuse = True
        video = agent_side.start_agent_video(lambda: solid(GREEN))
        failed = behind.wait_for(EventCode.JOIN_CHILD_SESSION_FAILED)
        assert failed.properties["sessiontype"] == "agentVideo"
        assert failed.properties["sessionkey"] == video.key
        assert failed.properties["error"] == "cant_connect"
        video.stop()
        agent_side.close()
    finally:
        proxy.close()

    password = new_group(server, 2101, agent_video_enabled=False, showback_enabled=False,
                         gestures_enabled=False)
    strict = make_visitor(visitors, server.base_url, group=2101)
    started(strict, "strict-1")
    boss = join(server, "strict-1", group=2101, username="boss", password=password)
    assert not strict.session_info().sb_enabled
    assert not strict.session_info().gestures_enabled
    for start in (boss.start_agent_video, boss.start_showback):
        with pytest.raises(JoinRefused) as refused:
            start(lambda: solid(GREEN))
        assert refused.value.code == "disabled"
    boss.send_gesture("spot", [(10, 10)])
    boss.wait_for("gesture_refused")
    session.close()
    boss.close()


def test_gestures_are_drawn_on_the_screen_and_never_captured(
        server: Server, board: Board, visitors: list[coview.Visitor]) -> None:
    """A gesture shows on the visitor's real screen, while no frame the SDK sends (read on
    the wire) and not the agent's picture ever holds its pixels."""
    proxy = TapProxy(server.base_url)
    try:
        visitor = make_visitor(visitors, proxy.url)
        started(visitor, "gesture-1")
        session = join(server, "gesture-1")
        session.wait_until(lambda s: s.tiles_applied > 0, what="the picture")
        assert visitor.session_info().gestures_enabled
        gx, gy = GEOMETRY[:2]
        x, y = gx + 60, gy + 300
        stroke = [(x, y), (x + 120, y), (x + 120, y + 60)]
        session.send_gesture("line", stroke)
        session.send_gesture("spot", [(x + 200, y + 30)])

        def on_screen() -> bool:
            screen = real_screen()
            return (color_distance(screen[y - 1:y + 2, x + 40:x + 80], MAGENTA) < 30
                    and color_distance(screen[y + 30 - 22:y + 30 - 19, x + 190:x + 210],
                                       MAGENTA) < 30)

        wait_until(on_screen, what="the gestures on the visitor's screen")
        tiles_then = session.tiles_applied
        board.command("color #2060c0")  # the picture changes while the gesture is shown
        session.wait_until(lambda s: s.tiles_applied > tiles_then, what="new tiles")
        # The agent sees the board's background where the stroke is drawn.
        assert color_distance(np.asarray(session.screen())[y - 1:y + 2, x + 40:x + 80],
                              (0x33, 0x66, 0xCC)) < 8
        wait_until(lambda: not on_screen(), timeout=15, what="the gestures to fade")

        tiles = [f for f in proxy.frames() if f.header.get("t") == "tile"]
        assert tiles
        for tile in tiles:
            pixels = simplejpeg.decode_jpeg(tile.payload, colorspace="RGB").astype(int)
            distance = np.abs(pixels - np.array(MAGENTA)).sum(axis=2)
            assert (distance < 90).sum() == 0, "a gesture's pixels left the visitor's machine"
        visitor.end_session()
        ended(visitor)
        session.close()
    finally:
        proxy.close()


def test_the_console_starts_video_and_showback_and_draws(
        server: Server, board: Board, visitors: list[coview.Visitor], browser: Browser) -> None:
    """In Chromium (synthetic camera and screen) the console starts agent video and showback,
    which the visitor's SDK joins and views, and a click in drawing mode puts a spot on the
    visitor's real screen."""
    visitor = make_visitor(visitors, server.base_url)
    pictures: dict[str, list[Image.Image | None]] = {"agentVideo": [], "showback": []}
    visitor.set_video_viewer(lambda kind, picture: pictures[kind].append(picture))
    started(visitor, "console-video")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        console_join(page, server, "console-video")
        for kind in ("agentVideo", "showback"):
            toggle = page.get_by_test_id(f"{kind}-toggle")
            toggle.click()
            expect(toggle).to_have_attribute("data-state", "on")
            if kind == "showback":
                visitor.wait_for(EventCode.SWITCHING_TO_VIEW)
                expect(page.get_by_test_id("screen-notice")).to_contain_text("viewing")
            started_event = visitor.wait_for(EventCode.CHILD_SESSION_STARTED)
            assert started_event.properties["sessiontype"] == kind
            assert started_event.properties["username"] == "demo"
            wait_until(lambda k=kind: len([p for p in pictures[k] if p]) >= 3,
                       what=f"{kind} pictures at the visitor")
            picture = pictures[kind][-1]
            assert picture is not None
            assert np.asarray(picture).std() > 5  # the synthetic camera/screen, not a blank
            toggle.click()
            assert visitor.wait_for(EventCode.CHILD_SESSION_ENDED).properties == {
                "sessiontype": kind}
            expect(toggle).to_have_attribute("data-state", "off")
            wait_until(lambda k=kind: pictures[k][-1] is None,
                       what="the viewer to be told")
        expect(page.get_by_test_id("screen-notice")).to_be_hidden()

        canvas = page.get_by_test_id("screen")
        expect(canvas).not_to_have_attribute("data-tiles", "0")
        page.get_by_test_id("gesture-mode").click()
        box = canvas.bounding_box()
        assert box is not None
        scale = box["width"] / canvas.evaluate("c => c.width")
        gx, gy = GEOMETRY[:2]
        x, y = gx + 120, gy + 330
        canvas.click(position={"x": x * scale, "y": y * scale})
        expect(page.get_by_test_id("gesture-layer")).to_have_attribute("data-count", "1")
        wait_until(lambda: color_distance(real_screen()[y - 21:y - 18, x - 10:x + 10],
                                          MAGENTA) < 30,
                   what="the spot on the visitor's screen")
        assert problems == []
    finally:
        context.close()
    visitor.end_session()
    ended(visitor)
