"""Logging set-up with a redaction filter: secrets never reach the logs, even by accident."""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

#: The id of the HTTP request being served (set by the HTTP toolkit's observer), or None.
request_id: ContextVar[str | None] = ContextVar("devflow_request_id", default=None)

_SECRET_PATTERNS = [
    re.compile(r"dvf_[A-Za-z0-9_-]+"),  # API tokens
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"(?i)(password|secret|api[_-]?key|x-goog-api-key)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
]


def redact(text: str) -> str:
    """Replace anything that looks like a credential with ``[redacted]``."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts credentials from the message and the traceback, and stamps the request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, exception (redacted)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = record.exc_text or redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Root handler on stderr with the redaction filter (``fmt``: ``text`` or ``json``); idempotent."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    # APScheduler logs every tick at INFO; only its warnings are worth an operator's attention.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    for handler in root.handlers:
        if any(isinstance(f, RedactingFilter) for f in handler.filters):
            return
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
