"""``ledger reconcile`` and ``ledger completeness`` as an operator runs them, against a
fake iDenfy API (SQLite)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.bootstrap import bootstrap
from app.config import load
from app.server import create_app
from tests.support.fake_idenfy import API_KEY, API_SECRET, fake_idenfy
from tests.support.idenfy import result_body
from tests.support.process import LEDGER, clean_environment
from tests.support.settings import environment
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
