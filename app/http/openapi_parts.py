"""What the OpenAPI document's paths are made of (``app.http.openapi``)."""

from __future__ import annotations

from typing import Any

from app.http.documents import SCAN_REF_PATTERN

REF = "#/components/schemas/{name}"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = json_body(ref("Error"), "An error, with a human-readable `error`")
ERRORS = {code: ERROR for code in ("401", "403", "404", "422", "429", "503")}
SCAN_REF = {
    "name": "scanRef",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": SCAN_REF_PATTERN},
}
MIN_POSITION = {
    "name": "minPosition",
    "in": "query",
    "required": False,
    "description": "Wait (5 s at most) until the projections have seen this ledger position",
    "schema": {"type": "integer", "minimum": 0},
}


def get_path(
    summary: str, schema: str, parameters: list[dict[str, Any]], auditor: bool
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": [{"bearer": []}],
            "parameters": parameters,
            "responses": {"200": json_body(ref(schema), summary), **ERRORS},
            "x-roles": ["auditor", "admin"] if auditor else ["backend", "auditor", "admin"],
        }
    }


def query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}
