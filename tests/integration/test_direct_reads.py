"""Reading the events table directly: the export's batches and the replay's facts."""

from __future__ import annotations

import pytest

import adapters.export
import adapters.fast_facts
from adapters.export import Window, encoded
from adapters.fast_facts import read_facts
from app.service.services import Services
from projections.facts import Fact
from tests.support.scenario import head, ledger_facts, scenario, tell


def export(services: Services, window: Window, fmt: str = "ndjson") -> bytes:
    return b"".join(encoded(services.ledger.recorder, services.ledger.mapper, window, fmt))


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_an_export_read_in_small_batches_equals_one_read_at_once(
    services: Services, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    for step in scenario(seed=3, count=25):
        tell(services.ledger, step)
    last = head(services.ledger)
    middle = Window(since_position=5, until_position=last - 3)
    whole, part = export(services, Window(), fmt), export(services, middle, fmt)

    monkeypatch.setattr(adapters.export, "BATCH", 4)
    assert export(services, Window(), fmt) == whole
    assert export(services, middle, fmt) == part
    if fmt == "ndjson":
        lines = whole.splitlines()
        assert len(lines) == last
        assert part.splitlines() == lines[4 : last - 3]


def test_a_batch_that_ends_exactly_at_the_last_event_ends_the_export(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    for step in scenario(seed=4, count=6):
        tell(services.ledger, step)
    last = head(services.ledger)
    monkeypatch.setattr(adapters.export, "BATCH", last)
    assert len(export(services, Window()).splitlines()) == last


@pytest.mark.parametrize("decoded_by", ["msgspec", "the library"])
def test_facts_read_straight_from_the_table_are_those_of_the_decoded_events(
    services: Services, monkeypatch: pytest.MonkeyPatch, decoded_by: str
) -> None:
    for step in scenario(seed=5, count=25):
        tell(services.ledger, step)
    if decoded_by == "the library":
        # As for an event of a class version or topic the fast decoder does not know.
        monkeypatch.setattr(adapters.fast_facts, "KNOWN_TOPICS", frozenset())
    ledger = services.ledger

    read, last, count = read_facts(ledger.recorder, ledger.mapper, 0, 10_000)

    assert count == last == head(ledger)
    grouped: dict[str, list[Fact]] = {}
    for scan_ref, fact in read:
        grouped.setdefault(scan_ref, []).append(fact)
    assert grouped == ledger_facts(ledger)
