"""Reprocessing a quarantined delivery through the same intake as a live one."""

from __future__ import annotations

import asyncio

from adapters.quarantine import QuarantinedDelivery
from app.service.intake import Answer, Incoming, take
from app.service.services import Services
from domain.reports import Kind


def reprocess(services: Services, kept: QuarantinedDelivery) -> Answer:
    """Take ``kept`` in again; note the outcome on it unless it went straight back."""
    if kept.payload is None:
        return Answer(410, {"error": "this delivery's payload was erased"})
    incoming = Incoming(
        body=kept.payload,
        signature=kept.signature,
        path_kind=Kind(kept.path_kind) if kept.path_kind else None,
        event_type=kept.event_type,
        received_at=kept.received_at,
        signing_key=kept.signing_key,
        source=kept.source,
    )
    answer = asyncio.run(take(services, incoming))
    if answer.status == 200:
        outcome = f"{answer.body['result']} as {answer.body['scanRef']} #{answer.body['sequence']}"
        services.quarantine.mark(kept.id, services.clock(), outcome)
    return answer
