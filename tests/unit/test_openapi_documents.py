"""The OpenAPI document's schemas come from the API's document types."""

from __future__ import annotations

import json
from typing import get_type_hints

from adapters.status_query import Serving
from adapters.views import encode_json
from app.http.openapi import document, openapi_30
from projections.documents import StatusDocument, TimelineEntry
from projections.rules import evaluate


def test_msgspec_unions_with_null_become_openapi_30_nullable() -> None:
    string = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    ref = {"anyOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}]}
    enum = {"anyOf": [{"enum": ["a", "b"]}, {"type": "null"}]}
    assert openapi_30(string) == {"type": "string", "nullable": True}
    assert openapi_30(ref) == {"allOf": [{"$ref": "#/components/schemas/X"}], "nullable": True}
    assert openapi_30(enum) == {"type": "string", "enum": ["a", "b", None], "nullable": True}
    assert openapi_30({"type": "object", "required": []}) == {"type": "object"}


def test_the_generated_schemas_have_no_type_lists_or_null_types() -> None:
    text = json.dumps(document()["components"]["schemas"])
    assert '{"type": "null"}' not in text
    assert '"type": [' not in text


def test_a_status_document_has_exactly_the_keys_of_its_type() -> None:
    assert set(get_type_hints(StatusDocument)) == set(evaluate("s-1", []).document)
    schemas = document()["components"]["schemas"]
    served = Serving().document(encode_json(evaluate("s-1", []).document), None)
    assert set(schemas["StatusDocument"]["properties"]) == set(served)
    assert set(schemas["TimelineEntry"]["properties"]) == set(get_type_hints(TimelineEntry))
