"""A policy change, previewed and applied (both stores): a policy that approves clean
SUSPECTED results is dry-run, then put in force; the dry run's counts and list equal the
change observed; putting the earlier policy back rolls it back."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from app.cli.policy import dry_run
from app.service.policy import DEFAULT, put_in_force, transitions
from app.service.services import Services
from projections.policy import parse_policy
from tests.support.idenfy import result_body
from tests.support.settings import API_TOKENS
from tests.support.ui import sign_in
from tests.support.webhooks import auth, deliver, wait_for_views

HOUSE = Path(__file__).parent / "house-policy.toml"


def decisions(client: TestClient) -> dict[str, str]:
    items = client.get("/verifications?limit=500", headers=auth()).json()["items"]
    return {item["scanRef"]: item["decision"] for item in items}


def switch(services: Services, policy_text: bytes) -> None:
    put_in_force(services.ledger, parse_policy(policy_text), services.clock())
    services.views.status.serving.policy.until = 0.0  # type: ignore[attr-defined]


def test_a_dry_run_previews_exactly_what_the_switch_then_changes(
    client: TestClient, services: Services
) -> None:
    services.start_projections()
    for n in range(3):  # automated checks passed, no tags: "clean"
        deliver(client, "auto-finished", result_body(f"clean-{n}", overall="SUSPECTED"))
    tagged = result_body("tagged-1", overall="SUSPECTED")
    tagged["status"]["mismatchTags"] = ["NAME"]
    deliver(client, "auto-finished", tagged)
    deliver(client, "auto-finished", result_body("ok-1", overall="APPROVED", final=True))
    last = deliver(client, "auto-finished", result_body("wait-1", overall="REVIEWING", final=False))
    wait_for_views(services, last)
    before = decisions(client)
    assert before == {"clean-0": "review", "clean-1": "review", "clean-2": "review",
                      "tagged-1": "review", "ok-1": "approve", "wait-1": "pending"}  # fmt: skip
    new = parse_policy(HOUSE.read_bytes())

    preview = dry_run(services, new)
    assert decisions(client) == before  # a dry run changes nothing
    switch(services, new.text)
    after = decisions(client)

    assert transitions(preview) == {"review -> approve": 3}
    observed = sorted(ref for ref in after if after[ref] != before[ref])
    assert sorted(change.scan_ref for change in preview) == observed
    assert observed == ["clean-0", "clean-1", "clean-2"]
    document = client.get("/verifications/clean-0", headers=auth()).json()
    assert (document["decision"], document["decisionReasons"][0]) == ("approve", "clean-suspected")
    assert document["decisionBasis"] == [1]
    assert document["policyVersion"] == new.version
    in_force = client.get("/policy", headers=auth()).json()
    assert (in_force["version"], in_force["builtIn"]) == (new.version, False)
    assert [entry["version"] for entry in in_force["history"]] == [new.version]
    listed = client.get("/verifications?decision=approve", headers=auth()).json()["items"]
    assert sorted(item["scanRef"] for item in listed) == ["clean-0", "clean-1", "clean-2", "ok-1"]
    timeline = client.get("/verifications/clean-0/timeline", headers=auth("auditor")).json()
    assert timeline["decision"] == "approve"
    assert [(e["decision"], e["decisionReasons"][0]) for e in timeline["entries"]] == [
        ("approve", "clean-suspected")
    ]
    waiting = client.get("/verifications/wait-1/timeline", headers=auth("auditor")).json()
    assert [e["decision"] for e in waiting["entries"]] == ["pending"]
    assert sign_in(client, API_TOKENS["auditor"]).status_code == 303
    page = client.get("/ui/verifications/clean-0").text
    assert "decision-approve" in page
    assert "by clean-suspected" in page

    back = dry_run(services, DEFAULT)
    switch(services, DEFAULT.text)

    assert transitions(back) == {"approve -> review": 3}
    assert decisions(client) == before
    trail = client.get("/policy", headers=auth()).json()["history"]
    assert [entry["version"] for entry in trail] == [new.version, DEFAULT.version]
