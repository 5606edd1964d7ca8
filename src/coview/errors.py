"""The exceptions Coview raises.

Every error Coview raises on purpose derives from one root::

    CoviewError
    ├── InvalidInput          a value given by a user or a peer is wrong (``fields`` says where)
    ├── NotFound              an id names nothing
    ├── Conflict              the thing already exists, or the state forbids the change
    ├── AuthenticationFailed  no credentials, or wrong, forged or expired ones
    ├── PermissionDenied      authenticated, but not allowed to do this
    ├── Throttled             too many attempts, or too busy (code ``busy``); ``retry_after``
    │                         seconds until the next one
    ├── Unavailable           a part the request needs (database, bus) is down
    └── Refused               the server refused a connection's first frame (a start, join,
        │                     host, resume or presence hello): ``code`` is the protocol's
        │                     refusal code (docs/protocol.md)
        └── JoinRefused       an agent's join (``coview.Agent``)

Each carries a stable ``code`` string that the REST API and the CLI show to users.
"""

from __future__ import annotations

from collections.abc import Mapping


class CoviewError(Exception):
    """Root of every error that Coview raises on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(CoviewError):
    """A value is not acceptable; ``fields`` maps a field path to what is wrong with it."""

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.fields: dict[str, str] = dict(fields or {})


class NotFound(CoviewError):
    """The id given names nothing that the caller may see."""

    code = "not_found"


class Conflict(CoviewError):
    """The change conflicts with what exists (a duplicate name, a finished state)."""

    code = "conflict"


class AuthenticationFailed(CoviewError):
    """Credentials are missing, wrong, forged or expired."""

    code = "unauthenticated"


class PermissionDenied(CoviewError):
    """The caller is known but may not do this."""

    code = "forbidden"


class Throttled(CoviewError):
    """Too many attempts; the caller may try again after ``retry_after`` seconds."""

    code = "throttled"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.limit = ""  # which subject's limit, where the caller wants to tell


class Unavailable(CoviewError):
    """A part that the request needs is down (``part`` names it)."""

    code = "unavailable"

    def __init__(self, message: str, *, part: str) -> None:
        super().__init__(message)
        self.part = part


class Refused(CoviewError):
    """The server refused what a connection's first frame asked (a session start, join, host
    or resume, or a presence connection); ``code`` is the refusal code that the ``refused``
    frame carries (docs/protocol.md)."""

    code = "refused"


class JoinRefused(Refused):
    """The server refused to let the agent join (``code`` says why)."""
