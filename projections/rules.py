"""The status rules, version 3: which result is in force, whatever the arrival order.

Every result of a verification has a place in one order: ``finishTime`` first (one
attempt), then automated before manual, then preliminary before final, then arrival.
The result in force is the last in that order. A cancel or expiry sorts after every
result whose ``finishTime`` was known when it arrived, and before any later one; so does
(version 3) an answer of iDenfy's status API that decides (``APPROVED``, ``DENIED``,
``SUSPECTED``: a final result, manual when it carries a manual verdict; ``EXPIRED``: an
expiry), while ``REVIEWING`` makes ``awaitingManualReview`` true.

This module is pure: the projections give it a verification's facts and store what
it returns. A change of these rules gets a new ``RULES_VERSION``, and ``ledger
replay`` rebuilds every projection under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from domain.reports import SUBJECT_PREFIXES
from projections.completeness import awaiting_review_by_check, completeness
from projections.documents import DocumentExpiration, StatusDocument
from projections.facts import (
    CANCELLED,
    DOCUMENT_EXPIRATION,
    ERASED,
    EXPIRED,
    REGISTERED,
    STATUS_CHECKED,
    Fact,
)
from projections.subjects import describe, subject_timeline

RULES_VERSION = 3
DEFAULT_MAX_REATTEMPTS = 1
DEFAULT_MAX_IMAGE_RECAPTURES = 3

AUTOMATED, MANUAL, CLOSING = 0, 1, 2
NO_TIME = -1

OrderKey = tuple[int | float, int, int, int]


@dataclass(frozen=True)
class Evaluation:
    """Everything the projections derive from one verification's facts."""

    document: dict[str, Any]  # a StatusDocument (projections.documents)
    timeline: list[dict[str, Any]]
    in_force: Fact | None


def is_closing(fact: Fact) -> bool:
    """Cancels and expiries close a verification whatever their payload says (and so does
    a status check answering EXPIRED)."""
    return fact.kind in (CANCELLED, EXPIRED) or (
        fact.kind == STATUS_CHECKED and fact.overall == "EXPIRED"
    )


def sorts_last(fact: Fact) -> bool:
    """Closing results and status checks sort after every result known when recorded."""
    return fact.kind == STATUS_CHECKED or is_closing(fact)


def is_preliminary(fact: Fact) -> bool:
    return fact.final is False and not is_closing(fact)


def review(fact: Fact, results: Sequence[Fact]) -> int:
    """AUTOMATED or MANUAL (rule 2); CLOSING for cancels and expiries (rule 4)."""
    if is_closing(fact):
        return CLOSING
    if fact.kind == STATUS_CHECKED:
        return MANUAL if _manual_verdict(fact) else AUTOMATED
    if fact.kind == "manual-finished":
        return MANUAL
    if fact.kind == "identification" and fact.final is None and _manual_verdict(fact):
        return MANUAL  # a legacy result, from before ``final``, that a reviewer decided
    if fact.kind == "identification" and fact.final is not False:
        preliminary_twin = any(
            is_preliminary(other) and other.finish_time == fact.finish_time
            for other in results
            if other.sequence != fact.sequence
        )
        return MANUAL if preliminary_twin else AUTOMATED
    return AUTOMATED


def _manual_verdict(fact: Fact) -> bool:
    return fact.manual_document is not None or fact.manual_face is not None


def order_key(fact: Fact, results: Sequence[Fact]) -> OrderKey:
    """The fact's place in the order of rule 1, among ``results`` (all known so far)."""
    if sorts_last(fact):
        known = [r.finish_time for r in results if r.sequence <= fact.sequence]
        horizon = max((t for t in known if t is not None), default=NO_TIME)
        return (horizon, CLOSING, 1, fact.sequence)
    finish = NO_TIME if fact.finish_time is None else fact.finish_time
    return (finish, review(fact, results), 0 if fact.final is False else 1, fact.sequence)


def effective_status(fact: Fact) -> str | None:
    if fact.kind == CANCELLED:
        return "CANCELED"
    if fact.kind == EXPIRED:
        return "EXPIRED"
    return fact.overall


def effective_final(fact: Fact) -> bool:
    return sorts_last(fact) or fact.final is not False


def order_keys(results: Sequence[Fact]) -> dict[int, OrderKey]:
    """Each result's ``order_key``, by sequence: worked out once per evaluation."""
    return {f.sequence: order_key(f, results) for f in results}


def in_force(results: Sequence[Fact], keys: dict[int, OrderKey]) -> Fact | None:
    """The last result in the order of rule 1 (``keys``: the results' ``order_keys``)."""
    return max(results, key=lambda f: keys[f.sequence], default=None)


def automated_attempts(results: Sequence[Fact], keys: dict[int, OrderKey]) -> list[Fact]:
    """The automated results rule 6 counts (for these kinds the key's review is
    ``review``'s: they never sort last)."""
    return [
        r for r in results
        if r.kind in ("auto-finished", "identification") and keys[r.sequence][1] == AUTOMATED
    ]  # fmt: skip


def attempts(automated: Sequence[Fact]) -> int:
    """Rule 6: automated results (``automated_attempts``) with a ``finishTime`` not seen
    before count once each."""
    return len({r.finish_time for r in automated})


def is_suspected(status: str | None, fact: Fact | None) -> bool:
    """SUSPECTED, or a result in force that carries fraud or mismatch tags."""
    tagged = fact is not None and bool(fact.fraud_tags or fact.mismatch_tags)
    return status == "SUSPECTED" or tagged


def evaluate(scan_ref: str, facts: Sequence[Fact]) -> Evaluation:
    """The status document and audit timeline of one verification (or of another
    subject: an AML monitoring's or a company's document, ``projections.subjects``)."""
    facts = sorted(facts, key=lambda f: f.sequence)
    if scan_ref.startswith(SUBJECT_PREFIXES):
        document = describe(scan_ref)(scan_ref, facts, RULES_VERSION)
        return Evaluation(document, subject_timeline(facts), None)
    return _verification(scan_ref, facts)


def _verification(scan_ref: str, facts: list[Fact]) -> Evaluation:
    results = [f for f in facts if f.is_result]
    keys = order_keys(results)
    current = in_force(results, keys)
    registration = next((f for f in facts if f.kind == REGISTERED), None)
    identified = registration or next((f for f in facts if f.client_id), None)
    allowed = (
        registration.max_reattempts
        if registration is not None and registration.max_reattempts is not None
        else DEFAULT_MAX_REATTEMPTS
    )
    automated = automated_attempts(results, keys)
    count = attempts(automated)
    used = max(0, count - 1)
    status = effective_status(current) if current is not None else "PENDING"
    review_kind = review(current, results) if current is not None else None
    decided_by: dict[int, Literal["auto", "manual"]] = {AUTOMATED: "auto", MANUAL: "manual"}
    document: StatusDocument = {
        "scanRef": scan_ref,
        "clientId": identified.client_id if identified is not None else None,
        "externalRef": _external_ref(registration, facts),
        "status": status,
        "final": effective_final(current) if current is not None else False,
        "decidedBy": decided_by.get(review_kind) if review_kind is not None else None,
        "awaitingManualReview": (current is not None and is_preliminary(current))
        or awaiting_review_by_check(facts, current),
        "autoDocument": current.auto_document if current else None,
        "autoFace": current.auto_face if current else None,
        "manualDocument": current.manual_document if current else None,
        "manualFace": current.manual_face if current else None,
        "fraudTags": list(current.fraud_tags) if current else [],
        "mismatchTags": list(current.mismatch_tags) if current else [],
        "suspected": is_suspected(status, current),
        "attempts": count,
        "reattemptsAllowed": allowed,
        "reattemptsUsed": used,
        "reattemptsRemaining": max(0, allowed - used),
        "maxImageRecaptures": _recaptures(registration),
        "events": len(facts),
        "firstEventAt": min((f.received_at for f in facts), default=None),
        # An erasure is the ledger's own act, not news of the verification.
        "lastEventAt": max((f.received_at for f in facts if f.kind != ERASED), default=None),
        "lastPosition": max((f.position for f in facts), default=0),
        "documentExpiration": _expiration(facts),
        **completeness(facts, any(effective_final(r) for r in results)),
        "sequences": _sequences(facts, automated, current, registration),
        "rulesVersion": RULES_VERSION,
        # A status read puts the AML monitoring that names the verification here
        # (``adapters.status_query.Serving``).
        "amlMonitoring": None,
    }
    return Evaluation(
        document=cast(dict[str, Any], document), timeline=timeline(facts, keys), in_force=current
    )


def _sequences(
    facts: Sequence[Fact], automated: Sequence[Fact], current: Fact | None, registered: Fact | None
) -> dict[str, Any]:
    """The events the document's fields rest on, by sequence (a decision's basis)."""
    checks = [f.sequence for f in facts if f.kind == STATUS_CHECKED]
    return {
        "inForce": current.sequence if current else None,
        "registered": registered.sequence if registered else None,
        "attempts": [r.sequence for r in automated],
        "lastStatusCheck": checks[-1] if checks else None,
    }


def _recaptures(registration: Fact | None) -> int:
    if registration is not None and registration.max_image_recaptures is not None:
        return registration.max_image_recaptures
    return DEFAULT_MAX_IMAGE_RECAPTURES


def _expiration(facts: Sequence[Fact]) -> DocumentExpiration | None:
    notices = [f for f in facts if f.kind == DOCUMENT_EXPIRATION]
    if not notices:
        return None
    return {"threshold": notices[-1].threshold, "date": notices[-1].document_expiration}


def _external_ref(registration: Fact | None, facts: Sequence[Fact]) -> str | None:
    if registration is not None and registration.external_ref:
        return registration.external_ref
    return next((f.external_ref for f in facts if f.external_ref), None)


def timeline(facts: Sequence[Fact], keys: dict[int, OrderKey]) -> list[dict[str, Any]]:
    """One entry per event in arrival order, with lateness and supersession (rule 1).

    Replaying the arrivals one by one, each result ranked by its place in the order
    among all results: a result is late when something that arrived before it comes
    later in the order; the result in force before an arrival that takes force is
    superseded by it, and a late result is superseded by the result in force when it
    arrived. ``keys``: the results' ``order_keys``.
    """
    entries: dict[int, dict[str, Any]] = {}
    seen: list[Fact] = []
    current: Fact | None = None
    for fact in facts:
        result = fact.is_result
        entry: dict[str, Any] = {
            "sequence": fact.sequence,
            "kind": fact.kind,
            "receivedAt": fact.received_at,
            "final": effective_final(fact) if result else None,
            "status": effective_status(fact) if result or fact.kind == STATUS_CHECKED else None,
            "preliminary": is_preliminary(fact) if result else False,
            "lateArrival": False,
            "supersededBy": None,
            "payloadSha256": fact.payload_sha256,
            "prevHash": fact.prev_hash,
            "hash": fact.hash,
        }
        entries[fact.sequence] = entry
        if fact.kind == ERASED:
            entry.update(erasedBy=fact.erased_by, reason=fact.reason)
        if not result:
            continue
        seen.append(fact)
        # Ranked among all results, so a legacy result's place never changes later.
        leader = max(seen, key=lambda f: keys[f.sequence])
        if leader is fact:
            if current is not None:
                entries[current.sequence]["supersededBy"] = fact.sequence
            current = fact
        else:
            entry["lateArrival"] = True
            entry["supersededBy"] = leader.sequence
    return list(entries.values())
