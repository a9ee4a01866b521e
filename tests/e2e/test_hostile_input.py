"""Whatever arrives at the webhook endpoint, the answer is never a server error.

Property tests throw arbitrary bodies, signed and not, and arbitrary header values at
the endpoint, and arbitrary JSON at ``decode_report``; hand-made nasty bodies go to
both stores; an endless chunked body is cut off at the limit instead of buffered.
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from starlette.types import Message

from adapters.idenfy import HEADER_KINDS, PATH_KINDS, UnusablePayloadError, decode_report
from adapters.signing import sign
from app.bootstrap import bootstrap
from app.config import load
from app.http.body import WEBHOOK_BODY_LIMIT
from app.server import create_app
from app.service.ledger import Ledger
from app.service.services import Services
from domain.reports import (
    CompanyNotice,
    ExpirationNotice,
    Kind,
    MonitoringNotice,
    OtherNotice,
    Outcome,
)
from tests.support.idenfy import encode, result_body
from tests.support.process import Launcher
from tests.support.settings import API_TOKENS, SIGNING_KEYS, environment

ALLOWED = {200, 202, 401, 404, 413}
SCAN_REF_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,99}\Z")
SCAN_REFS = ("3f2b8c1e-5a7d-11ef-9c2a-0242ac120002", "hostile-1", "A", "x" * 100)
PATHS = ["/webhooks/idenfy", *(f"/webhooks/idenfy/{kind}" for kind in PATH_KINDS)]
CHUNK = 64 * 1024
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CATCH_UP_SECONDS = 10.0


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Services, TestClient]]:
    """One service on SQLite for every example of the property tests."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'ledger.sqlite3'}"
    services = bootstrap(load(environment(url)))
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield services, client
    services.close()


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


# The endpoint


@PROPERTY
@given(
    raw=any_body,
    path=st.sampled_from(PATHS),
    event_type=header_values,
    content_type=content_types,
)
def test_a_correctly_signed_body_of_any_shape_is_recorded_or_quarantined_never_a_server_error(
    hostile: tuple[Services, TestClient],
    raw: bytes,
    path: str,
    event_type: bytes | str | None,
    content_type: str,
) -> None:
    _, client = hostile
    headers = headers_for(raw, sign(SIGNING_KEYS[1], raw), event_type, content_type)
    response = client.post(path, content=raw, headers=headers)
    assert response.status_code in {200, 202}, (response.status_code, response.text)
    answer = response.json()
    if response.status_code == 200:
        assert answer["result"] in ("recorded", "duplicate")
        assert SCAN_REF_RE.match(answer["scanRef"])
        assert answer["sequence"] >= 1
    else:
        assert answer["result"] == "quarantined"
        assert re.fullmatch(r"[0-9a-f]{32}", answer["id"])


@PROPERTY
@given(
    raw=any_body,
    path=st.sampled_from([*PATHS, "/webhooks/idenfy/VIDEO", "/webhooks/idenfy/%00"]),
    signature=header_values,
    event_type=header_values,
    content_type=content_types,
)
def test_a_body_without_its_signature_is_refused_whatever_the_headers_say(
    hostile: tuple[Services, TestClient],
    raw: bytes,
    path: str,
    signature: bytes | str | None,
    event_type: bytes | str | None,
    content_type: str,
) -> None:
    services, client = hostile
    before = services.ledger.recorder.max_notification_id()
    headers = headers_for(raw, signature, event_type, content_type)
    response = client.post(path, content=raw, headers=headers)
    assert response.status_code in ALLOWED - {200, 202}, (response.status_code, response.text)
    assert isinstance(response.json()["error"], str)
    assert services.ledger.recorder.max_notification_id() == before


@PROPERTY
@given(
    raw=st.binary(max_size=256),
    signature=st.binary(max_size=128),
    event_type=st.binary(max_size=64),
)
def test_header_values_with_control_bytes_never_cause_a_server_error(
    hostile: tuple[Services, TestClient], raw: bytes, signature: bytes, event_type: bytes
) -> None:
    _, client = hostile
    for value in (signature, sign(SIGNING_KEYS[0], raw).encode() + b"\r\n\x00" + signature):
        headers = {b"Idenfy-Signature": value, b"Idenfy-Event-Type": b"\x00\r\n" + event_type}
        response = client.post("/webhooks/idenfy", content=raw, headers=headers)
        assert response.status_code in ALLOWED, (response.status_code, response.text)


# decode_report


def assert_decodes_or_is_unusable(kind: Kind, raw: bytes) -> None:
    try:
        report = decode_report(kind, raw)
    except UnusablePayloadError as error:
        cause = str(error)
        assert cause, "an unusable body without a cause"
        return
    expected = {
        Kind.DOCUMENT_EXPIRATION: ExpirationNotice,
        Kind.OTHER: OtherNotice,
        Kind.AML_MONITORING: MonitoringNotice,
        Kind.COMPANY: CompanyNotice,
    }
    assert isinstance(report, expected.get(kind, Outcome))
    subject, _, named = report.scan_ref.rpartition(":")
    if isinstance(report, MonitoringNotice | CompanyNotice):
        assert subject in ("aml", "company")
        assert ":" not in named
    else:
        assert SCAN_REF_RE.match(report.scan_ref)
        assert not report.scan_ref.startswith(("aml:", "company:"))
    if isinstance(report, Outcome):
        assert report.finish_time is None or 0 <= report.finish_time <= 2**53
        assert all(isinstance(tag, str) for tag in (*report.fraud_tags, *report.mismatch_tags))


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(list(Kind)), raw=any_body)
def test_decode_report_returns_a_report_or_says_the_body_is_unusable(
    kind: Kind, raw: bytes
) -> None:
    assert_decodes_or_is_unusable(kind, raw)


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(list(Kind)),
    value=json_values,
    duplicate=st.sampled_from(["scanRef", "final", "status", "finishTime"]),
)
def test_decode_report_survives_duplicate_keys(kind: Kind, value: Any, duplicate: str) -> None:
    raw = encode(result_body(SCAN_REFS[1]))
    extra = f',"{duplicate}":{json.dumps(value)}}}'.encode()
    assert_decodes_or_is_unusable(kind, raw[:-1] + extra)


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


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_decode_report_handles_every_nasty_body(kind: Kind) -> None:
    for raw in NASTY_BODIES.values():
        assert_decodes_or_is_unusable(kind, raw)


def post_signed(client: TestClient, path: str, raw: bytes, content_type: str) -> int:
    headers = {"Idenfy-Signature": sign(SIGNING_KEYS[0], raw), "Content-Type": content_type}
    return client.post(path, content=raw, headers=headers).status_code


def test_nasty_bodies_are_recorded_or_quarantined_on_sqlite(
    hostile: tuple[Services, TestClient],
) -> None:
    _, client = hostile
    for name, raw in NASTY_BODIES.items():
        for path in ("/webhooks/idenfy", "/webhooks/idenfy/document-expiration"):
            status = post_signed(client, path, raw, "application/json")
            expected = {413} if len(raw) > WEBHOOK_BODY_LIMIT else {200, 202}
            assert status in expected, (name, path, status)


@pytest.mark.postgres
def test_nasty_bodies_are_recorded_or_quarantined_on_postgres(postgres_url: str) -> None:
    services = bootstrap(load(environment(postgres_url)))
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            for name, raw in NASTY_BODIES.items():
                for path in ("/webhooks/idenfy/auto-finished", "/webhooks/idenfy/cancelled"):
                    for content_type in ("application/json", "text/plain; charset=latin-1"):
                        status = post_signed(client, path, raw, content_type)
                        expected = {413} if len(raw) > WEBHOOK_BODY_LIMIT else {200, 202}
                        assert status in expected, (name, path, status)
    finally:
        services.close()


# NUL characters are valid JSON text, and the projections must take them like any other.


def test_a_recorded_delivery_with_nul_characters_does_not_stop_the_projections(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    raw = encode(result_body(client_id="user-\x00-1", overall="APPROVED\x00", externalRef="e\x00"))
    later = encode(result_body("after-the-nul-one", client_id="user-2"))
    # NUL cannot be stored in PostgreSQL text: such a delivery is kept in quarantine.
    assert post_signed(client, "/webhooks/idenfy/auto-finished", raw, "application/json") in (
        200,
        202,
    )
    assert post_signed(client, "/webhooks/idenfy/auto-finished", later, "application/json") == 200
    head = services.ledger.recorder.max_notification_id() or 0
    for view in services.views.all():
        view.wait(Ledger.name, head, timeout=CATCH_UP_SECONDS)
    backend = {"Authorization": f"Bearer {API_TOKENS['backend']}"}
    document = client.get("/verifications/after-the-nul-one", headers=backend).json()
    assert document["clientId"] == "user-2"


def test_a_registration_with_nul_characters_does_not_stop_the_projections(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    backend = {"Authorization": f"Bearer {API_TOKENS['backend']}"}
    hostile = {"scanRef": "registered-nul", "clientId": "user\x00", "externalRef": "\x00"}
    response = client.post("/verifications", json=hostile, headers=backend)
    assert response.status_code in (201, 422), response.text
    later = client.post(
        "/verifications", json={"scanRef": "registered-later", "clientId": "u"}, headers=backend
    )
    assert later.status_code == 201, later.text
    position = later.json()["position"]
    for view in services.views.all():
        view.wait(Ledger.name, position, timeout=CATCH_UP_SECONDS)


NUL_READS = (
    ("/verifications?clientId=user%00", "backend", 200),
    ("/verifications?status=APPROVED%00", "backend", 200),
    ("/clients/user%00", "backend", 404),
    ("/verifications/scan%00ref", "backend", 404),
    ("/verifications/scan%00ref/timeline", "auditor", 404),
)


def test_reads_naming_nul_characters_are_answered_like_any_unknown_name(
    client: TestClient,
) -> None:
    answered = {
        path: client.get(path, headers={"Authorization": f"Bearer {API_TOKENS[role]}"}).status_code
        for path, role, _ in NUL_READS
    }
    assert answered == {path: status for path, _, status in NUL_READS}


# An endless body


def test_an_endless_chunked_body_is_cut_off_at_the_limit_without_being_read_to_its_end(
    services: Services,
) -> None:
    app = create_app(services)
    limit_in_chunks = WEBHOOK_BODY_LIMIT // CHUNK + 2
    given = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal given
        given += 1
        assert given <= 10 * limit_in_chunks, "the service kept reading an endless body"
        return {"type": "http.request", "body": b"{" * CHUNK, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/idenfy",
        "raw_path": b"/webhooks/idenfy",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"transfer-encoding", b"chunked"),
            (b"idenfy-signature", b"0" * 64),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def call() -> None:
        with anyio.fail_after(30):
            await app(scope, receive, send)

    anyio.run(call)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 413
    assert given <= limit_in_chunks
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["error"]
    assert services.quarantine.count() == 0


def test_a_real_server_answers_413_to_an_endless_chunked_body_and_stays_up(
    launcher: Launcher, sqlite_url: str
) -> None:
    service = launcher.start(environment(sqlite_url))
    address = urlsplit(service.url)
    head = (
        b"POST /webhooks/idenfy/auto-finished HTTP/1.1\r\nHost: ledger\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n"
        b"Idenfy-Signature: " + b"0" * 64 + b"\r\n\r\n"
    )
    chunk = b"%x\r\n" % CHUNK + b"[" * CHUNK + b"\r\n"
    answer = b""
    sent = 0
    deadline = time.monotonic() + 30
    with socket.create_connection((address.hostname, address.port), timeout=2) as conn:
        conn.sendall(head)
        while b"\r\n\r\n" not in answer:
            assert time.monotonic() < deadline, "no answer to an endless body"
            assert sent < 64 * WEBHOOK_BODY_LIMIT, "the server kept reading an endless body"
            readable, _, _ = select.select([conn], [], [], 0)
            if readable:
                data = conn.recv(65536)
                assert data, "the server closed without answering"
                answer += data
                continue
            try:
                conn.sendall(chunk)
            except OSError:  # the server stopped reading and closed: read what it said
                conn.settimeout(5)
                answer += conn.recv(65536)
                break
            sent += len(chunk)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent >= WEBHOOK_BODY_LIMIT
    raw = encode(result_body())
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(
            b"POST /webhooks/idenfy/auto-finished HTTP/1.1\r\nHost: ledger\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            b"Idenfy-Signature: " + sign(SIGNING_KEYS[0], raw).encode() + b"\r\n"
            b"Content-Length: %d\r\n\r\n" % len(raw) + raw
        )
        reply = b""
        while chunk_of_reply := conn.recv(65536):
            reply += chunk_of_reply
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert service.process.poll() is None
