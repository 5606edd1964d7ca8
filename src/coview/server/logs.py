"""Structured logs: one JSON object a line, with secrets scrubbed on the way out."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# Defence in depth: code never logs secrets on purpose, and this filter scrubs anything shaped
# like one (bearer tokens, JWTs, API keys, password fields) should one slip into a message.
_SCRUB = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"cvk_[0-9]+_[A-Za-z0-9_-]+"), "[redacted-api-key]"),
    (re.compile(r"(?i)(\"?(?:password|secret|token|key)\"?\s*[:=]\s*\"?)[^\s\",}]+"),
     r"\1[redacted]"),
]


def scrub(text: str) -> str:
    """Remove anything shaped like a secret from ``text``."""
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: scrub(v) if isinstance(v, str) else v for k, v in fields.items()})
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send every log (Coview's, uvicorn's) as JSON lines to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The access log would print raw paths, which can hold keys and visitor IDs; the server
    # logs requests itself by route template instead.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
