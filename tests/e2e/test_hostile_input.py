"""Whatever arrives at the webhook endpoint, the answer is never a server error.

Property tests throw arbitrary bodies, signed and not, and arbitrary header values at
the endpoint (``decode_report`` alone is tested in tests/unit/test_decode_report.py);
hand-made nasty bodies go to both stores; an endless chunked body is cut off at the limit
instead of buffered.
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from starlette.types import Message

from adapters.idenfy import PATH_KINDS
from adapters.signing import sign
from app.bootstrap import bootstrap
from app.config import load
from app.http.body import WEBHOOK_BODY_LIMIT
from app.server import create_app
from app.service.ledger import Ledger
from app.service.services import Services
from tests.support.hostile import (
    NASTY_BODIES,
    SCAN_REF_RE,
    any_body,
    content_types,
    header_values,
    headers_for,
)
from tests.support.idenfy import encode, result_body
from tests.support.process import Launcher
from tests.support.settings import API_TOKENS, SIGNING_KEYS, environment

ALLOWED = {200, 202, 401, 404, 413}
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
