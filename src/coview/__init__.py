"""Coview: self-hostable live screen share, cobrowse and presence for customer support.

The visitor SDK (``Visitor``) and the agent client (``Agent``) load their dependencies on
first use, so that ``import coview`` stays cheap for the server and the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coview._version import __version__
from coview.errors import CoviewError, JoinRefused, Refused

if TYPE_CHECKING:
    from coview.client.agent import Agent, AgentSession, OneClickFailed
    from coview.client.events import (
        RANDOM_KEY,
        DisplayParams,
        Event,
        EventCode,
        EventType,
        SessionInfo,
        StartParams,
    )
    from coview.client.presence import PresenceVisitor
    from coview.client.visitor import Visitor
    from coview.protocol.reasons import SessionEndReason

_LAZY = {
    "Visitor": "coview.client.visitor",
    "Agent": "coview.client.agent",
    "AgentSession": "coview.client.agent",
    "OneClickFailed": "coview.client.agent",
    "PresenceVisitor": "coview.client.presence",
    "RANDOM_KEY": "coview.client.events",
    "DisplayParams": "coview.client.events",
    "Event": "coview.client.events",
    "EventCode": "coview.client.events",
    "EventType": "coview.client.events",
    "SessionEndReason": "coview.protocol.reasons",
    "SessionInfo": "coview.client.events",
    "StartParams": "coview.client.events",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'coview' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "RANDOM_KEY",
    "Agent",
    "AgentSession",
    "CoviewError",
    "DisplayParams",
    "Event",
    "EventCode",
    "EventType",
    "JoinRefused",
    "OneClickFailed",
    "PresenceVisitor",
    "Refused",
    "SessionEndReason",
    "SessionInfo",
    "StartParams",
    "Visitor",
    "__version__",
]
