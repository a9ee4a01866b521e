"""Which event class records which report: ``Verification.receive`` asks ``event_class``."""

from __future__ import annotations

from domain.errors import KindMismatchError
from domain.reports import (
    CompanyNotice,
    ExpirationNotice,
    Kind,
    MonitoringNotice,
    OtherNotice,
    Outcome,
    Report,
)
from domain.verification import Verification


def event_class(kind: Kind, report: Report) -> type[Verification.Reported]:
    """The event a report of ``kind`` is recorded as; a report under another kind's name
    is refused."""
    if isinstance(report, Outcome):
        found: type[Verification.Reported] | None = RESULT_EVENTS.get(kind)
    else:
        expected, found = NOTICE_EVENTS[type(report)]
        found = found if kind is expected else None
    if found is None:
        raise KindMismatchError(kind.value)
    return found


RESULT_EVENTS: dict[Kind, type[Verification.ResultReported]] = {
    Kind.IDENTIFICATION: Verification.IdentificationFinished,
    Kind.AUTO_FINISHED: Verification.AutoReviewFinished,
    Kind.MANUAL_FINISHED: Verification.ManualReviewFinished,
    Kind.CANCELLED: Verification.VerificationCanceled,
    Kind.EXPIRED: Verification.VerificationExpired,
    Kind.RESUBMITTED: Verification.VerificationResubmitted,
}

NOTICE_EVENTS: dict[type, tuple[Kind, type[Verification.Reported]]] = {
    ExpirationNotice: (Kind.DOCUMENT_EXPIRATION, Verification.DocumentExpirationNoticed),
    OtherNotice: (Kind.OTHER, Verification.OtherReported),
    MonitoringNotice: (Kind.AML_MONITORING, Verification.MonitoringReported),
    CompanyNotice: (Kind.COMPANY, Verification.CompanyReported),
}
