"""Messages of the session protocol that the server builds, each defined once.

The clients read them through ``coview.protocol.client`` (a ``Welcomed`` event carries a
welcome's fields); docs/protocol.md describes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coview.protocol.frames import encode_frame


@dataclass(frozen=True, slots=True)
class Welcome:
    """The server admits a connection: its first answer to ``start``, ``join``, ``host`` or
    ``resume``.

    ``num`` is the party's number (an agent's or a viewer's; absent for the visitor);
    ``resume_token`` is given on the first welcome only (a resume keeps the one it had);
    ``resumed`` answers a resume (whether everything missed is replayed); ``persist`` tells a
    visitor whether its session outlives its last agent.
    """

    session_id: str
    call_id: int
    key: str
    reconnect_window: int
    state: dict[str, Any]
    downlink_last: int = 0  # the number the downlink continues from
    a: int = 0  # the highest uplink number the server has
    num: int | None = None
    resume_token: str | None = None
    resumed: bool | None = None
    persist: bool | None = None

    def header(self) -> dict[str, Any]:
        header: dict[str, Any] = {
            "t": "welcome", "session_id": self.session_id, "call_id": self.call_id,
            "key": self.key, "downlink_last": self.downlink_last, "a": self.a,
            "reconnect_window": self.reconnect_window, "state": self.state}
        for name in ("num", "resume_token", "resumed", "persist"):
            value = getattr(self, name)
            if value is not None:
                header[name] = value
        return header

    def frame(self) -> bytes:
        return encode_frame(self.header())
