"""Retention clocks, legal holds and erasure of a client's personal data (ADR 31).

A client's relationship ends at its last event, or earlier when ended by hand; its data
is kept ``LEDGER_RETENTION_DAYS`` after that (``retainUntil``). Erasure is refused before
then (unless overridden) and always under a legal hold. It destroys the client's data
keys and records the erasure in one transaction, then appends an ``Erased`` event to each
of the client's verifications; a run cut short after the first step is completed by
running ``ledger erase`` for the client again (the events are appended once each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from adapters.data_keys import is_sealed, key_id_of
from adapters.retention import Hold, drop_quarantined_payloads
from app.service.services import Services
from domain.verification import Verification
from projections.current_status import StatusFilter

PAGE = 1000


class ErasureRefusedError(Exception):
    """Erasure may not happen now; the text says why (and until when)."""


class UnknownClientError(LookupError):
    """Nothing is recorded about this client."""


@dataclass(frozen=True)
class Retention:
    client_id: str
    relationship_ended_at: str | None
    retain_until: str | None
    holds: list[Hold]
    erased_at: str | None
    erased_by: str | None = None
    reason: str | None = None
    scan_refs: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "clientId": self.client_id,
            "relationshipEndedAt": self.relationship_ended_at,
            "retainUntil": self.retain_until,
            "holds": [hold.document() for hold in self.holds],
            "erasedAt": self.erased_at,
            "erasedBy": self.erased_by,
            "erasureReason": self.reason,
            "verifications": len(self.scan_refs),
        }


def verifications_of(services: Services, client_id: str) -> list[dict[str, Any]]:
    """The status documents of the client's verifications, from the status view."""
    found: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        page = services.views.status.statuses(StatusFilter(client_id=client_id), PAGE, before)
        found.extend(page)
        if len(page) < PAGE:
            return found
        before = page[-1]["lastPosition"]


def retention_of(services: Services, client_id: str) -> Retention:
    """The client's retention clock, holds and erasure (UnknownClientError: none)."""
    store = services.retention
    record = store.record(client_id)
    documents = verifications_of(services, client_id)
    refs = sorted({str(d["scanRef"]) for d in documents} | set(store.refs_of(client_id)))
    last = max((str(d["lastEventAt"]) for d in documents if d.get("lastEventAt")), default=None)
    if last is None:  # known only from quarantined copies, if at all
        last = store.newest_key_at(client_id)
    if not refs and last is None and record.ended_at is None and record.erased_at is None:
        raise UnknownClientError(client_id)
    ended = record.ended_at or last
    until = None
    if ended is not None:
        end = datetime.fromisoformat(ended.replace("Z", "+00:00"))
        until = (end + timedelta(days=services.settings.retention_days)).isoformat()
    return Retention(
        client_id=client_id,
        relationship_ended_at=_iso(ended),
        retain_until=until,
        holds=store.holds(client_id),
        erased_at=record.erased_at,
        erased_by=record.erased_by,
        reason=record.reason,
        scan_refs=refs,
    )


def _iso(text: str | None) -> str | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()


def refusal(retention: Retention, now: datetime, override_retention: bool) -> str | None:
    """Why the client may not be erased now, or None."""
    if retention.holds:
        reasons = "; ".join(f"{h.id} ({h.reason}, since {h.placed_at})" for h in retention.holds)
        return f"client {retention.client_id!r} is under legal hold: {reasons}"
    if override_retention:
        return None
    if retention.retain_until is None:
        return f"client {retention.client_id!r}: its relationship has not ended"
    if now < datetime.fromisoformat(retention.retain_until):
        return f"client {retention.client_id!r} is retained until {retention.retain_until}"
    return None


@dataclass
class Erasure:
    """What an erasure did, store by store (``--report``)."""

    client_id: str
    erased_at: str
    erased_by: str
    reason: str
    keys_destroyed: list[str]
    already_erased: bool
    verifications: list[str]
    payloads_unreadable: int = 0
    quarantined_unreadable: int = 0
    events_appended: int = 0
    files: str = ""

    def report(self) -> dict[str, Any]:
        return {
            "clientId": self.client_id,
            "erasedAt": self.erased_at,
            "erasedBy": self.erased_by,
            "reason": self.reason,
            "alreadyErased": self.already_erased,
            "stores": {
                "events": {
                    "verifications": self.verifications,
                    "payloadsUnreadable": self.payloads_unreadable,
                    "erasedEventsAppended": self.events_appended,
                    "kept": "every event's fields, hash and chain; payload SHA-256s",
                },
                "dataKeys": {"destroyed": self.keys_destroyed},
                "quarantine": {"copiesUnreadable": self.quarantined_unreadable},
                "views": {
                    "destroyed": 0,
                    "personalData": "never held: identifiers, verdicts, tags and times only",
                },
                "accessLog": {
                    "destroyed": 0,
                    "personalData": "never held: who read which route, and when",
                },
            },
            "databaseFiles": self.files,
        }


def erase(
    services: Services,
    client_id: str,
    reason: str,
    by: str,
    *,
    override_retention: bool = False,
) -> Erasure:
    """Erase the client's personal data, or raise ``ErasureRefusedError``; an erasure
    already done is completed (its events) and reported again."""
    now = services.clock()
    retention = retention_of(services, client_id)
    store = services.retention
    erased_before = retention.erased_at is not None and not store.has_live_keys(client_id)
    if not erased_before:
        why = refusal(retention, now, override_retention)
        if why is not None:
            raise ErasureRefusedError(why)
        events = getattr(services.ledger.recorder, "events_table_name", "")
        destroyed = store.destroy_client_keys(client_id, now, by, reason, events)
        at, who, why_text = now.isoformat(), by, reason
    else:
        destroyed = []
        at, who = retention.erased_at or now.isoformat(), retention.erased_by or by
        why_text = retention.reason or reason
    keys = store.erased_key_ids(client_id)
    done = Erasure(client_id, at, who, why_text, destroyed, erased_before, retention.scan_refs)
    for scan_ref in retention.scan_refs:
        receipt = services.ledger.record_erasure(scan_ref, now, client_id, why_text, who, keys)
        done.events_appended += not receipt.duplicate
    done.payloads_unreadable = _count_sealed(services, retention.scan_refs, set(keys))
    done.quarantined_unreadable = drop_quarantined_payloads(services.ledger.keys.sql, set(keys))
    done.files = services.ledger.keys.scrub()
    return done


def _count_sealed(services: Services, scan_refs: list[str], keys: set[str]) -> int:
    count = 0
    for scan_ref in scan_refs:
        for event in services.ledger.events.get(Verification.create_id(scan_ref)):
            payload = getattr(event, "payload", None)
            count += is_sealed(payload) and key_id_of(payload) in keys
    return count


def due_for_erasure(services: Services) -> list[Retention]:
    """Clients past retention and not on hold, with personal data left."""
    now = services.clock()
    due = []
    for client_id in services.retention.known_clients():
        try:
            retention = retention_of(services, client_id)
        except UnknownClientError:
            continue
        if refusal(retention, now, override_retention=False) is None:
            due.append(retention)
    return due
