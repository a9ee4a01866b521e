"""``ledger reconcile`` and ``ledger completeness`` as an operator runs them, against a
fake iDenfy API (SQLite)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from app.bootstrap import bootstrap
from app.config import load
from app.server import create_app
from tests.support.fake_idenfy import API_KEY, API_SECRET, fake_idenfy
from tests.support.idenfy import result_body
from tests.support.process import LEDGER, Launcher, clean_environment
from tests.support.settings import API_TOKENS, SIGNING_KEYS, environment
from tests.support.waiting import wait_until
from tests.support.webhooks import auth, deliver

pytestmark = pytest.mark.process


def ledger(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEDGER), *args],
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_operator_reconciles_overdue_verifications_and_files_a_statement(
    tmp_path: Path,
) -> None:
    env = environment(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", LEDGER_OVERDUE_GRACE="0")
    services = bootstrap(load(env))
    with TestClient(create_app(services)) as client:
        for scan_ref in ("due-1", "due-2"):
            body = {"scanRef": scan_ref, "clientId": "c-1", "expiryTime": 0, "sessionLength": 0}
            assert client.post("/verifications", json=body, headers=auth()).status_code == 201
        deliver(client, "auto-finished", result_body("due-2", final=True, overall="APPROVED"))
    services.start_projections()
    services.close()
    # Projections run only while a process runs them: replay makes the views whole here.
    assert ledger(env, "replay").returncode == 0

    missing = ledger(env, "reconcile")
    planned = ledger(env, "reconcile", "--dry-run")
    with fake_idenfy() as fake:
        fake.fake.set_script({"default": {"status": "DENIED"}})
        asking = {**env, "IDENFY_API_URL": fake.url, "IDENFY_API_KEY": API_KEY}
        refused = ledger(
            {**asking, "IDENFY_API_SECRET": "a-wrong-secret-for-this-test"}, "reconcile"
        )
        done = ledger({**asking, "IDENFY_API_SECRET": API_SECRET}, "reconcile", "--rate", "600")
        calls = fake.fake.calls()
    assert ledger(env, "replay").returncode == 0
    filed = ledger(
        env, "completeness", "--since", "2026-01-01", "--until", "2100-01-01", "--format", "md"
    )

    assert (missing.returncode, missing.stderr.count("\n")) == (2, 1)
    assert "IDENFY_API_KEY" in missing.stderr
    assert (planned.returncode, planned.stdout.split()) == (0, ["due-1"])
    assert refused.returncode == 1
    assert "credentials" in refused.stderr
    assert API_SECRET not in refused.stderr + refused.stdout
    assert (done.returncode, done.stdout.strip()) == (
        0,
        "checked 1, changed 1, failed 0 (skipped 0 finished or asked about meanwhile)",
    )
    assert calls["calls"] == {"due-1": 1}
    assert filed.returncode == 0, filed.stderr
    assert "| registered in the window | 2 |" in filed.stdout
    assert "| ended with a final result | 2 |" in filed.stdout


def test_deliveries_the_simulator_drops_are_found_overdue_and_recovered_by_reconciling(
    tmp_path: Path, launcher: Launcher
) -> None:
    """``ledger simulate --register-with --drop --idenfy-script`` loses every delivery of a
    share of the verifications and writes what they said; against a fake API scripted so,
    ``ledger reconcile`` recovers exactly those, at once overdue (no expiry, no grace)."""
    env = environment(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", LEDGER_OVERDUE_GRACE="0")
    service = launcher.start(env)
    lost = tmp_path / "lost.json"
    simulated = ledger(
        env, "simulate", "--url", service.url, "--key", SIGNING_KEYS[0], "--count", "24",
        "--seed", "5", "--register-with", API_TOKENS["backend"], "--expiry-time", "0",
        "--session-length", "0", "--drop", "0.25", "--idenfy-script", str(lost),
    )  # fmt: skip
    assert simulated.returncode == 0, simulated.stderr
    script = json.loads(lost.read_text())
    dropped = sorted(script["scanRefs"])
    assert dropped
    backend = {"Authorization": f"Bearer {API_TOKENS['backend']}"}
    with httpx.Client(base_url=service.url, timeout=10) as http:
        wait_until(lambda: overdue(http, backend) == dropped, 20, "the dropped ones overdue")
        with fake_idenfy() as fake:
            fake.fake.set_script(script)
            asking = {**env, "IDENFY_API_URL": fake.url, "IDENFY_API_KEY": API_KEY,
                      "IDENFY_API_SECRET": API_SECRET}  # fmt: skip
            done = ledger(asking, "reconcile", "--rate", "6000")
            calls = fake.fake.calls()["calls"]
        wait_until(lambda: overdue(http, backend) == [], 20, "nothing overdue")
        statuses = {
            ref: http.get(f"/verifications/{ref}", headers=backend).json()["status"]
            for ref in dropped
        }

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"checked {len(dropped)}, ")
    assert sorted(calls) == dropped
    assert statuses == {ref: script["scanRefs"][ref]["status"] for ref in dropped}


def overdue(http: httpx.Client, headers: dict[str, str]) -> list[str]:
    found = http.get("/verifications?overdue=true&limit=500", headers=headers).json()
    return sorted(item["scanRef"] for item in found["items"])
