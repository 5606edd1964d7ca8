"""Fixtures of the screen share tests: a virtual display, the Tk test application, a server,
and the visitors a test made (closed after it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import coview
from tests.conftest import Server, start_server
from tests.screen_support import Board, x_display


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with x_display() as name:
        yield name


@pytest.fixture(scope="module")
def board(display: str) -> Iterator[Board]:
    app = Board(display)
    yield app
    app.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("share")
    # Webhook tests post to a receiver on loopback.
    running = start_server(tmp, ["--data-dir", str(tmp / "data"), "--allow-private-webhooks"])
    running.data_dir = tmp / "data"  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture
def visitors(display: str) -> Iterator[list[coview.Visitor]]:
    made: list[coview.Visitor] = []
    yield made
    for visitor in made:
        visitor.close()
