"""Cobrowse privacy against agents: a visitor's pause that no agent lifts, and a replay that
shows the agent only what the visitor's page holds, whatever the agent types into it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect
from websockets.asyncio.client import ClientConnection, connect

import coview
from coview.domain.sessions import Session
from coview.domain.settings import GroupSettings
from coview.ids import GroupId
from coview.protocol.frames import decode_frame, encode_frame
from coview.protocol.server import Role
from coview.server.live import LiveSession, Party, from_state, new_log, to_state
from tests.cobrowse_support import (
    GROUP,
    Site,
    console_cobrowse,
    events,
    publish_settings,
    replayed,
    start_visitor,
    wait_event,
)
from tests.conftest import Server, run_async, start_server
from tests.helpers import login

pytestmark = pytest.mark.e2e

MASK = "******"  # what the visitor's recorder sends for a masked value


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("cobrowse-privacy")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def site(server: Server) -> Iterator[Site]:
    shop = Site(server.base_url)
    publish_settings(server, trusted_origins=[shop.origin()])
    yield shop
    shop.close()


# -- a raw agent: the frames a modified console could send ----------------------------------

def inner(message: str | bytes) -> dict[str, Any]:
    """The header of a frame, or of the message a relayed frame (``r``, ``catchup``) carries."""
    assert isinstance(message, bytes)
    frame = decode_frame(message, max_bytes=1 << 24)
    if frame.header["t"] == "r":
        return decode_frame(frame.payload, max_bytes=1 << 24).header
    return frame.header


async def next_of(socket: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` the socket receives (others are skipped)."""
    while True:
        header = inner(await socket.recv())
        if header["t"] == kind:
            return header


def raw_agent(server: Server, key: str, *frames: dict[str, Any],
              answer: str = "") -> dict[str, Any]:
    """Join the session ``key`` as the demo agent over a bare WebSocket, send ``frames``
    (reliable, numbered from 1), wait for an ``answer`` message if named, and leave."""
    with server.client() as client:
        token = login(client, server.demo_password)
    url = server.base_url.replace("http://", "ws://") + "/ws/v1/session"

    async def scenario() -> dict[str, Any]:
        async with connect(url, max_size=1 << 24) as socket:
            await socket.send(encode_frame({"t": "join", "v": "1.0", "key": key,
                                            "token": token}))
            await next_of(socket, "welcome")
            for s, frame in enumerate(frames, start=1):
                await socket.send(encode_frame({**frame, "s": s}))
            heard = await next_of(socket, answer) if answer else {}
            await socket.send(encode_frame({"t": "leave", "s": len(frames) + 1}))
            await next_of(socket, "left")
            return heard

    return run_async(asyncio.wait_for(scenario(), 20))


def paused_events(page: Page) -> list[dict[str, Any]]:
    return [e["detail"] for e in events(page, "sessionpaused")]


# -- pause --------------------------------------------------------------------------------

def test_only_the_visitor_lifts_the_visitors_pause(browser: Browser, server: Server,
                                                  site: Site) -> None:
    """A visitor's pause shows in the console as paused by the visitor with no Resume and is
    one an agent's resume cannot lift (the server refuses it), while an agent's pause is the
    agents' to lift, until the visitor pauses too and makes it the visitor's."""
    site.pages["/pause"] = "<h1 id='title'>Your basket</h1>"
    visitor_context = browser.new_context()
    page, key = start_visitor(visitor_context, site.origin() + "/pause")
    agent_context, console = console_cobrowse(browser, server, key)
    expect(replayed(console).locator("#title")).to_have_text("Your basket")
    button = console.get_by_test_id("cobrowse-pause")
    expect(button).to_be_enabled()
    python_agent = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                                password=server.demo_password).join(key)

    # The visitor pauses: the console says so, and offers no Resume.
    page.evaluate("COVIEW.Cobrowse.Visitor.pause(true)")
    assert wait_event(page, "sessionpaused") == {"paused": True, "by": "visitor"}
    expect(button).to_be_disabled()
    expect(button).to_have_text("Paused by the visitor")
    expect(console.get_by_test_id("screen-notice")).to_have_text(
        "The visitor paused the session. Only the visitor can resume it.")
    python_agent.wait_until(lambda s: s.paused and s.paused_by == "visitor")

    # An agent's forged resume is refused by the server and never reaches the page; a
    # message sent after it does.
    refused = raw_agent(server, key, {"t": "pause", "paused": False},
                        {"t": "message", "properties": {"text": "after"}},
                        answer="pause_refused")
    assert refused["t"] == "pause_refused"
    assert "visitor" in refused["message"]
    wait_event(page, "message", lambda d: d["properties"] == {"text": "after"})
    assert page.evaluate("COVIEW.Cobrowse.Visitor.getSessionState().paused") is True
    assert paused_events(page) == [{"paused": True, "by": "visitor"}]

    # The visitor resumes; an agent's pause is the agent's to lift.
    page.evaluate("COVIEW.Cobrowse.Visitor.pause(false)")
    expect(button).to_have_text("Pause")
    expect(button).to_be_enabled()
    button.click()
    assert wait_event(page, "sessionpaused", count=3) == {"paused": True, "by": "agent"}
    expect(button).to_have_text("Resume")
    python_agent.wait_until(lambda s: s.paused and s.paused_by == "agent")
    expect(console.get_by_test_id("screen-notice")).to_have_text(
        "An agent paused the session. Resume to see the page again.")
    button.click()
    assert wait_event(page, "sessionpaused", count=4) == {"paused": False, "by": "agent"}
    expect(button).to_have_text("Pause")
    expect(console.get_by_test_id("screen-notice")).to_be_hidden()

    # The visitor pausing during an agent's pause makes it the visitor's.
    button.click()
    wait_event(page, "sessionpaused", count=5)
    page.evaluate("COVIEW.Cobrowse.Visitor.pause(true)")
    assert wait_event(page, "sessionpaused", count=6) == {"paused": True, "by": "visitor"}
    expect(button).to_have_text("Paused by the visitor")
    assert raw_agent(server, key, {"t": "pause", "paused": False},
                     answer="pause_refused")["t"] == "pause_refused"
    page.evaluate("COVIEW.Cobrowse.Visitor.pause(false)")
    assert wait_event(page, "sessionpaused", count=7) == {"paused": False, "by": "visitor"}
    python_agent.leave()
    agent_context.close()
    visitor_context.close()


def test_the_visitors_page_ignores_a_relayed_resume_of_its_own_pause(
        browser: Browser, server: Server, site: Site) -> None:
    """Even if a server relayed an agent's resume of the visitor's own pause, the visitor's
    page stays paused and sends nothing."""
    site.pages["/relayed"] = "<h1 id='title'>Your account</h1>"
    visitor_context = browser.new_context()
    page = visitor_context.new_page()
    sent: list[dict[str, Any]] = []

    def forge(ws: WebSocketRoute) -> None:
        # A server that would relay an agent's resume: the agent's message "forge" reaches
        # the page as {"t": "pause", "paused": false} under the same number.
        server_side = ws.connect_to_server()

        def down(message: str | bytes) -> None:
            assert isinstance(message, bytes)
            frame = decode_frame(message, max_bytes=1 << 24)
            if frame.header["t"] == "r" and inner(message).get("properties") == {
                    "text": "forge"}:
                message = encode_frame(frame.header,
                                       encode_frame({"t": "pause", "paused": False}))
            ws.send(message)

        def up(message: str | bytes) -> None:
            assert isinstance(message, bytes)
            sent.append(decode_frame(message, max_bytes=1 << 24).header)
            server_side.send(message)

        server_side.on_message(down)
        ws.on_message(up)

    page.route_web_socket("**/ws/v1/session*", forge)
    page.goto(site.origin() + "/relayed")
    page.wait_for_function("window.COVIEW && window.COVIEW.Cobrowse.Visitor")
    page.evaluate("COVIEW.Cobrowse.Visitor.startSession()")
    key = str(wait_event(page, "sessionstart")["sessionkey"])
    agent_context, console = console_cobrowse(browser, server, key)
    expect(replayed(console).locator("#title")).to_have_text("Your account")
    page.evaluate("COVIEW.Cobrowse.Visitor.pause(true)")
    wait_event(page, "sessionpaused")
    raw_agent(server, key, {"t": "message", "properties": {"text": "forge"}},
              {"t": "message", "properties": {"text": "after"}})
    wait_event(page, "message", lambda d: d["properties"] == {"text": "after"})
    assert page.evaluate("COVIEW.Cobrowse.Visitor.getSessionState().paused") is True
    assert paused_events(page) == [{"paused": True, "by": "visitor"}]
    assert [(h["paused"], h.get("by")) for h in sent if h["t"] == "paused"] == [
        (True, "visitor")]
    expect(console.get_by_test_id("cobrowse-pause")).to_have_text("Paused by the visitor")
    agent_context.close()
    visitor_context.close()


def test_who_paused_travels_with_a_session_taken_over() -> None:
    """A session's state names who paused it, and a state that does not (written before it
    did) reads as the visitor's pause, which an agent's resume does not lift."""
    live = LiveSession(
        session=Session(session_id="s", call_id=1, group_id=GroupId(1), key="k", started_at=0,
                        persist=False, max_guests=0, no_agent_timeout=0),
        settings=GroupSettings(), visitor=Party(resume_token="t", role=Role.VISITOR),
        to_agents=new_log(), to_visitor=new_log(), paused=True, paused_by="agent")
    state = json.loads(to_state(live, started_wall=0))
    taken = from_state(state, {}, started=0, lost_at=0)
    assert (taken.paused, taken.paused_by) == (True, "agent")
    assert not taken.refuses_pause({"t": "pause", "paused": False})
    del state["paused_by"]
    older = from_state(state, {}, started=0, lost_at=0)
    assert (older.paused, older.paused_by) == (True, "visitor")
    assert older.refuses_pause({"t": "pause", "paused": False})
    assert not older.refuses_pause({"t": "pause", "paused": True})


# -- typing into the replay -----------------------------------------------------------------

FORM = """
<label>Secret code <input id="masked" value="1234"></label>
<label>Name <input id="name" data-coview-unmask
  oninput="this.value = this.value.toUpperCase()"></label>
<p id="tick">0</p>
"""


def replay_value(console: Page, selector: str) -> str:
    value: str = replayed(console).locator(selector).input_value()
    return value


def test_the_replay_shows_only_what_the_visitors_page_holds(
        browser: Browser, server: Server, site: Site) -> None:
    """Under remote control, what the agent types, fills, pastes or composes into a masked field
    is refused by the visitor's page and never shows in the agent's replay, which keeps the
    recorder's mask; typing into an unmasked field shows what the page made of it."""
    site.pages["/form"] = FORM
    visitor_context = browser.new_context()
    page, key = start_visitor(visitor_context, site.origin() + "/form")
    agent_context, console = console_cobrowse(browser, server, key)
    frame = replayed(console)
    expect(frame.locator("#tick")).to_have_text("0")
    console.get_by_test_id("rc-request").click()
    wait_event(page, "rcrequested")
    page.evaluate("window.coviewRc.accept()")
    expect(console.get_by_test_id("rc-state")).to_have_text("on")
    assert replay_value(console, "#masked") == MASK

    # Keys: the page refuses them, and the replay keeps the mask.
    frame.locator("#masked").click()
    frame.locator("#masked").press_sequentially("SECRET-TYPED")
    assert replay_value(console, "#masked") == MASK
    expect(console.get_by_test_id("session-status")).to_contain_text("masked")
    # Text inserted without keys (an on-screen keyboard, a fill), pasted, or composed (IME).
    frame.locator("#masked").fill("SECRET-FILLED")
    assert replay_value(console, "#masked") == MASK
    agent_context.grant_permissions(["clipboard-read", "clipboard-write"])
    console.evaluate("navigator.clipboard.writeText('SECRET-PASTED')")
    frame.locator("#masked").press("Control+v")
    assert replay_value(console, "#masked") == MASK
    frame.locator("#masked").click()
    cdp = agent_context.new_cdp_session(console)
    cdp.send("Input.imeSetComposition", {"text": "SECRET-IME", "selectionStart": 10,
                                         "selectionEnd": 10})
    cdp.send("Input.insertText", {"text": "SECRET-IME"})
    assert replay_value(console, "#masked") == MASK
    assert page.locator("#masked").input_value() == "1234"

    # The visitor's next events arrive: the replay still shows the recorder's mask.
    page.evaluate("document.getElementById('tick').textContent = '1'")
    expect(frame.locator("#tick")).to_have_text("1")
    assert replay_value(console, "#masked") == MASK
    assert page.locator("#masked").input_value() == "1234"
    assert not [e for e in events(page, "agentaction") if "SECRET" in json.dumps(e)]

    # An unmasked field takes the agent's typing on the page; the replay shows the page's.
    frame.locator("#name").click()
    frame.locator("#name").press_sequentially("ada")
    expect(page.locator("#name")).to_have_value("ADA")
    expect(frame.locator("#name")).to_have_value("ADA")
    agent_context.close()
    visitor_context.close()
