"""Remote control with the visitor's consent: declined, accepted, acting on a real React
page (a controlled input and a button), refused on a masked input, agent navigation, and
stopped by the visitor."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.cobrowse_support import (
    Site,
    console_cobrowse,
    events,
    replayed,
    start_visitor,
    tab_history,
    wait_event,
)
from tests.conftest import Server

UMD = Path(__file__).resolve().parents[2] / "web" / "node_modules"

APP = """
<div id="root"></div>
<label>Secret code <input id="masked"></label>
<a id="next" href="/done">Done</a>
<script src="/react.js"></script>
<script src="/react-dom.js"></script>
<script>
function App() {
  const [name, setName] = React.useState("");
  const [clicks, setClicks] = React.useState(0);
  const e = React.createElement;
  return e("div", null,
    e("input", { id: "name", "data-coview-unmask": "", value: name,
      onChange: (ev) => setName(ev.target.value.toUpperCase()) }),
    e("p", { id: "echo" }, "Hello " + name),
    e("button", { id: "count", onClick: () => setClicks(clicks + 1) }, "Clicked " + clicks));
}
ReactDOM.createRoot(document.getElementById("root")).render(React.createElement(App));
</script>
"""


def test_remote_control_with_consent_on_a_react_page(
        browser: Browser, server: Server, site: Site) -> None:
    site.pages.update({"/app": APP, "/done": "<h1 id='done'>All done</h1>"})
    site.raw["/react.js"] = ("text/javascript",
                             (UMD / "react/umd/react.production.min.js").read_bytes())
    site.raw["/react-dom.js"] = ("text/javascript",
                                 (UMD / "react-dom/umd/react-dom.production.min.js").read_bytes())
    visitor_context = browser.new_context()
    page, key = start_visitor(visitor_context, site.origin() + "/app")
    expect(page.locator("#count")).to_have_text("Clicked 0")
    agent_context, console = console_cobrowse(browser, server, key)
    frame = replayed(console)
    expect(frame.locator("#count")).to_have_text("Clicked 0")

    # Without control, the agent's clicks do nothing on the visitor's page.
    frame.locator("#count").click(force=True)

    # The agent asks; the visitor declines (through the event's callback).
    console.get_by_test_id("rc-request").click()
    asked = wait_event(page, "rcrequested")
    assert asked == {"accept": "function", "decline": "function"}
    page.evaluate("window.coviewRc.decline()")
    wait_event(page, "rcdeclined")
    expect(console.get_by_test_id("session-status")).to_contain_text("declined")

    # Asked again, the visitor allows it in the default UI.
    console.get_by_test_id("rc-request").click()
    wait_event(page, "rcrequested", count=2)
    page.get_by_test_id("coview-rc-accept").click()
    wait_event(page, "rcaccepted")
    assert wait_event(page, "rcenabled") == {"enabled": True}
    expect(console.get_by_test_id("rc-state")).to_have_text("on")
    assert page.locator("#count").text_content() == "Clicked 0"

    # The agent clicks a React button and types into a controlled input: React sees both.
    frame.locator("#count").click()
    expect(page.locator("#count")).to_have_text("Clicked 1")
    click = wait_event(page, "agentaction", lambda d: d["type"] == "click")
    assert click["agent"] == {"username": "demo", "puid": "demo", "num": 1}
    assert page.evaluate("(p) => document.querySelector(p).id", click["path"]) == "count"
    frame.locator("#name").press_sequentially("ada")
    expect(page.locator("#echo")).to_have_text("Hello ADA")
    expect(page.locator("#name")).to_have_value("ADA")
    typed = wait_event(page, "agentaction", lambda d: d["type"] == "agenttyping", count=3)
    assert typed["value"] in ("ada", "Ada", "ADa", "ADA")
    assert page.evaluate("(p) => document.querySelector(p).id", typed["path"]) == "name"
    frame.locator("#count").click()  # the input loses focus: inputchange
    wait_event(page, "agentaction", lambda d: d["type"] == "inputchange")
    expect(page.locator("#count")).to_have_text("Clicked 2")

    # A masked field cannot be controlled.
    frame.locator("#masked").press_sequentially("123")
    expect(console.get_by_test_id("session-status")).to_contain_text("masked")
    assert page.locator("#masked").input_value() == ""

    # The agent takes the visitor to another page of the site; control carries on there.
    console.get_by_test_id("navigate-url").fill("/done")
    console.get_by_test_id("navigate-go").click()
    page.wait_for_url("**/done")
    assert wait_event(page, "rcenabled") == {"enabled": True}  # said again on the new page
    assert [e["detail"] for e in events(page, "sessioncontinue")]
    expect(frame.locator("#done")).to_have_text("All done")
    assert tab_history(page, "navigation") == [{"url": site.origin() + "/done"}]

    # The visitor stops control; the agent's clicks no longer act.
    page.go_back()
    page.wait_for_url("**/app")
    wait_event(page, "rcenabled")
    expect(frame.locator("#count")).to_have_text("Clicked 0")
    page.get_by_test_id("coview-rc-stop").click()
    assert wait_event(page, "rcenabled", lambda d: d["enabled"] is False) == {"enabled": False}
    expect(console.get_by_test_id("rc-state")).to_have_text("off")
    frame.locator("#count").click(force=True)
    console.get_by_test_id("cobrowse-gesture").click()
    frame.locator("#echo").click()
    wait_event(page, "outline")  # sent after the click: the click was not acted on
    assert page.locator("#count").text_content() == "Clicked 0"
    agent_context.close()
    visitor_context.close()
