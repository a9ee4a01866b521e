"""The Starlette application: explicit routes, JSON errors, one lifespan."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.persistence import PostgresLocation
from adapters.status_reader import status_reader
from app import auditor, backend, logs, metrics, openapi, reads, webhooks
from app.body import RETRY_AFTER_SECONDS
from app.bootstrap import Services, bootstrap
from app.config import load
from app.ledger import Ledger
from app.ui import SecurityHeaders, create_ui
from app.writer import WriterProcess, WriterStoppedError

log = logging.getLogger("ledger.http")

READY_LAG_EVENTS = 1000
GIL_SWITCH_SECONDS = 0.0002


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 503:
        headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse({"error": "internal error"}, status_code=500)


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


async def ui_slash(scope: Scope, receive: Receive, send: Send) -> None:
    """``/ui`` is ``/ui/``, as the router would redirect it."""
    url = Request(scope).url
    await RedirectResponse(url.replace(path=f"{url.path}/"), status_code=307)(scope, receive, send)


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
        self.intake = logs.RequestLog(intake)
        self.status_read = logs.RequestLog(reads.StatusRead())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if webhooks.is_webhook(scope):
            scope["app"] = self
            await self.intake(scope, receive, send)
        elif reads.is_plain_status_read(scope):
            scope["app"] = self
            await self.status_read(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(services: Services) -> LedgerApp:
    """The service over ``services``; closing it is the caller's business."""
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
        # The auditor UI, with its security headers; API routes go without that layer.
        Route("/ui", SecurityHeaders(ui_slash), methods=["GET", "HEAD"]),
        Mount("/ui", app=SecurityHeaders(create_ui(services))),
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
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
        lifespan=lifespan,
    )
    app.add_middleware(logs.RequestLog)
    app.state.services = services
    app.state.status_reader = reader
    return app


def create_app_from_environment() -> LedgerApp:
    """The service as ``ledger serve`` runs it: configured from the environment."""
    logs.configure(text=os.environ.get(logs.LOG_FORMAT) == "text")
    # The ledger's writer thread in this process (on SQLite; on PostgreSQL only for
    # registrations) spends its time waiting for the store, and each time its answer
    # comes it must get the GIL back from the busy event loop; a shorter switch interval
    # hands it over sooner (ADR 10).
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    # `ledger serve` has set up the store before starting the server processes.
    services = bootstrap(load(os.environ), create_tables=False)
    if isinstance(services.settings.store, PostgresLocation):
        # Deliveries are committed by a process of their own, in parallel (ADR 11).
        services.writer = WriterProcess()

    app = create_app(services)
    own_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            if services.writer is not None:
                try:
                    await services.writer.start()
                except WriterStoppedError as error:
                    # Deliveries get 503s until a writer process can start.
                    log.error("%s", error)
            async with own_lifespan(app):
                yield
        finally:
            if services.writer is not None:
                await services.writer.close()
            services.close()

    app.router.lifespan_context = lifespan
    return app
