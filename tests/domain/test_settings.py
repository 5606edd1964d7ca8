"""Group settings validation, merging, and the allowed-sites rule for bookmarks."""

from __future__ import annotations

import pytest

from coview.domain.settings import (
    GroupSettings,
    merge_settings,
    parse_settings,
    url_is_under,
)
from coview.errors import InvalidInput


def test_defaults() -> None:
    """A group starts with 6-digit keys, a 60 s reconnect window and duplicate keys refused."""
    settings = GroupSettings()
    assert settings.random_key_length == 6
    assert settings.reconnect_window_seconds == 60
    assert settings.duplicate_key_policy == "refuse"
    assert settings.escalate_to_show.surfaces == ["tab", "window", "screen"]
    assert settings.escalate_to_view is False


def test_every_error_is_named_by_its_field() -> None:
    """Several wrong fields produce one message per field path."""
    with pytest.raises(InvalidInput) as caught:
        parse_settings({"random_key_length": 20, "max_sessions": "many",
                        "escalate_to_show": {"surfaces": ["tab", "tab"]}})
    assert set(caught.value.fields) == {"random_key_length", "max_sessions",
                                        "escalate_to_show.surfaces"}
    assert "random_key_length" in caught.value.message


def test_not_an_object() -> None:
    """A settings document must be a JSON object."""
    with pytest.raises(InvalidInput):
        parse_settings(["random_key_length"])


def test_merge_keeps_other_fields() -> None:
    """Merging changes only the named fields."""
    current = parse_settings({"random_key_length": 8, "default_persist": True})
    merged = merge_settings(current, {"random_key_length": 10})
    assert merged.random_key_length == 10
    assert merged.default_persist is True


def test_origins_are_normalised() -> None:
    """Origins lose default ports and trailing slashes, so exact matching works."""
    settings = parse_settings({"trusted_origins": ["https://Shop.Example.com:443/",
                                                   "http://localhost:8080"]})
    assert settings.trusted_origins == ["https://shop.example.com", "http://localhost:8080"]


@pytest.mark.parametrize("origin", ["https://example.com/path", "example.com", "https://",
                                    "https://*.example.com", "https://user@example.com",
                                    "https://example.com:99999"])
def test_bad_origins(origin: str) -> None:
    """Anything but scheme://host[:port] is refused as an origin."""
    with pytest.raises(InvalidInput):
        parse_settings({"trusted_origins": [origin]})


def test_twenty_items_at_most_counting_folders() -> None:
    """Bookmarks and folders together hold at most 20 items (seed 003)."""
    bookmark = {"type": "bookmark", "title": "a", "url": "https://a.example.com"}
    folder = {"type": "folder", "name": "f", "items": [bookmark] * 9}
    parse_settings({"bookmarks": [folder, folder]})  # 2 folders + 18 bookmarks = 20
    with pytest.raises(InvalidInput, match="at most 20 items"):
        parse_settings({"bookmarks": [folder, folder, bookmark]})


def test_bookmarks_must_be_under_an_allowed_site() -> None:
    """With allowed sites set, every bookmark, in folders too, must be under one of them."""
    allowed = ["https://docs.example.com/help", "https://*.example.org"]
    ok = [{"type": "bookmark", "title": "a", "url": "https://docs.example.com/help/x"},
          {"type": "folder", "name": "f", "items": [
              {"title": "b", "url": "https://www.example.org/any"}]}]
    parse_settings({"allowed_sites": allowed, "bookmarks": ok})
    bad = [{"type": "folder", "name": "f", "items": [
        {"title": "b", "url": "https://docs.example.com/helpdesk"}]}]
    with pytest.raises(InvalidInput, match="not under any allowed site"):
        parse_settings({"allowed_sites": allowed, "bookmarks": bad})


@pytest.mark.parametrize(("url", "site", "under"), [
    ("https://a.com/x", "https://a.com", True),
    ("https://a.com", "https://a.com/", True),
    ("http://a.com/x", "https://a.com", False),
    ("https://a.com:8443/x", "https://a.com", False),
    ("https://b.a.com/x", "https://*.a.com", True),
    ("https://a.com/x", "https://*.a.com", True),
    ("https://evila.com/x", "https://*.a.com", False),
    ("https://a.com/docs/p", "https://a.com/docs", True),
    ("https://a.com/docs", "https://a.com/docs", True),
    ("https://a.com/docsx", "https://a.com/docs", False),
    ("https://a.com.evil.com/", "https://a.com", False),
])
def test_url_is_under(url: str, site: str, under: bool) -> None:
    """A URL is under a site when scheme, host and port match and the path is below."""
    assert url_is_under(url, site) is under


def test_ice_servers() -> None:
    """ICE server URLs must be stun:, stuns:, turn: or turns:."""
    parse_settings({"ice_servers": [{"urls": ["stun:stun.example.com:3478",
                                              "turns:turn.example.com"],
                                     "username": "u", "credential": "c"}]})
    with pytest.raises(InvalidInput):
        parse_settings({"ice_servers": [{"urls": ["https://turn.example.com"]}]})
