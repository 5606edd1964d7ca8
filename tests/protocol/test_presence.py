"""Presence frames from the network: what is accepted, and a clear error for the rest."""

from __future__ import annotations

import pytest

from coview.protocol.frames import ProtocolError
from coview.protocol.presence import (
    ByeMessage,
    SignalMessage,
    parse_presence_hello,
    parse_visitor_message,
)


def test_a_hello_names_group_and_visitor_within_bounds() -> None:
    hello = parse_presence_hello({"t": "presence", "v": "1.0", "group_id": 7,
                                  "visitor_id": "cust-1", "info": {"page": "home"}})
    assert (hello.group_id, hello.visitor_id, hello.info) == (7, "cust-1", {"page": "home"})
    for bad, where in (({"t": "join"}, "presence"),
                       ({"t": "presence", "v": "1.0", "group_id": 0, "visitor_id": "a"},
                        "group_id"),
                       ({"t": "presence", "v": "1.0", "group_id": 7, "visitor_id": "a b"},
                        "visitor_id"),
                       ({"t": "presence", "v": "1.0", "group_id": 7, "visitor_id": "a",
                         "info": {str(i): "x" for i in range(11)}}, "info")):
        with pytest.raises(ProtocolError) as refused:
            parse_presence_hello(bad)
        assert refused.value.code == "invalid_parameter"
        assert where in refused.value.message


def test_visitor_messages() -> None:
    signal = parse_visitor_message({"t": "signal", "name": "terms",
                                    "properties": {"status": "accepted"}})
    assert isinstance(signal, SignalMessage)
    assert signal.properties == {"status": "accepted"}
    assert isinstance(parse_visitor_message({"t": "bye"}), ByeMessage)
    with pytest.raises(ProtocolError):
        parse_visitor_message({"t": "signal", "name": "no spaces allowed"})
    with pytest.raises(ProtocolError):
        parse_visitor_message({"t": "show_terms"})  # the server's, not the visitor's
