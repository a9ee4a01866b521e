"""The Starlette application: explicit routes, JSON errors, one lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.status_reader import StatusReader, status_reader
from app.http import (
    auditor,
    backend,
    clients,
    metrics,
    openapi,
    reads,
    subjects,
    transparency,
    webhooks,
)
from app.http.errors import RETRY_AFTER_SECONDS, error_response
from app.http.request_log import RequestLog
from app.service.errors import AccessDeniedError
from app.service.ledger import Ledger
from app.service.services import Services

log = logging.getLogger("ledger.http")

READY_LAG_EVENTS = 1000
GIL_SWITCH_SECONDS = 0.0002


Handler = Callable[[Services, Request], Awaitable[Response]]


async def healthz(services: Services, request: Request) -> Response:
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


async def readyz(services: Services, request: Request) -> Response:
    answer = await run_in_threadpool(readiness, services)
    if not answer["ready"]:
        return JSONResponse(answer, status_code=503, headers={"Retry-After": RETRY_AFTER_SECONDS})
    return JSONResponse(answer)


Matcher = Callable[[Scope], bool]


class LedgerApp(Starlette):
    """The Starlette application, with its busiest routes taken before its middleware.

    Webhook deliveries and plain status reads are most of the service's traffic, and
    they need nothing of the middleware stack and router but the request log, which
    wraps them here too; going around the rest leaves the event loop free for more of
    them (ADR 13). ``fast`` pairs each such request's test with its ASGI app, which the
    route table also routes to; everything else goes the usual way.
    """

    def __init__(self, fast: Sequence[tuple[Matcher, ASGIApp]], **kwargs: Any):
        super().__init__(**kwargs)
        self.fast = [(matches, RequestLog(endpoint)) for matches, endpoint in fast]
        self.status_read: reads.StatusRead | None = None
        """The plain status read, whose ``reader`` a test may wrap."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for matches, endpoint in self.fast:
            if matches(scope):
                scope["app"] = self
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


@dataclass(frozen=True)
class RouteTable:
    """Every route of the API, and which of them are taken before the middleware."""

    routes: list[BaseRoute]
    fast: list[tuple[Matcher, ASGIApp]]
    status_read: reads.StatusRead


def route_table(services: Services, reader: StatusReader) -> RouteTable:
    """The API's routes over ``services``; plain status reads go to ``reader``."""
    intake = webhooks.WebhookIntake(services)
    plain_status = reads.StatusRead(services, reader)

    def get(path: str, handler: Handler) -> Route:
        return Route(path, partial(handler, services), methods=["GET"])

    routes: list[BaseRoute] = [
        Route(webhooks.PATH, intake, methods=["POST"]),
        Route(f"{webhooks.PATH}/{{kind}}", intake, methods=["POST"]),
        Route("/verifications", partial(backend.register, services), methods=["POST"]),
        get("/verifications", reads.verification_list),
        get("/verifications/{scan_ref}", reads.verification_status),
        get("/verifications/{scan_ref}/timeline", auditor.verification_timeline),
        get("/audit/events", auditor.audit_events),
        get("/audit/digest", auditor.audit_digest),
        get("/audit/access", auditor.audit_access),
        *(get(path, handler) for path, handler in transparency.ROUTES),
        get("/clients/{client_id}", reads.client_totals),
        *(
            Route(path, partial(handler, services), methods=[method])
            for path, method, handler in clients.ROUTES
        ),
        get("/aml/monitorings", subjects.monitorings),
        get("/aml/monitorings/{monitoringId}", subjects.monitoring),
        get("/aml/monitorings/{monitoringId}/timeline", subjects.monitoring_timeline),
        get("/companies", subjects.companies),
        get("/companies/{id}", subjects.company),
        get("/companies/{id}/timeline", subjects.company_timeline),
        get("/audit/unmodelled/{eventType}/timeline", subjects.unmodelled_timeline),
        get("/audit/completeness", subjects.completeness),
        get("/policy", subjects.policy_in_force),
        get("/healthz", healthz),
        get("/readyz", readyz),
        Route("/openapi.json", openapi.openapi, methods=["GET"]),
        Route("/metrics", metrics.Metrics(services).scrape, methods=["GET"]),
    ]
    fast: list[tuple[Matcher, ASGIApp]] = [
        (webhooks.is_webhook, intake),
        (reads.is_plain_status_read, plain_status),
    ]
    return RouteTable(routes, fast, plain_status)


def create_api(services: Services, more: Sequence[BaseRoute] = ()) -> LedgerApp:
    """The API over ``services``, with ``more`` routes (the UI); closing it is the
    caller's business."""
    status = services.views.status
    reader = status_reader(services.settings.store, status.active, status.serving)
    table = route_table(services, reader)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await reader.close()

    app = LedgerApp(
        table.fast,
        routes=[*table.routes, *more],
        exception_handlers={
            HTTPException: error_response,
            AccessDeniedError: error_response,
            Exception: error_response,
        },
        lifespan=lifespan,
    )
    # A path with a slash too many is not found rather than redirected: the router's
    # redirect would name the Host the caller sent. Webhook paths take either
    # spelling (``webhooks.is_webhook`` sends them to the intake before the router).
    app.router.redirect_slashes = False
    app.add_middleware(RequestLog)
    app.status_read = table.status_read
    return app
