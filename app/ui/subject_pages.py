"""The auditor UI's pages of AML monitorings and KYB companies: lists (open AML alerts
first), a subject's state and history, and its payloads.

Like the verification pages, each is an auditor read recorded in the access log first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.http.reads import read_view
from app.service.services import Services
from app.ui.auth import audited
from app.ui.model import timeline_items
from app.ui.pages import chain_check, payload_page
from app.ui.render import PREFIX, UiState, render
from domain.reports import AML_SUBJECT, COMPANY_SUBJECT

PAGE = 50
OPEN_ALERT = "ALERT"
KINDS: dict[str, dict[str, Any]] = {
    AML_SUBJECT: {
        "title": "AML monitoring",
        "path": "aml",
        "key": "monitoringId",
        "fields": (
            ("Status", "status"),
            ("Alert status", "alertStatus"),
            ("PEPs", "pepsStatus"),
            ("Sanctions", "sanctionsStatus"),
            ("Adverse media", "adverseMediaStatus"),
            ("clientId", "clientId"),
            ("Events", "events"),
            ("First / last event", ("firstEventAt", "lastEventAt")),
        ),
        "note": "As iDenfy's latest monitoring delivery stated it; the statuses are iDenfy's,"
        " shown as sent. The matched list entries are in each delivery's payload.",
    },
    COMPANY_SUBJECT: {
        "title": "Company",
        "path": "companies",
        "key": "companyId",
        "fields": (
            ("Status", "status"),
            ("Last webhook", "eventType"),
            ("clientId", "clientId"),
            ("Events", "events"),
            ("First / last event", ("firstEventAt", "lastEventAt")),
        ),
        "note": "The status is the word the latest company webhook states (its status or"
        " expirationStatus), else the webhook's type; the ledger interprets neither.",
    },
}


def _value(document: dict[str, Any], field: str | tuple[str, str]) -> Any:
    if isinstance(field, tuple):
        return " / ".join(str(document.get(name) or "—") for name in field)
    return document.get(field)


async def _subject(request: Request, services: Services, prefix: str) -> dict[str, Any]:
    """A monitoring's or company's document, timeline items and chain check, or 404."""
    kind = KINDS[prefix]
    name = request.path_params["name"]
    subject = prefix + name
    views = services.views
    document = await read_view(request, views.status, views.status.subject, subject)
    entries = await read_view(request, views.timeline, views.timeline.timeline, subject)
    if document is None or entries is None:
        raise HTTPException(404, f"There is no {kind['title'].lower()} {name}.")
    chain, payloads = await chain_check(services, subject)
    return {
        "title": kind["title"],
        "name": name,
        "scanRef": subject,
        "document": document,
        "fields": [(label, _value(document, field)) for label, field in kind["fields"]],
        "note": kind["note"],
        "items": timeline_items(entries, payloads),
        "chain": chain,
        "payloadBase": f"{PREFIX}/{kind['path']}/{quote(name, safe='')}/payloads",
    }


async def monitoring(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    record = await _subject(request, services, AML_SUBJECT)
    return render(state, request, "subject.html", record, caller=caller)


async def company(state: UiState, request: Request) -> Response:
    services, caller = await audited(state, request)
    record = await _subject(request, services, COMPANY_SUBJECT)
    return render(state, request, "subject.html", record, caller=caller)


async def subject_payload(state: UiState, request: Request) -> Response:
    """A payload of a monitoring's or company's delivery, as received."""
    services, caller = await audited(state, request)
    prefix = AML_SUBJECT if request.url.path.startswith(f"{PREFIX}/aml/") else COMPANY_SUBJECT
    record = await _subject(request, services, prefix)
    sequence: int = request.path_params["sequence"]
    entry = next((e for e in record["items"] if e["sequence"] == sequence), None)
    _, payloads = await chain_check(services, record["scanRef"])
    if entry is None or sequence not in payloads:
        raise HTTPException(404, f"{record['name']} has no payload at sequence {sequence}.")
    context = {
        "scanRef": record["scanRef"],
        "entry": entry,
        "back": record["payloadBase"].removesuffix("/payloads"),
        "backLabel": record["title"],
    }
    return payload_page(state, request, caller, context, payloads[sequence], record["items"])


def _row(prefix: str, document: dict[str, Any]) -> dict[str, Any]:
    kind = KINDS[prefix]
    name = document[kind["key"]]
    if prefix == AML_SUBJECT:
        status = document["alertStatus"]
        cells = [document["status"], ", ".join(document["scanRefs"]), document["events"]]
    else:
        status = document["status"]
        cells = [document["eventType"], document["clientId"], document["events"]]
    return {
        "name": name,
        "href": f"{PREFIX}/{kind['path']}/{quote(name, safe='')}",
        "status": status,
        "cells": [*cells, document["lastEventAt"]],
    }


async def _listing(
    state: UiState, request: Request, prefix: str, status: str | None, context: dict[str, Any]
) -> Response:
    services, caller = await audited(state, request)
    after = request.query_params.get("after") or None
    view = services.views.status
    found = await read_view(request, view, view.subjects, prefix, status, PAGE + 1, after)
    items = [_row(prefix, document) for document in found[:PAGE]]
    query = {"status": status or "", "after": items[-1]["name"] if items else ""}
    context["next"] = f"{request.url.path}?{urlencode(query)}" if len(found) > PAGE else None
    context["items"] = items
    return render(state, request, "subjects.html", context, caller=caller)


async def monitorings(state: UiState, request: Request) -> Response:
    """Open AML alerts by default; ``?status=`` another alert status, or every one."""
    status = request.query_params.get("status", OPEN_ALERT) or None
    base = f"{PREFIX}/aml"
    context = {
        "title": "AML alerts" if status == OPEN_ALERT else "AML monitorings",
        "intro": "Monitorings whose latest delivery has an open alert, by monitoringId."
        if status == OPEN_ALERT
        else "AML ongoing monitorings by monitoringId.",
        "filters": [
            ("Open alerts", base, status == OPEN_ALERT),
            ("All monitorings", f"{base}?status=", status is None),
        ],
        "headings": ["monitoringId", "alert", "status", "verifications", "events", "last event"],
        "empty": "No open alerts." if status == OPEN_ALERT else "No monitorings.",
    }
    return await _listing(state, request, AML_SUBJECT, status, context)


async def companies(state: UiState, request: Request) -> Response:
    status = request.query_params.get("status") or None
    context = {
        "title": "Companies",
        "intro": "KYB companies by id, with the status their latest webhook stated.",
        "filters": [],
        "headings": ["company", "status", "last webhook", "clientId", "events", "last event"],
        "empty": "No companies.",
    }
    return await _listing(state, request, COMPANY_SUBJECT, status, context)
