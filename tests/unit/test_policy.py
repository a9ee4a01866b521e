"""Business decisions by a policy file: parsing, refusal with the line, and decisions."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.status_query import Serving
from app.service.policy import decisions_after_each
from projections.facts import Fact
from projections.policy import DEFAULT_POLICY, PolicyError, decide, parse_policy

CONTRACT_POLICY = b"\n".join(
    [
        b'name = "house-policy-2026-12"',
        b"[[rules]]",
        b'name = "clean-suspected"',
        b'when = { status = "SUSPECTED", final = true, autoFace = "FACE_MATCH",'
        b' autoDocument = "DOC_VALIDATED", fraudTags = [], mismatchTags = [] }',
        b'decision = "approve"',
        b"[[rules]]",
        b'name = "not-final-yet"',
        b"when = { final = false }",
        b'decision = "pending"',
        b"[[rules]]",
        b'name = "everything-else"',
        b"when = {}",
        b'decision = "review"',
        b"",
    ]
)
"""The contract's minimal policy, as it is written there."""


def document(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scanRef": "s-1", "status": "SUSPECTED", "final": True, "autoFace": "FACE_MATCH",
        "autoDocument": "DOC_VALIDATED", "fraudTags": [], "mismatchTags": [], "attempts": 1,
        "overdue": False, "events": 3, "amlMonitoring": None,
        "sequences": {"inForce": 3, "registered": 1, "attempts": [2], "lastStatusCheck": None},
    }  # fmt: skip
    return base | fields


def test_the_contracts_minimal_policy_decides_first_match_wins() -> None:
    policy = parse_policy(CONTRACT_POLICY)

    clean = decide(policy, document())
    tagged = decide(policy, document(mismatchTags=["NAME"]))
    waiting = decide(policy, document(final=False))

    assert (clean["decision"], clean["decisionReasons"]) == (
        "approve",
        ["clean-suspected", "everything-else"],
    )
    assert clean["decisionBasis"] == [3]
    assert clean["policyVersion"] == f"house-policy-2026-12@sha256:{policy.sha256}"
    assert (tagged["decision"], waiting["decision"]) == ("review", "pending")
    assert waiting["decisionReasons"] == ["not-final-yet", "everything-else"]


def test_operators_and_equality_that_never_confuses_true_with_1() -> None:
    policy = parse_policy(
        b'name = "ops"\n[[rules]]\nname = "many"\nwhen = { attempts = { gte = 2 } }\n'
        b'decision = "review"\n[[rules]]\nname = "either"\n'
        b'when = { status = { in = ["APPROVED", "SUSPECTED"] }, overdue = { not = true } }\n'
        b'decision = "approve"\n[[rules]]\nname = "one"\nwhen = { attempts = true }\n'
        b'decision = "deny"\n[[rules]]\nname = "rest"\nwhen = {}\ndecision = "pending"\n'
    )

    assert decide(policy, document(attempts=3))["decision"] == "review"
    assert decide(policy, document(attempts=3))["decisionBasis"] == [2]
    assert decide(policy, document())["decision"] == "approve"
    assert decide(policy, document(status="DENIED"))["decision"] == "pending"


def test_the_built_in_policy_keeps_to_idenfys_final_verdicts() -> None:
    policy = parse_policy(DEFAULT_POLICY)

    assert decide(policy, document(status="APPROVED"))["decision"] == "approve"
    assert decide(policy, document(status="DENIED"))["decision"] == "deny"
    assert decide(policy, document(status="CANCELED"))["decision"] == "deny"
    assert decide(policy, document(final=False))["decision"] == "pending"
    assert decide(policy, document())["decision"] == "review"
    assert decide(policy, document(status="APPROVED", fraudTags=["X"]))["decision"] == "review"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (b'name = "x"\n[[rules]]\nname = "a"\nwhen = { status = \n', 4, "not TOML"),
        (b'name = "x"\n[[rules]]\nname = "a"\nwhen = { colour = "red" }\ndecision = "deny"\n'
         b'[[rules]]\nname = "b"\nwhen = {}\ndecision = "deny"\n', 2, "unknown field 'colour'"),
        (b'name = "x"\n[[rules]]\nname = "a"\nwhen = {}\ndecision = "maybe"\n', 2, "decision"),
        (b'name = "x"\n[[rules]]\nname = "a"\nwhen = {}\ndecision = "deny"\n[[rules]]\n'
         b'name = "b"\nwhen = { final = true }\ndecision = "approve"\n', 6, "can fail to match"),
        (b'[[rules]]\nname = "a"\nwhen = {}\ndecision = "deny"\n', 1, "needs a name"),
        (b'name = "x"\n[[rules]]\nname = "a"\nwhen = { attempts = { most = 2 } }\n'
         b'decision = "deny"\n', 2, "takes one of"),
    ],
    ids=["not-toml", "unknown-field", "bad-decision", "last-can-fail", "no-name", "bad-operator"],
)  # fmt: skip
def test_a_policy_that_cannot_be_used_is_refused_with_the_line_and_reason(
    text: bytes, line: int, reason: str
) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy(text)

    assert refused.value.line == line
    assert reason in str(refused.value)


def test_the_decision_after_each_event_follows_the_history() -> None:
    preliminary = Fact(1, 1, "auto-finished", "2026-11-02T09:00:00.000000Z", final=False,
                       overall="REVIEWING", finish_time=100)  # fmt: skip
    manual = Fact(2, 2, "manual-finished", "2026-11-02T09:05:00.000000Z", final=True,
                  overall="DENIED", finish_time=100)  # fmt: skip

    after = decisions_after_each("s-1", [manual, preliminary], Serving())

    assert after == {
        1: {"decision": "pending", "decisionReasons": ["not-final-yet", "everything-else"]},
        2: {"decision": "deny", "decisionReasons": ["denied", "everything-else"]},
    }
