"""``ledger reconcile``: ask iDenfy's status API about verifications that went quiet, and
record each answer as a ``status-checked`` event (rules version 3).

Which to ask comes from the views (overdue, not asked about within the interval, the
longest overdue first); whether to ask is decided again from the ledger itself just
before asking, so a verification finished meanwhile, or asked about by another run, is
never asked (again). Questions go out no faster than the rate allows. A refused
credential ends the run at once (``AuthenticationError`` to the caller); an answer that
cannot be used is recorded with its cause and changes nothing; a question that gets no
answer after the client's retries counts as failed and is asked again in a later run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from adapters.idenfy_api import IdenfyStatusApi, UnavailableError
from adapters.idenfy_status import StatusCheck
from adapters.rate_limit import RateLimiter
from app.service.services import Services
from domain.reports import StatusCheckReport
from domain.verification import Verification
from projections.completeness import iso
from projections.facts import STATUS_CHECKED, fact_of
from projections.rules import evaluate

log = logging.getLogger("ledger.reconcile")
DEFAULT_MAX = 1000


@dataclass
class Summary:
    """What a run did: one line of the command's output."""

    checked: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    planned: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"checked {self.checked}, changed {self.changed}, failed {self.failed}"
            f" (skipped {self.skipped} finished or asked about meanwhile)"
        )


def due(services: Services, limit: int) -> list[str]:
    """Overdue verifications not asked about within the interval, longest overdue first."""
    interval = services.settings.completeness.reconcile_interval
    checked_before = iso(services.clock() - timedelta(seconds=interval))
    return services.views.status.overdue(checked_before, limit)


def _state(services: Services, scan_ref: str) -> tuple[str | None, bool, bool, str | None]:
    """(status, final, finished, last asked) of ``scan_ref`` from its recorded events."""
    events = services.ledger.events.get(Verification.create_id(scan_ref))
    facts = [fact_of(e, 0) for e in events if isinstance(e, Verification.Event)]
    document = evaluate(scan_ref, facts).document
    checks = [f.received_at for f in facts if f.kind == STATUS_CHECKED]
    return document["status"], document["final"], document["finished"], max(checks, default=None)


def report_of(check: StatusCheck) -> StatusCheckReport:
    answer = check.answer
    return StatusCheckReport(
        scan_ref=check.scan_ref,
        asked_at=check.asked_at,
        http_status=check.http_status,
        payload=check.body,
        payload_sha256=check.sha256,
        overall=answer.status if answer else None,
        auto_document=answer.auto_document if answer else None,
        auto_face=answer.auto_face if answer else None,
        manual_document=answer.manual_document if answer else None,
        manual_face=answer.manual_face if answer else None,
        fraud_tags=answer.fraud_tags if answer else (),
        mismatch_tags=answer.mismatch_tags if answer else (),
        cause=None if check.cause is None else str(check.cause.value),
    )


def reconcile(
    services: Services,
    api: IdenfyStatusApi | None,
    limiter: RateLimiter | None,
    *,
    limit: int = DEFAULT_MAX,
    on_check: Callable[[str, StatusCheck], None] | None = None,
) -> Summary:
    """One run: ask about each due verification (with ``api`` None, only plan)."""
    summary = Summary(planned=due(services, limit))
    if api is None:
        return summary
    recheck = timedelta(seconds=services.settings.completeness.reconcile_interval)
    for scan_ref in summary.planned:
        status, final, finished, asked = _state(services, scan_ref)
        recent = asked is not None and asked > iso(services.clock() - recheck)
        if finished or recent:
            summary.skipped += 1
            continue
        if limiter is not None:
            limiter.wait()
        try:
            check = api.check(scan_ref)
        except UnavailableError as error:
            log.warning("no answer about %s: %s", scan_ref, error)
            summary.failed += 1
            continue
        services.ledger.record_check(report_of(check))
        summary.checked += 1
        after_status, after_final, _, _ = _state(services, scan_ref)
        summary.changed += (after_status, after_final) != (status, final)
        if on_check is not None:
            on_check(scan_ref, check)
    return summary
