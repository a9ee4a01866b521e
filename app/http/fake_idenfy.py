"""A fake of iDenfy's status API as an ASGI app, for trying reconciliation and for tests.

``POST /api/v2/status`` checks HTTP Basic credentials (401 otherwise) and answers as its
script says (``app.http.fake_idenfy_script``). Beside it, for whoever drives the fake:
``GET /_fake/calls`` (the calls answered per scanRef), ``GET /_fake/script``,
``PUT /_fake/script`` (replace the script), ``POST /_fake/script`` (merge into it) and
``POST /_fake/reset``. Those take no credentials: serve the fake on a loopback address.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.http.fake_idenfy_script import FakeIdenfy, ScriptError, error_body

JSON = "application/json"


def create_fake_idenfy_app(fake: FakeIdenfy) -> Starlette:
    """The fake's ASGI app, answering from ``fake``."""

    async def status(request: Request) -> Response:
        if not _authenticated(request, fake):
            fake.refused()
            body = error_body("UNAUTHORIZED", "Invalid or missing API credentials.")
            return Response(body, 401, {"WWW-Authenticate": 'Basic realm="api"'}, JSON)
        try:
            asked = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return Response(error_body("JSON_ERROR", "Malformed JSON body."), 400, media_type=JSON)
        scan_ref = asked.get("scanRef") if isinstance(asked, dict) else None
        if not isinstance(scan_ref, str) or not scan_ref:
            body = error_body("MISSING_VALUE", "scanRef is required.")
            return Response(body, 400, media_type=JSON)
        reply = fake.answer(scan_ref)
        if reply.delay > 0:
            await asyncio.sleep(reply.delay)
        return Response(reply.body, reply.status, reply.headers, JSON)

    async def calls(request: Request) -> Response:
        return JSONResponse(fake.calls())

    async def script(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(fake.script())
        try:
            given = json.loads(await request.body())
            return JSONResponse(fake.set_script(given, merge=request.method == "POST"))
        except (ValueError, UnicodeDecodeError) as error:
            cause = str(error) if isinstance(error, ScriptError) else "the script is not JSON"
            return JSONResponse({"error": cause}, 422)

    async def reset(request: Request) -> Response:
        fake.reset()
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/api/v2/status", status, methods=["POST"]),
            Route("/_fake/calls", calls, methods=["GET"]),
            Route("/_fake/script", script, methods=["GET", "PUT", "POST"]),
            Route("/_fake/reset", reset, methods=["POST"]),
        ]
    )


def _authenticated(request: Request, fake: FakeIdenfy) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = f"{fake.api_key}:{fake.api_secret}".encode()
    return hmac.compare_digest(given, expected)
