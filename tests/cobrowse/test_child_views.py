"""Agent video and showback in a cobrowse session (seed 002, custom UI): the agent starts
them in the console (Chromium's synthetic camera and screen), the visitor's page shows them in
its own ``coview_agentvideo`` iframe or in the default UI's floating frame, keeps showing them
after a navigation, and hides them when they end; the ``screenshare`` event tells each step."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Frame, Page, expect

from tests.cobrowse_support import (
    GROUP,
    Site,
    console_cobrowse,
    events,
    replayed,
    start_visitor,
    wait_event,
)
from tests.conftest import Server, wait_until

PICTURE_SPREAD = """() => {
  const canvas = document.querySelector("canvas");
  if (!canvas.width) return 0;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, sum2 = 0, n = 0;
  for (let i = 0; i < data.length; i += 4 * 97) {
    sum += data[i + 1]; sum2 += data[i + 1] ** 2; n++;
  }
  return Math.sqrt(sum2 / n - (sum / n) ** 2);
}"""


def child_frame(page: Page, selector: str) -> Frame:
    handle = page.wait_for_selector(selector, state="attached")
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    return frame


def shows_pictures(page: Page, selector: str) -> Frame:
    """Wait until the frame at ``selector`` draws the agent's pictures (not a blank)."""
    def drawing() -> bool:
        frame = child_frame(page, selector)
        try:
            frames = int(frame.evaluate(
                "document.querySelector('canvas')?.dataset.frames || '0'"))
            return frames >= 3 and float(frame.evaluate(PICTURE_SPREAD)) > 3
        except Exception:  # the frame is still loading
            return False
    wait_until(drawing, what=f"the agent's pictures in {selector}")
    return child_frame(page, selector)


def forward(view: str, state: str) -> dict[str, Any]:
    return {"screenshareView": view, "agentnum": 1, "state": state, "paused": False,
            "params": {"type": "forward"}}


def test_agent_video_and_showback_shown_in_the_visitors_page(
        browser: Browser, server: Server, site: Site) -> None:
    custom = "<iframe id='coview_agentvideo' title='Agent video' width='320' height='240'>" \
             "</iframe>"
    site.pages["/help"] = f"<h1>Help</h1>{custom}<a id='next' href='/help/more'>More</a>"
    site.pages["/help/more"] = f"<h1>More help</h1>{custom}"
    visitor = browser.new_context()
    page, key = start_visitor(visitor, site.origin() + "/help")
    agent, console = console_cobrowse(browser, server, key)
    try:
        # Agent video: in the page's own coview_agentvideo frame.
        video = console.get_by_test_id("agentVideo-toggle")
        video.click()
        expect(video).to_have_attribute("data-state", "on")
        assert wait_event(page, "screenshare") == forward("coview_agentvideo", "new")
        shows_pictures(page, "#coview_agentvideo")
        src = page.get_attribute("#coview_agentvideo", "src") or ""
        assert src.startswith(f"{server.base_url}/viewer/child?group_id={GROUP}#key=")
        # The frame's address carries the join token: it never goes to agents.
        wait_until(lambda: "More" in replayed(console).locator("body").inner_text(),
                   what="the page in the console")
        assert "/viewer/child" not in replayed(console).locator("html").inner_html()

        # A new page of the session shows it again ("continued"), with a fresh invitation.
        page.click("#next")
        page.wait_for_url("**/help/more")
        assert wait_event(page, "screenshare") == forward("coview_agentvideo", "continued")
        shows_pictures(page, "#coview_agentvideo")

        # Showback: the page has no coview_screenshare frame, so the default UI floats one.
        showback = console.get_by_test_id("showback-toggle")
        showback.click()
        expect(showback).to_have_attribute("data-state", "on")
        assert wait_event(page, "screenshare", lambda d: d["screenshareView"]
                          == "coview_screenshare") == forward("coview_screenshare", "new")
        shows_pictures(page, "[data-testid=coview_screenshare]")

        # The agent stops the video: ended, and the page's frame is emptied.
        video.click()
        ended = wait_event(page, "screenshare", lambda d: d["state"] == "ended")
        assert ended == forward("coview_agentvideo", "ended")
        wait_until(lambda: page.get_attribute("#coview_agentvideo", "src") == "about:blank",
                   what="the agent video frame to be emptied")
        expect(page.get_by_test_id("coview_screenshare")).to_have_count(1)

        # The visitor stops sharing: the showback ends with the session, its frame goes.
        page.get_by_test_id("coview-stop").click()
        wait_event(page, "sessionend")
        assert events(page, "screenshare")[-1]["detail"] == forward("coview_screenshare",
                                                                    "ended")
        expect(page.get_by_test_id("coview_screenshare")).to_have_count(0)
        expect(showback).to_have_attribute("data-state", "off")
    finally:
        agent.close()
        visitor.close()


def test_the_child_viewer_may_be_framed_only_by_trusted_origins(
        server: Server, site: Site) -> None:
    with server.client() as client:
        answer = client.get(f"/viewer/child?group_id={GROUP}")
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert f"frame-ancestors 'self' {site.origin()}" in policy
        assert "script-src 'self';" in policy
        assert client.get("/viewer/child?group_id=999999").status_code == 404
