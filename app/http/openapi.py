"""``GET /openapi.json``: every route of the service, with its schemas (OpenAPI 3.0)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(nullable: bool = False, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "nullable": nullable, **extra}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = _json(_ref("Error"), "An error, with a human-readable `error`")
ERRORS = {code: ERROR for code in ("401", "403", "404", "422", "503")}
SCAN_REF = {
    "name": "scanRef",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"},
}
MIN_POSITION = {
    "name": "minPosition",
    "in": "query",
    "required": False,
    "description": "Wait (5 s at most) until the projections have seen this ledger position",
    "schema": {"type": "integer", "minimum": 0},
}
TAGS = {"type": "array", "items": {"type": "string"}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": _string()}},
    "WebhookAnswer": {
        "type": "object",
        "required": ["result"],
        "properties": {
            "result": {"type": "string", "enum": ["recorded", "duplicate", "quarantined"]},
            "scanRef": _string(),
            "sequence": {"type": "integer", "minimum": 1},
            "position": {"type": "integer"},
            "id": _string(),
        },
    },
    "Registration": {
        "type": "object",
        "required": ["scanRef", "clientId"],
        "additionalProperties": False,
        "properties": {
            "scanRef": SCAN_REF["schema"],
            "clientId": _string(minLength=1, maxLength=100),
            "externalRef": _string(nullable=True, maxLength=100),
            "maxReattempts": {"type": "integer", "minimum": 0, "maximum": 1000},
            "maxImageRecaptures": {"type": "integer", "minimum": 0, "maximum": 1000},
            "expiryTime": {"type": "integer", "minimum": 0, "nullable": True},
            "sessionLength": {"type": "integer", "minimum": 0, "nullable": True},
        },
    },
    "RegistrationAnswer": {
        "type": "object",
        "required": ["result", "scanRef", "sequence"],
        "properties": {
            "result": {"type": "string", "enum": ["registered", "duplicate"]},
            "scanRef": _string(),
            "sequence": {"type": "integer"},
            "position": {"type": "integer"},
            "registration": _ref("Registration"),
        },
    },
    "StatusDocument": {
        "type": "object",
        "required": ["scanRef", "status", "final", "events", "rulesVersion"],
        "properties": {
            "scanRef": _string(),
            "clientId": _string(nullable=True),
            "externalRef": _string(nullable=True),
            "status": _string(nullable=True),
            "final": {"type": "boolean"},
            "decidedBy": _string(nullable=True, enum=["auto", "manual", None]),
            "awaitingManualReview": {"type": "boolean"},
            "autoDocument": _string(nullable=True),
            "autoFace": _string(nullable=True),
            "manualDocument": _string(nullable=True),
            "manualFace": _string(nullable=True),
            "fraudTags": TAGS,
            "mismatchTags": TAGS,
            "suspected": {"type": "boolean"},
            "attempts": {"type": "integer"},
            "reattemptsAllowed": {"type": "integer"},
            "reattemptsUsed": {"type": "integer"},
            "reattemptsRemaining": {"type": "integer"},
            "maxImageRecaptures": {"type": "integer"},
            "events": {"type": "integer"},
            "firstEventAt": _string(nullable=True),
            "lastEventAt": _string(nullable=True),
            "lastPosition": {"type": "integer"},
            "documentExpiration": {
                "type": "object",
                "nullable": True,
                "properties": {"threshold": _string(True), "date": _string(True)},
            },
            "rulesVersion": {"type": "integer"},
        },
    },
    "StatusList": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": _ref("StatusDocument")},
            "next": _string(nullable=True),
        },
    },
    "Client": {
        "type": "object",
        "required": ["clientId", "verifications", "approved", "denied", "suspected"],
        "properties": {
            "clientId": _string(),
            "verifications": {"type": "integer"},
            "approved": {"type": "integer"},
            "denied": {"type": "integer"},
            "suspected": {"type": "integer"},
            "latestScanRef": _string(),
        },
    },
    "TimelineEntry": {
        "type": "object",
        "required": ["sequence", "kind", "receivedAt", "lateArrival", "hash"],
        "properties": {
            "sequence": {"type": "integer"},
            "kind": _string(),
            "receivedAt": _string(),
            "final": {"type": "boolean", "nullable": True},
            "status": _string(nullable=True),
            "preliminary": {"type": "boolean"},
            "lateArrival": {"type": "boolean"},
            "supersededBy": {"type": "integer", "nullable": True},
            "payloadSha256": _string(nullable=True),
            "prevHash": _string(nullable=True),
            "hash": _string(nullable=True),
            "payload": _string(nullable=True),
        },
    },
    "Timeline": {
        "type": "object",
        "required": ["scanRef", "entries", "chain"],
        "properties": {
            "scanRef": _string(),
            "entries": {"type": "array", "items": _ref("TimelineEntry")},
            "chain": {
                "type": "object",
                "properties": {"valid": {"type": "boolean"}, "head": _string(nullable=True)},
            },
        },
    },
    "Digest": {
        "type": "object",
        "required": ["events", "digest", "at"],
        "properties": {
            "events": {"type": "integer"},
            "digest": _string(),
            "at": _string(),
            "position": {"type": "integer"},
        },
    },
    "Access": {
        "type": "object",
        "properties": {"entries": {"type": "array", "items": {"type": "object"}}},
    },
}


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
                    "enum": [
                        "identification",
                        "auto-finished",
                        "manual-finished",
                        "cancelled",
                        "canceled",
                        "expired",
                        "resubmitted",
                        "document-expiration",
                    ],
                },
            },
        )
    return {
        "post": {
            "summary": "Record a signed iDenfy webhook delivery",
            "parameters": parameters,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
            "responses": {
                "200": _json(_ref("WebhookAnswer"), "Recorded, or a duplicate of a recorded one"),
                "202": _json(_ref("WebhookAnswer"), "Authentic but unusable: quarantined"),
                "401": ERROR,
                "404": ERROR,
                "413": ERROR,
                "503": ERROR,
            },
        }
    }


def _get(
    summary: str, schema: str, parameters: list[dict[str, Any]], auditor: bool
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": [{"bearer": []}],
            "parameters": parameters,
            "responses": {"200": _json(_ref(schema), summary), **ERRORS},
            "x-roles": ["auditor", "admin"] if auditor else ["backend", "auditor", "admin"],
        }
    }


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def document() -> dict[str, Any]:
    flag = {"type": "string", "enum": ["true", "false"]}
    window = [_query("since", {"type": "string"}), _query("until", {"type": "string"})]
    paths: dict[str, Any] = {
        "/webhooks/idenfy": _webhook(False),
        "/webhooks/idenfy/{kind}": _webhook(True),
        "/verifications": {
            "post": {
                "summary": "Register a verification token the backend generated",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Registration")}},
                },
                "responses": {
                    "200": _json(_ref("RegistrationAnswer"), "The identical registration exists"),
                    "201": _json(_ref("RegistrationAnswer"), "Registered"),
                    "409": ERROR,
                    **ERRORS,
                    "413": ERROR,
                },
            },
            **_get(
                "Status documents, newest activity first",
                "StatusList",
                [
                    _query("status", {"type": "string"}),
                    _query("final", flag),
                    _query("clientId", {"type": "string"}),
                    _query("suspected", flag),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                    _query("after", {"type": "string"}),
                    MIN_POSITION,
                ],
                auditor=False,
            ),
        },
        "/verifications/{scanRef}": _get(
            "A verification's status document",
            "StatusDocument",
            [SCAN_REF, MIN_POSITION],
            auditor=False,
        ),
        "/verifications/{scanRef}/timeline": _get(
            "A verification's audit timeline and chain check",
            "Timeline",
            [SCAN_REF, MIN_POSITION, _query("payload", {"type": "string", "enum": ["0", "1"]})],
            auditor=True,
        ),
        "/clients/{clientId}": _get(
            "A client's totals",
            "Client",
            [
                {"name": "clientId", "in": "path", "required": True, "schema": {"type": "string"}},
                MIN_POSITION,
            ],
            auditor=False,
        ),
        "/audit/digest": _get("The ledger digest", "Digest", [MIN_POSITION], auditor=True),
        "/audit/access": _get(
            "Who read what, when",
            "Access",
            [
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                _query("before", {"type": "integer", "minimum": 1}),
            ],
            auditor=True,
        ),
        "/audit/events": {
            "get": {
                "summary": "Every event in the window, in ledger order (NDJSON or CSV)",
                "security": [{"bearer": []}],
                "parameters": [
                    *window,
                    _query("format", {"type": "string", "enum": ["ndjson", "csv"]}),
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
    return {
        "openapi": "3.0.3",
        "info": {"title": "verification-ledger", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(document())
