"""Fixtures of the cobrowse tests: a server, and a customer's site trusted by the demo group."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cobrowse_support import Site, publish_settings
from tests.conftest import Server, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("cobrowse")
    running = start_server(tmp, ["--data-dir", str(tmp / "data")])
    running.data_dir = tmp / "data"  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture(scope="module")
def site(server: Server) -> Iterator[Site]:
    shop = Site(server.base_url)
    publish_settings(server, trusted_origins=[shop.origin()])
    yield shop
    shop.close()
