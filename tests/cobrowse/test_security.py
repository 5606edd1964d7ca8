"""What a visitor's page may not do to the agent, and who may drive the visitor library:
the page's scripts, inline handlers and javascript: URLs run nothing in the agent console;
coview_invoke is obeyed only from exactly a trusted origin naming the group."""

from __future__ import annotations

from playwright.sync_api import Browser, ConsoleMessage, expect

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
from tests.conftest import Server

# Each would log to the console, set a global and call the site's /canary wherever it ran.
RUN = ("console.log('COVIEW-CANARY {kind}'); window.coviewRan = '{kind}'; "
       "new Image().src = 'ORIGIN/canary?kind={kind}&from=' + encodeURIComponent(location.href)")

HOSTILE = f"""
<h1 id="title">Hostile page</h1>
<script>{RUN.format(kind='script')}</script>
<img id="broken" src="/missing.png" onerror="{RUN.format(kind='onerror')}">
<svg onload="{RUN.format(kind='svg')}" width="10" height="10"></svg>
<a id="jslink" href="javascript:{RUN.format(kind='jsurl')}">javascript link</a>
<button id="handler" onclick="{RUN.format(kind='onclick')}">inline handler</button>
<div id="later"></div>
<script>
setTimeout(() => {{
  document.getElementById('later').innerHTML =
    '<img src="/missing2.png" onerror="{RUN.format(kind='added').replace("'", "&quot;")}">';
}}, 300);
</script>
"""


def test_the_visitors_page_runs_nothing_in_the_agent_console(
        browser: Browser, server: Server, site: Site) -> None:
    site.pages["/hostile"] = HOSTILE.replace("ORIGIN", site.origin())
    visitor_context = browser.new_context()
    page, key = start_visitor(visitor_context, site.origin() + "/hostile")
    # On the visitor's side the page works as it always does.
    page.locator("#handler").click()
    expect(page.locator("#later img")).to_have_count(1)

    agent_context, console = console_cobrowse(browser, server, key)
    logged: list[str] = []

    def note(message: ConsoleMessage) -> None:
        logged.append(message.text)
    console.on("console", note)
    frame = replayed(console)
    expect(frame.locator("#title")).to_have_text("Hostile page")
    expect(frame.locator("#later img")).to_have_count(1)
    # The agent clicks the handler and the javascript: link, with and without drawing on.
    frame.locator("#handler").click()
    frame.locator("#jslink").click()
    console.get_by_test_id("cobrowse-gesture").click()
    frame.locator("#jslink").click()
    frame.locator("#handler").click()
    frame.locator("#title").click()
    wait_event(page, "outline", count=2)  # the clicks reached the viewer: it drew, ran nothing

    assert not [text for text in logged if "COVIEW-CANARY" in text]
    for frame_ in console.frames:
        assert frame_.evaluate("window.coviewRan === undefined"), frame_.url
    agent_side = [hit for hit in site.hits if "from=http%3A%2F%2Fshop.test" not in hit[0]]
    assert agent_side == []
    assert [hit for hit in site.hits if "kind=script" in hit[0]]  # it did run for the visitor
    # The viewer's policy: only Coview's own script, resources only from trusted origins.
    answer = console.request.get(f"{server.base_url}/viewer/cobrowse?group_id={GROUP}")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert f"img-src 'self' data: blob: {site.origin()};" in policy
    assert "connect-src 'none'" in policy
    assert console.frame_locator("[data-testid=cobrowse-view]").locator("iframe").get_attribute(
        "sandbox") == "allow-same-origin"
    agent_context.close()
    visitor_context.close()


CHAT = """<!doctype html><html><body>
<iframe id="visitor" src="VISITOR" width="800" height="600"></iframe>
<script src="SERVER/coview/invoke.js"></script>
</body></html>"""


def test_coview_invoke_is_obeyed_only_from_a_trusted_origin(
        browser: Browser, server: Server, site: Site) -> None:
    chat_origin = site.origin("chat.test")
    publish_settings(server, trusted_origins=[site.origin(), chat_origin])
    site.pages["/shop"] = "<h1>Shop</h1>"
    site.raw["/chat"] = ("text/html", CHAT.replace("VISITOR", site.origin() + "/shop")
                         .replace("SERVER", server.base_url).encode())
    context = browser.new_context()
    chats = {}
    for name, origin in [("trusted", chat_origin), ("untrusted", site.origin("evil.test")),
                         ("lookalike", site.origin("chat.test.evil.test")),
                         ("suffix", site.origin("evilchat.test"))]:
        chats[name] = context.new_page()
        chats[name].goto(origin + "/chat")
        chats[name].frame_locator("#visitor").locator("h1").wait_for()
    shop_frames = {name: next(f for f in chat.frames if f.url.endswith("/shop"))
                   for name, chat in chats.items()}
    for frame in shop_frames.values():
        frame.wait_for_function("window.coviewEvents !== undefined")

    # Each untrusted page posts to its own visitor frame: ignored.
    target = "document.getElementById('visitor').contentWindow"
    trusted_frame = shop_frames["trusted"]
    for name in ("untrusted", "lookalike", "suffix"):
        chats[name].evaluate(f"""() => {target}.postMessage({{coview_invoke: {{
            func: 'startSession', args: {{sessionKey: '{name}'}}, groupid: {GROUP}}}}}, '*')""")
    # From the trusted origin, a wrong group ID is ignored too; then the right call works.
    chats["trusted"].evaluate(f"""() => {{
        {target}.postMessage({{coview_invoke: {{func: 'startSession',
          args: {{sessionKey: 'wronggroup'}}, groupid: 99999}}}}, '*');
        COVIEW.Cobrowse.InvokeVisitor.init({target}, {GROUP}, '{site.origin()}');
        COVIEW.Cobrowse.InvokeVisitor.invoke('startSession', {{sessionKey: 'fromchat'}});
    }}""")
    started = wait_event(trusted_frame, "sessionstart")
    assert started["sessionkey"] == "fromchat"
    assert len(events(trusted_frame, "sessionstarting")) == 1
    for name in ("untrusted", "lookalike", "suffix"):
        # The visitor frame read the group's trusted origins (what its decision waits for),
        # and a round trip later has decided.
        shop_frames[name].wait_for_function(
            "performance.getEntriesByType('resource').some("
            "e => e.name.includes('/cobrowse/') && e.responseEnd > 0)")
        shop_frames[name].evaluate("new Promise(r => setTimeout(r, 0))")
    chats["trusted"].evaluate("() => COVIEW.Cobrowse.InvokeVisitor.invoke('stopSession')")
    assert wait_event(trusted_frame, "sessionend") == {"reason": "visitor"}
    for name in ("untrusted", "lookalike", "suffix"):
        assert events(shop_frames[name], "sessionstarting") == []
    context.close()
