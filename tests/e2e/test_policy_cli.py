"""``ledger policy check`` and ``ledger replay --policy`` as an operator runs them (SQLite)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.bootstrap import bootstrap
from app.config import load
from app.server import create_app
from tests.support.idenfy import result_body
from tests.support.process import LEDGER, clean_environment
from tests.support.settings import environment
from tests.support.webhooks import auth, deliver

pytestmark = pytest.mark.process
HOUSE = Path(__file__).parent / "house-policy.toml"


def ledger(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEDGER), *args], env=clean_environment(env), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_an_operator_checks_previews_applies_and_rolls_back_a_policy(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    services = bootstrap(load(env))
    with TestClient(create_app(services)) as client:
        deliver(client, "auto-finished", result_body("clean-1", overall="SUSPECTED"))
        deliver(client, "auto-finished", result_body("ok-1", overall="APPROVED"))
    services.close()
    assert ledger(env, "replay").returncode == 0
    broken = tmp_path / "broken.toml"
    broken.write_text(
        'name = "x"\n[[rules]]\nname = "a"\nwhen = { colour = 1 }\ndecision = "deny"\n'
    )
    report = tmp_path / "changes.ndjson"

    valid = ledger(env, "policy", "check", str(HOUSE))
    invalid = ledger(env, "policy", "check", str(broken))
    preview = ledger(env, "replay", "--policy", str(HOUSE), "--dry-run", "--report", str(report))
    applied = ledger(env, "replay", "--policy", str(HOUSE))
    again = ledger(env, "replay", "--policy", str(HOUSE), "--dry-run")

    assert (valid.returncode, invalid.returncode) == (0, 1)
    assert "house-policy-2026-12@sha256:" in valid.stdout
    assert "line 2" in invalid.stderr
    assert "unknown field 'colour'" in invalid.stderr
    assert preview.returncode == 0, preview.stderr
    assert "review -> approve: 1" in preview.stdout
    assert "1 verifications would change decision" in preview.stdout
    assert [json.loads(line)["scanRef"] for line in report.read_text().splitlines()] == ["clean-1"]
    assert applied.returncode == 0, applied.stderr
    assert "review -> approve: 1" in applied.stdout
    assert "policy in force: house-policy-2026-12@sha256:" in applied.stdout
    assert "0 verifications would change decision" in again.stdout
    services = bootstrap(load(env), create_tables=False)
    with TestClient(create_app(services)) as client:
        document = client.get("/verifications/clean-1", headers=auth()).json()
    services.close()
    assert document["decision"] == "approve"
