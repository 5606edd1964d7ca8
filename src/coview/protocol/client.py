"""The client end of a session connection (visitor SDK and agent client), sans I/O.

The pump calls ``transport_opened``, ``receive``, ``transport_lost`` and ``tick`` with the
current time, sends what ``data_to_send`` returns, and acts on the events returned. The
endpoint handles the handshake, sequence numbers, acknowledgements and resume after a drop.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from coview.protocol.catalog import MESSAGES, Delivery
from coview.protocol.frames import Frame, ProtocolError, decode_frame, encode_frame
from coview.protocol.reliability import Inbox, Outbox
from coview.protocol.version import format_version

DEFAULT_MAX_FRAME_BYTES = 32 * 1024 * 1024
CONTROL_TYPES = frozenset({"welcome", "refused", "replaced", "ack", "r"})
# Acknowledgements are cumulative and go at most once per interval: a burst of relayed
# messages costs the server one acknowledgement per reader, not one per message.
ACK_INTERVAL = 0.005


class ClientState(enum.Enum):
    IDLE = "idle"  # nothing attempted yet
    CONNECTING = "connecting"  # transport up, hello sent, no welcome yet
    OPEN = "open"  # in the session
    RECONNECTING = "reconnecting"  # transport lost, inside the reconnect window
    CLOSED = "closed"  # for good


_ALLOWED = {
    ClientState.IDLE: {ClientState.CONNECTING, ClientState.CLOSED},
    ClientState.CONNECTING: {ClientState.OPEN, ClientState.CLOSED, ClientState.IDLE},
    ClientState.OPEN: {ClientState.RECONNECTING, ClientState.CLOSED},
    ClientState.RECONNECTING: {ClientState.OPEN, ClientState.CLOSED, ClientState.RECONNECTING},
}


class InvalidTransition(ProtocolError):
    """The endpoint was asked to move between states that do not connect."""

    code = "invalid_state"


@dataclass(frozen=True, slots=True)
class Welcomed:
    """The server admitted us: ``info`` holds the session's details and state."""

    info: dict[str, Any]
    resumed: bool


@dataclass(frozen=True, slots=True)
class Refused:
    """The server refused the start, join or resume; the endpoint is closed.

    For a resume of a session that has ended, ``code`` is ``ended`` and ``message`` the end
    reason.
    """

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Delivered:
    """A message from the other side (reliable ones once each and in order)."""

    header: dict[str, Any]
    payload: bytes = field(repr=False)
    reliable: bool


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The transport dropped; the pump should reconnect before ``deadline``."""

    deadline: float


@dataclass(frozen=True, slots=True)
class ConnectionRestored:
    """The transport came back and the session resumed with nothing lost."""


@dataclass(frozen=True, slots=True)
class ConnectionExpired:
    """The reconnect window passed without a resume: the session is lost to us."""


@dataclass(frozen=True, slots=True)
class Replaced:
    """Another connection resumed this side's place in the session (another tab, a copy of
    the resume token); the endpoint is closed and must not resume, or the two would take the
    place from each other in turn."""


Event = (Welcomed | Refused | Replaced | Delivered | ConnectionLost | ConnectionRestored
         | ConnectionExpired)


class ClientEndpoint:
    """One side's view of its connection to a session."""

    def __init__(self, hello: dict[str, Any], *, reconnect_window: float = 60.0,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 outbox_bytes: int = 8 * 1024 * 1024) -> None:
        self._hello = {**hello, "v": format_version()}
        self.reconnect_window = reconnect_window
        self.max_frame_bytes = max_frame_bytes
        self._state = ClientState.IDLE
        self._outbox = Outbox(max_bytes=outbox_bytes)
        self._inbox = Inbox()
        self._acked_sent = 0
        self._acked_at = -ACK_INTERVAL
        self._to_send: list[bytes] = []
        self._lost_at: float | None = None
        self.session_id: str | None = None
        self._resume_token: str | None = None

    @property
    def state(self) -> ClientState:
        return self._state

    def _set_state(self, new: ClientState) -> None:
        if new not in _ALLOWED.get(self._state, set()):
            raise InvalidTransition(f"cannot go from {self._state.value} to {new.value}")
        self._state = new

    @property
    def reconnect_deadline(self) -> float | None:
        """When a lost connection stops being resumable (None unless reconnecting)."""
        if self._lost_at is None:
            return None
        return self._lost_at + self.reconnect_window

    # -- transport events -----------------------------------------------------------------

    def transport_opened(self, now: float) -> None:
        """The transport is up: say hello, or ask to resume if we were in the session."""
        if self._state is ClientState.RECONNECTING:
            assert self.session_id is not None
            self._acked_sent = self._inbox.last  # the resume says what we have
            self._to_send.append(encode_frame({
                "t": "resume", "v": self._hello["v"], "session_id": self.session_id,
                "token": self._resume_token, "a": self._inbox.last,
            }))
            return
        self._set_state(ClientState.CONNECTING)
        self._to_send.append(encode_frame(self._hello))

    def transport_lost(self, now: float) -> list[Event]:
        """The transport dropped."""
        if self._state is ClientState.OPEN:
            self._set_state(ClientState.RECONNECTING)
            self._lost_at = now
            self._to_send.clear()
            return [ConnectionLost(now + self.reconnect_window)]
        if self._state is ClientState.CONNECTING:
            self._set_state(ClientState.IDLE)
            self._to_send.clear()
        return []

    def tick(self, now: float) -> list[Event]:
        """Check the reconnect window."""
        deadline = self.reconnect_deadline
        if self._state is ClientState.RECONNECTING and deadline is not None and now >= deadline:
            self._set_state(ClientState.CLOSED)
            return [ConnectionExpired()]
        return []

    def close(self) -> None:
        """Stop for good (the session ended or we left)."""
        if self._state is not ClientState.CLOSED:
            self._state = ClientState.CLOSED
        self._to_send.clear()

    # -- data -----------------------------------------------------------------------------

    def send(self, header: dict[str, Any], payload: bytes = b"", *, reliable: bool) -> None:
        """Queue a message to the other side; reliable ones survive a reconnect."""
        if self._state is ClientState.CLOSED:
            raise InvalidTransition("the connection is closed")
        kind = MESSAGES.get(str(header.get("t")))
        if kind is None or (kind.delivery is Delivery.RELIABLE) is not reliable:
            raise ValueError(f"{header.get('t')!r} is not a "
                             f"{'reliable' if reliable else 'volatile'} protocol message")
        if reliable:
            seq = self._outbox.next_seq
            frame = encode_frame({**header, "s": seq}, payload)
            self._outbox.add(frame)
            if self._state is ClientState.OPEN:
                self._to_send.append(frame)
        elif self._state is ClientState.OPEN:
            self._to_send.append(encode_frame(header, payload))

    def data_to_send(self, now: float | None = None) -> list[bytes]:
        """Frames to write to the transport now, with an acknowledgement of what arrived if
        the last one went at least ``ACK_INTERVAL`` before ``now`` (or ``now`` is not given);
        else it waits until :meth:`ack_due`."""
        if self._state is ClientState.OPEN and self._inbox.last > self._acked_sent and (
                now is None or now >= self._acked_at + ACK_INTERVAL):
            self._to_send.append(encode_frame({"t": "ack", "a": self._inbox.last}))
            self._acked_sent = self._inbox.last
            self._acked_at = now if now is not None else self._acked_at
        out, self._to_send = self._to_send, []
        return out

    def ack_due(self) -> float | None:
        """When an acknowledgement held back by :meth:`data_to_send` is due (None: none)."""
        if self._state is ClientState.OPEN and self._inbox.last > self._acked_sent:
            return self._acked_at + ACK_INTERVAL
        return None

    def receive(self, data: bytes, now: float) -> list[Event]:
        """Handle one frame from the server."""
        frame = decode_frame(data, max_bytes=self.max_frame_bytes)
        if self._state is ClientState.CLOSED:
            return []
        if frame.type == "refused":
            self._set_state(ClientState.CLOSED)
            return [Refused(str(frame.header.get("code", "refused")),
                            str(frame.header.get("message", "")))]
        if frame.type == "welcome":
            return self._welcome(frame)
        if frame.type == "replaced":
            self.close()
            return [Replaced()]
        if self._state is not ClientState.OPEN:
            raise ProtocolError(f"{frame.type!r} before welcome")
        if frame.type == "ack":
            self._outbox.ack(_int(frame.header, "a"))
            return []
        if frame.type == "r":
            if not self._inbox.accept(_int(frame.header, "s")):
                return []
            inner = decode_frame(frame.payload, max_bytes=self.max_frame_bytes)
            return [Delivered(inner.header, inner.payload, reliable=True)]
        if frame.type == "catchup":
            # A late joiner's copy of a cobrowse page so far: a log item from before its
            # downlink starts, shown once and never acknowledged.
            logged = decode_frame(frame.payload, max_bytes=self.max_frame_bytes)
            inner = decode_frame(logged.payload, max_bytes=self.max_frame_bytes)
            return [Delivered(inner.header, inner.payload, reliable=False)]
        return [Delivered(frame.header, frame.payload, reliable=False)]

    def _welcome(self, frame: Frame) -> list[Event]:
        info = frame.header
        if self._state is ClientState.RECONNECTING:
            peer_has = _int(info, "a")
            if peer_has > self._outbox.acked:
                self._outbox.ack(peer_has)
            self._set_state(ClientState.OPEN)
            self._lost_at = None
            self._to_send.extend(item for _, item in self._outbox.after(peer_has))
            events: list[Event] = [ConnectionRestored()]
            if not info.get("resumed", False):
                # The server could not replay what we missed: start the downlink afresh.
                self._inbox = Inbox(_int(info, "downlink_last"))
                self._acked_sent = self._inbox.last
                events.append(Welcomed(info, resumed=False))
            return events
        self._set_state(ClientState.OPEN)
        window = info.get("reconnect_window")
        if isinstance(window, int | float) and not isinstance(window, bool) and window > 0:
            self.reconnect_window = float(window)  # the group's setting, said by the server
        self.session_id = str(info.get("session_id", ""))
        self._resume_token = str(info.get("resume_token", ""))
        self._inbox = Inbox(_int(info, "downlink_last"))
        self._acked_sent = self._inbox.last
        # Reliable messages sent before the welcome go now.
        self._to_send.extend(item for _, item in self._outbox.after(self._outbox.acked))
        return [Welcomed(info, resumed=False)]


def _int(header: dict[str, Any], name: str) -> int:
    value = header.get(name, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"{name!r} must be a whole number")
    return value
