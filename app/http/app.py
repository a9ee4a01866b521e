"""The Starlette application: explicit routes, JSON errors, one lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.status_reader import status_reader
from app.http import auditor, backend, metrics, openapi, reads, webhooks
from app.http.errors import RETRY_AFTER_SECONDS, error_response
from app.http.request_log import RequestLog
from app.service.errors import AccessDeniedError
from app.service.ledger import Ledger
from app.service.services import Services

log = logging.getLogger("ledger.http")

READY_LAG_EVENTS = 1000
GIL_SWITCH_SECONDS = 0.0002


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def readiness(services: Services) -> dict[str, Any]:
    """Whether the store answers and commits, and every projection is within the lag
    bound."""
    try:
        head = services.ledger.recorder.max_notification_id() or 0
    except Exception:
        return {"ready": False, "store": "unreachable"}
    lag: dict[str, int | None] = {}
    for view in services.views.all():
        try:
            lag[view.projection] = head - (view.max_tracking_id(Ledger.name) or 0)
        except Exception:
            lag[view.projection] = None
    ready = all(value is not None and value <= READY_LAG_EVENTS for value in lag.values())
    answer = {"ready": ready, "store": "ok", "position": head, "projectionLag": lag}
    problem = services.commit_probe.check(services.clock())
    if problem is not None:
        log.warning("readiness: the store cannot commit (%s)", problem)
        answer |= {"ready": False, "store": "cannot commit", "problem": problem}
    return answer


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    answer = await run_in_threadpool(readiness, services)
    if not answer["ready"]:
        return JSONResponse(answer, status_code=503, headers={"Retry-After": RETRY_AFTER_SECONDS})
    return JSONResponse(answer)


class LedgerApp(Starlette):
    """The Starlette application, with its two busiest routes taken before its middleware.

    Webhook deliveries and plain status reads are most of the service's traffic, and
    they need nothing of the middleware stack and router but the request log, which
    wraps them here too; going around the rest leaves the event loop free for more of
    them (ADR 10). Everything else, and these routes with a query or another method,
    goes the usual way.
    """

    def __init__(self, intake: ASGIApp, **kwargs: Any):
        super().__init__(**kwargs)
        self.intake = RequestLog(intake)
        self.status_read = RequestLog(reads.StatusRead())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if webhooks.is_webhook(scope):
            scope["app"] = self
            await self.intake(scope, receive, send)
        elif reads.is_plain_status_read(scope):
            scope["app"] = self
            await self.status_read(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_api(services: Services, more: Sequence[BaseRoute] = ()) -> LedgerApp:
    """The API over ``services``, with ``more`` routes (the UI); closing it is the
    caller's business."""
    intake = webhooks.WebhookIntake()
    routes = [
        # The router keeps the webhook routes (405 for other methods; what the OpenAPI
        # document describes), but LedgerApp hands their POSTs to the intake directly.
        Route(webhooks.PATH, intake, methods=["POST"]),
        Route(f"{webhooks.PATH}/{{kind}}", intake, methods=["POST"]),
        Route("/verifications", backend.register, methods=["POST"]),
        Route("/verifications", reads.verification_list, methods=["GET"]),
        Route("/verifications/{scan_ref}", reads.verification_status, methods=["GET"]),
        Route("/verifications/{scan_ref}/timeline", auditor.verification_timeline, methods=["GET"]),
        Route("/audit/events", auditor.audit_events, methods=["GET"]),
        Route("/audit/digest", auditor.audit_digest, methods=["GET"]),
        Route("/audit/access", auditor.audit_access, methods=["GET"]),
        Route("/clients/{client_id}", reads.client_totals, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi.openapi, methods=["GET"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        *more,
    ]
    reader = status_reader(services.settings.store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await reader.close()

    app = LedgerApp(
        intake,
        routes=routes,
        exception_handlers={
            HTTPException: error_response,
            AccessDeniedError: error_response,
            Exception: error_response,
        },
        lifespan=lifespan,
    )
    app.add_middleware(RequestLog)
    app.state.services = services
    app.state.status_reader = reader
    return app
