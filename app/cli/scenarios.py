"""Realistic iDenfy delivery sequences, for trying an installation and for load tests.

Every person, document and address here is invented. A scenario is a list of
verification stories; each story is the deliveries iDenfy would send for one
verification, in the order they go out (which is not always the order of events).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FIRST_NAMES = ("JONAS", "ANNA", "MARIJA", "PETRAS", "EVA", "LUKAS", "SOFIA", "TOMAS")
LAST_NAMES = ("TESTAS", "PAVYZDYS", "KOWALCZYK-TESTOWA", "EXEMPEL", "MUSTER", "DOE")
HEADER_OF_KIND = {
    "identification": "IDENTIFICATION",
    "auto-finished": "IDENTIFICATION_AUTO_FINISHED",
    "manual-finished": "IDENTIFICATION_MANUAL_FINISHED",
    "cancelled": "IDENTIFICATION_CANCELLED",
    "expired": "IDENTIFICATION_EXPIRED",
    "resubmitted": "IDENTIFICATION_RESUBMITTED",
    "document-expiration": "DOCUMENT_EXPIRATION",
    "aml-monitoring": "AML_MONITORING",
}
COMPANY_TYPE = "COMPANY_"
"""Story steps named ``COMPANY_...`` are KYB webhooks, sent under that type."""


@dataclass(frozen=True)
class Planned:
    """One delivery as iDenfy would send it: where, under which kind, which bytes."""

    scan_ref: str
    kind: str
    body: bytes
    by_path: bool
    header: str | None = None
    """The ``Idenfy-Event-Type`` to send when not by path; the usual name when None."""


class Person:
    """An invented person going through verifications."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.client_id = f"user-{rng.randrange(16**8):08x}"
        self.first = rng.choice(FIRST_NAMES)
        self.last = rng.choice(LAST_NAMES)
        self.doc_number = f"LT{rng.randrange(10**7):07d}"
        self.ip = f"203.0.113.{rng.randrange(1, 255)}"

    def result(
        self, scan_ref: str, finish: int | None, final: bool, overall: str, **status: Any
    ) -> dict[str, Any]:
        tags = status.pop("mismatchTags", [])
        return {
            "final": final,
            "platform": self.rng.choice(("PC", "MOBILE", "MOBILE_APP")),
            "status": {
                "overall": overall,
                "fraudTags": status.pop("fraudTags", []),
                "mismatchTags": tags,
                "autoFace": status.pop("autoFace", "FACE_MATCH"),
                "manualFace": status.pop("manualFace", None),
                "autoDocument": status.pop("autoDocument", "DOC_VALIDATED"),
                "manualDocument": status.pop("manualDocument", None),
                "additionalSteps": None,
            },
            "data": {
                "docFirstName": self.first,
                "docLastName": self.last,
                "docNumber": self.doc_number,
                "docDob": "1990-01-01",
                "docType": "ID_CARD",
                "docNationality": "LT",
                "fullName": f"{self.first} {self.last}",
                "address": "Gedimino pr. 1, Vilnius",
            },
            "fileUrls": {
                name: f"https://files.example/{scan_ref}/{name}.png?X-Amz-Signature={uuid.UUID(int=self.rng.getrandbits(128)).hex}"
                for name in ("FRONT", "BACK", "FACE")
            },
            "scanRef": scan_ref,
            "externalRef": f"onb-{scan_ref[:8]}",
            "clientId": self.client_id,
            "startTime": None if finish is None else finish - 120,
            "finishTime": finish,
            "clientIp": self.ip,
            "clientIpCountry": "LT",
            "clientLocation": "Vilnius, Lithuania",
        }


Story = list[tuple[str, dict[str, Any]]]
# The names iDenfy's dashboard shows for the event types, which some integrations send.
DASHBOARD_NAMES = {
    "identification": "ID VERIFICATION",
    "auto-finished": "ID VERIFICATION AUTO FINISH",
    "manual-finished": "ID VERIFICATION MANUAL FINISH",
}


def _approved_after_review(p: Person, ref: str, t: int) -> Story:
    return [
        ("auto-finished", p.result(ref, t, False, "SUSPECTED", mismatchTags=["NAME"])),
        ("manual-finished", p.result(ref, t, True, "APPROVED", manualFace="FACE_MATCH",
                                     manualDocument="DOC_VALIDATED")),
    ]  # fmt: skip


def _manual_before_preliminary(p: Person, ref: str, t: int) -> Story:
    return list(reversed(_approved_after_review(p, ref, t)))


def _auto_final(p: Person, ref: str, t: int) -> Story:
    return [("auto-finished", p.result(ref, t, True, "APPROVED"))]


def _redelivered(p: Person, ref: str, t: int) -> Story:
    # The same result again with freshly signed file URLs: different bytes.
    return [("auto-finished", p.result(ref, t, True, "DENIED", autoFace="FACE_MISMATCH"))
            for _ in range(2)]  # fmt: skip


def _reattempt(p: Person, ref: str, t: int) -> Story:
    return [
        ("auto-finished", p.result(ref, t, True, "DENIED", autoFace="FACE_MISMATCH")),
        ("auto-finished", p.result(ref, t + 600, False, "REVIEWING")),
        ("manual-finished", p.result(ref, t + 600, True, "APPROVED", manualFace="FACE_MATCH")),
    ]


def _cancelled(p: Person, ref: str, t: int) -> Story:
    return [("cancelled", p.result(ref, t, True, "DENIED", autoFace="FACE_NOT_ANALYSED"))]


def _expired_then_late(p: Person, ref: str, t: int) -> Story:
    return [
        ("expired", p.result(ref, None, True, "EXPIRED", autoFace=None, autoDocument=None)),
        ("auto-finished", p.result(ref, t, True, "APPROVED")),
    ]


def _resubmitted(p: Person, ref: str, t: int) -> Story:
    return [
        ("auto-finished", p.result(ref, t, True, "DENIED", autoDocument="DOC_NOT_FULLY_VISIBLE")),
        ("resubmitted", p.result(ref, t + 900, False, "REVIEWING")),
        ("manual-finished", p.result(ref, t + 900, True, "APPROVED", manualFace="FACE_MATCH")),
    ]


def _legacy(p: Person, ref: str, t: int) -> Story:
    body = p.result(ref, t, True, "APPROVED")
    del body["final"]
    body["status"]["suspicionReasons"] = []
    return [("identification", body)]


def _legacy_2019(p: Person, ref: str, t: int) -> Story:
    """iDenfy's 2019 shape: no ``final``, a decimal ``finishTime``, the reviewer's verdict."""
    body = p.result(ref, t, True, "APPROVED", manualFace="FACE_MATCH",
                    manualDocument="DOC_VALIDATED")  # fmt: skip
    del body["final"]
    body["finishTime"] = t + p.rng.randrange(1, 10**6) / 10**6
    body["startTime"] = t - 120
    return [("identification", body)]


def _dashboard_names(p: Person, ref: str, t: int) -> Story:
    """Sent with the dashboard's event names (``ID VERIFICATION AUTO FINISH``)."""
    return _approved_after_review(p, ref, t)


def _document_expiring(p: Person, ref: str, t: int) -> Story:
    notice = {"scanRef": ref, "clientId": p.client_id,
              "expirationThreshold": "DOCUMENT_EXPIRES_WITHIN_30_DAYS",
              "documentExpiration": "2031-04-30"}  # fmt: skip
    return [*_auto_final(p, ref, t), ("document-expiration", notice)]


def _aml_monitored(p: Person, ref: str, t: int) -> Story:
    """An approved verification, then AML ongoing monitoring of the person: a quiet check,
    later one with a sanctions hit (an open alert)."""

    def check(alert: bool) -> dict[str, Any]:
        hit = [{"name": p.first, "surname": p.last, "suspicion": "SANCTION", "score": 97,
                "listName": "Invented sanctions list", "isPerson": True}]  # fmt: skip
        return {
            "monitoringId": f"mon-{ref[:13]}", "name": p.first, "surname": p.last,
            "nationality": "LT", "dob": "1990-01-01", "isActive": True, "scanRefList": [ref],
            "alertStatus": "ALERT" if alert else "NO_ALERT", "status": "ACTIVE",
            "pepsStatus": "NOT_SUSPECTED", "adverseMediaStatus": "NOT_CHECKED",
            "sanctionsStatus": "SUSPECTED" if alert else "NOT_SUSPECTED",
            "results": [{"serviceName": "AML_OPEN_SANCTIONS", "serviceGroupType": "AML",
                         "status": {"overallStatus": "SUSPECTED" if alert else "NOT_SUSPECTED"},
                         "data": hit if alert else []}],
        }  # fmt: skip

    return [*_auto_final(p, ref, t), ("aml-monitoring", check(False)),
            ("aml-monitoring", check(p.rng.random() < 0.5))]  # fmt: skip


def _company(p: Person, ref: str, t: int) -> Story:
    """A company's KYB form: submitted, more information requested, reviewed; and an
    expiration notice, which names no company."""
    company, manager = ref[:18], {"name": p.first, "surname": p.last, "email": "m@example.com"}
    return [
        ("COMPANY_SUBMIT", {"id": company, "clientId": p.client_id, "soleProprietor": False,
                            "submissionTime": "2026-11-02T09:00:00Z", "externalRef": None}),
        ("COMPANY_INFO_REQUEST", {"companyId": company, "token": ref[18:], "status": "REQUESTED",
                                  "date": "2026-11-03T10:00:00Z", "manager": manager}),
        ("COMPANY_REVIEW", {"companyId": company, "companyName": f"{p.last} UAB",
                            "status": p.rng.choice(("COMPLETED", "NEED_TO_REVIEW"))}),
        ("COMPANY_EXPIRATION", {"expirationStatus": "PENDING"}),
    ]  # fmt: skip


SCENARIOS: dict[str, tuple[Callable[[Person, str, int], Story], ...]] = {
    "day": (
        _approved_after_review, _manual_before_preliminary, _auto_final, _redelivered,
        _reattempt, _cancelled, _expired_then_late, _resubmitted, _legacy, _document_expiring,
    ),
    "happy": (_auto_final, _approved_after_review),
    "out-of-order": (_manual_before_preliminary, _expired_then_late),
    "reattempts": (_reattempt, _redelivered),
    "cancel-expire": (_cancelled, _expired_then_late),
    "legacy": (_legacy,),
    "real-shapes": (_legacy_2019, _dashboard_names),
    "aml": (_aml_monitored,),
    "kyb": (_company,),
}  # fmt: skip


def _company_type(kind: str) -> str | None:
    return kind if kind.startswith(COMPANY_TYPE) else None


def plan(scenario: str, count: int, seed: int | None = None) -> list[Planned]:
    """Deliveries for ``count`` verifications, interleaved, with some sent twice."""
    rng = random.Random(seed)
    stories = SCENARIOS[scenario]
    queues: list[list[Planned]] = []
    people = [Person(rng) for _ in range(max(1, count // 3))]
    for number in range(count):
        person = rng.choice(people)
        scan_ref = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        finish = 1_780_000_000 + number * 7
        story = rng.choice(stories)
        dashboard = story is _dashboard_names
        deliveries = [
            Planned(
                scan_ref,
                "company" if kind.startswith(COMPANY_TYPE) else kind,
                json.dumps(body).encode(),
                by_path=not dashboard and not kind.startswith(COMPANY_TYPE) and rng.random() < 0.5,
                header=DASHBOARD_NAMES[kind] if dashboard else _company_type(kind),
            )
            for kind, body in story(person, scan_ref, finish)
        ]
        if deliveries and rng.random() < 0.15:
            deliveries.insert(rng.randrange(len(deliveries) + 1), rng.choice(deliveries))
        queues.append(deliveries)
    ordered: list[Planned] = []
    while queues:
        queue = rng.choice(queues)
        ordered.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return ordered
