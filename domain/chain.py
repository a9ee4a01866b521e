"""Tamper evidence: each recorded event commits to its own facts and to its predecessor.

An event's ``hash`` is SHA-256 over a canonical encoding of everything recorded with
it (its class, verification, sequence, time, delivery facts, decision fields and
the previous event's hash) except the payload bytes. The payload is covered through
``payload_sha256``, so erasing personal data later leaves every chain intact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

EXCLUDED = frozenset({"payload", "hash"})


_AS_THEY_ARE = frozenset({str, int, bool, float, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _AS_THEY_ARE:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def canonical(event_name: str, state: Mapping[str, Any]) -> bytes:
    """The bytes an event's hash is taken over: sorted-key JSON, ASCII only."""
    record = {key: _plain(value) for key, value in state.items() if key not in EXCLUDED}
    record["event"] = event_name
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(event_name: str, state: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(event_name, state)).hexdigest()


class LedgerDigest:
    """A commitment to the whole ledger: every chain's head, in ledger order.

    Chains are taken in the order of their first event's position in the ledger;
    each contributes its scanRef, its length and its head hash.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256(b"verification-ledger digest v1\n")
        self.events = 0

    def add(self, scan_ref: str, sequence: int, head: str) -> None:
        self._sha.update(f"{scan_ref}\t{sequence}\t{head}\n".encode())
        self.events += sequence

    def hexdigest(self) -> str:
        return self._sha.hexdigest()
