"""How the views store facts and timelines: compactly, since a replay writes them all.

Every row of every view carries its verification's facts, so their size is most of
what a replay writes, and writing is most of what a replay costs. The facts are
stored as MessagePack: each fact an array of its field values in ``Fact``'s field
order, with the SHA-256 digests as 32 raw bytes instead of 64 hex characters. That
is about a quarter of their size as JSON objects. Rows written as JSON (before this
format) are still read. A field added to ``Fact`` later must come last, with a
default, so that the shorter arrays written before it still decode.

A timeline entry repeats six fields of its fact (sequence, kind, time and digests);
the timeline view stores only the five the rules derive, and the entries are put
together again from the row's facts when read. A timeline whose entries have other
keys, or values that do not match its facts, is stored whole, as JSON.
"""

from __future__ import annotations

from operator import attrgetter, itemgetter
from typing import Any

import msgspec

from projections.facts import Fact

FIELDS: tuple[str, ...] = Fact._fields
DIGESTS = tuple(FIELDS.index(name) for name in ("payload_sha256", "prev_hash", "hash"))
TAGS = tuple(FIELDS.index(name) for name in ("fraud_tags", "mismatch_tags", "scan_refs"))
"""The fields that are tuples in a fact and lists once stored."""
_pack = msgspec.msgpack.Encoder()
_unpack = msgspec.msgpack.Decoder(list[list[Any]])
_json_objects = msgspec.json.Decoder(list[dict[str, Any]])
_json = msgspec.json.Decoder()

# Timeline entries: what comes from the fact, and what the rules derive.
FROM_FACT = (
    ("sequence", "sequence"),
    ("kind", "kind"),
    ("receivedAt", "received_at"),
    ("payloadSha256", "payload_sha256"),
    ("prevHash", "prev_hash"),
    ("hash", "hash"),
)
DERIVED = ("final", "status", "preliminary", "lateArrival", "supersededBy")
ENTRY_KEYS = (
    "sequence", "kind", "receivedAt", "final", "status", "preliminary", "lateArrival",
    "supersededBy", "payloadSha256", "prevHash", "hash",
)  # fmt: skip
_entry_from_fact = itemgetter(*(key for key, _ in FROM_FACT))
_fact_in_entry = attrgetter(*(name for _, name in FROM_FACT))
_entry_derived = itemgetter(*DERIVED)


def _digest(value: str | None) -> str | bytes | None:
    """A digest as 32 raw bytes when it is 64 lower-case hex digits, else as it is."""
    if value is None or len(value) != 64 or not (value.islower() or value.isdecimal()):
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return value
    # fromhex skips spaces: 64 characters make 32 bytes only when every one is a digit.
    return raw if len(raw) == 32 else value


_PAYLOAD, _PREV, _HASH = DIGESTS


def encode_facts(facts: list[Fact]) -> bytes:
    rows = []
    # In a whole history each fact's prev_hash is the hash of the fact before.
    before: str | None = None
    before_raw: str | bytes | None = None
    for fact in facts:
        row: list[Any] = list(fact)
        row[_PAYLOAD] = _digest(fact.payload_sha256)
        prev = fact.prev_hash
        row[_PREV] = before_raw if prev is not None and prev == before else _digest(prev)
        before, before_raw = fact.hash, _digest(fact.hash)
        row[_HASH] = before_raw
        rows.append(row)
    return _pack.encode(rows)


def _fact(values: list[Any]) -> Fact:
    count = len(values)
    for index in DIGESTS:
        if index < count and isinstance(values[index], bytes):
            values[index] = values[index].hex()
    for index in TAGS:
        if index < count:
            values[index] = tuple(values[index])
    return Fact(*values)


def _fact_of_object(values: dict[str, Any]) -> Fact:
    for index in TAGS:
        name = FIELDS[index]
        if name in values:
            values[name] = tuple(values[name])
    return Fact(**values)


def decode_facts(data: bytes) -> list[Fact]:
    """The facts of a stored row, in either format."""
    if data[:1] == b"[":
        return [_fact_of_object(values) for values in _json_objects.decode(data)]
    return [_fact(values) for values in _unpack.decode(data)]


def encode_timeline(entries: list[dict[str, Any]], facts: list[Fact]) -> str:
    """The timeline as the view stores it: derived fields only, when they suffice."""
    compact = []
    if len(entries) == len(facts):
        for entry, fact in zip(entries, facts, strict=True):
            if tuple(entry) != ENTRY_KEYS or _entry_from_fact(entry) != _fact_in_entry(fact):
                break
            compact.append((fact.sequence, *_entry_derived(entry)))
        else:
            return msgspec.json.encode({"derived": compact}).decode()
    return msgspec.json.encode(entries).decode()


def decode_timeline(text: str | bytes, facts: list[Fact]) -> list[dict[str, Any]]:
    """The timeline's entries, put together again from the stored row."""
    stored = _json.decode(text)
    if isinstance(stored, list):
        return stored
    by_sequence = {fact.sequence: fact for fact in facts}
    entries = []
    for sequence, final, status, preliminary, late, superseded in stored["derived"]:
        fact = by_sequence[sequence]
        entries.append(
            {
                "sequence": sequence,
                "kind": fact.kind,
                "receivedAt": fact.received_at,
                "final": final,
                "status": status,
                "preliminary": preliminary,
                "lateArrival": late,
                "supersededBy": superseded,
                "payloadSha256": fact.payload_sha256,
                "prevHash": fact.prev_hash,
                "hash": fact.hash,
            }
        )
    return entries
