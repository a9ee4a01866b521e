"""One identity verification (one iDenfy ``scanRef``) and everything recorded about it.

The aggregate is the ledger's consistency boundary: each event is a fact iDenfy or the
backend stated about this verification, numbered 1, 2, 3... in recording order. It guards
only what the history needs (one event per delivery, one registration, one scanRef); how
results combine into a status is a projection's concern. It records the other subjects
too (``aml:{id}``, ``company:{id}``, ``other:{TYPE}``, ADR 27) under their keys; the class
keeps its name, part of every stored event's topic.
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import AggregateEvent, BaseAggregate

from domain.chain import event_hash
from domain.commands import MoreCommands
from domain.errors import RegistrationConflictError, ScanRefMismatchError
from domain.reports import (
    TYPED_KINDS,
    Delivery,
    Receipt,
    Registration,
    Report,
)

VERIFICATION_NAMESPACE = uuid5(NAMESPACE_URL, "urn:verification-ledger:verification")


@functools.lru_cache(maxsize=8192)
def _verification_id(scan_ref: str) -> UUID:
    """``uuid5`` is asked of the same scanRef several times per write; it is remembered."""
    return uuid5(VERIFICATION_NAMESPACE, scan_ref)


class Verification(MoreCommands, BaseAggregate[UUID]):
    """The recorded history of one verification, keyed by ``uuid5`` over its scanRef."""

    @staticmethod
    def create_id(scan_ref: str) -> UUID:
        return _verification_id(scan_ref)

    @classmethod
    def start(cls, scan_ref: str, at: datetime) -> Verification:
        """A verification with no history yet: its first event will be sequence 1."""
        verification = cls.__new__(cls)
        verification.__base_init__(cls.create_id(scan_ref), 0, at)
        verification._start(scan_ref)
        return verification

    def _start(self, scan_ref: str) -> None:
        self.scan_ref = scan_ref
        self.client_id: str | None = None
        self.client_since: int | None = None  # the sequence that first named the client
        self.registration: Registration | None = None
        self.registered_sequence: int | None = None
        self.deliveries: dict[str, int] = {}
        self.head_hash: str | None = None
        self.erased_keys: set[str] = set()

    def learn_client(self, client_id: str | None, sequence: int) -> None:
        if self.client_id is None and client_id:
            self.client_id, self.client_since = client_id, sequence

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """Record an event chained to the one before it (see ``domain.chain``)."""
        kwargs.setdefault("timestamp", event_class.create_timestamp())
        kwargs["prev_hash"] = self.head_hash
        state = {**kwargs, "originator_id": self.id, "originator_version": self.version + 1}
        kwargs["hash"] = event_hash(event_class.__qualname__, state)
        super().trigger_event(event_class, **kwargs)

    class Event(AggregateEvent):
        """Any fact about a verification; the first one recorded also opens it."""

        class_version = 1
        scan_ref: str
        prev_hash: str | None
        hash: str

        def mutate(self, aggregate: Any) -> Any:
            if aggregate is None:
                aggregate = Verification.start(self.scan_ref, self.timestamp)
            aggregate = super().mutate(aggregate)
            aggregate.head_hash = self.hash
            return aggregate

    class Registered(Event):
        """The business backend announced the token it generated for this verification."""

        class_version = 1
        client_id: str
        external_ref: str | None
        max_reattempts: int
        max_image_recaptures: int
        expiry_time: int | None
        session_length: int | None

        def apply(self, aggregate: Verification) -> None:
            aggregate.registration = Registration(
                scan_ref=self.scan_ref,
                client_id=self.client_id,
                external_ref=self.external_ref,
                max_reattempts=self.max_reattempts,
                max_image_recaptures=self.max_image_recaptures,
                expiry_time=self.expiry_time,
                session_length=self.session_length,
            )
            aggregate.registered_sequence = self.originator_version
            aggregate.learn_client(self.client_id, self.originator_version)

    class Reported(Event):
        """Something iDenfy told the ledger in one authentic webhook delivery."""

        class_version = 1
        kind: str
        header_kind: str | None
        received_at: datetime
        payload_sha256: str
        signing_key: str
        payload: bytes
        client_id: str | None

        def apply(self, aggregate: Verification) -> None:
            key = f"{self.kind}:{self.payload_sha256}"
            if self.kind in TYPED_KINDS:  # as ``Delivery.idempotency_key`` has it
                key = f"{self.kind}:{self.header_kind}:{self.payload_sha256}"
            aggregate.deliveries[key] = self.originator_version
            aggregate.learn_client(self.client_id, self.originator_version)

    class ResultReported(Reported):
        """A verification result, with the decision fields the status rules read."""

        class_version = 1
        external_ref: str | None
        final: bool | None
        overall: str | None
        auto_document: str | None
        auto_face: str | None
        manual_document: str | None
        manual_face: str | None
        fraud_tags: list[str]
        mismatch_tags: list[str]
        finish_time: int | float | None  # epoch seconds, whole or with a fraction

    class IdentificationFinished(ResultReported):
        """A result from the legacy all-in-one IDENTIFICATION notification."""

        class_version = 1

    class AutoReviewFinished(ResultReported):
        """iDenfy's automated check decided, finally or preliminarily."""

        class_version = 1

    class ManualReviewFinished(ResultReported):
        """A human reviewer at iDenfy gave the final result."""

        class_version = 1

    class VerificationCanceled(ResultReported):
        """The verification was cancelled by the user or by iDenfy."""

        class_version = 1

    class VerificationExpired(ResultReported):
        """The token or session expired before the verification finished."""

        class_version = 1

    class VerificationResubmitted(ResultReported):
        """The client sent the extra material requested after a result."""

        class_version = 1

    class StatusChecked(Event):
        """iDenfy's status API answered about this verification (``ledger reconcile``):
        the answer kept whole, with its status and verdicts, or the ``cause`` it is
        unusable."""

        class_version = 1
        kind: str
        received_at: datetime
        http_status: int
        payload_sha256: str
        payload: bytes
        overall: str | None
        auto_document: str | None
        auto_face: str | None
        manual_document: str | None
        manual_face: str | None
        fraud_tags: list[str]
        mismatch_tags: list[str]
        cause: str | None

    class PolicyApplied(Event):
        """A business policy was put in force (on ``policy:in-force``): its text as given."""

        class_version = 1
        name: str
        sha256: str
        text: str

    class Erased(Event):
        """The client's personal data was erased: its data keys (``key_ids``) destroyed,
        so payloads sealed under them can no longer be read; every hash still checks."""

        class_version = 1
        client_id: str
        reason: str
        erased_by: str
        key_ids: list[str]

        def apply(self, aggregate: Verification) -> None:
            aggregate.erased_keys.update(self.key_ids)

    class OtherReported(Reported):
        """A delivery of a type the ledger does not model (``header_kind`` is the type as
        sent): kept whole in the history and its chain, changing no status."""

        class_version = 1

    class MonitoringReported(Reported):
        """An AML ongoing-monitoring webhook, on the monitoring's subject."""

        class_version = 1
        monitoring_id: str
        subject_status: str | None
        alert_status: str | None
        peps_status: str | None
        sanctions_status: str | None
        adverse_media_status: str | None
        scan_refs: list[str]

    class CompanyReported(Reported):
        """A KYB company webhook (``header_kind`` is its type as sent), on the company's
        subject."""

        class_version = 1
        company_id: str
        subject_status: str | None

    class DocumentExpirationNoticed(Reported):
        """iDenfy noticed the verified document is about to expire, or has expired."""

        class_version = 1
        threshold: str | None
        document_expiration: str | None

    def receive(self, delivery: Delivery, report: Report) -> Receipt:
        """Record one authentic delivery unless the same kind and bytes already are."""
        if report.scan_ref != self.scan_ref:
            raise ScanRefMismatchError(report.scan_ref)
        known = self.deliveries.get(delivery.idempotency_key)
        if known is not None:
            return Receipt(self.scan_ref, known, duplicate=True)
        facts: dict[str, Any] = {
            "scan_ref": self.scan_ref,
            "kind": delivery.kind.value,
            "header_kind": delivery.header_kind,
            "received_at": delivery.received_at,
            "payload_sha256": delivery.payload_sha256,
            "signing_key": delivery.signing_key,
            "payload": delivery.payload,
        }
        # What the report says goes into the event under the same names (tuples as lists).
        for name, value in vars(report).items():
            if name != "scan_ref":
                facts[name] = list(value) if isinstance(value, tuple) else value
        from domain.event_classes import event_class  # which names this class's events

        self.trigger_event(event_class(delivery.kind, report), **facts)
        return Receipt(self.scan_ref, self.version, duplicate=False)

    def register(self, registration: Registration) -> Receipt:
        """Record the backend's registration once; the same one again is a duplicate."""
        if registration.scan_ref != self.scan_ref:
            raise ScanRefMismatchError(registration.scan_ref)
        if self.registration is not None:
            if self.registration != registration:
                raise RegistrationConflictError(self.scan_ref)
            assert self.registered_sequence is not None
            return Receipt(self.scan_ref, self.registered_sequence, duplicate=True)
        if self.client_id is not None and self.client_id != registration.client_id:
            raise RegistrationConflictError(self.scan_ref)
        fields = asdict(registration)
        self.trigger_event(self.Registered, **fields)
        return Receipt(self.scan_ref, self.version, duplicate=False)
