"""The field rules of the protocol, written once.

The server validates what it receives with them (handshakes, presence, the REST models), the
Python clients bound what they send with them, and the browser code imports them (and the
catalog of messages, ``protocol/catalog.py``) from
``web/src/shared/rules.js``, which is generated from this module (``python -m
coview.protocol.rules``; a test fails when the two differ).
"""

from __future__ import annotations

import json
import re
import sys

from coview._version import __version__
from coview.protocol.catalog import MESSAGES, SERVER_MESSAGES
from coview.protocol.reasons import SessionEndReason

# A session key, a visitor ID, or a key an application names: 1 to 50 of [A-Za-z0-9_-].
KEY_MAX_LENGTH = 50
KEY_PATTERN = rf"^[A-Za-z0-9_-]{{1,{KEY_MAX_LENGTH}}}$"
# A random key: digits only, of the group's configured length.
RANDOM_KEY_MIN_LENGTH = 4
RANDOM_KEY_MAX_LENGTH = 12
GROUP_ID_MAX = 2**31 - 1
MAX_GUESTS_MAX = 1000  # agents a session may hold (``max_guests``; 0: the group's setting)
SESSION_TYPE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
# The visitor's identity, as the visitor SDK and the cobrowse script send it.
NAME_MAX_LENGTH = 100
EMAIL_MAX_LENGTH = 200
PHONE_MAX_LENGTH = 50
TOKEN_MAX_LENGTH = 4096
CLIENT_MAX_LENGTH = 100  # the client's name and version ("coview-python/0.1.0")
# Presence: what a visitor shows online, and the signals it sends to the agent.
SIGNAL_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,50}$"
INFO_MAX_ITEMS = 10
PROPERTIES_MAX_ITEMS = 20
PROPERTY_NAME_MAX_LENGTH = 50
PROPERTY_VALUE_MAX_LENGTH = 200

_KEY = re.compile(KEY_PATTERN)


def is_key(value: str) -> bool:
    """Whether ``value`` is a valid session key or visitor ID."""
    return _KEY.fullmatch(value) is not None


def bounded_properties(properties: dict[str, object], *, items: int) -> dict[str, str]:
    """``properties`` as strings, cut to the lengths and count the server accepts."""
    return {str(k)[:PROPERTY_NAME_MAX_LENGTH]: str(v)[:PROPERTY_VALUE_MAX_LENGTH]
            for k, v in list(properties.items())[:items] if str(k)}


def input_pattern(pattern: str) -> str:
    """``pattern`` for an HTML ``pattern`` attribute: anchored already, and compiled with the
    ``v`` flag, where a ``-`` inside a class must be escaped."""
    body = pattern.removeprefix("^").removesuffix("$")
    return re.sub(r"(?<!\\)-(?=\])", r"\\-", body)


def javascript() -> str:
    """The browser's copy of these rules (``web/src/shared/rules.js``)."""
    constants = {
        "VERSION": __version__,
        "KEY_PATTERN": KEY_PATTERN,
        "KEY_INPUT_PATTERN": input_pattern(KEY_PATTERN),
        "KEY_MAX_LENGTH": KEY_MAX_LENGTH,
        "GROUP_ID_MAX": GROUP_ID_MAX,
        "MAX_GUESTS_MAX": MAX_GUESTS_MAX,
        "NAME_MAX_LENGTH": NAME_MAX_LENGTH,
        "EMAIL_MAX_LENGTH": EMAIL_MAX_LENGTH,
        "PHONE_MAX_LENGTH": PHONE_MAX_LENGTH,
        "TOKEN_MAX_LENGTH": TOKEN_MAX_LENGTH,
        "SIGNAL_NAME_PATTERN": SIGNAL_NAME_PATTERN,
        "END_REASONS": {reason.name: reason.value for reason in SessionEndReason},
        # Every session message: how it travels and who sends it (protocol/catalog.py).
        "MESSAGES": {m.t: {"delivery": m.delivery.value, "senders": sorted(m.senders)}
                     for m in MESSAGES.values()},
        "SERVER_MESSAGES": {m.t: m.delivery.value for m in SERVER_MESSAGES.values()},
    }
    lines = ["// Generated from src/coview/protocol/rules.py by `python -m coview.protocol.rules`.",
             "// Do not edit: change the Python module and generate this file again.", ""]
    lines += [f"export const {name} = {json.dumps(value)};" for name, value in constants.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "web/src/shared/rules.js"
    with open(target, "w", encoding="utf-8") as out:
        out.write(javascript())
    print(f"wrote {target}")
