from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import SIGNING_KEYS
from tests.support.idenfy import encode, result_body, signed_headers


def test_a_signed_delivery_is_recorded_once_and_its_repeat_is_a_duplicate(
    client: TestClient,
) -> None:
    raw = encode(result_body())
    headers = signed_headers(raw, SIGNING_KEYS[0], "IDENTIFICATION_AUTO_FINISHED")
    first = client.post("/webhooks/idenfy", content=raw, headers=headers)
    again = client.post("/webhooks/idenfy", content=raw, headers=headers)
    assert first.status_code == 200
    assert first.json()["result"] == "recorded"
    assert first.json()["sequence"] == 1
    assert again.json() == {
        "result": "duplicate",
        "scanRef": "3f2b8c1e-5a7d-11ef-9c2a-0242ac120002",
        "sequence": 1,
    }
