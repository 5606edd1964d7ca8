"""Every session message is defined once (``coview.protocol.catalog``): what each party may
send is read from it, both clients refuse to send what it does not define, and the protocol's
document and the clients' sources are held to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coview.bus.names import PROCESS_MESSAGES
from coview.protocol.catalog import MESSAGES, SERVER_MESSAGES, Delivery, Sender, sent_by
from coview.protocol.client import ClientEndpoint
from coview.protocol.presence import PRESENCE_MESSAGES
from coview.protocol.server import ALLOWED, PartyEndpoint, Role

ROOT = Path(__file__).resolve().parents[2]


def test_what_each_party_may_send_is_the_catalog() -> None:
    assert ALLOWED[Role.VISITOR][0] >= {"display", "paused", "rc", "dom", "end"}
    assert ALLOWED[Role.VISITOR][1] == {"tile", "pointer", "ack"}
    assert ALLOWED[Role.AGENT][0] >= {"message", "input", "navigate", "leave", "end"}
    assert "tile" not in ALLOWED[Role.AGENT][1]
    assert ALLOWED[Role.VIEWER] == (frozenset({"leave", "end"}), frozenset({"ack"}))
    for role, (reliable, volatile) in ALLOWED.items():
        sender = Sender(role.value)
        assert reliable == sent_by(sender, Delivery.RELIABLE)
        assert volatile == sent_by(sender, Delivery.VOLATILE)
        assert not reliable & volatile


def test_a_type_no_party_sends_is_refused_by_the_server() -> None:
    from coview.protocol.frames import ProtocolError, encode_frame

    endpoint = PartyEndpoint(Role.VISITOR)
    with pytest.raises(ProtocolError):
        endpoint.receive(encode_frame({"t": "stats", "s": 1}), 0.0)  # relayed once, unchecked


def test_the_python_client_sends_only_what_the_catalog_defines() -> None:
    endpoint = ClientEndpoint({"t": "join", "key": "k", "token": "t"})
    endpoint.transport_opened(0)
    endpoint.send({"t": "paused", "paused": True}, reliable=True)
    endpoint.send({"t": "tile"}, b"jpeg", reliable=False)
    with pytest.raises(ValueError, match="not a reliable"):
        endpoint.send({"t": "tile"}, b"jpeg", reliable=True)
    with pytest.raises(ValueError, match="not a volatile"):
        endpoint.send({"t": "unknown"}, reliable=False)


def _table(section: str) -> dict[str, str]:
    """The ``| `t` | kind | meaning |`` rows after ``section`` in docs/protocol.md."""
    text = (ROOT / "docs/protocol.md").read_text()
    start = text.index(section) + len(section)
    rows: dict[str, str] = {}
    for line in text[start:].splitlines()[1:]:
        if line.startswith("| `"):
            t, kind = (cell.strip().strip("`") for cell in line.strip("|").split("|")[:2])
            if t != "t":  # the header row
                rows[t] = kind
        elif rows and not line.startswith("|"):
            break
    return rows


@pytest.mark.parametrize(("section", "sender"), [("Visitor to agents:", Sender.VISITOR),
                                                  ("Agents to the visitor:", Sender.AGENT)])
def test_the_document_lists_each_message_as_the_catalog_defines_it(section: str,
                                                                    sender: Sender) -> None:
    documented = _table(section)
    defined = {t: m.delivery.value for t, m in MESSAGES.items()
               if sender in m.senders and m.delivery is not Delivery.HANDSHAKE and t != "ack"}
    assert documented == defined


def test_the_document_names_every_message() -> None:
    text = (ROOT / "docs/protocol.md").read_text()
    named = set(re.findall(r"`(\w+)`", text)) | set(re.findall(r"\"t\": \"(\w+)\"", text))
    assert sorted((MESSAGES.keys() | SERVER_MESSAGES.keys()) - named) == []


# Who sends what each browser source builds (``{ t: "..." }``): the cobrowse library is the
# visitor; the console an agent (a child session it hosts, the host); the child viewer the
# visitor's viewer of a child session.
_BROWSER_SENDERS = {
    "web/src/visitor": {Sender.VISITOR},
    "web/src/agent/child.js": {Sender.HOST},
    "web/src/agent": {Sender.AGENT},
    "web/src/viewer": {Sender.AGENT},
    "web/src/childview": {Sender.VIEWER},
    "web/src/shared": set(Sender),
}


def test_the_browser_code_sends_only_what_its_party_may() -> None:
    wrong = []
    for path in sorted((ROOT / "web/src").rglob("*.js")):
        name = str(path.relative_to(ROOT))
        if name == "web/src/shared/rules.js":
            continue
        senders = next(s for prefix, s in _BROWSER_SENDERS.items() if name.startswith(prefix))
        for t in re.findall(r"\bt: \"(\w+)\"", path.read_text()):
            message = MESSAGES.get(t)
            if message is None or not message.senders & senders:
                wrong.append(f"{name}: {t}")
    assert wrong == []


def test_the_python_code_builds_only_catalogued_messages() -> None:
    """What the Python clients and the server build is a session message, a presence
    message (``protocol/presence.py``) or a message between server processes
    (``bus.names.PROCESS_MESSAGES``)."""
    known = MESSAGES.keys() | SERVER_MESSAGES.keys() | PROCESS_MESSAGES.keys()
    sources = [*(ROOT / "src/coview/client").glob("*.py"),
               *(ROOT / "src/coview/server").glob("*.py")]
    found = {(str(path.relative_to(ROOT)), t) for path in sources
             for t in re.findall(r"\"t\": \"(\w+)\"", path.read_text())}
    assert len(found) > 40, "no message found: the pattern is wrong"
    unknown = sorted(f"{name}: {t}" for name, t in found if t not in known
                     and not (name.endswith("presence.py") and t in PRESENCE_MESSAGES))
    assert unknown == []


def test_both_clients_handle_the_same_frames_of_the_connection() -> None:
    """The Python client (``protocol/client.py``) and the browser's (``protocol.js``) act on
    the same frames of the connection itself; everything else they hand to the application."""
    python = set(re.findall(r"frame\.type == \"(\w+)\"",
                            (ROOT / "src/coview/protocol/client.py").read_text()))
    browser = set(re.findall(r"h\.t === \"(\w+)\"",
                             (ROOT / "web/src/shared/protocol.js").read_text()))
    assert python == browser
    assert python >= {"welcome", "refused", "replaced", "ack", "r", "catchup"}
    assert python <= SERVER_MESSAGES.keys()
