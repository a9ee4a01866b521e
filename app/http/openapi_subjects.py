"""The OpenAPI paths of AML monitorings and companies (``app.http.subjects``)."""

from __future__ import annotations

from typing import Any

from adapters.idenfy import SUBJECT_ID_PATTERN
from app.http.openapi_parts import ERRORS, MIN_POSITION, get_path, query

PAGE = [
    query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
    query("after", {"type": "string", "description": "the `next` of the page before"}),
    MIN_POSITION,
]
TIMELINE = [MIN_POSITION, query("payload", {"type": "string", "enum": ["0", "1"]})]


def _id(name: str) -> dict[str, Any]:
    pattern = "^" + SUBJECT_ID_PATTERN.removeprefix("\\A").removesuffix("\\Z") + "$"
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} | {
        "description": f"matches {pattern} (or `_unidentified` for companies)"
    }


def _completeness() -> dict[str, Any]:
    return {
        "/audit/completeness": {
            "get": {
                "summary": "The completeness statement of verifications registered in a window",
                "security": [{"bearer": []}],
                "parameters": [
                    query("since", {"type": "string", "description": "ISO date or time, included"}),
                    query("until", {"type": "string", "description": "ISO date or time, excluded"}),
                    query("format", {"type": "string", "enum": ["json", "md"]}),
                ],
                "responses": {
                    "200": {
                        "description": "The statement (JSON, or Markdown to file)",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "text/markdown": {"schema": {"type": "string"}},
                        },
                    },
                    **ERRORS,
                },
                "x-roles": ["auditor", "admin"],
            }
        }
    }


def subject_paths() -> dict[str, Any]:
    monitoring, company = _id("monitoringId"), _id("id")
    return {
        "/aml/monitorings": get_path(
            "AML monitorings by id",
            "MonitoringList",
            [query("alertStatus", {"type": "string"}), *PAGE],
            auditor=False,
        ),
        "/aml/monitorings/{monitoringId}": get_path(
            "An AML monitoring's state", "MonitoringDocument", [monitoring, MIN_POSITION], False
        ),
        "/aml/monitorings/{monitoringId}/timeline": get_path(
            "An AML monitoring's timeline and chain check",
            "Timeline",
            [monitoring, *TIMELINE],
            True,
        ),
        "/companies": get_path(
            "KYB companies by id",
            "CompanyList",
            [query("status", {"type": "string"}), *PAGE],
            False,
        ),
        "/companies/{id}": get_path(
            "A KYB company's latest status", "CompanyDocument", [company, MIN_POSITION], False
        ),
        "/audit/unmodelled/{eventType}/timeline": get_path(
            "Deliveries of a type the ledger does not model that named no verification",
            "Timeline",
            [
                {"name": "eventType", "in": "path", "required": True, "schema": {"type": "string"}},
                *TIMELINE,
            ],
            auditor=True,
        ),
        **_completeness(),
        "/policy": {
            "get": {
                "summary": "The business policy in force, its version and its text",
                "security": [{"bearer": []}],
                "responses": {
                    "200": {
                        "description": "The policy",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **ERRORS,
                },
                "x-roles": ["backend", "auditor", "admin"],
            }
        },
        "/companies/{id}/timeline": get_path(
            "A KYB company's timeline", "Timeline", [company, *TIMELINE], True
        ),
    }
