"""Logs: one JSON object per line (or readable text with ``--dev``), no personal data.

Each request gets an id (the caller's ``X-Request-Id`` when it is a sane token, else a
new one), echoed in the response and carried by every line logged while the request
is handled, with the ``scanRef`` once it is known. Payloads, names, document numbers,
IP addresses, query strings and tokens are never logged.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from typing import Any

import msgspec

context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "ledger_log_context", default=None
)
# Anything a log call passes that JSON has no type for is written as its str().
_encode = msgspec.json.Encoder(enc_hook=str).encode
# What could end or rewrite a line of text on a terminal: C0 and C1 controls, DEL, and
# Unicode's own line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def annotate(**fields: str) -> None:
    """Add fields (``scan_ref``...) to every line logged for the current request."""
    current = context.get()
    if current is not None:
        current.update(fields)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...request fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(context.get() or {})
        line.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
        return _encode(line).decode()


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with its control characters written as ``\\xNN`` (``\\uNNNN``) escapes,
    so that what a caller sent (a ``%0a`` in a path) cannot start a line of its own."""
    return _CONTROL.sub(_escaped, text)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS level logger: message key=value ...`` for a terminal, one line per
    record whatever the message and fields hold (control characters are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {**(context.get() or {}), **getattr(record, "fields", {})}
        extra = " ".join(f"{key}={value}" for key, value in fields.items())
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = record.levelname.lower()
        line = f"{record.name}: {record.getMessage()} {extra}".rstrip()
        return f"{stamp} {level:7} {escape_controls(line)}"


def configure(text: bool = False, level: int = logging.INFO) -> None:
    """Send every logger's lines to stderr in one format."""
    # No line shows the caller's file and line, thread or process: not looking them up
    # for every record (a walk up the stack) is the logging module's own optimisation.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
