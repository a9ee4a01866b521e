"""How the views store facts and timelines: compact, and read back exactly."""

from __future__ import annotations

import hashlib

import msgspec
from hypothesis import given, settings

from adapters.fact_codec import decode_facts, decode_timeline, encode_facts, encode_timeline
from projections.facts import Fact
from projections.rules import evaluate
from tests.support.histories import PROPERTY, histories

DIGEST = hashlib.sha256(b"payload").hexdigest()


def chained(facts: list[Fact]) -> list[Fact]:
    """The facts with a hash chain, as recorded events carry one."""
    out, previous = [], None
    for fact in facts:
        digest = hashlib.sha256(f"{fact.sequence}{previous}".encode()).hexdigest()
        out.append(fact._replace(prev_hash=previous, hash=digest))
        previous = digest
    return out


def as_json_objects(facts: list[Fact]) -> bytes:
    """Facts as the views stored them before MessagePack: JSON objects."""
    return msgspec.json.encode([fact._asdict() for fact in facts])


def test_facts_round_trip_with_every_kind_of_value() -> None:
    facts = [
        Fact(1, 10, "registered", "2026-01-01T00:00:00.000000Z", client_id="c", max_reattempts=2),
        Fact(
            2,
            11,
            "auto-finished",
            "2026-01-01T00:00:01.000000Z",
            client_id="c",
            external_ref="e",
            payload_sha256=DIGEST,
            final=False,
            overall="SUSPECTED",
            auto_document="DOC_VALIDATED",
            fraud_tags=("AUTO_SUSPICIOUS",),
            mismatch_tags=("NAME", "DATE_OF_BIRTH"),
            finish_time=1718000000,
            prev_hash=DIGEST,
            hash=DIGEST.upper(),  # not lowercase hex: kept as text
        ),
        Fact(3, 12, "document-expiration", "x", payload_sha256="not hex " * 8, threshold="30"),
        # Hex digits with spaces among them: bytes.fromhex would accept them.
        Fact(4, 13, "cancelled", "y", payload_sha256="ab" * 30 + " cd ", hash="0" * 64),
    ]
    encoded = encode_facts(facts)
    assert decode_facts(encoded) == facts
    assert len(encoded) < len(as_json_objects(facts)) / 2
    assert decode_facts(encode_facts([])) == []


def test_facts_stored_as_json_objects_before_are_still_read() -> None:
    facts = [Fact(1, 1, "registered", "t", client_id="c"), Fact(2, 2, "cancelled", "u")]
    assert decode_facts(as_json_objects(facts)) == facts
    assert decode_facts(b"[]") == []


def test_facts_written_before_a_new_last_field_still_decode() -> None:
    fact = Fact(1, 1, "registered", "t", client_id="c", hash=DIGEST)
    shorter = msgspec.msgpack.encode([[1, 1, "registered", "t", "c"]])
    assert decode_facts(shorter) == [Fact(1, 1, "registered", "t", client_id="c")]
    assert decode_facts(encode_facts([fact])) == [fact]


@settings(PROPERTY, max_examples=300)
@given(histories(closings=True, max_results=6))
def test_a_stored_timeline_reads_back_as_the_rules_wrote_it(facts: list[Fact]) -> None:
    facts = chained(facts)
    entries = evaluate("scan", facts).timeline
    stored = encode_timeline(entries, facts)
    assert decode_timeline(stored, decode_facts(encode_facts(facts))) == entries
    assert "derived" in stored


def test_a_timeline_that_does_not_match_its_facts_is_stored_whole() -> None:
    facts = chained([Fact(1, 1, "registered", "t"), Fact(2, 2, "auto-finished", "u", final=True)])
    entries = evaluate("scan", facts).timeline
    changed = [dict(entries[0], receivedAt="something else"), entries[1]]
    extra = [dict(entries[0], note="new key"), entries[1]]
    for timeline in (changed, extra):
        stored = encode_timeline(timeline, facts)
        assert "derived" not in stored
        assert decode_timeline(stored, facts) == timeline


def test_timelines_stored_as_entries_before_are_still_read() -> None:
    facts = chained([Fact(1, 1, "registered", "t")])
    entries = evaluate("scan", facts).timeline
    assert decode_timeline(msgspec.json.encode(entries), facts) == entries
