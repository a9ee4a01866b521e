"""The checks odd input meets before it reaches a store or a log: query numbers, cursors,
export windows, webhook paths and the text log format."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from starlette.exceptions import HTTPException

from adapters.export import Window
from adapters.sql import MAX_POSITION
from app.http.reads import decode_cursor, encode_cursor, whole_number
from app.http.webhooks import is_webhook, kind_segment
from app.logs import JsonFormatter, TextFormatter, context

HUGE = "9" * 26
NOT_ASCII_DIGITS = ("²", "٣", "\uff11", "1²", "\u07c0")  # ², ٣, fullwidth 1, NKo 0


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("raw", ["0", "7", "500", "0007"])
def test_ascii_digits_in_range_are_a_number(raw: str) -> None:
    assert whole_number(raw, 0, 500) == int(raw)


@pytest.mark.parametrize("raw", [*NOT_ASCII_DIGITS, HUGE, "501", "-1", "+1", " 1", "1.0", ""])
def test_anything_else_is_not_a_number(raw: str) -> None:
    assert whole_number(raw, 0, 500) is None


def test_a_cursor_the_service_gave_out_decodes_to_its_position() -> None:
    assert decode_cursor(encode_cursor(1234)) == 1234
    assert decode_cursor(encode_cursor(MAX_POSITION)) == MAX_POSITION


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of(f"p{HUGE}"),
        cursor_of(f"p{MAX_POSITION + 1}"),
        *(cursor_of(f"p{digits}") for digits in NOT_ASCII_DIGITS),
        cursor_of("p"),
        cursor_of("p-1"),
        cursor_of("q12"),
        base64.urlsafe_b64encode(b"p\xff1").decode(),
        "not base64!",
        "²",
        "cDE" * 1000,
    ],
)
def test_a_cursor_it_did_not_give_out_is_a_422(cursor: str) -> None:
    with pytest.raises(HTTPException) as raised:
        decode_cursor(cursor)
    assert raised.value.status_code == 422
    assert raised.value.detail == "after is not a cursor this service gave out"


def test_an_export_window_takes_positions_and_times() -> None:
    window = Window.parse("3", f"{MAX_POSITION}")
    assert (window.since_position, window.until_position) == (3, MAX_POSITION)
    assert Window.parse("2026-01-31T00:00:00Z", None).since_time is not None


@pytest.mark.parametrize("bound", [HUGE, str(MAX_POSITION + 1), *NOT_ASCII_DIGITS[:3]])
@pytest.mark.parametrize("name", ["since", "until"])
def test_an_export_window_with_a_position_out_of_range_says_so(name: str, bound: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a position from 0 to {MAX_POSITION}"):
        Window.parse(**{name: bound, "since" if name == "until" else "until": None})


@pytest.mark.parametrize(
    ("path", "segment"),
    [
        ("/webhooks/idenfy", ""),
        ("/webhooks/idenfy/", ""),
        ("/webhooks/idenfy/auto-finished", "auto-finished"),
        ("/webhooks/idenfy/auto-finished/", "auto-finished"),
        ("/webhooks/idenfy/unknown/", "unknown"),
        ("/webhooks/idenfy//", None),
        ("/webhooks/idenfy/a/b", None),
        ("/webhooks/idenfy/a//", None),
        ("/webhooks/idenfyx", None),
        ("/webhooks", None),
    ],
)
def test_webhook_paths_are_taken_with_or_without_a_trailing_slash(
    path: str, segment: str | None
) -> None:
    assert kind_segment(path) == segment
    scope = {"type": "http", "method": "POST", "path": path, "root_path": ""}
    assert is_webhook(scope) is (segment is not None)


def record_of(message: str, fields: dict[str, object]) -> logging.LogRecord:
    record = logging.LogRecord("ledger.access", logging.INFO, "", 0, message, (), None)
    record.fields = fields
    return record


FORGED = "/verifications/x\n12:00:00 error   ledger.http: forged\r\x1b[2K\u2028\x85"


def test_a_text_log_line_stays_one_line_whatever_the_message_and_fields_hold() -> None:
    token = context.set({"request_id": "r\n1"})
    try:
        line = TextFormatter().format(record_of(f"GET {FORGED}", {"path": FORGED}))
    finally:
        context.reset(token)

    assert len(line.splitlines()) == 1
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line)
    assert "\u2028" not in line
    assert "request_id=r\\x0a1" in line
    assert "path=/verifications/x\\x0a12:00:00 error   ledger.http: forged\\x0d\\x1b[2K" in line
    assert "forged\\x0d\\x1b[2K\\u2028\\x85 request_id=" in line


def test_json_logs_keep_the_text_exactly_escaped_by_json() -> None:
    line = JsonFormatter().format(record_of(f"GET {FORGED}", {"path": FORGED}))

    assert "\n" not in line
    assert "\r" not in line
    parsed = json.loads(line)
    assert parsed["message"] == f"GET {FORGED}"
    assert parsed["path"] == FORGED
