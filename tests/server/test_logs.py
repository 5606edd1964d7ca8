"""Log lines are JSON and scrub anything shaped like a secret."""

from __future__ import annotations

import json
import logging

from coview.server.logs import JsonFormatter, scrub


def test_scrub_removes_secret_shapes() -> None:
    """Bearer tokens, JWTs, API keys and password fields are replaced."""
    text = ('Authorization: Bearer abc.def-ghi '
            'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature '
            'key cvk_12345_AbCdEf-_123 {"password": "hunter22"} token=xyz')
    cleaned = scrub(text)
    for secret in ("abc.def-ghi", "eyJhbGciOiJIUzI1NiJ9", "cvk_12345_AbCdEf", "hunter22", "xyz"):
        assert secret not in cleaned


def test_json_formatter_carries_fields() -> None:
    """A record becomes one JSON object with its extra fields, scrubbed."""
    record = logging.LogRecord("coview.test", logging.INFO, __file__, 1, "hello %s",
                               ("world",), None)
    record.fields = {"route": "/x", "note": "Bearer secret-value"}
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hello world"
    assert entry["route"] == "/x"
    assert "secret-value" not in entry["note"]
    assert entry["level"] == "info"
