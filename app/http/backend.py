"""The backend API: registering the verification tokens the business generated."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.idenfy import NO_NUL, SCAN_REF_PATTERN
from app.http.auth import require
from app.http.body import read_json
from app.service.access import BACKEND_ROLES
from app.service.errors import StoreUnavailableError
from app.service.services import Services
from domain.errors import RegistrationConflictError
from domain.reports import Registration

REGISTRATION_BODY_LIMIT = 64 * 1024

Count = Annotated[int, msgspec.Meta(ge=0, le=1000)]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=10 * 365 * 24 * 3600)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NO_NUL)]


class RegistrationRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of ``POST /verifications``."""

    scanRef: Annotated[str, msgspec.Meta(pattern=SCAN_REF_PATTERN)]
    clientId: Text
    externalRef: Annotated[str, msgspec.Meta(max_length=100, pattern=NO_NUL)] | None = None
    maxReattempts: Count = 1
    maxImageRecaptures: Count = 3
    expiryTime: Seconds | None = None
    sessionLength: Seconds | None = None


_decoder = msgspec.json.Decoder(RegistrationRequest)


async def register(services: Services, request: Request) -> Response:
    await require(services, request, BACKEND_ROLES)
    given = await read_json(request, REGISTRATION_BODY_LIMIT, _decoder, "registration")
    registration = Registration(
        scan_ref=given.scanRef,
        client_id=given.clientId,
        external_ref=given.externalRef,
        max_reattempts=given.maxReattempts,
        max_image_recaptures=given.maxImageRecaptures,
        expiry_time=given.expiryTime,
        session_length=given.sessionLength,
    )
    try:
        receipt = await run_in_threadpool(services.ledger.register, registration, services.clock())
    except RegistrationConflictError:
        raise HTTPException(
            409, f"{given.scanRef} is already registered differently, or for another client"
        ) from None
    except StoreUnavailableError:
        raise HTTPException(503, "the ledger cannot commit right now") from None
    answer: dict[str, object] = {
        "result": "duplicate" if receipt.duplicate else "registered",
        "scanRef": receipt.scan_ref,
        "sequence": receipt.sequence,
        "registration": msgspec.to_builtins(given),
    }
    if receipt.position is not None:
        answer["position"] = receipt.position
    return JSONResponse(answer, status_code=200 if receipt.duplicate else 201)
