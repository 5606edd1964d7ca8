"""Server configuration: options over environment over defaults, each value checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from coview.errors import InvalidInput
from coview.server.config import load_config


def test_defaults() -> None:
    """With nothing given the server listens on 127.0.0.1:8700 with SQLite in ./coview-data."""
    config = load_config({}, environ={})
    assert (config.host, config.port) == ("127.0.0.1", 8700)
    assert config.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert config.effective_database_url.endswith("coview-data/coview.db")


def test_options_win_over_environment() -> None:
    """A command-line option beats its COVIEW_* variable, which beats the default."""
    env = {"COVIEW_PORT": "9000", "COVIEW_DATA_DIR": "/srv/coview"}
    config = load_config({"port": 9100}, environ=env)
    assert config.port == 9100
    assert config.data_dir == Path("/srv/coview")


@pytest.mark.parametrize("options", [
    {"port": 70000}, {"database_url": "mysql://x"}, {"secret_key": "short"},
    {"token_ttl": 5}, {"log_level": "loud"},
])
def test_bad_values(options: dict[str, object]) -> None:
    """Each wrong value is refused with InvalidInput."""
    with pytest.raises(InvalidInput):
        load_config(options, environ={})
