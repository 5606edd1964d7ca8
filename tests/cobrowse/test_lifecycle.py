"""The visitor library's errors and connection events, tabs, and accessibility: every
abnormal condition of the seed reported with its code, a drop resumed with nothing lost, and
the session moving between tabs of the site with blur and focus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.cobrowse_support import (
    Site,
    console_cobrowse,
    events,
    publish_settings,
    replayed,
    start_visitor,
    wait_event,
)
from tests.conftest import Server, free_port
from tests.screen_support import TapProxy


@pytest.fixture
def tap(server: Server) -> Iterator[TapProxy]:
    proxy = TapProxy(server.base_url)
    yield proxy
    proxy.close()


def begin(page_url: str, browser: Browser, key: str | None = None, *,
          context: BrowserContext | None = None) -> tuple[BrowserContext, Page]:
    """Open ``page_url`` and ask for a session, without waiting for it to start."""
    context = context or browser.new_context()
    page = context.new_page()
    page.goto(page_url)
    page.wait_for_function("window.COVIEW && window.COVIEW.Cobrowse.Visitor")
    page.evaluate("(key) => COVIEW.Cobrowse.Visitor.startSession(key ? {sessionKey: key} : "
                  "undefined)", key)
    return context, page


def test_start_errors_dupkey_service_script_and_masking(
        browser: Browser, server: Server, site: Site) -> None:
    site.pages["/"] = "<p id='plain'>Plain words</p>"
    # dupkey: a second session under a key that is running.
    first, key = start_visitor(browser.new_context(), site.origin() + "/", "order-42")
    context, page = begin(site.origin() + "/", browser, "order-42")
    error = wait_event(page, "error")
    assert error["code"] == "dupkey"
    assert "order-42" in error["msg"]
    assert events(page, "sessionstart") == []
    context.close()

    # service: the Coview server cannot be reached.
    down = Site(server.base_url, pages={"/": "<p>x</p>"},
                extra=f'data-server="http://127.0.0.1:{free_port()}"')
    publish_settings(server, trusted_origins=[site.origin(), down.origin()])
    context, page = begin(down.origin() + "/", browser)
    assert wait_event(page, "error")["code"] == "service"
    assert [e["name"] for e in events(page)] == ["sessionstarting", "error"]
    context.close()
    down.close()

    # SCRIPT_NOT_LOADED: the recorder script does not load.
    context = browser.new_context()

    def refuse(route: Route) -> None:
        route.abort()
    context.route("**/visitor-record.js", refuse)
    context, page = begin(site.origin() + "/", browser, context=context)
    error = wait_event(page, "error")
    assert error["code"] == "SCRIPT_NOT_LOADED"
    assert error["params"]["script"].endswith("/coview/visitor-record.js")
    context.close()

    # maskingerror: a rule the browser cannot apply masks all text rather than none.
    publish_settings(server, masking_selectors=["p:nth-child("])
    try:
        context, page = begin(site.origin() + "/", browser)
        error = wait_event(page, "error")
        assert error["code"] == "maskingerror"
        assert "p:nth-child(" in error["msg"]
        masked_key = wait_event(page, "sessionstart")["sessionkey"]
        agent_context, console = console_cobrowse(browser, server, masked_key)
        expect(replayed(console).locator("#plain")).to_have_text("***** *****")
        agent_context.close()
        context.close()
    finally:
        publish_settings(server, masking_selectors=[])
    first.context.close()
    assert key == "order-42"


def test_a_drop_resumes_with_nothing_lost_and_a_lost_service_ends_the_session(
        browser: Browser, server: Server, site: Site, tap: TapProxy) -> None:
    shop = Site(tap.url, pages={"/": "<ul id='list'></ul>"})
    publish_settings(server, trusted_origins=[site.origin(), shop.origin()],
                     reconnect_window_seconds=5)
    try:
        context = browser.new_context()
        page, key = start_visitor(context, shop.origin() + "/")
        agent_context, console = console_cobrowse(browser, server, key)
        frame = replayed(console)
        add = "(n) => { const li = document.createElement('li'); li.textContent = 'item ' + n; " \
              "document.getElementById('list').append(li); }"
        page.evaluate(add, 0)
        expect(frame.locator("#list li")).to_have_count(1)
        tap.cut()
        assert wait_event(page, "connection") == {"status": "reconnecting"}
        for n in range(1, 6):  # changes made while the connection is down
            page.evaluate(add, n)
        assert wait_event(page, "connection", lambda d: d["status"] == "ok") == {"status": "ok"}
        expect(frame.locator("#list li")).to_have_count(6)
        expect(frame.locator("#list li").last).to_have_text("item 5")
        assert events(page, "error") == []

        # The service goes away for longer than the window: conndrop, then the end.
        tap.refuse = True
        tap.cut()
        error = wait_event(page, "error", timeout=30)
        assert error["code"] == "conndrop"
        assert wait_event(page, "sessionend") == {"reason": "error"}
        agent_context.close()
        context.close()
    finally:
        tap.refuse = False
        publish_settings(server, reconnect_window_seconds=60)
        shop.close()


def test_the_session_moves_between_tabs_with_blur_and_focus(
        browser: Browser, server: Server, site: Site) -> None:
    site.pages.update({"/one": "<h1 id='tab'>Tab one</h1>", "/two": "<h1 id='tab'>Tab two</h1>"})
    site.extra = 'data-accessibility="true"'
    try:
        context = browser.new_context()
        first, key = start_visitor(context, site.origin() + "/one")
        assert events(first, "accessibility") == [
            {"name": "accessibility", "detail": {"enabled": True}, "state": None}]
        agent_context, console = console_cobrowse(browser, server, key)
        frame = replayed(console)
        expect(frame.locator("#tab")).to_have_text("Tab one")

        # The visitor opens another tab of the site: it takes the session over.
        second = context.new_page()
        second.goto(site.origin() + "/two")
        continued = wait_event(second, "sessioncontinue")
        assert continued == {"sessionkey": key}
        wait_event(first, "blur")
        expect(frame.locator("#tab")).to_have_text("Tab two")
        assert first.evaluate("COVIEW.Cobrowse.Visitor.inSession()") is False

        # Back to the first tab: it takes the session back.
        first.bring_to_front()
        first.evaluate("window.dispatchEvent(new Event('focus'))")
        wait_event(first, "focus")
        wait_event(second, "blur")
        expect(frame.locator("#tab")).to_have_text("Tab one")
        first.evaluate("COVIEW.Cobrowse.Visitor.setAccessibility(false)")
        assert wait_event(first, "accessibility", lambda d: not d["enabled"]) == {
            "enabled": False}

        # Ending it in one tab ends it in the other too.
        first.evaluate("COVIEW.Cobrowse.Visitor.stopSession()")
        wait_event(first, "leavesession")
        assert wait_event(first, "sessionend") == {"reason": "visitor"}
        assert wait_event(second, "sessionend") == {"reason": "visitor"}
        expect(console.get_by_test_id("session-status")).to_contain_text("ended")
        agent_context.close()
        context.close()
    finally:
        site.extra = ""
