"""What one client can hold of ``ledger serve``, over raw sockets (ADR 23): header bytes
and fields, the time to send a head, a body and the next request, the connections open
at once; and which proxies are believed about https."""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.process import Launcher, RunningService
from tests.support.settings import environment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process

WEBHOOK = b"POST /webhooks/idenfy/auto-finished HTTP/1.1\r\nHost: ledger\r\n"
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: ledger\r\n\r\n"
HUGE_HEADER_BYTES = 50 * 1024 * 1024
CHUNK = 64 * 1024
RSS_GROWTH_LIMIT = 24 * 1024 * 1024
SHORT = 1.0
"""The timeouts the tests set: answered within a few of them, never before one."""
ANSWER_SECONDS = 5.0


def serve(launcher: Launcher, sqlite_url: str, *args: str, **extra: str) -> RunningService:
    return launcher.start(environment(sqlite_url, **extra), args=args)


@contextlib.contextmanager
def connection(service: RunningService) -> Iterator[socket.socket]:
    address = urlsplit(service.url)
    sock = socket.create_connection((address.hostname, address.port), timeout=ANSWER_SECONDS)
    try:
        yield sock
    finally:
        sock.close()


def read_until_closed(sock: socket.socket, seconds: float = ANSWER_SECONDS) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts)."""
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(CHUNK)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data
    raise AssertionError(f"still open after {seconds} s; received {received[:200]!r}")


def read_answer(sock: socket.socket) -> bytes:
    """One answer to a request on a connection the server keeps open."""
    received = b""
    while b"\r\n\r\n" not in received:
        data = sock.recv(CHUNK)
        assert data, f"closed after {received!r}"
        received += data
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(CHUNK)
    return received


def status(answer: bytes) -> int | None:
    """The status of the first answer in ``answer``, or None for no answer at all."""
    return int(answer.split(b" ", 2)[1]) if answer else None


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_a_huge_header_gets_431_at_once_and_the_server_does_not_grow(
    launcher: Launcher, sqlite_url: str
) -> None:
    service = serve(launcher, sqlite_url)
    before = rss_bytes(service.pid)
    started = time.monotonic()
    answer = b""
    sent = 0
    with connection(service) as sock:
        sock.sendall(WEBHOOK + b"Idenfy-Signature: ")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < HUGE_HEADER_BYTES:
                readable, writable, _ = select.select([sock], [sock], [], ANSWER_SECONDS)
                if readable:
                    answer = read_until_closed(sock)
                    break
                assert writable, "the server neither reads nor answers"
                sent += sock.send(b"a" * CHUNK)
    elapsed = time.monotonic() - started

    assert status(answer) in (431, None), answer[:200]
    assert sent < HUGE_HEADER_BYTES / 4
    assert elapsed < ANSWER_SECONDS
    assert rss_bytes(service.pid) - before < RSS_GROWTH_LIMIT
    assert_still_serves(service)


def test_too_many_headers_get_431_and_the_limit_itself_passes(
    launcher: Launcher, sqlite_url: str
) -> None:
    service = serve(launcher, sqlite_url, LEDGER_MAX_HEADERS="20")

    def request(headers: int) -> bytes:
        # Host and the numbered fields.
        fields = b"".join(b"X-Field-%d: %d\r\n" % (n, n) for n in range(headers - 1))
        return b"GET /healthz HTTP/1.1\r\nHost: ledger\r\n" + fields + b"\r\n"

    with connection(service) as sock:
        sock.sendall(request(20))
        assert status(read_answer(sock)) == 200
    with connection(service) as sock:
        sock.sendall(request(21))
        assert status(read_until_closed(sock)) == 431


def test_a_head_over_the_byte_limit_gets_431_and_one_under_it_passes(
    launcher: Launcher, sqlite_url: str
) -> None:
    service = serve(launcher, sqlite_url, LEDGER_MAX_HEADER_BYTES="2048")
    padded = b"GET /healthz HTTP/1.1\r\nHost: ledger\r\nX-Pad: %s\r\n\r\n"
    with connection(service) as sock:
        sock.sendall(padded % (b"p" * 1900))
        assert status(read_answer(sock)) == 200
    with connection(service) as sock:
        sock.sendall(padded % (b"p" * 2100))
        assert status(read_until_closed(sock)) == 431


def test_a_client_that_stalls_in_its_headers_gets_408_after_the_header_timeout(
    launcher: Launcher, sqlite_url: str
) -> None:
    service = serve(launcher, sqlite_url, LEDGER_HEADER_TIMEOUT=str(SHORT))
    with connection(service) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ledger\r\nX-Half: ")
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started

    assert status(answer) == 408
    assert SHORT <= elapsed < 3 * SHORT + 1
    assert_still_serves(service)


def test_a_client_that_stalls_in_its_body_gets_408_after_the_body_timeout(
    launcher: Launcher, sqlite_url: str
) -> None:
    service = serve(launcher, sqlite_url, LEDGER_BODY_TIMEOUT=str(SHORT))
    with connection(service) as sock:
        started = time.monotonic()
        sock.sendall(WEBHOOK + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started

    assert status(answer) == 408
    assert SHORT <= elapsed < 3 * SHORT + 1
    assert_still_serves(service)


def test_idle_connections_are_closed_after_the_idle_timeout(
    launcher: Launcher, sqlite_url: str
) -> None:
    service = serve(launcher, sqlite_url, LEDGER_IDLE_TIMEOUT=str(SHORT))
    with connection(service) as kept_alive, connection(service) as silent:
        started = time.monotonic()
        kept_alive.sendall(HEALTH)
        assert status(read_answer(kept_alive)) == 200

        assert read_until_closed(kept_alive) == b""
        assert read_until_closed(silent) == b""
        assert SHORT <= time.monotonic() - started < 3 * SHORT + 1


def test_connections_beyond_the_cap_are_refused_until_one_closes(
    launcher: Launcher, sqlite_url: str
) -> None:
    cap = 3
    service = serve(launcher, sqlite_url, LEDGER_MAX_CONNECTIONS=str(cap))
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(connection(service)) for _ in range(cap)]
        for sock in held:
            sock.sendall(HEALTH)
            assert status(read_answer(sock)) == 200
        with connection(service) as extra:
            answer = read_until_closed(extra)
        assert status(answer) in (503, None), answer[:200]
        held[0].close()
    assert_still_serves(service)


@pytest.mark.parametrize(
    ("args", "extra", "proxy", "secure"),
    [
        (["--forwarded-allow-ips", "127.0.0.2"], {}, "127.0.0.2", True),
        ([], {"LEDGER_FORWARDED_ALLOW_IPS": "127.0.0.0/29"}, "127.0.0.3", True),
        ([], {}, "127.0.0.2", False),
        (["--forwarded-allow-ips", "10.9.8.7"], {}, "127.0.0.1", False),
    ],
    ids=["option", "environment", "default-trusts-only-localhost", "untrusted"],
)
def test_the_ui_cookie_is_secure_only_behind_a_trusted_proxy(
    launcher: Launcher,
    sqlite_url: str,
    args: list[str],
    extra: dict[str, str],
    proxy: str,
    secure: bool,
) -> None:
    service = serve(launcher, sqlite_url, *args, **extra)
    address = urlsplit(service.url)
    with socket.create_connection(
        (address.hostname, address.port), timeout=ANSWER_SECONDS, source_address=(proxy, 0)
    ) as sock:
        sock.sendall(
            b"GET /ui/login HTTP/1.1\r\nHost: ledger.example\r\n"
            b"X-Forwarded-Proto: https\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n"
        )
        head = read_answer(sock).partition(b"\r\n\r\n")[0].decode("latin-1")
    cookies = [line for line in head.split("\r\n") if line.lower().startswith("set-cookie:")]

    assert cookies, head
    assert all(("; secure" in line.lower()) == secure for line in cookies), cookies


def assert_still_serves(service: RunningService) -> None:
    def healthy() -> bool:
        with connection(service) as sock:
            sock.sendall(HEALTH)
            return status(read_answer(sock)) == 200

    wait_until(healthy, ANSWER_SECONDS, "the server answers /healthz again")


def test_the_limits_hold_in_each_worker_process(launcher: Launcher, sqlite_url: str) -> None:
    service = serve(launcher, sqlite_url, "--workers", "2", LEDGER_MAX_HEADERS="5")
    for _ in range(4):
        with connection(service) as sock:
            sock.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: ledger\r\n" + b"X-Field: 1\r\n" * 5 + b"\r\n"
            )
            assert status(read_until_closed(sock)) == 431
