"""``GET /openapi.json``: every route of the service, with its schemas (OpenAPI 3.0)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.idenfy import PATH_KINDS
from app.http import clients, transparency
from app.http.documents import DOCUMENTS
from app.http.openapi_parts import (
    ERROR,
    ERRORS,
    MIN_POSITION,
    REF,
    SCAN_REF,
    get_path,
    json_body,
    query,
    ref,
)
from app.http.openapi_subjects import subject_paths
from projections.policy import DECISIONS


def openapi_30(node: Any) -> Any:
    """msgspec's JSON Schema as OpenAPI 3.0 has it: ``nullable`` for a union with null
    (``allOf`` around a ``$ref``, whose siblings 3.0 ignores), no empty ``required``."""
    if isinstance(node, list):
        return [openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {key: openapi_30(value) for key, value in node.items()}
    if schema.get("required") == []:
        del schema["required"]
    options = schema.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        others = [option for option in options if option != {"type": "null"}]
        del schema["anyOf"]
        if len(others) != 1:
            return {**schema, "anyOf": others, "nullable": True}
        (other,) = others
        if "$ref" in other:
            return {**schema, "allOf": [other], "nullable": True}
        if "enum" in other:
            other = {"type": "string", **other, "enum": [*other["enum"], None]}
        return {**schema, **other, "nullable": True}
    return schema


def schemas() -> dict[str, Any]:
    """The components' schemas, generated from the API's document types."""
    _, components = msgspec.json.schema_components(DOCUMENTS, ref_template=REF)
    converted: dict[str, Any] = openapi_30(components)
    return converted


def _webhook(path_kind: bool) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": "Idenfy-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "hex HMAC-SHA256 of the raw body",
        },
        {
            "name": "Idenfy-Event-Type",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
        },
    ]
    if path_kind:
        parameters.insert(
            0,
            {
                "name": "kind",
                "in": "path",
                "required": True,
                "schema": {
                    "type": "string",
                    "enum": list(PATH_KINDS),
                },
            },
        )
    return {
        "post": {
            "summary": "Record a signed iDenfy webhook delivery",
            "parameters": parameters,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
            "responses": {
                "200": json_body(
                    ref("WebhookAnswer"), "Recorded, or a duplicate of a recorded one"
                ),
                "202": json_body(ref("WebhookAnswer"), "Authentic but unusable: quarantined"),
                "401": ERROR,
                "404": ERROR,
                "413": ERROR,
                "503": ERROR,
            },
        }
    }


def _verifications() -> dict[str, Any]:
    """Registration, and the list of status documents."""
    flag = {"type": "string", "enum": ["true", "false"]}
    return {
        "/verifications": {
            "post": {
                "summary": "Register a verification token the backend generated",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("Registration")}},
                },
                "responses": {
                    "200": json_body(
                        ref("RegistrationAnswer"), "The identical registration exists"
                    ),
                    "201": json_body(ref("RegistrationAnswer"), "Registered"),
                    "409": ERROR,
                    **ERRORS,
                    "413": ERROR,
                },
            },
            **get_path(
                "Status documents, newest activity first",
                "StatusList",
                [
                    query("status", {"type": "string"}),
                    query("final", flag),
                    query("clientId", {"type": "string"}),
                    query("suspected", flag),
                    query("overdue", {"type": "string", "enum": ["true"]}),
                    query("decision", {"type": "string", "enum": list(DECISIONS)}),
                    query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                    query("after", {"type": "string"}),
                    MIN_POSITION,
                ],
                auditor=False,
            ),
        },
    }


def _reads() -> dict[str, Any]:
    """The reads of one verification, client or audit record."""
    return {
        "/verifications/{scanRef}": get_path(
            "A verification's status document",
            "StatusDocument",
            [SCAN_REF, MIN_POSITION],
            auditor=False,
        ),
        "/verifications/{scanRef}/timeline": get_path(
            "A verification's audit timeline and chain check",
            "Timeline",
            [SCAN_REF, MIN_POSITION, query("payload", {"type": "string", "enum": ["0", "1"]})],
            auditor=True,
        ),
        "/clients/{clientId}": get_path(
            "A client's totals",
            "Client",
            [
                {"name": "clientId", "in": "path", "required": True, "schema": {"type": "string"}},
                MIN_POSITION,
            ],
            auditor=False,
        ),
        "/audit/digest": get_path("The ledger digest", "Digest", [MIN_POSITION], auditor=True),
        "/audit/access": get_path(
            "Who read what, when",
            "Access",
            [
                query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                query("before", {"type": "integer", "minimum": 1}),
            ],
            auditor=True,
        ),
    }


def _audit_events() -> dict[str, Any]:
    """The export of the events in a window."""
    window = [query("since", {"type": "string"}), query("until", {"type": "string"})]
    return {
        "/audit/events": {
            "get": {
                "summary": "Every event in the window, in ledger order (NDJSON or CSV)",
                "security": [{"bearer": []}],
                "parameters": [
                    *window,
                    query("format", {"type": "string", "enum": ["ndjson", "csv"]}),
                ],
                "responses": {
                    "200": {
                        "description": "A stream of events",
                        "content": {
                            "application/x-ndjson": {"schema": {"type": "string"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **ERRORS,
                },
            }
        },
    }


def _operational() -> dict[str, Any]:
    """Liveness, readiness and metrics."""
    return {
        "/healthz": {
            "get": {"summary": "The process is up", "responses": {"200": {"description": "up"}}}
        },
        "/readyz": {
            "get": {
                "summary": "Store reachable and projections caught up",
                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/webhooks/idenfy": _webhook(False),
        "/webhooks/idenfy/{kind}": _webhook(True),
        **_verifications(),
        **_reads(),
        **clients.openapi_paths(),
        **_audit_events(),
        **subject_paths(),
        **_operational(),
        **transparency.openapi_paths(),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "verification-ledger", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document())
