"""What the auditor UI makes of erased payloads and erased events, without I/O."""

from __future__ import annotations

from typing import Any

from app.ui.model import OUTCOME_LABELS, erasure_of, timeline_items
from tests.support.timelines import payload, timeline_entry


def entry(sequence: int, kind: str, **changes: Any) -> dict[str, Any]:
    """An entry whose result carries a payload's digest (whose payload may be erased)."""
    return timeline_entry(sequence, kind, payload_sha256="ab" * 32, **changes)


def erased(sequence: int, by: str = "dpo") -> dict[str, Any]:
    return entry(sequence, "erased", erasedBy=by, reason="asked to")


def test_an_erased_payload_is_neither_shown_nor_missing_but_erased() -> None:
    entries = [entry(1, "registered"), entry(2, "auto-finished"), erased(3)]

    items = timeline_items(entries, {2: None})

    assert [i["hasPayload"] for i in items] == [False, False, False]
    assert [i["payloadErased"] for i in items] == [False, True, False]
    assert [i["erasedIn"] for i in items] == [None, 3, None]


def test_the_erased_event_is_an_outcome_of_its_own_and_never_in_force() -> None:
    items = timeline_items([entry(1, "auto-finished"), erased(2)], {1: None})

    assert items[1]["outcome"] == "erased"
    assert items[1]["outcomeLabel"] == OUTCOME_LABELS["erased"]
    assert items[1]["inForce"] is False
    assert items[0]["inForce"] is True


def test_a_payload_is_erased_by_the_first_erasure_recorded_after_it() -> None:
    entries = [entry(1, "auto-finished"), erased(2, "first"), entry(3, "manual-finished"),
               erased(4, "second")]  # fmt: skip

    assert erasure_of(entries, 1) == entries[1]
    assert erasure_of(entries, 3) == entries[3]
    assert erasure_of(entries, 4) is None
    assert erasure_of([entry(1, "auto-finished")], 1) is None


def test_payloads_still_readable_beside_erased_ones_are_linked() -> None:
    entries = [entry(1, "auto-finished"), entry(2, "manual-finished")]

    items = timeline_items(entries, {1: None, 2: payload()})

    assert [i["hasPayload"] for i in items] == [False, True]
    assert [i["payloadErased"] for i in items] == [True, False]
    assert items[1]["finishTime"] == 100
    assert [i["erasedIn"] for i in items] == [None, None]  # no erased event projected yet
