"""The agent console in Chromium: sign in, edit settings in staging, see errors, publish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Server, start_server
from tests.helpers import bearer, login

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("console")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    yield running
    running.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


def production(server: Server) -> dict[str, object]:
    with server.client() as client:
        token = login(client, server.demo_password)
        settings: dict[str, object] = client.get(
            "/api/v1/settings/production", headers=bearer(token)).json()["settings"]
        return settings


def test_console_has_a_strict_csp(console_server: Server) -> None:
    """The console page forbids scripts from anywhere but its own origin, and framing."""
    response = httpx.get(f"{console_server.base_url}/agent/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert httpx.get(f"{console_server.base_url}/coview/agent.js").status_code == 200


def test_admin_signs_in_edits_staging_and_publishes(console_server: Server, page: Page) -> None:
    """An admin signs in, sees a field error, saves to staging, and publishes to production."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{console_server.base_url}/agent/")

    page.get_by_test_id("signin-group").fill("12345")
    page.get_by_test_id("signin-username").fill("demo")
    page.get_by_test_id("signin-password").fill("wrong-password")
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("signin-error")).to_contain_text("wrong group ID")

    page.get_by_test_id("signin-password").fill(console_server.demo_password)
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("whoami")).to_contain_text("demo")
    expect(page.get_by_test_id("settings-status")).to_contain_text("the same")

    page.get_by_test_id("setting-random_key_length").fill("40")
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("error-random_key_length")).to_contain_text("less than or equal")
    assert production(console_server)["random_key_length"] == 6

    page.get_by_test_id("setting-random_key_length").fill("8")
    page.get_by_test_id("setting-escalate_to_view").check()
    page.get_by_test_id("settings-save").click()
    expect(page.get_by_test_id("settings-status")).to_contain_text("not published")
    expect(page.get_by_test_id("error-random_key_length")).to_be_empty()
    assert production(console_server)["random_key_length"] == 6

    page.get_by_test_id("settings-publish").click()
    expect(page.get_by_test_id("settings-status")).to_contain_text(
        "Published: escalate_to_view, random_key_length")
    published = production(console_server)
    assert published["random_key_length"] == 8
    assert published["escalate_to_view"] is True

    page.reload()  # the token survives a reload within the tab
    expect(page.get_by_test_id("whoami")).to_contain_text("demo")
    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signin-form")).to_be_visible()
    assert problems == []
