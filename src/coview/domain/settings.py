"""Group settings: what an admin edits in staging and publishes to production.

Staging is what admins edit; production is what runs. Publishing copies staging to production
(seed 003, "After you test your changes in Staging, click Publish to Production").
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from coview.errors import InvalidInput
from coview.protocol.rules import RANDOM_KEY_MAX_LENGTH, RANDOM_KEY_MIN_LENGTH

MAX_BOOKMARK_ITEMS = 20  # seed 003: "can store up to 20 items" (bookmarks and folders together)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_HOST_RE = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def _whole_number(value: object) -> object:
    # JSON Schema (2020-12, section 6.1.1 of the validation spec) counts a number whose
    # fractional part is zero as an ``integer``: 68736.0 is one and must mean 68736.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, Strict(), BeforeValidator(_whole_number)]
"""An integer field of a JSON body, read as JSON Schema reads ``integer``: 68736 or 68736.0,
never 68736.5, ``"68736"`` or ``true``."""


class DuplicateKeyPolicy(enum.StrEnum):
    """What happens when a session starts with a key that a running session already holds."""

    REFUSE = "refuse"  # the new session fails to start (seed 002 ``dupkey``)
    REPLACE = "replace"  # the running session ends and the new one takes the key


class SessionLimitPolicy(enum.StrEnum):
    """What happens when a session would go past the group's simultaneous-session limit."""

    END_OLDEST = "end_oldest"  # the oldest session ends with reason KILLED (seed 000)
    REFUSE_NEW = "refuse_new"  # the new session fails to start


class Surface(enum.StrEnum):
    """What an agent may share when escalating to screen share (seed 003)."""

    TAB = "tab"
    WINDOW = "window"
    SCREEN = "screen"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class EscalateToShow(_Strict):
    """Whether agents may share their own screen from a cobrowse session, and what surfaces."""

    enabled: bool = Field(default=True, strict=True)
    surfaces: list[Surface] = Field(
        default_factory=lambda: [Surface.TAB, Surface.WINDOW, Surface.SCREEN], max_length=3
    )

    @field_validator("surfaces")
    @classmethod
    def _unique_surfaces(cls, value: list[Surface]) -> list[Surface]:
        if len(set(value)) != len(value):
            raise ValueError("each surface may appear once")
        return value


class Bookmark(_Strict):
    """A site an agent can open and share from the screen share menu."""

    type: Literal["bookmark"] = "bookmark"
    title: str = Field(min_length=1, max_length=100)
    url: str = Field(max_length=2000)
    active: bool = Field(default=True, strict=True)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value, allow_wildcard=False)


class BookmarkFolder(_Strict):
    """A named folder of bookmarks (one level deep)."""

    type: Literal["folder"]
    name: str = Field(min_length=1, max_length=100)
    active: bool = Field(default=True, strict=True)
    items: list[Bookmark] = Field(default_factory=list, max_length=MAX_BOOKMARK_ITEMS)


BookmarkItem = Annotated[Bookmark | BookmarkFolder, Field(discriminator="type")]


class IceServer(_Strict):
    """A STUN or TURN server handed to browsers for WebRTC."""

    urls: list[str] = Field(min_length=1, max_length=5)
    username: str | None = Field(default=None, max_length=256)
    credential: str | None = Field(default=None, max_length=256)

    @field_validator("urls")
    @classmethod
    def _ice_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            scheme, _, rest = url.partition(":")
            if scheme not in ("stun", "stuns", "turn", "turns") or not rest or len(url) > 500:
                raise ValueError(f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
            if _CONTROL_CHARS.search(url) or " " in url:
                raise ValueError(f"{url!r} contains spaces or control characters")
        return value


WEBHOOK_EVENTS = ("visitor.online", "visitor.offline", "presence.terms", "presence.signal",
                  "session.start", "session.end", "security.join_throttled",
                  "security.start_throttled")
WebhookEvent = Literal["visitor.online", "visitor.offline", "presence.terms", "presence.signal",
                       "session.start", "session.end", "security.join_throttled",
                       "security.start_throttled"]


class Webhook(_Strict):
    """A URL the server posts events to, signed (docs/api.md, "Webhooks")."""

    url: str
    events: list[WebhookEvent] = Field(default_factory=list, max_length=len(WEBHOOK_EVENTS))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_http_url(value, allow_wildcard=False)


class GroupSettings(_Strict):
    """Every setting of a group, with its default."""

    random_key_length: JsonInt = Field(default=6, ge=RANDOM_KEY_MIN_LENGTH,
                                       le=RANDOM_KEY_MAX_LENGTH)
    duplicate_key_policy: DuplicateKeyPolicy = DuplicateKeyPolicy.REFUSE
    max_sessions: JsonInt = Field(default=100, ge=1, le=100_000)
    session_limit_policy: SessionLimitPolicy = SessionLimitPolicy.END_OLDEST
    # Sessions start without a sign-in: bounded per address and per group (docs/settings.md).
    starts_per_address_per_minute: JsonInt = Field(default=30, ge=1, le=100_000)
    starts_per_minute: JsonInt = Field(default=600, ge=1, le=1_000_000)
    no_agent_timeout_seconds: JsonInt = Field(default=600, ge=0, le=86_400)
    reconnect_window_seconds: JsonInt = Field(default=60, ge=5, le=3_600)
    default_persist: bool = Field(default=False, strict=True)
    visitor_id_requires_token: bool = Field(default=True, strict=True)
    remote_control_enabled: bool = Field(default=True, strict=True)
    agent_video_enabled: bool = Field(default=True, strict=True)
    showback_enabled: bool = Field(default=True, strict=True)
    gestures_enabled: bool = Field(default=True, strict=True)
    trusted_origins: list[str] = Field(default_factory=list, max_length=50)
    masking_selectors: list[str] = Field(default_factory=list, max_length=200)
    mask_all_inputs: bool = Field(default=True, strict=True)
    escalate_to_show: EscalateToShow = Field(default_factory=EscalateToShow)
    escalate_to_view: bool = Field(default=False, strict=True)
    allowed_sites: list[str] = Field(default_factory=list, max_length=50)
    bookmarks: list[BookmarkItem] = Field(default_factory=list, max_length=MAX_BOOKMARK_ITEMS)
    ice_servers: list[IceServer] = Field(default_factory=list, max_length=10)
    presence_grace_seconds: JsonInt = Field(default=15, ge=0, le=600)
    webhooks: list[Webhook] = Field(default_factory=list, max_length=10)

    @field_validator("trusted_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        normalised = [_check_origin(origin) for origin in value]
        if len(set(normalised)) != len(normalised):
            raise ValueError("each origin may appear once")
        return normalised

    @field_validator("masking_selectors")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        for selector in value:
            if not selector or len(selector) > 500:
                raise ValueError("a selector must be 1 to 500 characters")
            if _CONTROL_CHARS.search(selector) or any(c in selector for c in "{};"):
                raise ValueError(f"{selector!r} is not a CSS selector")
        return value

    @field_validator("allowed_sites")
    @classmethod
    def _sites(cls, value: list[str]) -> list[str]:
        return [_check_http_url(site, allow_wildcard=True) for site in value]

    @model_validator(mode="after")
    def _bookmark_rules(self) -> GroupSettings:
        count = sum(1 + (len(i.items) if isinstance(i, BookmarkFolder) else 0)
                    for i in self.bookmarks)
        if count > MAX_BOOKMARK_ITEMS:
            raise ValueError(
                f"bookmarks and folders may hold at most {MAX_BOOKMARK_ITEMS} items together; "
                f"there are {count}"
            )
        # seed 003: with allowed sites set, a bookmark must be under one of them.
        if self.allowed_sites:
            for bookmark in self.iter_bookmarks():
                if not any(url_is_under(bookmark.url, site) for site in self.allowed_sites):
                    raise ValueError(
                        f"bookmark {bookmark.url!r} is not under any allowed site"
                    )
        return self

    def iter_bookmarks(self) -> list[Bookmark]:
        """Every bookmark, folders opened."""
        result: list[Bookmark] = []
        for item in self.bookmarks:
            result.extend(item.items if isinstance(item, BookmarkFolder) else [item])
        return result


def parse_settings(document: object) -> GroupSettings:
    """Validate a settings document, raising InvalidInput with one message per field."""
    if not isinstance(document, dict):
        raise InvalidInput("settings must be a JSON object", fields={"": "expected an object"})
    try:
        return GroupSettings.model_validate(document)
    except ValidationError as exc:
        raise invalid_input_from(exc) from None


def merge_settings(current: GroupSettings, changes: object) -> GroupSettings:
    """Apply the fields in ``changes`` over ``current`` and validate the result."""
    if not isinstance(changes, dict):
        raise InvalidInput("settings must be a JSON object", fields={"": "expected an object"})
    merged: dict[str, Any] = current.model_dump(mode="json")
    merged.update(changes)
    return parse_settings(merged)


def invalid_input_from(exc: ValidationError) -> InvalidInput:
    """Turn a pydantic ValidationError into InvalidInput with a message per field path."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        fields.setdefault(path, message)
    summary = "; ".join(f"{path}: {message}" for path, message in fields.items())
    return InvalidInput(f"invalid settings: {summary}", fields=fields)


def url_is_under(url: str, site: str) -> bool:
    """Return whether ``url`` is on ``site`` (same scheme and host, path under the site's path).

    A site host of ``*.example.com`` admits example.com and any of its subdomains.
    """
    u, s = urlsplit(url), urlsplit(site)
    if u.scheme != s.scheme or u.port != s.port:
        return False
    host, site_host = (u.hostname or ""), (s.hostname or "")
    if site_host.startswith("*."):
        base = site_host[2:]
        if host != base and not host.endswith("." + base):
            return False
    elif host != site_host:
        return False
    prefix = s.path if s.path.endswith("/") else s.path + "/"
    path = u.path or "/"
    return prefix == "/" or path == s.path or path.startswith(prefix)


def _check_origin(value: str) -> str:
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or not _HOST_RE.fullmatch(parts.hostname)
        or parts.hostname.startswith("*.")
    ):
        raise ValueError(f"{value!r} is not an origin like https://example.com[:port]")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    default = {"http": 80, "https": 443}[parts.scheme]
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme}://{parts.hostname}{suffix}"


def _check_http_url(value: str, *, allow_wildcard: bool) -> str:
    if _CONTROL_CHARS.search(value) or " " in value or len(value) > 2000:
        raise ValueError(f"{value!r} is not a URL")
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or parts.username:
        raise ValueError(f"{value!r} is not an http or https URL")
    if not _HOST_RE.fullmatch(host) or (host.startswith("*.") and not allow_wildcard):
        raise ValueError(f"{value!r} has an invalid host")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    return value
