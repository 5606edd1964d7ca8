"""Remote control acts only with the visitor's consent (issue 14, suite item 8): an agent's
clicks and keys act on the visitor's screen neither before the visitor allows control, nor
after it revokes it, nor after its connection dropped and came back, nor on a grant the agent
forged, nor inside a masked region; with consent they do.

The visitor is the SDK sharing a virtual display (Xvfb) that shows the Tk board, which prints
each click and key it gets; the agent is ``coview.Agent``, and forged frames come from an
agent's own socket. Each case ends with one legitimate click and key: the board prints them,
so anything a forbidden action had done would have been printed before them.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import coview
from coview import EventCode
from coview.protocol.frames import decode_frame, encode_frame
from tests.apps.board import GEOMETRY, SECRET
from tests.client.conftest import board, display, server, visitors  # noqa: F401 (fixtures)
from tests.conftest import Figure, Server, run_async
from tests.helpers import login
from tests.screen_support import GROUP, Board, TapProxy, make_visitor, started

pytestmark = pytest.mark.e2e

GX, GY = GEOMETRY[:2]


def pointer_buttons(name: str) -> int:
    """How many of the pointer's buttons the X server has pressed now."""
    from Xlib import X
    from Xlib import display as xdisplay

    connection = xdisplay.Display(name)
    try:
        mask = connection.screen().root.query_pointer().mask
    finally:
        connection.close()
    return sum(bool(mask & button) for button in (X.Button1Mask, X.Button2Mask,
                                                   X.Button3Mask))


def forbidden_actions(session: coview.AgentSession, points: list[tuple[int, int]]) -> int:
    """The agent clicks each point (in the picture, which is the screen) and presses "z";
    return how many actions it sent."""
    for x, y in points:
        session.send_input("click", x=x, y=y)
    session.send_input("key", keysym="z")
    return len(points) + 1


def drained(session: coview.AgentSession, visitor: coview.Visitor, case: str) -> None:
    """Wait until the visitor's SDK has handled everything the agent sent before now, and
    the agent has every answer the server gave it (a message sent after it arrives after
    it, at the visitor and, as the server echoes it to the agents, at the agent)."""
    session.send_message({"case": case})
    visitor.wait_for(EventCode.MESSAGE_RECEIVED,
                     predicate=lambda e: e.properties.get("case") == case)
    session.wait_for("message", predicate=lambda r: r.header["properties"] == {"case": case})


def applied_before_consent(session: coview.AgentSession, visitor: coview.Visitor,
                           app: Board, turn: int) -> list[str]:
    """With consent, one click and one key: wait until the board got both, and return the
    input the board got before them (what forbidden actions did)."""
    if not visitor.session_info().rc_enabled:
        visitor.enable_rc(True)
        session.wait_until(lambda s: s.rc_enabled, what="remote control on")
    x, y = GX + 60 + 10 * turn, GY + 60  # in the board's big block, away from every mask
    session.send_input("click", x=x, y=y)
    session.send_input("key", keysym="b")
    app.wait_line(f"click {x} {y}")
    app.wait_line("key b")
    done = [line for line in app.lines if line.startswith(("click ", "key "))]
    app.lines.clear()
    return done


async def answer(sock: ClientConnection) -> str:
    """What the server says next to a forger, skipping the session's own news: a refusal,
    an error's code, or "closed"."""
    try:
        while True:
            frame = decode_frame(await asyncio.wait_for(sock.recv(), 10), max_bytes=1 << 24)
            if frame.type in ("rc_refused", "refused", "error"):
                return f"{frame.type} {frame.header.get('code', '')}".strip()
    except ConnectionClosed:
        return "closed"


async def forge(running: Server, token: str, key: str, session_id: str) -> dict[str, str]:
    """Grants forged on an agent's own socket, and control input sent around the checks;
    the server's answer to each."""
    url = running.base_url.replace("http://", "ws://") + "/ws/v1/session"
    grant = {"t": "rc", "enabled": True}
    click = {"t": "input", "action": "click", "x": GX + 100, "y": GY + 250}
    tries: dict[str, bytes] = {
        "rc from an agent": encode_frame({**grant, "s": 1}),
        "rc from an agent, volatile": encode_frame(grant),
        "rc wrapped as the server's relay from the visitor": encode_frame(
            {"t": "r", "s": 1, "from": 0}, encode_frame({**grant, "s": 1})),
        "input without a number (volatile)": encode_frame(click),
        "input after the forged grants": encode_frame({**click, "s": 1}),
    }
    answers: dict[str, str] = {}
    for what, frame in tries.items():
        async with connect(url, max_size=None) as sock:
            await sock.send(encode_frame({"t": "join", "v": "1.0", "key": key,
                                          "token": token}))
            assert decode_frame(await sock.recv(), max_bytes=1 << 24).type == "welcome"
            await sock.send(frame)
            answers[what] = await answer(sock)
    async with connect(url, max_size=None) as sock:  # the visitor's place, without its token
        await sock.send(encode_frame({"t": "resume", "v": "1.0", "session_id": session_id,
                                      "token": "forged-resume-token", "a": 0}))
        answers["resume as the visitor"] = await answer(sock)
    return answers


def test_remote_control_acts_only_with_the_visitors_consent(
        server: Server, board: Board, visitors: list[coview.Visitor],  # noqa: F811
        display: str, figure: Figure) -> None:  # noqa: F811
    """Clicks and keys from an agent with the remote control privilege are applied 0 times
    before the visitor allows control, after it revokes it, after its connection dropped and
    came back (consent given before a drop ends with it), on a grant the agent forged (the
    visitor's ``rc`` sent by the agent, volatile or wrapped as a relay, a resume without the
    visitor's token), and inside a masked region while control is on; the legitimate click and
    key that close each case are applied every time."""
    sx0, sy0, sx1, sy1 = SECRET
    tap = TapProxy(server.base_url)
    visitor = make_visitor(visitors, tap.url)
    visitor.add_mask((GX + sx0, GY + sy0, sx1 - sx0, sy1 - sy0))
    key = started(visitor, "rc-consent")
    with server.client() as client:
        token = login(client, server.demo_password)
    session = coview.Agent(server.base_url, group_id=GROUP, username="demo",
                           password=server.demo_password).join(key)
    sent: dict[str, int] = {}
    applied: dict[str, list[str]] = {}
    refused: dict[str, int] = {}
    held: dict[str, int] = {}
    outside = [(GX + 100, GY + 250), (GX + 150, GY + 260)]  # the board, no mask there
    try:
        session.wait_until(lambda s: s.tiles_applied > 0, what="the picture")
        board.lines.clear()

        def refusals() -> int:
            return sum(r.type == "rc_refused" for r in list(session.received))

        def case(name: str, turn: int, before: int) -> None:
            drained(session, visitor, name)
            refused[name] = refusals() - before
            applied[name] = applied_before_consent(session, visitor, board, turn)

        # (a) The visitor never allowed control.
        before = refusals()
        sent["none"] = forbidden_actions(session, outside)
        case("none", 1, before)

        # (b) Allowed, then revoked: what the agent sends at once (its copy of the state
        # not yet told) and once it knows.
        assert visitor.session_info().rc_enabled
        visitor.enable_rc(False)
        before = refusals()
        sent["revoked"] = forbidden_actions(session, outside)
        session.wait_until(lambda s: not s.rc_enabled, what="remote control off")
        sent["revoked"] += forbidden_actions(session, outside)
        case("revoked", 2, before)

        # (c) Allowed, then the visitor's connection drops: input while it is away, at once
        # after it is back, and once the agent knows that control ended with the drop.
        assert visitor.session_info().rc_enabled
        tap.hold()
        tap.cut()
        visitor.wait_for(EventCode.CONNECTION_WARNING)
        lapsed = visitor.wait_for(EventCode.RC_DISABLED)
        assert lapsed.properties == {"reason": "connection"}
        session.wait_until(lambda s: not s.visitor_connected, what="the visitor away")
        before = refusals()
        sent["after reconnect"] = forbidden_actions(session, outside)
        session.wait_until(lambda s: refusals() - before == sent["after reconnect"],
                           what="input for a visitor who is away refused")
        tap.release()
        visitor.wait_for(EventCode.CLEAR_WARNING)
        sent["after reconnect"] += forbidden_actions(session, outside)
        session.wait_until(lambda s: not s.rc_enabled and s.visitor_connected,
                           what="control ended with the drop, told to the agent")
        sent["after reconnect"] += forbidden_actions(session, outside)
        assert not visitor.session_info().rc_enabled
        case("after reconnect", 3, before)

        # (d) A forged grant: control is off, and the agent grants it to itself.
        visitor.enable_rc(False)
        session.wait_until(lambda s: not s.rc_enabled, what="remote control off")
        forged = run_async(forge(server, token, key, session.welcome["session_id"]))
        before = refusals()
        sent["forged grant"] = forbidden_actions(session, outside) + 2  # and the raw inputs
        assert not session.rc_enabled
        assert not visitor.session_info().rc_enabled
        case("forged grant", 4, before)

        # (e) Control on, aimed inside the masked region.
        points = [(GX + 400, GY + 100), (GX + 450, GY + 120), (GX + 500, GY + 80)]
        assert visitor.session_info().rc_enabled
        for x, y in points:
            session.send_input("click", x=x, y=y)
        session.send_input("down", x=GX + 420, y=GY + 90)
        session.send_input("up", x=GX + 420, y=GY + 90)  # a release shows on no board line
        sent["masked field"] = len(points) + 1
        case("masked field", 5, refusals())

        # (f) A button pressed outside the mask and let go inside it, and one pressed when
        # control is revoked: neither is left held (a held button would drag on the
        # visitor's next move). Released where the pointer was, outside the mask.
        session.send_input("down", x=GX + 100, y=GY + 250)
        session.send_input("up", x=GX + 420, y=GY + 90)
        drained(session, visitor, "released inside the mask")
        held["released inside the mask"] = pointer_buttons(display)
        session.send_input("down", x=GX + 110, y=GY + 250)
        drained(session, visitor, "pressed, then revoked")
        assert pointer_buttons(display) == 1  # the agent does hold it now
        visitor.enable_rc(False)
        session.wait_until(lambda s: not s.rc_enabled, what="remote control off")
        drained(session, visitor, "revoked")
        held["control revoked"] = pointer_buttons(display)
        session.end()
    finally:
        tap.close()
    total = sum(sent.values())
    bad = sum(len(lines) for lines in applied.values())
    print(f"sent {sent}; refused by the server {refused}; applied {applied}; "
          f"forged: {forged}")
    figure("remote-control actions applied without consent (none, revoked, after reconnect, "
           "forged grant, masked field)", f"{bad} of {total}", "0")
    figure("pointer buttons left held (pressed outside a mask and let go inside it; pressed "
           "when control was revoked)", f"{sum(held.values())} of {len(held)}", "0")
    assert held == {"released inside the mask": 0, "control revoked": 0}
    legitimate = 2 * len(applied)  # each case's closing click and key, each waited for
    figure("legitimate remote-control actions applied with consent",
           f"{legitimate} of {legitimate}", "all")
    assert applied == {name: [] for name in sent}
    assert forged == {
        "rc from an agent": "error protocol_error",
        "rc from an agent, volatile": "error protocol_error",
        "rc wrapped as the server's relay from the visitor": "error protocol_error",
        "input without a number (volatile)": "error protocol_error",
        "input after the forged grants": "rc_refused",
        "resume as the visitor": "refused invalid_token",
    }
    # The server itself refused what came while control was off or the visitor away.
    assert refused["none"] == sent["none"]
    assert refused["forged grant"] == sent["forged grant"] - 2
