"""Every message of the session protocol, keyed on its type ``t``, defined once.

``MESSAGES`` are the parties' (who may send each, and how it travels: a **handshake**, a
connection's first frame; **reliable**, numbered, acknowledged, replayed after a resume; or
**volatile**, a picture tile or an acknowledgement, relayed or dropped, never replayed);
``SERVER_MESSAGES`` the server's own (**logged** in the session's log, or **direct** to one
connection).
What each party may send after its handshake (``protocol.server.ALLOWED``) is read from here,
the browser code gets the same table (``web/src/shared/rules.js``, generated), and tests hold
``docs/protocol.md`` and the clients' sources to it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Sender(enum.StrEnum):
    """A party that sends messages. A child session's host plays the visitor's part and its
    viewer the agent's."""

    VISITOR = "visitor"
    AGENT = "agent"
    HOST = "host"
    VIEWER = "viewer"


class Delivery(enum.StrEnum):
    """How a message travels."""

    HANDSHAKE = "handshake"  # a connection's first frame (or the server's answer to it)
    RELIABLE = "reliable"  # numbered, acknowledged, sent again after a resume
    VOLATILE = "volatile"  # not numbered: a newer one makes it useless; dropped when behind
    LOGGED = "logged"  # the server's: numbered in the session's log, replayed after a resume
    DIRECT = "direct"  # the server's: to one connection now, not numbered nor replayed


@dataclass(frozen=True, slots=True)
class Message:
    """One message type: ``t``, how it travels, who sends it, and its fields."""

    t: str
    delivery: Delivery
    senders: frozenset[Sender] = frozenset()
    fields: tuple[str, ...] = ()


def _m(t: str, delivery: Delivery, *senders: Sender, fields: str = "") -> Message:
    return Message(t, delivery, frozenset(senders), tuple(fields.split()))


_V, _A, _H, _W = Sender.VISITOR, Sender.AGENT, Sender.HOST, Sender.VIEWER
_HS, _R, _VOL = Delivery.HANDSHAKE, Delivery.RELIABLE, Delivery.VOLATILE
_LOG, _DIR = Delivery.LOGGED, Delivery.DIRECT

# What the parties send. The server relays each to the other side as it is (wrapped in ``r``
# or ``v``), or acts on it.
MESSAGES: dict[str, Message] = {m.t: m for m in (
    _m("start", _HS, _V, fields="v group_id key_kind key token name email phone max_guests "
       "persist paused main_call_id report_errors presence_start session_type client"),
    _m("join", _HS, _A, _W, fields="v key token role group_id client"),
    _m("host", _HS, _H, fields="v token main_call_id session_type client"),
    _m("resume", _HS, _V, _A, _H, _W, fields="v session_id token a"),
    # The shown side (the visitor; a child session's host).
    _m("display", _R, _V, _H, fields="name width height e index kind"),
    _m("tile", _VOL, _V, _H, fields="x y w h e key gv"),
    _m("pointer", _VOL, _V, fields="x y"),
    _m("paused", _R, _V, _H, fields="paused by"),
    _m("rc", _R, _V, fields="enabled"),
    _m("device", _R, _V, fields="connected"),
    _m("error", _R, _V, fields="message"),
    _m("info", _R, _V),  # relayed to the agents as it is: the server reads nothing of it
    _m("view", _R, _V, fields="viewing"),
    _m("dom", _R, _V, fields="full"),
    _m("input_refused", _R, _V, fields="id action message"),
    # The watching side (an agent; a child session's viewer).
    _m("message", _R, _A, fields="properties"),
    _m("rc_request", _R, _A),
    _m("input", _R, _A, fields="action x y button keysym id value"),
    _m("gesture", _R, _A, fields="kind points"),
    _m("navigate", _R, _A, fields="url history"),
    _m("pause", _R, _A, fields="paused"),
    _m("rc_release", _R, _A),
    _m("leave", _R, _A, _W),
    # Both.
    _m("end", _R, _V, _A, _H, _W),
    _m("ack", _VOL, _V, _A, _H, _W, fields="a"),
)}

# What the server sends of its own.
SERVER_MESSAGES: dict[str, Message] = {m.t: m for m in (
    _m("welcome", _HS, fields="session_id call_id key downlink_last a reconnect_window state "
       "num resume_token resumed persist"),
    _m("refused", _HS, fields="code message"),
    _m("r", _DIR, fields="s from"),  # a message of the session's log: its frame is the payload
    _m("v", _VOL, fields="slot all"),  # a volatile message relayed: its frame is the payload
    _m("catchup", _DIR, fields="r"),  # a late agent's page, before its first log message
    _m("ack", _DIR, fields="a"),
    _m("error", _DIR, fields="code message"),  # a protocol error: the connection closes
    _m("left", _DIR),  # the party left: the connection closes
    _m("replaced", _DIR),  # another connection resumed this party: this one closes
    _m("upgrade_available", _DIR, fields="version"),
    _m("keyframe", _VOL),
    _m("guests", _LOG, fields="count gv agents"),
    _m("visitor", _LOG, fields="connected"),
    _m("ended", _LOG, fields="reason detail"),
    _m("child", _LOG, fields="action key session_type username name timestamp join_token "
       "agentnum reason"),
    _m("rc_disabled", _LOG, fields="message"),
    _m("rc_refused", _DIR, fields="message"),
    _m("pause_refused", _DIR, fields="message"),
    _m("gesture_refused", _DIR, fields="message"),
)}


def sent_by(sender: Sender, delivery: Delivery) -> frozenset[str]:
    """The types ``sender`` may send with ``delivery``."""
    return frozenset(m.t for m in MESSAGES.values()
                     if sender in m.senders and m.delivery is delivery)
