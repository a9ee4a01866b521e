"""What the projections make of the ledger's other subjects: AML monitorings and companies.

An AML monitoring's document is its state as iDenfy's last delivery stated it; a
company's is its last status word: the one its body states (``status``, or
``expirationStatus``), else the name of the webhook type (``COMPANY_SUBMIT`` gives
``SUBMIT``). The ledger interprets neither further: both are iDenfy's open enumerations,
shown as sent. Their timelines list every delivery in arrival order, like a
verification's, with that state after each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from domain.reports import AML_SUBJECT, COMPANY_SUBJECT, OTHER_SUBJECT, UNIDENTIFIED_COMPANY
from projections.facts import AML_MONITORING, COMPANY, Fact

COMPANY_TYPE = "COMPANY_"


def monitoring_document(subject: str, facts: Sequence[Fact], rules_version: int) -> dict[str, Any]:
    """An AML monitoring's state, from its latest delivery."""
    latest = _latest(facts, AML_MONITORING)
    return {
        "monitoringId": subject.removeprefix(AML_SUBJECT),
        "clientId": next((f.client_id for f in reversed(facts) if f.client_id), None),
        "status": latest.subject_status if latest else None,
        "alertStatus": latest.alert_status if latest else None,
        "pepsStatus": latest.peps_status if latest else None,
        "sanctionsStatus": latest.sanctions_status if latest else None,
        "adverseMediaStatus": latest.adverse_media_status if latest else None,
        "scanRefs": list(latest.scan_refs) if latest else [],
        **_counts(facts),
        "rulesVersion": rules_version,
    }


def company_document(subject: str, facts: Sequence[Fact], rules_version: int) -> dict[str, Any]:
    """A company's latest status, and the webhook that stated it."""
    latest = _latest(facts, COMPANY)
    company_id = subject.removeprefix(COMPANY_SUBJECT)
    return {
        "companyId": company_id,
        "identified": company_id != UNIDENTIFIED_COMPANY,
        "clientId": next((f.client_id for f in reversed(facts) if f.client_id), None),
        "status": company_status(latest) if latest else None,
        "eventType": latest.header_kind if latest else None,
        **_counts(facts),
        "rulesVersion": rules_version,
    }


def other_document(subject: str, facts: Sequence[Fact], rules_version: int) -> dict[str, Any]:
    """Deliveries of one type the ledger does not model, naming no verification."""
    return {
        "eventType": subject.removeprefix(OTHER_SUBJECT),
        "status": None,
        **_counts(facts),
        "rulesVersion": rules_version,
    }


def describe(subject: str) -> Callable[[str, Sequence[Fact], int], dict[str, Any]]:
    """How the document of ``subject`` (not a verification) is made."""
    if subject.startswith(AML_SUBJECT):
        return monitoring_document
    return company_document if subject.startswith(COMPANY_SUBJECT) else other_document


def company_status(fact: Fact) -> str | None:
    """The status word a company delivery states, or the name of its type."""
    if fact.subject_status:
        return fact.subject_status
    if fact.header_kind:
        return fact.header_kind.removeprefix(COMPANY_TYPE)
    return None


def subject_timeline(facts: Sequence[Fact]) -> list[dict[str, Any]]:
    """One entry per delivery in arrival order, with the state it stated, each superseded
    by the next."""
    later = [f.sequence for f in facts[1:]] + [None]
    return [
        {
            "sequence": fact.sequence,
            "kind": fact.kind,
            "receivedAt": fact.received_at,
            "final": None,
            "status": _entry_status(fact),
            "preliminary": False,
            "lateArrival": False,
            "supersededBy": next_one,  # the state a delivery stated holds until the next
            "payloadSha256": fact.payload_sha256,
            "prevHash": fact.prev_hash,
            "hash": fact.hash,
        }
        for fact, next_one in zip(facts, later, strict=True)
    ]


def _entry_status(fact: Fact) -> str | None:
    if fact.kind == AML_MONITORING:
        return fact.alert_status
    if fact.kind == COMPANY:
        return company_status(fact)
    return None


def _latest(facts: Sequence[Fact], kind: str) -> Fact | None:
    return next((f for f in reversed(facts) if f.kind == kind), None)


def _counts(facts: Sequence[Fact]) -> dict[str, Any]:
    return {
        "events": len(facts),
        "firstEventAt": min((f.received_at for f in facts), default=None),
        "lastEventAt": max((f.received_at for f in facts), default=None),
        "lastPosition": max((f.position for f in facts), default=0),
    }
