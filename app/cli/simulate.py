"""Sending planned deliveries the way iDenfy does: signed, retried until a 2xx."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from adapters.signing import sign
from app.cli.scenarios import HEADER_OF_KIND, Planned

MAX_RETRIES = 10


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery after all its tries."""

    planned: Planned
    status: int | None
    answer: dict[str, Any]
    tries: int

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def summary(self) -> dict[str, Any]:
        return {
            "scanRef": self.planned.scan_ref,
            "kind": self.planned.kind,
            "status": self.status,
            "result": self.answer.get("result"),
            "sequence": self.answer.get("sequence"),
            "tries": self.tries,
        }


class Sender:
    """Posts deliveries to one service, one keep-alive connection per thread."""

    def __init__(self, url: str, key: str, timeout: float = 10.0, retry_delay: float = 1.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.parts = parts
        self.base = parts.path.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            kind = (
                http.client.HTTPSConnection
                if self.parts.scheme == "https"
                else http.client.HTTPConnection
            )
            connection = kind(self.parts.hostname or "", self.parts.port, timeout=self.timeout)
            self.local.connection = connection
        return connection

    def _post_once(self, planned: Planned) -> tuple[int, dict[str, Any]]:
        headers = {
            "Content-Type": "application/json",
            "Idenfy-Signature": sign(self.key, planned.body),
        }
        if planned.by_path:
            path = f"{self.base}/webhooks/idenfy/{planned.kind}"
        else:
            path = f"{self.base}/webhooks/idenfy"
            headers["Idenfy-Event-Type"] = planned.header or HEADER_OF_KIND[planned.kind]
        connection = self._connection()
        try:
            connection.request("POST", path, body=planned.body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            self.local.connection = None
            raise
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        return response.status, answer if isinstance(answer, dict) else {}

    def register(self, scan_ref: str, client_id: str | None, token: str, **limits: int) -> int:
        """Register a verification as the backend would (``POST /verifications``); the status."""
        body = {"scanRef": scan_ref, "clientId": client_id or f"client-{scan_ref[:8]}", **limits}
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        connection = self._connection()
        try:
            connection.request("POST", f"{self.base}/verifications", json.dumps(body), headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            self.local.connection = None
            return 0
        return response.status

    def deliver(self, planned: Planned) -> Outcome:
        """Post until a 2xx, at most ``MAX_RETRIES`` retries after the first try."""
        status: int | None = None
        answer: dict[str, Any] = {}
        for attempt in range(1, MAX_RETRIES + 2):
            try:
                status, answer = self._post_once(planned)
            except (OSError, http.client.HTTPException):
                status, answer = None, {}
            if status is not None and 200 <= status < 300:
                return Outcome(planned, status, answer, attempt)
            if attempt <= MAX_RETRIES:
                time.sleep(self.retry_delay)
        return Outcome(planned, status, answer, MAX_RETRIES + 1)


def run(
    sender: Sender,
    planned: Sequence[Planned],
    concurrency: int = 8,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Send everything, ``concurrency`` at a time; outcomes in the planned order."""

    def one(item: Planned) -> Outcome:
        outcome = sender.deliver(item)
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, planned))


def register_all(
    sender: Sender,
    verifications: dict[str, str | None],
    token: str,
    concurrency: int,
    limits: dict[str, int],
) -> int:
    """Register every verification (``sender.register``); how many were refused."""

    def one(item: tuple[str, str | None]) -> int:
        return sender.register(item[0], item[1], token, **limits)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        statuses = list(pool.map(one, verifications.items()))
    return sum(status not in (200, 201) for status in statuses)


def tally(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Counts of what was acknowledged, and how."""
    results = Counter(o.answer.get("result", "?") for o in outcomes if o.acknowledged)
    return {
        "sent": len(outcomes),
        "acknowledged": sum(o.acknowledged for o in outcomes),
        "unacknowledged": sum(not o.acknowledged for o in outcomes),
        "retried": sum(o.tries > 1 for o in outcomes),
        "results": dict(sorted(results.items())),
        "verifications": len({o.planned.scan_ref for o in outcomes}),
    }
