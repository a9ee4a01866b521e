"""Hash chains and the ledger digest: what each event commits to, and how tampering shows."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from freezegun import freeze_time

from domain.audit import ChainChecker, ChainProblem
from domain.chain import LedgerDigest, canonical, event_hash
from domain.reports import Delivery, ExpirationNotice, Kind, Outcome, Registration
from domain.verification import Verification

SCAN_REF = "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002"
OTHER_SCAN_REF = "9a41d0c2-5a7d-11ef-9c2a-0242ac120002"
RECORDED_AT = datetime(2024, 6, 19, 8, 42, 23, tzinfo=UTC)
KEY_ID = "#1:0123456789ab"
HEAD = "ab" * 32


def payload(overall: str, final: bool) -> bytes:
    body = {"scanRef": SCAN_REF, "clientId": "user-1", "final": final,
            "status": {"overall": overall}, "data": {"docFirstName": "JONAS"}}  # fmt: skip
    return json.dumps(body).encode()


def delivery(kind: Kind, raw: bytes, minute: int) -> Delivery:
    return Delivery(
        kind=kind,
        received_at=RECORDED_AT + timedelta(minutes=minute),
        payload=raw,
        payload_sha256=hashlib.sha256(raw).hexdigest(),
        signing_key=KEY_ID,
    )


def outcome(overall: str, final: bool, scan_ref: str = SCAN_REF) -> Outcome:
    return Outcome(
        scan_ref=scan_ref,
        client_id="user-1",
        final=final,
        overall=overall,
        auto_document="DOC_VALIDATED",
        auto_face="FACE_MATCH",
        fraud_tags=("AUTO_UNVERIFIABLE",) if overall == "SUSPECTED" else (),
        finish_time=1718787742,
    )


def history(scan_ref: str = SCAN_REF, decision: str = "APPROVED") -> list[Verification.Event]:
    """Registration, a preliminary automated result, the manual decision, an expiry notice."""
    with freeze_time(RECORDED_AT):
        verification = Verification.start(scan_ref, RECORDED_AT)
        verification.register(Registration(scan_ref=scan_ref, client_id="user-1"))
        preliminary = payload("SUSPECTED", final=False)
        verification.receive(
            delivery(Kind.AUTO_FINISHED, preliminary, 1),
            outcome("SUSPECTED", final=False, scan_ref=scan_ref),
        )
        decided = payload(decision, final=True)
        verification.receive(
            delivery(Kind.MANUAL_FINISHED, decided, 2),
            outcome(decision, final=True, scan_ref=scan_ref),
        )
        notice = json.dumps({"scanRef": scan_ref, "expirationThreshold": "30"}).encode()
        verification.receive(
            delivery(Kind.DOCUMENT_EXPIRATION, notice, 3),
            ExpirationNotice(scan_ref=scan_ref, client_id="user-1", threshold="30"),
        )
    events = verification.collect_events()
    assert all(isinstance(event, Verification.Event) for event in events)
    return [event for event in events if isinstance(event, Verification.Event)]


def replaced(event: Any, **changes: Any) -> Verification.Event:
    """``event`` with ``changes``, as someone who edited the stored record made it."""
    changed = dataclasses.replace(event, **changes)
    assert isinstance(changed, Verification.Event)
    return changed


def rehashed(event: Verification.Event, **changes: Any) -> Verification.Event:
    """``event`` with ``changes``, its hash recomputed: consistent in itself."""
    changed = replaced(event, **changes)
    return replaced(changed, hash=event_hash(type(changed).__qualname__, vars(changed)))


def checked(events: Sequence[Verification.Event]) -> list[ChainProblem]:
    checker = ChainChecker()
    for position, event in enumerate(events, start=1):
        checker.add(event, position)
    return checker.problems


def places(problems: Sequence[ChainProblem]) -> set[tuple[str, int]]:
    return {(problem.scan_ref, problem.sequence) for problem in problems}


# Canonical encoding


def test_the_canonical_encoding_is_sorted_key_ascii_json_without_payload_or_hash() -> None:
    state = {
        "scan_ref": "ŠIMKUS-1",
        "payload": b"personal data",
        "hash": "ff" * 32,
        "originator_version": 2,
        "prev_hash": None,
    }

    encoded = canonical("Verification.AutoReviewFinished", state)

    assert encoded == (
        b'{"event":"Verification.AutoReviewFinished","originator_version":2,'
        b'"prev_hash":null,"scan_ref":"\\u0160IMKUS-1"}'
    )


def test_the_canonical_encoding_does_not_depend_on_the_order_fields_were_given_in() -> None:
    fields = [("b", 1), ("a", [1, 2]), ("c", None)]

    assert canonical("E", dict(fields)) == canonical("E", dict(reversed(fields)))


def test_times_ids_and_tuples_are_encoded_as_iso_strings_and_lists() -> None:
    state = {
        "timestamp": datetime(2024, 6, 19, 8, 42, 23, 5, tzinfo=UTC),
        "originator_id": UUID("60ec5907-a908-5ebf-b85d-1f98e2ed0f48"),
        "fraud_tags": ("A", "B"),
    }

    assert json.loads(canonical("E", state)) == {
        "event": "E",
        "timestamp": "2024-06-19T08:42:23.000005+00:00",
        "originator_id": "60ec5907-a908-5ebf-b85d-1f98e2ed0f48",
        "fraud_tags": ["A", "B"],
    }


def test_the_event_hash_is_sha256_of_the_canonical_encoding_and_never_changes() -> None:
    state = {"scan_ref": SCAN_REF, "originator_version": 1, "prev_hash": None}

    assert event_hash("E", state) == hashlib.sha256(canonical("E", state)).hexdigest()
    # Stored chains were hashed this way: another encoding would break all of them.
    assert event_hash("E", state) == (
        "4fc7a77a131652297f13e7d005ac81d1722ddf9d58fced56f47ab3bc92c1f2cb"
    )


def test_a_recorded_event_hash_covers_its_fields_as_recorded() -> None:
    for event in history():
        assert event.hash == event_hash(type(event).__qualname__, vars(event))


# What the hash commits to

RESULT_FIELDS = sorted(set(vars(history()[2])) - {"payload", "hash"})


def changed_value(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, UUID):
        return Verification.create_id(OTHER_SCAN_REF)
    if isinstance(value, list):
        return [*value, "EXTRA"]
    assert value is None
    return "set"


@pytest.mark.parametrize("name", RESULT_FIELDS)
def test_the_event_hash_changes_when_any_recorded_field_changes(name: str) -> None:
    event = history()[2]
    state = dict(vars(event))
    state[name] = changed_value(state[name])

    assert event_hash(type(event).__qualname__, state) != event.hash


def test_the_event_hash_covers_the_event_class() -> None:
    event = history()[2]

    assert event_hash("Verification.AutoReviewFinished", vars(event)) != event.hash


def test_the_event_hash_leaves_out_the_payload_so_erasing_it_keeps_the_chain() -> None:
    event = history()[2]
    state = {**vars(event), "payload": b""}

    assert event_hash(type(event).__qualname__, state) == event.hash


def test_the_first_event_has_no_previous_hash_and_each_later_one_links_to_the_one_before() -> None:
    events = history()

    assert events[0].prev_hash is None
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert len({event.hash for event in events}) == len(events)


def test_the_same_facts_under_another_decision_make_another_chain() -> None:
    approved, denied = history(decision="APPROVED"), history(decision="DENIED")

    assert approved[1].hash == denied[1].hash
    assert approved[2].hash != denied[2].hash
    assert approved[3].hash != denied[3].hash


# The ledger digest


def digest_of(*heads: tuple[str, int, str]) -> LedgerDigest:
    digest = LedgerDigest()
    for scan_ref, sequence, head in heads:
        digest.add(scan_ref, sequence, head)
    return digest


def test_an_empty_ledger_has_a_fixed_digest_of_no_events() -> None:
    digest = LedgerDigest()

    assert digest.events == 0
    assert digest.hexdigest() == hashlib.sha256(b"verification-ledger digest v1\n").hexdigest()


def test_the_digest_counts_every_event_of_every_chain() -> None:
    assert digest_of(("a", 3, HEAD), ("b", 4, HEAD)).events == 7


def test_the_digest_depends_on_the_order_of_the_chains() -> None:
    forwards = digest_of(("a", 3, HEAD), ("b", 4, "cd" * 32))
    backwards = digest_of(("b", 4, "cd" * 32), ("a", 3, HEAD))

    assert forwards.hexdigest() != backwards.hexdigest()
    assert forwards.events == backwards.events


@pytest.mark.parametrize(
    "changed",
    [("a2", 3, HEAD), ("a", 2, HEAD), ("a", 3, "cd" * 32)],
    ids=["scanRef", "length", "head"],
)
def test_the_digest_depends_on_each_chains_scan_ref_length_and_head(
    changed: tuple[str, int, str],
) -> None:
    original = digest_of(("a", 3, HEAD), ("b", 1, HEAD))

    assert digest_of(changed, ("b", 1, HEAD)).hexdigest() != original.hexdigest()


def test_the_digest_of_the_same_heads_is_the_same() -> None:
    heads = (("a", 3, HEAD), ("b", 1, HEAD))

    assert digest_of(*heads).hexdigest() == digest_of(*heads).hexdigest()


def test_a_dropped_chain_changes_the_digest() -> None:
    both = digest_of(("a", 3, HEAD), ("b", 1, HEAD))

    assert digest_of(("a", 3, HEAD)).hexdigest() != both.hexdigest()


# The chain checker


def test_an_intact_history_has_no_problems() -> None:
    checker = ChainChecker()
    events = history()
    for position, event in enumerate(events, start=1):
        checker.add(event, position)

    assert checker.problems == []
    [chain] = checker.heads()
    assert (chain.scan_ref, chain.sequence, chain.head) == (SCAN_REF, 4, events[-1].hash)


def test_interleaved_chains_are_checked_each_on_its_own_and_listed_by_first_event() -> None:
    mine, other = history(), history(OTHER_SCAN_REF)
    interleaved = [other[0], mine[0], mine[1], other[1], other[2], mine[2], mine[3], other[3]]
    checker = ChainChecker()
    for position, event in enumerate(interleaved, start=1):
        checker.add(event, position)

    assert checker.problems == []
    assert [(c.scan_ref, c.first_position) for c in checker.heads()] == [
        (OTHER_SCAN_REF, 1),
        (SCAN_REF, 2),
    ]


def test_the_checker_keeps_the_hashes_of_the_sequences_it_was_asked_to_keep() -> None:
    events = history()
    checker = ChainChecker(keep={SCAN_REF: 2})
    for position, event in enumerate(events, start=1):
        checker.add(event, position)

    assert checker.chains[SCAN_REF].hashes == {2: events[1].hash}


def test_an_erased_payload_is_not_a_problem() -> None:
    events = history()
    events[2] = replaced(events[2], payload=b"")

    assert checked(events) == []


def test_a_changed_field_is_reported_at_its_sequence() -> None:
    events = history()
    events[2] = replaced(events[2], overall="DENIED")

    [problem] = checked(events)

    assert (problem.scan_ref, problem.sequence) == (SCAN_REF, 3)
    assert "do not match the event's hash" in problem.reason


def test_a_broken_link_is_reported_even_when_the_event_is_consistent_in_itself() -> None:
    events = history()
    events[2] = rehashed(events[2], prev_hash="00" * 32)

    problems = checked(events)

    assert (SCAN_REF, 3) in places(problems)
    assert any("prevHash" in p.reason for p in problems if p.sequence == 3)
    assert all("do not match the event's hash" not in p.reason for p in problems if p.sequence == 3)


def test_a_missing_sequence_is_reported_at_the_event_after_the_gap() -> None:
    events = history()
    del events[1]

    problems = checked(events)

    assert places(problems) == {(SCAN_REF, 3)}
    assert any("expected sequence 2" in p.reason for p in problems)
    assert any("prevHash" in p.reason for p in problems)


def test_an_extra_event_at_a_sequence_already_seen_is_reported() -> None:
    events = history()
    events.insert(2, events[1])

    problems = checked(events)

    assert (SCAN_REF, 2) in places(problems)
    assert any("expected sequence 3" in p.reason for p in problems if p.sequence == 2)


def test_a_forged_event_appended_to_a_chain_is_reported() -> None:
    events = history()
    events.append(replaced(events[1], originator_version=5))

    problems = checked(events)

    assert places(problems) == {(SCAN_REF, 5)}
    reasons = " ".join(p.reason for p in problems)
    assert "prevHash" in reasons
    assert "do not match the event's hash" in reasons


def test_reordered_events_are_reported() -> None:
    events = history()
    events[1], events[2] = events[2], events[1]

    problems = checked(events)

    assert {(SCAN_REF, 2), (SCAN_REF, 3)} <= places(problems)
    assert any("expected sequence 2" in p.reason for p in problems if p.sequence == 3)


def test_an_event_filed_under_another_verification_is_reported() -> None:
    events = history()
    events[3] = rehashed(events[3], originator_id=Verification.create_id(OTHER_SCAN_REF))

    [problem] = checked(events)

    assert (problem.scan_ref, problem.sequence) == (SCAN_REF, 4)
    assert "another verification" in problem.reason


def test_a_payload_that_does_not_match_its_sha256_is_reported() -> None:
    events = history()
    events[2] = replaced(events[2], payload=payload("DENIED", final=True))

    [problem] = checked(events)

    assert (problem.scan_ref, problem.sequence) == (SCAN_REF, 3)
    assert "payload does not match" in problem.reason


@pytest.mark.parametrize("unreadable", [1, 3, 4])
def test_an_event_that_no_longer_decodes_is_reported_by_scan_ref_and_sequence(
    unreadable: int,
) -> None:
    # The store gives only the aggregate id of an event it cannot decode.
    checker = ChainChecker()
    for position, event in enumerate(history(), start=1):
        if event.originator_version == unreadable:
            checker.undecodable(str(event.originator_id), unreadable, "DecodeError")
        else:
            checker.add(event, position)

    problems = checker.named_problems()

    assert (
        ChainProblem(SCAN_REF, unreadable, "the stored event no longer decodes: DecodeError")
        in problems
    )
    assert {problem.scan_ref for problem in problems} == {SCAN_REF}


def test_the_events_after_an_unreadable_one_are_checked_against_their_sequence() -> None:
    events = history()
    checker = ChainChecker()
    checker.add(events[0], 1)
    checker.undecodable(str(events[1].originator_id), 2, "DecodeError")
    checker.add(events[3], 4)

    assert places(checker.named_problems()) == {(SCAN_REF, 2), (SCAN_REF, 4)}
    assert any("expected sequence 3" in p.reason for p in checker.named_problems())


def test_each_problem_names_its_own_verification() -> None:
    mine, other = history(), history(OTHER_SCAN_REF)
    other[1] = replaced(other[1], final=True)

    problems = checked([*mine, *other])

    assert places(problems) == {(OTHER_SCAN_REF, 2)}
