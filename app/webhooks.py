"""``POST /webhooks/idenfy[/{kind}]``: signed iDenfy deliveries into the ledger.

This is the service's busiest route, so it is a plain ASGI app: the application hands
these requests to it before its middleware stack and router (see ``app.http``), and it
does itself what they would do for it: JSON errors, a 500 for the unexpected, and its
metrics. The request id and access line come from ``RequestLog`` as for every route.
"""

from __future__ import annotations

import logging
import time

import msgspec
from starlette.types import Message, Receive, Scope, Send

from adapters.idenfy import HEADER_KINDS, PATH_KINDS
from app.body import RETRY_AFTER_SECONDS, WEBHOOK_BODY_LIMIT, route_path
from app.bootstrap import Services
from app.intake import Answer, Incoming, resolve_kind, take_async
from app.metrics import DELIVERIES, INGEST_SECONDS, STORE_ERRORS
from domain.reports import Kind

EVENT_TYPE_HEADER = b"idenfy-event-type"
SIGNATURE_HEADER = b"idenfy-signature"
HEADER_VALUE_LIMIT = 200
PATH = "/webhooks/idenfy"

__all__ = ["PATH", "WebhookIntake", "is_webhook", "resolve_kind"]

RESULTS = {401: "unauthorized", 404: "not_found", 413: "too_large", 503: "unavailable"}
_encode = msgspec.json.Encoder().encode
log = logging.getLogger("ledger.http")


def is_webhook(scope: Scope) -> bool:
    """Whether this is a POST to ``/webhooks/idenfy`` or ``/webhooks/idenfy/{kind}``."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    path = route_path(scope)
    if path == PATH:
        return True
    kind = path[len(PATH) + 1 :]
    return path.startswith(f"{PATH}/") and kind != "" and "/" not in kind


class Failure(Exception):
    """An answer of ``status`` with ``detail`` as its error."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class WebhookIntake:
    """The webhook endpoint, as an ASGI app."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        segment = route_path(scope)[len(PATH) + 1 :]
        label = segment or headers.get(EVENT_TYPE_HEADER, b"").decode("latin-1")
        result = "error"
        try:
            answer = await self._answer(scope["app"].state.services, segment, headers, receive)
            result = str(answer.body.get("result") or RESULTS.get(answer.status, answer.status))
        except Failure as failure:
            answer = Answer(failure.status, {"error": failure.detail})
            result = RESULTS.get(failure.status, str(failure.status))
        except Exception as error:
            log.error("unexpected error on POST %s: %s", PATH, type(error).__name__)
            answer = Answer(500, {"error": "internal error"})
        finally:
            known = PATH_KINDS.get(label.lower()) or HEADER_KINDS.get(label.strip().upper())
            DELIVERIES.labels(known.value if known else "other", result).inc()
            INGEST_SECONDS.observe(time.perf_counter() - started)
            if result == "unavailable":
                STORE_ERRORS.labels("ingest").inc()
        await _respond(send, answer)

    async def _answer(
        self, services: Services, segment: str, headers: dict[bytes, bytes], receive: Receive
    ) -> Answer:
        path_kind: Kind | None = None
        if segment:
            path_kind = PATH_KINDS.get(segment.lower())
            if path_kind is None:
                raise Failure(404, f"unknown webhook kind {segment!r}")
        body = await _read_limited(headers, receive, WEBHOOK_BODY_LIMIT)
        if services.verifier is None:
            raise Failure(503, "no webhook signing key is configured")
        event_type = headers.get(EVENT_TYPE_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        incoming = Incoming(
            body=body,
            signature=None if signature is None else signature.decode("latin-1"),
            path_kind=path_kind,
            event_type=None
            if event_type is None
            else event_type.decode("latin-1")[:HEADER_VALUE_LIMIT],
            received_at=services.clock(),
        )
        answer = await take_async(services, incoming)
        if answer.status >= 400:
            raise Failure(answer.status, answer.body["error"])
        return answer


async def _read_limited(headers: dict[bytes, bytes], receive: Receive, limit: int) -> bytes:
    """The whole body, or 413 as soon as more than ``limit`` bytes are announced or sent.

    Bytes are counted while they arrive, so an endless chunked body is cut off at the
    limit instead of being buffered.
    """
    declared = headers.get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        raise Failure(413, f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise Failure(400, "the client went away before the body was complete")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Failure(413, f"body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, answer: Answer) -> None:
    content = _encode(answer.body)
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
    ]
    if answer.status == 503:
        headers.append((b"retry-after", RETRY_AFTER_SECONDS.encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
