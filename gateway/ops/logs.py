"""Logging: text or JSON lines on stderr, with a redaction safety net.

Code must never log a token, a key or a personal value; the redaction here is the second line of
defence: anything shaped like a bearer header or a JWT/JWS (``eyJ...``) is replaced by
``[REDACTED]`` in every formatted line, including tracebacks.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# A bearer header value, or three base64url segments starting with a JSON-object header ("{" ->
# "eyJ"); also SD-JWT compact forms, whose first part is such a JWS.
_SECRET_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:~[A-Za-z0-9_.~-]*)*"),
)
REDACTED = "[REDACTED]"

# Attributes every LogRecord has; anything else came in through ``extra=`` and is a field.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def redact(text: str) -> str:
    """``text`` with bearer tokens and JWT-shaped strings replaced by ``[REDACTED]``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class RedactionFilter(logging.Filter):
    """Redacts the message and string ``extra`` fields of every record that passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drops it."""
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in _extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class TextFormatter(logging.Formatter):
    """``2026-01-01T00:00:00.000Z INFO logger: message key=value ...`` with redaction."""

    def format(self, record: logging.LogRecord) -> str:
        """One redacted line (plus a traceback, if any)."""
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        fields = " ".join(f"{k}={v}" for k, v in sorted(_extra_fields(record).items()))
        line = f"{stamp} {record.levelname} {record.name}: {record.getMessage()}"
        if fields:
            line = f"{line} {fields}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extra fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """One redacted JSON line."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def configure_logging(
    format: str = "text", level: str = "INFO", *, stream: TextIO | None = None
) -> None:
    """Send every ``attestgate`` log to ``stream`` (stderr) as text or JSON lines."""
    if format not in ("text", "json"):
        raise ValueError("log format must be 'text' or 'json'")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    handler.addFilter(RedactionFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_attestgate", False):
            root.removeHandler(old)
    handler._attestgate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
