"""Structured logging: one JSON object per line on stdout.

Each line carries ``timestamp``, ``level``, ``logger`` and ``message`` plus any keyword fields,
the same top-level keys as Lambda's JSON log format, so CloudWatch Logs Insights can filter on
them whichever log format the function is configured with.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40}


def _threshold(value: str | None) -> int:
    """Numeric threshold for a level name (unknown or empty names mean INFO)."""
    return LEVELS.get((value or "INFO").strip().upper(), LEVELS["INFO"])


class JsonLogger:
    """Minimal structured logger; fields that are not JSON serialisable are logged with str()."""

    def __init__(self, name: str, stream: TextIO | None = None, level: str | None = None) -> None:
        self.name = name
        self._stream = stream
        self._threshold = _threshold(level if level is not None else os.environ.get("LOG_LEVEL"))

    def log(self, level: str, message: str, **fields: Any) -> None:
        if LEVELS[level] < self._threshold:
            return
        record: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "logger": self.name,
            "message": message,
        }
        for key, value in fields.items():
            record[key] = value
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
        stream.flush()

    def debug(self, message: str, **fields: Any) -> None:
        self.log("DEBUG", message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("WARN", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log("ERROR", message, **fields)


def get_logger(name: str) -> JsonLogger:
    return JsonLogger(name)
