"""``POST /webhooks/idenfy[/{kind}]``: signed iDenfy deliveries into the ledger.

This is the service's busiest route, so it is a plain ASGI app: the application hands
these requests to it before its middleware stack and router (see ``app.http.app``), and it
does itself what they would do for it: JSON errors, a 500 for the unexpected, and its
metrics. The request id and access line come from ``RequestLog`` as for every route.
"""

from __future__ import annotations

import logging
import time

import msgspec
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from adapters.idenfy import PATH_KINDS, header_kind
from app.http.body import WEBHOOK_BODY_LIMIT, receive_limited, route_path
from app.http.errors import failure, send_json
from app.http.metrics import DELIVERIES, INGEST_SECONDS, STORE_ERRORS
from app.service.intake import Answer, Incoming, resolve_kind, take
from app.service.services import Services
from domain.reports import Kind

EVENT_TYPE_HEADER = b"idenfy-event-type"
SIGNATURE_HEADER = b"idenfy-signature"
HEADER_VALUE_LIMIT = 200
PATH = "/webhooks/idenfy"

__all__ = ["PATH", "WebhookIntake", "is_webhook", "kind_segment", "resolve_kind"]

RESULTS = {401: "unauthorized", 404: "not_found", 413: "too_large", 503: "unavailable"}
_encode = msgspec.json.Encoder().encode
log = logging.getLogger("ledger.http")


def kind_segment(path: str) -> str | None:
    """The ``{kind}`` of a webhook path (``""`` for none), or None for another path.

    ``/webhooks/idenfy`` and ``/webhooks/idenfy/{kind}`` are taken with or without a
    trailing slash: a delivery is answered where it was sent, never redirected.
    """
    if path in (PATH, f"{PATH}/"):
        return ""
    if not path.startswith(f"{PATH}/"):
        return None
    kind = path[len(PATH) + 1 :]
    kind = kind[:-1] if kind.endswith("/") else kind
    return kind if kind != "" and "/" not in kind else None


def is_webhook(scope: Scope) -> bool:
    """Whether this is a POST to ``/webhooks/idenfy[/]`` or ``/webhooks/idenfy/{kind}[/]``."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    return kind_segment(route_path(scope)) is not None


class WebhookIntake:
    """The webhook endpoint, as an ASGI app."""

    def __init__(self, services: Services):
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        segment = kind_segment(route_path(scope)) or ""
        # What the delivery says it is, for the metrics; with neither a path kind nor an
        # Idenfy-Event-Type header it is an identification result, as ``resolve_kind`` has it.
        label = segment or headers.get(EVENT_TYPE_HEADER, b"").decode("latin-1") or "identification"
        result = "error"
        try:
            answer = await self._answer(segment, headers, receive, scope.get("client"))
            result = answer.body.get("result") or RESULTS.get(answer.status, str(answer.status))
        except Exception as error:
            status, reason = failure(error, "POST", PATH)
            answer = Answer(status, {"error": reason})
            if status != 500:
                result = RESULTS.get(status, str(status))
        finally:
            known = PATH_KINDS.get(label.lower()) or header_kind(label)
            DELIVERIES.labels(known.value if known else "other", result).inc()
            INGEST_SECONDS.observe(time.perf_counter() - started)
            if result == "unavailable":
                STORE_ERRORS.labels("ingest").inc()
        await send_json(send, answer.status, _encode(answer.body))

    async def _answer(
        self,
        segment: str,
        headers: dict[bytes, bytes],
        receive: Receive,
        client: tuple[str, int] | None,
    ) -> Answer:
        services = self.services
        path_kind: Kind | None = None
        if segment:
            path_kind = PATH_KINDS.get(segment.lower())
            if path_kind is None:
                raise HTTPException(404, f"unknown webhook kind {segment!r}")
        declared = headers.get(b"content-length", b"").decode("latin-1")
        body = await receive_limited(receive, declared, WEBHOOK_BODY_LIMIT)
        if services.verifier is None:
            raise HTTPException(503, "no webhook signing key is configured")
        event_type = headers.get(EVENT_TYPE_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        incoming = Incoming(
            source=client[0][:100] if client else None,
            body=body,
            signature=None if signature is None else signature.decode("latin-1"),
            path_kind=path_kind,
            event_type=None
            if event_type is None
            else event_type.decode("latin-1")[:HEADER_VALUE_LIMIT],
            received_at=services.clock(),
        )
        return await take(services, incoming)
