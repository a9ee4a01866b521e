"""The Starlette application: explicit routes, JSON errors, one lifespan."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import backend, webhooks
from app.bootstrap import Services, bootstrap
from app.config import load

log = logging.getLogger("ledger.http")

RETRY_AFTER_SECONDS = "5"


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


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        position = await run_in_threadpool(services.ledger.recorder.max_notification_id)
    except Exception:
        return JSONResponse(
            {"ready": False, "store": "unreachable"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    return JSONResponse({"ready": True, "store": "ok", "position": position or 0})


def create_app(services: Services) -> Starlette:
    """The service over ``services``; closing it is the caller's business."""
    routes = [
        Route("/webhooks/idenfy", webhooks.receive, methods=["POST"]),
        Route("/webhooks/idenfy/{kind}", webhooks.receive, methods=["POST"]),
        Route("/verifications", backend.register, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
    )
    app.state.services = services
    return app


def create_app_from_environment() -> Starlette:
    """The service as ``ledger serve`` runs it: configured from the environment."""
    services = bootstrap(load(os.environ))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            services.close()

    app = create_app(services)
    app.router.lifespan_context = lifespan
    return app
