"""``coview share``: share this machine's screen with the Python SDK (its reference application).

Prints the session key to read to the agent and every event as it happens; Ctrl-C ends the
session. With ``--presence`` (and ``--visitor-id``) it shows online instead and waits for an
agent's one-click request, asking on the terminal (or not, with ``--accept``). Exit code 0
when the session ended normally, 1 when it could not start or failed.
"""

from __future__ import annotations

import argparse
import queue
import signal
import sys
import threading
from types import FrameType

from coview.client.events import RANDOM_KEY, DisplayParams, Event, EventCode, StartParams
from coview.client.presence import PresenceVisitor
from coview.client.visitor import Visitor
from coview.errors import InvalidInput
from coview.protocol.reasons import SessionEndReason
from coview.protocol.rules import GROUP_ID_MAX, is_key

_NORMAL_ENDS = {SessionEndReason.THIS_SIDE.value, SessionEndReason.OTHER_SIDE.value}


def run(args: argparse.Namespace) -> int:
    if args.key and args.key != "random" and not is_key(args.key):
        raise InvalidInput("--key must be 1 to 50 letters, digits, '_' or '-', or 'random'")
    if not 1 <= args.group_id <= GROUP_ID_MAX:
        raise InvalidInput("--group-id must be a positive whole number")
    if not args.server.startswith(("http://", "https://")):
        raise InvalidInput("--server must be an http:// or https:// URL")
    if args.presence and not args.visitor_id:
        raise InvalidInput("--presence needs --visitor-id")
    done = threading.Event()
    outcome = {"code": 1}
    asked: queue.Queue[str] = queue.Queue()

    def on_event(event: Event) -> None:
        props = " ".join(f"{k}={v}" for k, v in sorted(event.properties.items()))
        print(f"{event.code.name} {props} {event.message}".rstrip(), flush=True)
        if event.code is EventCode.CONNECTED_TO_SESSION:
            print(f"Session key: {event.properties['sessionkey']} (read it to the agent; "
                  "Ctrl-C ends the session)", flush=True)
        elif event.code is EventCode.MESSAGE_RECEIVED and \
                event.properties.get("coview") == "rc_request" and args.allow_control:
            visitor.enable_rc(True)
        elif event.code is EventCode.SESSION_ENDED:
            outcome["code"] = 0 if event.properties.get("reason") in _NORMAL_ENDS else 1
            done.set()
        elif event.code is EventCode.START_SESSION_FAILED:
            done.set()
        elif event.code is EventCode.PRESENCE_SHOW_TERMS:
            asked.put(event.properties.get("agentname") or event.properties.get("agent", ""))
        elif event.code is EventCode.PRESENCE_CONNECTED:
            print(f"Online as {args.visitor_id}: waiting for an agent to connect (Ctrl-C "
                  "quits)", flush=True)
        elif event.code is EventCode.PRESENCE_CONNECT_FAILED and \
                event.properties.get("error") != "cant_connect":
            done.set()

    visitor = Visitor(args.server)
    visitor.add_listener(on_event)
    visitor.default_ui(False)
    visitor.init(args.group_id, token=args.token or "", visitor_id=args.visitor_id or "")
    presence = PresenceVisitor(visitor)
    if args.presence:
        presence.default_ui(False)
        presence.connect()
    else:
        if args.key == "random" or (not args.key and not args.visitor_id):
            key = RANDOM_KEY
        else:
            key = args.key or args.visitor_id
        visitor.start_session(StartParams(
            key=key, force_tunnel=args.tunnel,
            display=DisplayParams(display_name=args.display, scale=args.scale)))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        if visitor.session_info().call_id:
            visitor.end_session()
        else:
            done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not done.wait(0.2):
        try:
            agent = asked.get_nowait()
        except queue.Empty:
            continue
        presence.signal_agent("terms", {"status": "displayed"})
        if args.accept or _ask(f"{agent} asks to see your screen. Accept? [y/N] "):
            presence.signal_agent("terms", {"status": "accepted"})
            visitor.start_session()
        else:
            presence.signal_agent("terms", {"status": "declined"})
    presence.disconnect()
    visitor.close()
    return outcome["code"]


def _ask(question: str) -> bool:
    print(question, end="", flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
