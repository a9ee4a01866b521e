"""The replay's direct reading of stored times gives what decoding the event gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from operator import attrgetter

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.fast_facts import StoredState, Typed, _iso
from projections.facts import _READERS, CARRIED, _learn
from projections.facts import _iso as iso_of_event

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)


@settings(max_examples=500, deadline=None)
@given(st.datetimes(timezones=ZONES))
def test_a_stored_time_reads_as_the_decoded_events_time(moment: datetime) -> None:
    # The library stores a datetime as its isoformat().
    assert _iso(Typed("datetime_iso", moment.isoformat())) == iso_of_event(moment)


def test_utc_times_with_and_without_microseconds() -> None:
    assert _iso(Typed("datetime_iso", "2026-01-01T10:00:00+00:00")) == "2026-01-01T10:00:00.000000Z"
    assert (
        _iso(Typed("datetime_iso", "2026-01-01T10:00:00.000120+00:00"))
        == "2026-01-01T10:00:00.000120Z"
    )
    assert (
        _iso(Typed("datetime_iso", "2026-01-01T12:00:00.5+02:00")) == "2026-01-01T10:00:00.500000Z"
    )


def test_a_stored_state_has_every_field_a_fact_carries() -> None:
    """Else ``fact_from`` reads a stored state field by field with defaults, which cost a
    replay's reader a fifth of its time."""
    state = msgspec.json.decode(
        b'{"scan_ref": "s", "timestamp": {"_type_": "datetime_iso", "_data_": "x"}}',
        type=StoredState,
    )
    assert all(hasattr(state, name) for name in CARRIED)
    assert isinstance(_READERS.get(StoredState) or _learn(state), attrgetter)
