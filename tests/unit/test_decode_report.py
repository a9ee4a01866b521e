"""``decode_report`` over arbitrary JSON and hand-made nasty bodies: a report, or the body
is said to be unusable; never another error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.reports import Kind
from tests.support.hostile import (
    NASTY_BODIES,
    SCAN_REFS,
    any_body,
    assert_decodes_or_is_unusable,
    json_values,
)
from tests.support.idenfy import encode, result_body


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(list(Kind)), raw=any_body)
def test_decode_report_returns_a_report_or_says_the_body_is_unusable(
    kind: Kind, raw: bytes
) -> None:
    assert_decodes_or_is_unusable(kind, raw)


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(list(Kind)),
    value=json_values,
    duplicate=st.sampled_from(["scanRef", "final", "status", "finishTime"]),
)
def test_decode_report_survives_duplicate_keys(kind: Kind, value: Any, duplicate: str) -> None:
    raw = encode(result_body(SCAN_REFS[1]))
    extra = f',"{duplicate}":{json.dumps(value)}}}'.encode()
    assert_decodes_or_is_unusable(kind, raw[:-1] + extra)


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_decode_report_handles_every_nasty_body(kind: Kind) -> None:
    for raw in NASTY_BODIES.values():
        assert_decodes_or_is_unusable(kind, raw)
