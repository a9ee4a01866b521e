"""The fake iDenfy status API served in this process on a free port, and a client of it.

``fake_idenfy`` is a context manager a fixture wraps: the fake runs in a thread (uvicorn)
for the length of the test; its state (``FakeIdenfy``) can be scripted directly or over
HTTP. ``client_of`` builds the real client against it, with a sleep that only records.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from adapters.idenfy_api import IdenfyApiSettings, IdenfyStatusApi
from app.cli.fake_idenfy import FakeIdenfyServer
from app.http.fake_idenfy_script import FakeIdenfy

API_KEY = "fake-api-key-0001"
API_SECRET = "fake-api-secret-of-the-tests-0001"
ASKED_AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@contextlib.contextmanager
def fake_idenfy() -> Iterator[FakeIdenfyServer]:
    """A fake iDenfy API listening on 127.0.0.1 at a free port, stopped afterwards."""
    with FakeIdenfyServer(FakeIdenfy(API_KEY, API_SECRET)) as server:
        yield server


class RecordedSleep:
    """A sleep that returns at once and remembers each delay it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client_of(
    server: FakeIdenfyServer,
    sleep: RecordedSleep | None = None,
    *,
    api_secret: str = API_SECRET,
    retries: int = 4,
    max_delay: float = 60.0,
    timeout: float = 5.0,
) -> IdenfyStatusApi:
    """The status API client pointed at ``server``, asking at ``ASKED_AT``."""
    settings = IdenfyApiSettings(
        api_key=API_KEY,
        api_secret=api_secret,
        base_url=server.url,
        timeout=timeout,
        retries=retries,
        max_delay=max_delay,
    )
    return IdenfyStatusApi(settings, sleep=sleep or RecordedSleep(), now=lambda: ASKED_AT)
