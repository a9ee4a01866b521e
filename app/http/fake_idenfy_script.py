"""What a fake of iDenfy's status API answers: scripted per scanRef, for trials and tests.

A script is a JSON object (every key optional)::

    {"default": {"status": "APPROVED"},
     "scanRefs": {"ref-1": {"status": "DENIED", "manual": true},
                  "ref-2": {"malformed": "other-scan-ref"},
                  "ref-3": {"httpStatus": 404}},
     "delay": 0.5,
     "failures": {"status": 503, "next": 2, "fraction": 0.1, "retryAfter": 1}}

An entry (the default, or one scanRef's) takes ``status``, ``manual`` (a reviewer's verdict
is present), ``fraudTags``, ``mismatchTags``, ``clientId``, ``delay`` (seconds),
``httpStatus`` (an error answer instead) or ``malformed``: one of ``MALFORMED``.
``failures`` makes the next ``next`` calls, and then a ``fraction`` of calls, fail with
``status`` (429 or 5xx; a 429 or 503 carries ``Retry-After: retryAfter``).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MALFORMED = (
    "not-json",
    "not-an-object",
    "no-status",
    "unknown-status",
    "no-scan-ref",
    "other-scan-ref",
)
ENTRY_KEYS = frozenset(
    {
        "status",
        "manual",
        "fraudTags",
        "mismatchTags",
        "clientId",
        "delay",
        "httpStatus",
        "malformed",
    }
)
SCRIPT_KEYS = frozenset({"default", "scanRefs", "delay", "failures"})
AUTO_VERDICTS = {
    "APPROVED": ("DOC_VALIDATED", "FACE_MATCH"),
    "SUSPECTED": ("DOC_VALIDATED", "FACE_MATCH"),
    "DENIED": ("DOC_NOT_FOUND", "FACE_NOT_ANALYSED"),
    "REVIEWING": ("DOC_VALIDATED", "FACE_MATCH"),
}


class ScriptError(ValueError):
    """A script the fake cannot follow; the message says what is wrong."""


@dataclass(frozen=True)
class Reply:
    """One answer of the fake: status, headers, body, and how long to wait before it."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def check_script(script: object) -> dict[str, Any]:
    """``script`` if the fake can follow it; ``ScriptError`` saying why not otherwise."""
    if not isinstance(script, dict):
        raise ScriptError("a script is a JSON object")
    unknown = set(script) - SCRIPT_KEYS
    if unknown:
        raise ScriptError(f"unknown script keys: {sorted(unknown)}")
    _check_entry("default", script.get("default", {}))
    scan_refs = script.get("scanRefs", {})
    if not isinstance(scan_refs, dict):
        raise ScriptError("scanRefs is an object of scanRef to entry")
    for scan_ref, entry in scan_refs.items():
        _check_entry(scan_ref, entry)
    failures = script.get("failures", {})
    if not isinstance(failures, dict):
        raise ScriptError("failures is an object")
    status = failures.get("status", 503)
    if not isinstance(status, int) or not (status == 429 or 500 <= status <= 599):
        raise ScriptError("failures.status is 429 or a 5xx")
    for name in ("next", "fraction", "retryAfter"):
        if not isinstance(failures.get(name, 0), int | float):
            raise ScriptError(f"failures.{name} is a number")
    if not 0 <= failures.get("fraction", 0) <= 1:
        raise ScriptError("failures.fraction is between 0 and 1")
    return script


def _check_entry(name: str, entry: object) -> None:
    if not isinstance(entry, dict):
        raise ScriptError(f"{name}: an entry is a JSON object")
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise ScriptError(f"{name}: unknown keys {sorted(unknown)}")
    if "malformed" in entry and entry["malformed"] not in MALFORMED:
        raise ScriptError(f"{name}: malformed is one of {', '.join(MALFORMED)}")


class FakeIdenfy:
    """The fake's state: its credentials, its script, and the calls it has answered."""

    def __init__(
        self, api_key: str, api_secret: str, script: dict[str, Any] | None = None, seed: int = 0
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self._lock = threading.Lock()
        self._script: dict[str, Any] = check_script(script or {})
        self._failing = int(self._script.get("failures", {}).get("next", 0))
        self._calls: Counter[str] = Counter()
        self._refused = 0
        self._random = random.Random(seed)

    def __repr__(self) -> str:
        return "FakeIdenfy()"

    def set_script(self, script: object, *, merge: bool = False) -> dict[str, Any]:
        """Follow ``script`` from now on (with ``merge``, its scanRefs are added to the
        current ones and its other keys replace theirs); the script in force."""
        checked = check_script(script)
        with self._lock:
            if merge:
                scan_refs = {**self._script.get("scanRefs", {}), **checked.get("scanRefs", {})}
                checked = {**self._script, **checked, "scanRefs": scan_refs}
            self._script = checked
            if "failures" in checked:
                self._failing = int(checked["failures"].get("next", 0))
            return dict(self._script)

    def script(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._script)

    def reset(self) -> None:
        """No script, and no calls counted."""
        with self._lock:
            self._script, self._failing = {}, 0
            self._calls.clear()
            self._refused = 0

    def calls(self) -> dict[str, Any]:
        """The calls answered: per scanRef, in all, and refused for their credentials."""
        with self._lock:
            return {
                "calls": dict(self._calls),
                "total": sum(self._calls.values()),
                "unauthorized": self._refused,
            }

    def refused(self) -> None:
        with self._lock:
            self._refused += 1

    def answer(self, scan_ref: str) -> Reply:
        """The reply to an authenticated question about ``scan_ref``, counted."""
        with self._lock:
            self._calls[scan_ref] += 1
            script = self._script
            entry = {**script.get("default", {}), **script.get("scanRefs", {}).get(scan_ref, {})}
            delay = float(entry.get("delay", script.get("delay", 0.0)))
            failure = self._failure(script.get("failures", {}))
        if failure is not None:
            return Reply(failure.status, failure.body, failure.headers, delay)
        if "httpStatus" in entry:
            status = int(entry["httpStatus"])
            return Reply(status, error_body("BAD_VALUE", f"scripted HTTP {status}"), delay=delay)
        return Reply(200, status_body(scan_ref, entry), delay=delay)

    def _failure(self, failures: dict[str, Any]) -> Reply | None:
        if self._failing > 0:
            self._failing -= 1
        elif not (failures and self._random.random() < float(failures.get("fraction", 0))):
            return None
        status = int(failures.get("status", 503))
        headers = {}
        if status in (429, 503):
            headers["Retry-After"] = str(failures.get("retryAfter", 1))
        identifier = "TOO_MANY_REQUESTS" if status == 429 else "INTERNAL_ERROR"
        return Reply(status, error_body(identifier, f"scripted HTTP {status}"), headers)


def status_body(scan_ref: str, entry: dict[str, Any]) -> bytes:
    """The bytes the fake answers for ``scan_ref`` following ``entry``."""
    malformed = entry.get("malformed")
    if malformed == "not-json":
        return b"<html><body>502 Bad Gateway</body></html>"
    if malformed == "not-an-object":
        return b'["APPROVED"]'
    status = str(entry.get("status", "APPROVED"))
    auto_document, auto_face = AUTO_VERDICTS.get(status, (None, None))
    manual = bool(entry.get("manual", False)) and auto_document is not None
    document: dict[str, Any] = {
        "fraudTags": list(entry.get("fraudTags", [])),
        "mismatchTags": list(entry.get("mismatchTags", ["NAME"] if status == "SUSPECTED" else [])),
        "autoDocument": auto_document,
        "autoFace": auto_face,
        "manualDocument": auto_document if manual else None,
        "manualFace": auto_face if manual else None,
        "scanRef": scan_ref,
        "clientId": str(entry.get("clientId", "fake-client")),
        "status": status,
    }
    if malformed == "no-status":
        del document["status"]
    elif malformed == "unknown-status":
        document["status"] = "NOT_A_STATUS"
    elif malformed == "no-scan-ref":
        del document["scanRef"]
    elif malformed == "other-scan-ref":
        document["scanRef"] = f"other-{scan_ref}"
    return json.dumps(document).encode()


def error_body(identifier: str, message: str) -> bytes:
    """An error answer in iDenfy's shape: ``{"identifier", "message"}``."""
    return json.dumps({"identifier": identifier, "message": message}).encode()
