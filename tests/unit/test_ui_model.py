"""What the auditor UI makes of timeline entries and payloads, without I/O."""

from __future__ import annotations

import base64
import hashlib
import json

from app.ui.model import (
    is_scan_ref,
    iso_time,
    legacy_manual,
    payload_digest_matches,
    payload_text,
    timeline_items,
)
from tests.support.timelines import payload
from tests.support.timelines import timeline_entry as entry


def test_a_preliminary_result_and_the_manual_one_after_it_are_told_apart() -> None:
    entries = [
        entry(1, "registered"),
        entry(2, "auto-finished", preliminary=True, final=False, status="SUSPECTED",
              supersededBy=3),
        entry(3, "manual-finished"),
    ]  # fmt: skip
    items = timeline_items(entries, {2: payload(), 3: payload()})

    assert [i["outcome"] for i in items] == ["registered", "preliminary", "manual"]
    assert [i["inForce"] for i in items] == [False, False, True]
    assert [i["hasPayload"] for i in items] == [False, True, True]


def test_a_second_delivery_of_the_same_kind_and_finish_time_is_a_redelivery() -> None:
    entries = [
        entry(1, "auto-finished", supersededBy=2),
        entry(2, "auto-finished"),
        entry(3, "auto-finished", finishTime=None),
    ]
    payloads = {1: payload(100), 2: payload(100, fileUrls={}), 3: payload(200)}

    items = timeline_items(entries, payloads)

    assert [i["redelivery"] for i in items] == [False, True, False]
    assert [i["finishTime"] for i in items] == [100, 100, 200]
    assert items[0]["finishedAt"] == "1970-01-01T00:01:40Z"


def test_a_final_legacy_result_with_a_preliminary_twin_is_the_manual_one() -> None:
    entries = [
        entry(1, "identification", preliminary=True, final=False, supersededBy=2),
        entry(2, "identification"),
        entry(3, "identification"),
    ]
    items = timeline_items(entries, {1: payload(100), 2: payload(100), 3: payload(300)})

    assert [i["outcome"] for i in items] == ["preliminary", "manual", "final"]


def test_cancels_and_notices_are_neither_automated_nor_manual() -> None:
    entries = [
        entry(1, "cancelled", status="CANCELED"),
        entry(2, "document-expiration"),
    ]

    items = timeline_items(entries, {})

    assert [i["outcome"] for i in items] == ["closed", "notice"]
    assert [i["inForce"] for i in items] == [True, False]


def test_a_payload_that_is_not_json_still_has_no_finish_time_and_reads_as_text() -> None:
    items = timeline_items([entry(1, "auto-finished")], {1: b"\xffnot json"})

    assert items[0]["finishTime"] is None
    assert payload_text(b"\xffnot json") == (base64.b64encode(b"\xffnot json").decode(), "base64")
    assert payload_text(b"plain text \xc3\xa9") == ("plain text \u00e9", None)


def test_a_json_payload_with_a_lone_surrogate_escape_reads_as_it_came() -> None:
    assert payload_text(b'{"a":"\\ud800"}') == ('{"a":"\\ud800"}', None)


def test_a_json_payload_reads_indented_with_its_characters_kept() -> None:
    assert (
        payload_text(b'{"a":"\\u00e9","b":[1]}')[0]
        == '{\n  "a": "\u00e9",\n  "b": [\n    1\n  ]\n}'
    )


def test_a_payload_digest_is_checked_against_the_recorded_one() -> None:
    raw = payload()
    recorded = entry(1, "auto-finished", payloadSha256=hashlib.sha256(raw).hexdigest())

    assert payload_digest_matches(raw, recorded)
    assert not payload_digest_matches(raw + b" ", recorded)


def test_a_script_tag_cannot_be_a_scan_ref() -> None:
    assert is_scan_ref("3f2b8c1e-5a7d-11ef-9c2a-0242ac120002")
    assert not is_scan_ref("<script>")
    assert not is_scan_ref("user 1")


def test_a_finish_time_out_of_range_has_no_iso_form() -> None:
    assert iso_time(10**20) is None
    assert iso_time(None) is None


def test_a_legacy_result_with_a_manual_verdict_is_shown_as_the_manual_decision() -> None:
    body = {"scanRef": "s", "status": {"overall": "APPROVED", "manualFace": "FACE_MATCH"}}
    [item] = timeline_items([entry(1, "identification")], {1: json.dumps(body).encode()})

    assert item["outcome"] == "manual"
    assert not legacy_manual(json.dumps({**body, "final": True}).encode())


def test_a_delivery_of_an_unmodelled_type_is_labelled_as_such() -> None:
    [item] = timeline_items([entry(1, "other", status=None, final=None)], {})

    assert item["outcome"] == "other"
    assert "does not model" in item["outcomeLabel"]
