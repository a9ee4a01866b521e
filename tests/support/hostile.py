"""Hostile webhook bodies and headers: hypothesis strategies, hand-made nasty bodies, and
what ``decode_report`` must make of any of them; shared by the endpoint and decoder tests."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import strategies as st

from adapters.idenfy import HEADER_KINDS, UnusablePayloadError, decode_report
from domain.reports import ExpirationNotice, Kind, Outcome
from tests.support.idenfy import encode, result_body

SCAN_REF_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,99}\Z")
SCAN_REFS = ("3f2b8c1e-5a7d-11ef-9c2a-0242ac120002", "hostile-1", "A", "x" * 100)


# Strategies

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**200)
    | st.floats()
    | st.text()
    | st.sampled_from(["", "\x00", "APPROVED", "\u202e", "\ud7ff", SCAN_REFS[0]]),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
RESULT_FIELDS = (
    "scanRef", "clientId", "externalRef", "final", "status", "finishTime", "data", "fileUrls",
)  # fmt: skip
STATUS_FIELDS = ("overall", "autoDocument", "autoFace", "fraudTags", "mismatchTags")


@st.composite
def mutated_result_bodies(draw: st.DrawFn) -> bytes:
    """A realistic result body with some of its decision fields replaced by anything."""
    body: dict[str, Any] = result_body(draw(st.sampled_from(SCAN_REFS)))
    for field in draw(st.lists(st.sampled_from(RESULT_FIELDS), max_size=3, unique=True)):
        body[field] = draw(json_values)
    if isinstance(body.get("status"), dict):
        for field in draw(st.lists(st.sampled_from(STATUS_FIELDS), max_size=2, unique=True)):
            body["status"][field] = draw(json_values)
    return json.dumps(body).encode()


@st.composite
def expiration_bodies(draw: st.DrawFn) -> bytes:
    body: dict[str, Any] = {
        "scanRef": draw(st.sampled_from(SCAN_REFS)),
        "clientId": "user-1",
        "expirationThreshold": "30",
        "documentExpiration": "2031-04-30",
    }
    for field in draw(st.lists(st.sampled_from(list(body)), max_size=2, unique=True)):
        body[field] = draw(json_values)
    return json.dumps(body).encode()


any_body = st.one_of(
    st.binary(max_size=2048),
    json_values.map(lambda value: json.dumps(value).encode()),
    mutated_result_bodies(),
    expiration_bodies(),
)
header_values = st.one_of(
    st.none(),
    st.sampled_from([*HEADER_KINDS, "VIDEO_CALL_FINISHED", " identification ", ""]),
    st.binary(max_size=300),
    st.sampled_from([b"IDENTIFICATION\r\nX-Injected: 1", b"IDENTIFICATION\x00", b"\r\n\r\n"]),
)


def headers_for(
    raw: bytes, signature: bytes | str | None, event_type: bytes | str | None, content_type: str
) -> dict[str, Any]:
    headers: dict[str, Any] = {"Content-Type": content_type}
    if signature is not None:
        headers["Idenfy-Signature"] = signature
    if event_type is not None:
        headers["Idenfy-Event-Type"] = event_type
    return headers


content_types = st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "a/b; x=\x01"]
)


# What decode_report makes of a body


def assert_decodes_or_is_unusable(kind: Kind, raw: bytes) -> None:
    try:
        report = decode_report(kind, raw)
    except UnusablePayloadError as error:
        cause = str(error)
        assert cause, "an unusable body without a cause"
        return
    expected = ExpirationNotice if kind is Kind.DOCUMENT_EXPIRATION else Outcome
    assert isinstance(report, expected)
    assert SCAN_REF_RE.match(report.scan_ref)
    if isinstance(report, Outcome):
        assert report.finish_time is None or 0 <= report.finish_time <= 2**53
        assert all(isinstance(tag, str) for tag in (*report.fraud_tags, *report.mismatch_tags))


def nested(depth: int) -> bytes:
    return encode(result_body(SCAN_REFS[0]) | {"x": 0}).replace(
        b'"x":0', b'"x":' + b'{"a":[' * depth + b"0" + b"]}" * depth
    )


NASTY_BODIES: dict[str, bytes] = {
    "deep nesting in an ignored field": nested(60_000),
    "deep nesting as the status": b'{"scanRef":"a","status":' + b"[" * 200_000 + b"]" * 200_000,
    "a number of 200,000 digits": b'{"scanRef":"a","finishTime":' + b"9" * 200_000 + b"}",
    "a huge exponent": b'{"scanRef":"a","finishTime":1e999999}',
    "a negative finishTime": b'{"scanRef":"a","finishTime":-1}',
    "a fractional finishTime": b'{"scanRef":"a","finishTime":1718787742.5}',
    "a string of 1,000,000 bytes": b'{"scanRef":"a","data":"' + b"x" * 1_000_000 + b'"}',
    "an overall of 5,000 characters": b'{"scanRef":"a","status":{"overall":"'
    + b"A" * 5000
    + b'"}}',
    "NUL bytes outside strings": b'{"scanRef":"a",\x00"final":true}',
    "a raw NUL inside a string": b'{"scanRef":"a","clientId":"u\x00"}',
    "invalid UTF-8 in an ignored field": b'{"scanRef":"a","data":"\xc3\x28\xff"}',
    "a lone surrogate escape": b'{"scanRef":"a","clientId":"\\ud800"}',
    "UTF-16": json.dumps({"scanRef": "a"}).encode("utf-16"),
    "a byte order mark": b"\xef\xbb\xbf" + encode(result_body("a")),
    "duplicate scanRef keys": b'{"scanRef":"a","scanRef":"b b"}',
    "NaN and Infinity": b'{"scanRef":"a","finishTime":NaN,"final":Infinity}',
    "trailing garbage": encode(result_body("a")) + b"garbage",
    "two JSON documents": encode(result_body("a")) + encode(result_body("b")),
    "whitespace only": b" \t\r\n ",
    "null": b"null",
    "a scanRef of 101 characters": encode(result_body("a" * 101)),
    "a scanRef with a newline": b'{"scanRef":"a\\n"}',
    "an object with 50,000 keys": b"{"
    + b",".join(b'"k%d":%d' % (n, n) for n in range(50_000))
    + b',"scanRef":"a"}',
}
