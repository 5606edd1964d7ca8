"""Why a session ended: seed 000's ``SessionEndReason`` codes, as every party names them.

A protocol fact (``ended`` frames and session records carry these strings) that the domain,
the server, the Python clients and the browser code (``web/src/shared/rules.js``) share.
"""

from __future__ import annotations

import enum


class SessionEndReason(enum.StrEnum):
    """Why a session ended (seed 000's SessionEndReason codes)."""

    THIS_SIDE = "SessionEndReasonThisSide"
    OTHER_SIDE = "SessionEndReasonOtherSide"
    CANT_CONNECT = "SessionEndReasonCantConnect"
    CONN_DROP = "SessionEndReasonConnDrop"
    KILLED = "SessionEndReasonKilled"
    TIMED_OUT = "SessionEndTimedout"
    ERROR = "SessionEndReasonError"

    @classmethod
    def read(cls, value: str) -> SessionEndReason:
        """The reason a peer named; one this version does not know is an error."""
        try:
            return cls(value)
        except ValueError:
            return cls.ERROR
