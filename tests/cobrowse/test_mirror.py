"""A cobrowse session as a visitor and an agent use it: the page mirrored live, navigation,
pause, gestures, participants and the end, with every visitor event and its object."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.cobrowse_support import (
    Site,
    console_cobrowse,
    events,
    replayed,
    start_visitor,
    wait_event,
)
from tests.conftest import Server, wait_until

HOME = """
<h1 id="title">Welcome to the shop</h1>
<p style="color: rgb(200, 0, 0)">Hello cobrowse</p>
<button id="add" onclick="const li = document.createElement('li');
  li.textContent = 'Added item ' + document.querySelectorAll('li').length;
  document.getElementById('list').append(li)">Add</button>
<ul id="list"></ul>
<a id="next" href="/two">Next page</a>
<div style="height: 3000px"></div>
<p id="bottom">Bottom of the page</p>
"""

TWO = """<h1>Checkout</h1><p id="two">This is page two</p><a href="/">Home</a>"""


def test_the_agent_follows_the_page_its_changes_and_navigation(
        browser: Browser, server: Server, site: Site) -> None:
    site.pages.update({"/": HOME, "/two": TWO})
    visitor_context = browser.new_context()
    page, key = start_visitor(visitor_context, site.origin() + "/")
    names = [e["name"] for e in events(page)]
    assert names[:3] == ["sessionstarting", "sessionstart", "sessioncontinue"]
    assert wait_event(page, "agents")["count"] == 0
    assert key.isdigit()
    assert len(key) == 6

    agent_context, console = console_cobrowse(browser, server, key)
    frame = replayed(console)
    expect(frame.locator("#title")).to_have_text("Welcome to the shop")
    # styles come along (inline here)
    expect(frame.locator("p").first).to_have_css("color", "rgb(200, 0, 0)")
    joined = wait_event(page, "agents", lambda d: d["count"] == 1)
    agent = joined["agentlist"][0]
    assert agent["username"] == "demo"
    assert agent["role"] == "agent"
    assert agent["num"] == 1
    assert agent["partnerid"] == 12345
    assert agent["name"] == "Demo Admin"
    assert agent["title"] == "Support Lead"
    assert agent["guestid"] > 0
    expect(console.get_by_test_id("guest-count")).to_have_text("1")

    # A change on the visitor's page reaches the agent.
    page.click("#add")
    page.click("#add")
    expect(frame.locator("#list li")).to_have_count(2)
    expect(frame.locator("#list li").nth(1)).to_have_text("Added item 1")

    # Scrolling follows.
    page.evaluate("window.scrollTo(0, 2000)")
    viewer = console.frame_locator("[data-testid=cobrowse-view]")
    width = str(page.viewport_size["width"])  # type: ignore[index]
    expect(viewer.locator("#stage")).to_have_attribute("data-width", width)

    def agent_scroll() -> float:
        value: float = console.frame_locator("[data-testid=cobrowse-view]").locator(
            "iframe").evaluate("f => f.contentWindow.scrollY")
        return value
    wait_until(lambda: agent_scroll() >= 1900, what="the agent's view to scroll")

    # The session goes on to the next page.
    page.click("#next")
    page.wait_for_url("**/two")
    continued = wait_event(page, "statereceived")
    state = events(page, "statereceived")[0]["state"]
    assert continued is not None
    assert state["sessionkey"] == key
    assert state["agents"]["count"] == 1
    assert state["paused"] is False
    assert [e["name"] for e in events(page)][:1] == ["sessioncontinue"]
    expect(frame.locator("#two")).to_have_text("This is page two")
    expect(console.get_by_test_id("cobrowse-location")).to_contain_text("/two")

    # The agent pauses: nothing of the page flows until resumed.
    console.get_by_test_id("cobrowse-pause").click()
    assert wait_event(page, "sessionpaused") == {"paused": True, "by": "agent"}
    page.evaluate("document.getElementById('two').textContent = 'changed while paused'")
    expect(console.get_by_test_id("cobrowse-pause")).to_have_text("Resume")
    expect(frame.locator("#two")).to_have_text("This is page two")
    console.get_by_test_id("cobrowse-pause").click()
    assert wait_event(page, "sessionpaused", count=2) == {"paused": False, "by": "agent"}
    expect(frame.locator("#two")).to_have_text("changed while paused")

    # The agent's gesture is drawn on the visitor's page.
    console.get_by_test_id("cobrowse-gesture").click()
    frame.locator("#two").click()
    outline = wait_event(page, "outline")
    assert outline["kind"] == "spot"
    assert len(outline["points"]) == 1
    assert outline["agent"]["username"] == "demo"
    expect(page.get_by_test_id("coview-outline")).to_have_count(1)

    # The agent ends the session.
    console.get_by_test_id("session-end").click()
    assert wait_event(page, "sessionend") == {"reason": "agent"}
    assert page.evaluate("COVIEW.Cobrowse.Visitor.inSession()") is False
    agent_context.close()
    visitor_context.close()


def test_the_demo_site_shares_its_page(browser: Browser, server: Server) -> None:
    """coview serve --demo: the demo store's help button, the terms, the key, an agent."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.base_url}/demo/")
    page.get_by_test_id("demo-share").click()
    page.get_by_test_id("coview-terms-accept").click()
    expect(page.get_by_test_id("demo-share-status")).to_contain_text("Your session key is")
    key = page.get_by_test_id("demo-share-status").text_content().split("is ")[1][:6]  # type: ignore[union-attr]
    expect(page.get_by_test_id("coview-status")).to_contain_text(key)
    agent_context, console = console_cobrowse(browser, server, key)
    frame = replayed(console)
    expect(frame.locator("h1")).to_have_text("Demo store")
    expect(frame.locator("input[name=card]")).to_have_value("******")
    expect(page.get_by_test_id("coview-status")).to_contain_text("1 agent viewing")
    page.get_by_test_id("coview-stop").click()
    expect(page.get_by_test_id("demo-share-status")).to_have_text("The session ended.")
    agent_context.close()
    context.close()
