"""The business policy in force: recorded in the ledger (``policy:in-force``), read by
every process, looked up again at most once a second so that a switch reaches running
services and workers.

``LEDGER_POLICY`` seeds a new store; the built-in default applies while none is recorded.
``ledger replay --policy FILE`` puts another in force, after a dry run if wanted.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import PersistenceError

from adapters.status_query import Serving
from adapters.views import encode_json
from app.service.ledger import Ledger
from domain.reports import POLICY_SUBJECT
from domain.verification import Verification
from projections.facts import Fact
from projections.policy import BUILT_IN, Policy, decide, parse_policy
from projections.rules import evaluate

LOOKUP_SECONDS = 1.0
DEFAULT = BUILT_IN


def recorded_policy(ledger: Ledger) -> Policy | None:
    """The policy last put in force, or None when none was."""
    events = ledger.events.get(Verification.create_id(POLICY_SUBJECT))
    applied = [e for e in events if isinstance(e, Verification.PolicyApplied)]
    return parse_policy(applied[-1].text.encode()) if applied else None


def history(ledger: Ledger) -> list[dict[str, Any]]:
    """Every policy put in force, when and which (the audit trail of decisions' rules)."""
    events = ledger.events.get(Verification.create_id(POLICY_SUBJECT))
    return [
        {
            "sequence": e.originator_version,
            "appliedAt": e.timestamp.isoformat().replace("+00:00", "Z"),
            "version": f"{e.name}@sha256:{e.sha256}",
            "hash": e.hash,
        }
        for e in events
        if isinstance(e, Verification.PolicyApplied)
    ]


def put_in_force(ledger: Ledger, policy: Policy, at: datetime) -> int | None:
    """Record ``policy`` as the one in force; its position in the ledger."""
    receipt = ledger.group.submit(
        POLICY_SUBJECT,
        at,
        lambda v: v.apply_policy(policy.name, policy.sha256, policy.text.decode()),
    )
    return receipt.position


@dataclass
class PolicyInForce:
    """The policy in force for this process, looked up at most every ``LOOKUP_SECONDS``."""

    ledger: Ledger
    policy: Policy = DEFAULT
    until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> Policy:
        if time.monotonic() < self.until:
            return self.policy
        with self.lock:
            if time.monotonic() >= self.until:
                # The store away: keep deciding by the last one seen.
                with contextlib.suppress(PersistenceError):
                    self.policy = recorded_policy(self.ledger) or DEFAULT
                self.until = time.monotonic() + LOOKUP_SECONDS
        return self.policy


@dataclass(frozen=True)
class Change:
    scan_ref: str
    before: str
    after: str
    reasons: list[str]


def changes(documents: Iterator[dict[str, Any]], new: Policy) -> Iterator[Change]:
    """The verifications whose decision ``new`` would change, of served ``documents``."""
    for document in documents:
        after = decide(new, document)
        if after["decision"] != document["decision"]:
            yield Change(document["scanRef"], document["decision"], after["decision"],
                         after["decisionReasons"])  # fmt: skip


def transitions(found: list[Change]) -> dict[str, int]:
    """``{"review -> approve": n, ...}``."""
    return dict(sorted(Counter(f"{c.before} -> {c.after}" for c in found).items()))


def decisions_after_each(
    scan_ref: str, facts: list[Fact], serving: Serving
) -> dict[int, dict[str, Any]]:
    """By sequence: what the policy in force decides of the verification as it stood after
    that event (its facts up to it, served now: today's clock for ``overdue``)."""
    ordered = sorted(facts, key=lambda fact: fact.sequence)
    after: dict[int, dict[str, Any]] = {}
    for count, fact in enumerate(ordered, start=1):
        served = serving.document(encode_json(evaluate(scan_ref, ordered[:count]).document), None)
        after[fact.sequence] = {
            "decision": served["decision"],
            "decisionReasons": served["decisionReasons"],
        }
    return after
