"""The business's decision about a verification, from its status document, by a policy.

A policy is a TOML file: a ``name`` and ordered ``[[rules]]``, each with a ``name``, a
``when`` table and a ``decision`` (``approve``, ``deny``, ``review`` or ``pending``); the
first rule whose ``when`` matches decides. ``when`` keys are status-document fields (and
``amlAlertStatus``, the alert status of the AML monitoring naming the verification); a value
matches by equality (lists as a whole), or by one operator in an inline table:
``{ in = [...] }``, ``{ not = value }``, ``{ gte = n }``, ``{ lte = n }``. ``{}`` matches
everything, and the last rule must be ``{}``: a policy that can leave a verification
without a decision is refused. Its version is its name and the SHA-256 of its bytes.

Pure: the service gives it a document and stores nothing of what it returns.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from typing import Any

DECISIONS = ("approve", "deny", "review", "pending")
OPERATORS = frozenset({"in", "not", "gte", "lte"})
FIELDS = frozenset(
    {
        "status", "final", "decidedBy", "awaitingManualReview", "autoDocument", "autoFace",
        "manualDocument", "manualFace", "fraudTags", "mismatchTags", "suspected", "attempts",
        "reattemptsAllowed", "reattemptsUsed", "reattemptsRemaining", "overdue", "finished",
        "clientId", "externalRef", "amlAlertStatus", "events",
    }
)  # fmt: skip
"""What a rule may match on: the facts a decision can rest on."""
RESULT_FIELDS = frozenset(
    {"status", "final", "decidedBy", "awaitingManualReview", "autoDocument", "autoFace",
     "manualDocument", "manualFace", "fraudTags", "mismatchTags", "suspected", "finished"}
)  # fmt: skip
"""Fields the result in force decides; a rule on them rests on that result's event."""

DEFAULT_POLICY = b"""# Built in: final verdicts as iDenfy gave them, the rest to a person.
name = "built-in"

[[rules]]
name = "not-final-yet"
when = { final = false }
decision = "pending"

[[rules]]
name = "approved"
when = { status = "APPROVED", fraudTags = [], mismatchTags = [] }
decision = "approve"

[[rules]]
name = "denied"
when = { status = { in = ["DENIED", "EXPIRED", "CANCELED"] } }
decision = "deny"

[[rules]]
name = "everything-else"
when = {}
decision = "review"
"""


class PolicyError(ValueError):
    """A policy that cannot be used; ``line`` is where (0 when it is no place)."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Rule:
    name: str
    when: dict[str, Any]
    decision: str
    line: int


@dataclass(frozen=True)
class Policy:
    name: str
    sha256: str
    rules: tuple[Rule, ...]
    text: bytes

    @property
    def version(self) -> str:
        return f"{self.name}@sha256:{self.sha256}"


def parse_policy(text: bytes) -> Policy:
    """The policy ``text`` holds, or PolicyError naming the line and the reason."""
    try:
        raw = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise PolicyError(0, "the file is not UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"line (\d+)", str(error))
        raise PolicyError(int(found.group(1)) if found else 0, f"not TOML: {error}") from None
    lines = [n for n, row in enumerate(text.decode().splitlines(), 1) if row.strip() == "[[rules]]"]
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError(1, "the policy needs a name")
    rules = raw.get("rules")
    if not isinstance(rules, list) or not rules:
        raise PolicyError(1, "the policy needs at least one [[rules]]")
    unknown = set(raw) - {"name", "rules"}
    if unknown:
        raise PolicyError(1, f"unknown top-level key {sorted(unknown)[0]!r}")
    parsed = tuple(_rule(rule, lines[n] if n < len(lines) else 0) for n, rule in enumerate(rules))
    last = parsed[-1]
    if last.when:
        raise PolicyError(last.line, f"the last rule ({last.name}) can fail to match: when = {{}}")
    return Policy(name.strip(), hashlib.sha256(text).hexdigest(), parsed, text)


def _rule(raw: Any, line: int) -> Rule:
    if not isinstance(raw, dict):
        raise PolicyError(line, "a rule must be a table")
    name, when, decision = raw.get("name"), raw.get("when", {}), raw.get("decision")
    if not isinstance(name, str) or not name:
        raise PolicyError(line, "a rule needs a name")
    if decision not in DECISIONS:
        raise PolicyError(line, f"rule {name}: decision must be one of {', '.join(DECISIONS)}")
    if not isinstance(when, dict):
        raise PolicyError(line, f"rule {name}: when must be a table")
    extra = set(raw) - {"name", "when", "decision"}
    if extra:
        raise PolicyError(line, f"rule {name}: unknown key {sorted(extra)[0]!r}")
    for field, value in when.items():
        if field not in FIELDS:
            raise PolicyError(line, f"rule {name}: unknown field {field!r}")
        if isinstance(value, dict) and (len(value) != 1 or not set(value) <= OPERATORS):
            raise PolicyError(line, f"rule {name}: {field} takes one of {sorted(OPERATORS)}")
    return Rule(name, when, decision, line)


def _matches(expected: Any, actual: Any) -> bool:
    if not isinstance(expected, dict):  # equality, with true never equal to 1
        return bool(expected == actual) and isinstance(expected, bool) == isinstance(actual, bool)
    ((operator, operand),) = expected.items()
    if operator == "in":
        return actual in operand
    if operator == "not":
        return bool(actual != operand)
    if not isinstance(actual, int | float) or isinstance(actual, bool):
        return False
    return bool(actual >= operand if operator == "gte" else actual <= operand)


def facts_of(document: dict[str, Any]) -> dict[str, Any]:
    """What rules match on: the document's fields, and the AML monitoring's alert status."""
    link = document.get("amlMonitoring")
    return {**document, "amlAlertStatus": link.get("alertStatus") if link else None}


def decide(policy: Policy, document: dict[str, Any]) -> dict[str, Any]:
    """``decision``, ``decisionReasons`` (every rule that matches, the deciding one first),
    ``decisionBasis`` (sequences of the events it rests on) and ``policyVersion``."""
    facts = facts_of(document)
    matched = [
        rule for rule in policy.rules
        if all(_matches(value, facts.get(field)) for field, value in rule.when.items())
    ]  # fmt: skip
    deciding = matched[0]
    return {
        "decision": deciding.decision,
        "decisionReasons": [rule.name for rule in matched],
        "decisionBasis": _basis(deciding, document),
        "policyVersion": policy.version,
    }


def _basis(rule: Rule, document: dict[str, Any]) -> list[int]:
    sequences = document.get("sequences") or {}
    fields = set(rule.when)
    found: set[int] = set()
    if fields & RESULT_FIELDS and sequences.get("inForce"):
        found.add(sequences["inForce"])
    if "attempts" in fields or "reattemptsUsed" in fields or "reattemptsRemaining" in fields:
        found.update(sequences.get("attempts") or [])
    if fields & {"overdue", "reattemptsAllowed"} and sequences.get("registered"):
        found.add(sequences["registered"])
    if "overdue" in fields and sequences.get("lastStatusCheck"):
        found.add(sequences["lastStatusCheck"])
    if not fields or "events" in fields:
        found.update(range(1, int(document.get("events") or 0) + 1))
    return sorted(found)


BUILT_IN = parse_policy(DEFAULT_POLICY)
"""The policy that applies while none is put in force."""
