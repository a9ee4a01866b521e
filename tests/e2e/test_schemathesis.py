"""The read API against its own ``/openapi.json``, with inputs schemathesis generates.

Every GET route gets valid and invalid parameters (with a backend token, or an
auditor token on the auditor's routes) over a ledger that holds a simulated day;
no answer may be a server error, and every answer must have a status, content type
and body that the document declares for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from adapters.signing import sign
from app.bootstrap import bootstrap
from app.cli.scenarios import plan
from app.config import load
from app.server import create_app
from app.service.ledger import Ledger
from app.service.services import Services
from tests.support.settings import API_TOKENS, SIGNING_KEYS, environment

MAX_EXAMPLES = 30
CATCH_UP_SECONDS = 30.0
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
AUDITOR_ROUTES = {
    "/verifications/{scanRef}/timeline",
    "/clients/{clientId}/retention",
    "/audit/digest",
    "/audit/access",
    "/audit/events",
}
GET_ROUTES = [
    "/verifications",
    "/verifications/{scanRef}",
    "/verifications/{scanRef}/timeline",
    "/clients/{clientId}",
    "/clients/{clientId}/retention",
    "/audit/digest",
    "/audit/access",
    "/audit/events",
    "/healthz",
    "/readyz",
    "/metrics",
]


@dataclass
class Documented:
    """The service over a simulated day, its OpenAPI schema, and what it holds."""

    app: Starlette
    schema: schemathesis.BaseSchema
    head: int
    scan_refs: list[str]
    client_ids: list[str]


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Documented]:
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'ledger.sqlite3'}"
    # schemathesis sends many requests without a token (its ignored_auth check): past the
    # failed-authentication limits they would be answered 429, not the 401 it checks.
    unlimited = {
        "LEDGER_AUTH_FAILURES_PER_CLIENT": "1000000",
        "LEDGER_AUTH_FAILURES_GLOBAL": "1000000",
    }
    services: Services = bootstrap(load(environment(url, **unlimited)))
    services.start_projections()
    app = create_app(services)
    planned = plan("day", 30, seed=7)
    with TestClient(app) as client:
        for delivery in planned:
            response = client.post(
                f"/webhooks/idenfy/{delivery.kind}",
                content=delivery.body,
                headers={"Idenfy-Signature": sign(SIGNING_KEYS[0], delivery.body)},
            )
            assert response.status_code == 200, response.text
        registered = client.post(
            "/verifications",
            json={"scanRef": "registered-only", "clientId": "client-without-results"},
            headers={"Authorization": f"Bearer {API_TOKENS['backend']}"},
        )
        assert registered.status_code == 201, registered.text
    head = services.ledger.recorder.max_notification_id() or 0
    for view in services.views.all():
        view.wait(Ledger.name, head, timeout=CATCH_UP_SECONDS)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    scan_refs = [*sorted({d.scan_ref for d in planned})[:5], "registered-only"]
    client_ids = ["client-without-results", *sorted({_client_of(d.body) for d in planned})[:3]]
    yield Documented(app, schema, head, scan_refs, client_ids)
    services.close()


def _client_of(body: bytes) -> str:
    client_id: str = json.loads(body)["clientId"]
    return client_id


def token_for(route: str) -> dict[str, str]:
    role = "auditor" if route in AUDITOR_ROUTES else "backend"
    return {"Authorization": f"Bearer {API_TOKENS[role]}"}


def cases(documented: Documented, route: str) -> st.SearchStrategy[Any]:
    """Generated cases, valid and invalid, plus valid ones naming what the ledger holds."""
    operation = documented.schema[route]["GET"]
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    if operation.definition.raw.get("parameters"):
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    if "{scanRef}" in route:
        strategies += [
            operation.as_strategy(path_parameters={"scanRef": ref}) for ref in documented.scan_refs
        ]
    if "{clientId}" in route:
        strategies += [
            operation.as_strategy(path_parameters={"clientId": client})
            for client in documented.client_ids
        ]
    return st.one_of(strategies)


@pytest.mark.parametrize("route", GET_ROUTES)
def test_every_read_route_answers_only_as_its_openapi_document_says(
    documented: Documented, route: str
) -> None:
    headers = token_for(route)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases(documented, route))
    def answers_as_documented(case: Any) -> None:
        # A position the ledger has not reached makes a read wait 5 s and answer 503, as
        # documented; generated positions stay within what it holds.
        wanted = (case.query or {}).get("minPosition")
        if isinstance(wanted, int) and wanted > documented.head:
            case.query["minPosition"] = documented.head
        case.call_and_validate(headers=headers, checks=CHECKS)

    answers_as_documented()


def test_the_openapi_document_lists_every_route_the_service_has_but_itself(
    documented: Documented,
) -> None:
    documented_routes = {
        (path, method.upper())
        for path, item in documented.schema.raw_schema["paths"].items()
        for method in item
    }
    served: set[tuple[str, str]] = set()
    for route in documented.app.routes:
        if isinstance(route, Route) and route.path == "/ui":
            continue  # the auditor UI's redirect to /ui/: the UI is not part of the API
        if isinstance(route, Route):
            path = route.path.replace("{scan_ref}", "{scanRef}").replace(
                "{client_id}", "{clientId}"
            )
            served |= {(path, method) for method in route.methods or () if method != "HEAD"}
            served.discard(("/openapi.json", "GET"))
        else:
            assert isinstance(route, Mount)
    assert served == documented_routes
