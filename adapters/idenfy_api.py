"""A client of iDenfy's status API (``POST {base}/api/v2/status``), for reconciliation.

iDenfy forbids polling this endpoint: it is asked only about verifications whose results
are overdue, one at a time, through a ``RateLimiter``. A 429, a 5xx or a lost connection
is asked again after an exponentially growing wait (at least what ``Retry-After`` says), a
bounded number of times; a 401 or 403 raises ``AuthenticationError`` at once. The API key
and secret never appear in a repr, an exception or a log line.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from adapters.idenfy_status import StatusCheck, read_answer

log = logging.getLogger("ledger.idenfy_api")

DEFAULT_BASE_URL = "https://ivs.idenfy.com"
STATUS_PATH = "/api/v2/status"
MAX_ANSWER_BYTES = 1024 * 1024
"""More than a status answer ever holds; the rest of a longer answer is not read."""
AUTHENTICATION_STATUSES = (401, 403)


class IdenfyApiError(Exception):
    """iDenfy's API could not be asked, or would not answer."""


class AuthenticationError(IdenfyApiError):
    """iDenfy refused the API key and secret (401 or 403): no further question can succeed."""

    def __init__(self, http_status: int) -> None:
        super().__init__(
            f"iDenfy's API refused the API key and secret (HTTP {http_status}); "
            "check IDENFY_API_KEY and IDENFY_API_SECRET"
        )
        self.http_status = http_status


class UnavailableError(IdenfyApiError):
    """No usable HTTP answer about one scanRef after every allowed attempt."""

    def __init__(
        self,
        scan_ref: str,
        attempts: int,
        problem: str,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            f"iDenfy's API did not answer about {scan_ref} in {attempts} attempts: {problem}"
        )
        self.scan_ref = scan_ref
        self.attempts = attempts
        self.http_status = http_status
        self.retry_after = retry_after
        """Seconds iDenfy asked to wait when that was longer than the client may wait."""


@dataclass(frozen=True)
class IdenfyApiSettings:
    """Where iDenfy's API is and how patiently to ask it."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 10.0
    """Seconds to connect, and to wait for each read of the answer."""
    retries: int = 4
    """Further attempts after a 429, a 5xx or a lost connection; 0 asks once."""
    backoff: float = 1.0
    """Seconds before the first retry; each further retry waits twice as long."""
    max_delay: float = 60.0
    """The longest wait before a retry; a longer ``Retry-After`` ends the attempts."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the iDenfy API URL must be an http(s) URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("the iDenfy API URL must not carry credentials")
        if parts.query or parts.fragment:
            raise ValueError("the iDenfy API URL must have no query or fragment")
        if not self.api_key or not self.api_secret:
            raise ValueError("the iDenfy API key and secret must both be set")
        if self.timeout <= 0 or self.backoff < 0 or self.max_delay < 0 or self.retries < 0:
            raise ValueError("timeout must be positive; retries, backoff, max_delay not negative")


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    retry_after: float | None


class IdenfyStatusApi:
    """Asks iDenfy the status of one verification at a time; safe to share between threads
    (each request has its own connection)."""

    def __init__(
        self,
        settings: IdenfyApiSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._now = now
        token = f"{settings.api_key}:{settings.api_secret}".encode()
        self.__authorization = "Basic " + base64.b64encode(token).decode("ascii")
        parts = urlsplit(settings.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path.rstrip("/") + STATUS_PATH

    def __repr__(self) -> str:
        return f"IdenfyStatusApi(base_url={self._settings.base_url!r})"

    def check(self, scan_ref: str) -> StatusCheck:
        """iDenfy's answer about ``scan_ref``, usable or not (see ``StatusCheck.cause``).

        Raises ``AuthenticationError`` on a 401 or 403, ``UnavailableError`` when every
        attempt met a 429, a 5xx or a lost connection.
        """
        settings = self._settings
        for attempt in range(1, settings.retries + 2):
            asked_at = self._now()
            reply, problem = self._ask(scan_ref)
            if reply is not None and reply.status in AUTHENTICATION_STATUSES:
                raise AuthenticationError(reply.status)
            if reply is not None and not _worth_retrying(reply.status):
                return read_answer(scan_ref, reply.status, reply.body, asked_at, attempt)
            status = reply.status if reply is not None else None
            asked_wait = reply.retry_after if reply is not None else None
            if attempt > settings.retries:
                raise UnavailableError(scan_ref, attempt, problem, status)
            if asked_wait is not None and asked_wait > settings.max_delay:
                raise UnavailableError(
                    scan_ref,
                    attempt,
                    f"{problem}, asked to wait {asked_wait:g} s",
                    status,
                    asked_wait,
                )
            delay = min(settings.backoff * 2 ** min(attempt - 1, 32), settings.max_delay)
            delay = max(delay, asked_wait or 0.0)
            log.warning(
                "iDenfy status of %s: %s; asking again in %.3g s (attempt %d of %d)",
                scan_ref, problem, delay, attempt + 1, settings.retries + 1,
            )  # fmt: skip
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _ask(self, scan_ref: str) -> tuple[_Reply | None, str]:
        """One request: the reply, or None and what went wrong; and a word on it."""
        settings = self._settings
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = kind(self._host, self._port, timeout=settings.timeout)
        body = json.dumps({"scanRef": scan_ref}).encode()
        headers = {
            "Authorization": self.__authorization,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            connection.request("POST", self._path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read(MAX_ANSWER_BYTES)
            retry_after = retry_after_seconds(response.getheader("Retry-After"), self._now())
        except (OSError, http.client.HTTPException) as error:
            return None, f"no answer ({type(error).__name__})"
        finally:
            connection.close()
        return _Reply(response.status, answer, retry_after), f"HTTP {response.status}"


def _worth_retrying(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` value in seconds: a number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
