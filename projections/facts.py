"""The compact facts the status rules read, one per recorded event.

A fact is what a projection keeps of an event: no payload, no personal data beyond
the identifiers, just enough to evaluate the rules again when the next event of
the same verification arrives, in whatever order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import singledispatch
from operator import attrgetter
from typing import NamedTuple

from domain.verification import Verification

REGISTERED = "registered"
DOCUMENT_EXPIRATION = "document-expiration"
OTHER = "other"
"""A delivery of a type the ledger does not model: in the history, never a result."""
POLICY_APPLIED = "policy-applied"
AML_MONITORING = "aml-monitoring"
COMPANY = "company"
"""Facts of the ledger's other subjects (``domain.reports.SUBJECT_PREFIXES``)."""
ERASED = "erased"
"""The client's data keys were destroyed: its payloads can no longer be read."""
NOT_RESULTS = frozenset(
    {REGISTERED, DOCUMENT_EXPIRATION, OTHER, AML_MONITORING, COMPANY, POLICY_APPLIED, ERASED}
)
STATUS_CHECKED = "status-checked"
DECISIVE_CHECKS = frozenset({"APPROVED", "DENIED", "SUSPECTED", "EXPIRED"})
"""The answers of iDenfy's status API that put a status in force."""
CANCELLED = "cancelled"
EXPIRED = "expired"


class Fact(NamedTuple):
    """One event of a verification, as the rules see it.

    A named tuple: a replay makes one per event and passes them between its processes,
    so they must be cheap to make, and codecs take them as arrays of their field values
    in this order. A field added later must come last, with a default.
    """

    sequence: int
    position: int
    kind: str
    received_at: str
    client_id: str | None = None
    external_ref: str | None = None
    payload_sha256: str | None = None
    final: bool | None = None
    overall: str | None = None
    auto_document: str | None = None
    auto_face: str | None = None
    manual_document: str | None = None
    manual_face: str | None = None
    fraud_tags: tuple[str, ...] = ()
    mismatch_tags: tuple[str, ...] = ()
    finish_time: int | float | None = None
    max_reattempts: int | None = None
    max_image_recaptures: int | None = None
    threshold: str | None = None
    document_expiration: str | None = None
    prev_hash: str | None = None
    hash: str | None = None
    header_kind: str | None = None
    subject_status: str | None = None
    alert_status: str | None = None
    peps_status: str | None = None
    sanctions_status: str | None = None
    adverse_media_status: str | None = None
    scan_refs: tuple[str, ...] = ()
    expiry_time: int | None = None
    session_length: int | None = None
    cause: str | None = None
    erased_by: str | None = None
    reason: str | None = None

    @property
    def is_result(self) -> bool:
        """Whether the rules order it among results: every delivered result, and a status
        check whose answer decides (rule 4's way)."""
        if self.kind == STATUS_CHECKED:
            return self.overall in DECISIVE_CHECKS and self.cause is None
        return self.kind not in NOT_RESULTS


def _iso(moment: datetime) -> str:
    """UTC with microseconds always, so that the strings sort as the times do."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


CARRIED = tuple(
    name for name in Fact._fields if name not in ("sequence", "position", "kind", "received_at")
)
"""The fields a fact takes as they are from what it is made of (an event, a stored state)."""
_DEFAULTS = Fact._field_defaults


def fact_from(source: object, sequence: int, position: int, kind: str, received_at: str) -> Fact:
    """The fact of an event: ``kind`` and ``received_at`` as given, every other field read
    from ``source`` by its name (a domain event, or the stored state the replay decodes),
    its default where ``source`` has none. The one way an event becomes a fact."""
    read = _READERS.get(type(source)) or _learn(source)
    return Fact._make((sequence, position, kind, received_at, *read(source)))


_READERS: dict[type, Callable[[object], Iterable[object]]] = {}


def _learn(source: object) -> Callable[[object], Iterable[object]]:
    """How to read the carried fields of objects of ``source``'s type: all at once when it
    has them all (the replay's stored states), else one by one with defaults and tags
    made tuples (domain events)."""
    if all(hasattr(source, name) for name in CARRIED):
        read: Callable[[object], Iterable[object]] = attrgetter(*CARRIED)
    else:

        def read(event: object) -> Iterable[object]:
            return [_tuple(getattr(event, name, _DEFAULTS[name])) for name in CARRIED]

    _READERS[type(source)] = read
    return read


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


@singledispatch
def fact_of(event: Verification.Event, position: int) -> Fact:
    """The fact an event contributes; every recorded event class has a handler."""
    raise TypeError(f"no fact for {type(event).__qualname__}")


@fact_of.register
def _registered(event: Verification.Registered, position: int) -> Fact:
    return fact_from(event, event.originator_version, position, REGISTERED, _iso(event.timestamp))


@fact_of.register
def _result(event: Verification.ResultReported, position: int) -> Fact:
    return fact_from(event, event.originator_version, position, event.kind, _iso(event.received_at))


@fact_of.register
def _other(event: Verification.OtherReported, position: int) -> Fact:
    return fact_from(event, event.originator_version, position, OTHER, _iso(event.received_at))


@fact_of.register
def _expiration(event: Verification.DocumentExpirationNoticed, position: int) -> Fact:
    return fact_from(
        event, event.originator_version, position, DOCUMENT_EXPIRATION, _iso(event.received_at)
    )


@fact_of.register
def _monitoring(event: Verification.MonitoringReported, position: int) -> Fact:
    return fact_from(
        event, event.originator_version, position, AML_MONITORING, _iso(event.received_at)
    )


@fact_of.register
def _company(event: Verification.CompanyReported, position: int) -> Fact:
    return fact_from(event, event.originator_version, position, COMPANY, _iso(event.received_at))


@fact_of.register
def _checked(event: Verification.StatusChecked, position: int) -> Fact:
    received = _iso(event.received_at)
    return fact_from(event, event.originator_version, position, STATUS_CHECKED, received)


@fact_of.register
def _policy(event: Verification.PolicyApplied, position: int) -> Fact:
    at = _iso(event.timestamp)
    return fact_from(event, event.originator_version, position, POLICY_APPLIED, at)


@fact_of.register
def _erased(event: Verification.Erased, position: int) -> Fact:
    return fact_from(event, event.originator_version, position, ERASED, _iso(event.timestamp))
