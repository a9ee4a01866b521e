"""Personal data stays out of the logs, and out of the stored bytes when encrypted at rest.

A simulated day of invented people goes through a real ``ledger serve``, with some
unsigned and unusable deliveries and some reads on top. Its JSON log lines must not
hold a name, a document number, an address, a client IP, a signed file URL, a key or
a token. With ``LEDGER_ENCRYPTION_KEY`` set, the raw database bytes (SQLite files and
their write-ahead logs read as they are, or every PostgreSQL table of the ledger's
schema) must not hold them either. Scan references and client ids are pseudonymous
identifiers and may appear.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from adapters.signing import sign
from app.cli.scenarios import plan
from tests.support.idenfy import encode, result_body
from tests.support.process import LEDGER, Launcher, RunningService, clean_environment
from tests.support.settings import API_TOKENS, SIGNING_KEYS, environment
from tests.support.stored_bytes import every_stored_byte, sqlite_files
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process

COUNT = 50
SEED = 424242
COMMAND_SECONDS = 120.0
CATCH_UP_SECONDS = 60.0
ENCRYPTION_KEY = base64.b64encode(os.urandom(32)).decode()
BACKEND = {"Authorization": f"Bearer {API_TOKENS['backend']}"}
AUDITOR = {"Authorization": f"Bearer {API_TOKENS['auditor']}"}
# A delivery outside the simulated day, with its own invented person.
STRAY_PERSON = {"docFirstName": "GRETA", "docLastName": "PAVYZDINE", "docNumber": "LT7654321"}


@dataclass(frozen=True)
class Secrets:
    """What must not leak: personal data of the plan, its payloads, keys and tokens."""

    words: frozenset[str]
    payloads: tuple[bytes, ...]
    scan_refs: tuple[str, ...]

    def found_in(self, text: bytes, *, payloads: bool = True) -> list[str]:
        found = [word for word in self.words if word.encode() in text]
        if payloads:
            for body in self.payloads:
                # A payload kept unencrypted is base64 inside the event's JSON state.
                if base64.b64encode(body)[8:60] in text:
                    found.append(f"the payload of {json.loads(body)['scanRef']}, base64")
        return sorted(found)


def secrets_of_the_day() -> Secrets:
    planned = plan("day", COUNT, SEED)
    words: set[str] = {
        "docFirstName", "docLastName", "Gedimino", "Vilnius", "1990-01-01",
        *SIGNING_KEYS, *API_TOKENS.values(), ENCRYPTION_KEY, *STRAY_PERSON.values(), "203.0.113.24",
    }  # fmt: skip
    for delivery in planned:
        body = json.loads(delivery.body)
        data = body.get("data")
        if data is None:
            continue
        # Names alone are short: quoted as they are in a payload they cannot occur by chance.
        words |= {f'"{data["docFirstName"]}"', f'"{data["docLastName"]}"', data["fullName"]}
        words |= {data["docNumber"], body["clientIp"]}
        words |= {url.rsplit("=", 1)[1] for url in body["fileUrls"].values()}
    bodies = tuple(dict.fromkeys(d.body for d in planned))
    return Secrets(frozenset(words), bodies, tuple(dict.fromkeys(d.scan_ref for d in planned)))


def simulate_a_day(service: RunningService, logs: Path) -> None:
    command = [
        str(LEDGER), "simulate", "--url", service.url, "--key", SIGNING_KEYS[0],
        "--scenario", "day", "--count", str(COUNT), "--seed", str(SEED),
        "--retry-delay", "0.2", "--report", str(logs / "report.ndjson"),
    ]  # fmt: skip
    result = subprocess.run(
        command,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def stray_deliveries_and_reads(service: RunningService, secrets: Secrets) -> None:
    """Deliveries that are refused or quarantined, and reads that name personal data."""
    stray = encode(result_body("stray-5a7d-11ef-9c2a-0242ac120002", data=STRAY_PERSON))
    with httpx2.Client(base_url=service.url, timeout=10.0) as client:
        unsigned = client.post("/webhooks/idenfy/auto-finished", content=stray)
        assert unsigned.status_code == 401
        signed = {"Idenfy-Signature": sign(SIGNING_KEYS[0], stray)}
        unmodelled = client.post(
            "/webhooks/idenfy",
            content=stray,
            headers={**signed, "Idenfy-Event-Type": "VIDEO_CALL_FINISHED"},
        )
        assert unmodelled.status_code == 200  # recorded as an `other` event, kept whole
        unusable = stray.replace(b'"final":true', b'"final":"JONAS TESTAS"')
        answer = client.post(
            "/webhooks/idenfy/auto-finished",
            content=unusable,
            headers={"Idenfy-Signature": sign(SIGNING_KEYS[0], unusable)},
        )
        assert answer.status_code == 202
        scan_ref = secrets.scan_refs[0]
        timeline = client.get(f"/verifications/{scan_ref}/timeline?payload=1", headers=AUDITOR)
        assert timeline.status_code == 200
        assert "docFirstName" in timeline.text  # the auditor gets the payload, the log does not
        by_query = client.get(
            "/verifications", params={"clientId": STRAY_PERSON["docNumber"]}, headers=BACKEND
        )
        assert by_query.status_code == 200
        wrong_token = client.get("/verifications", headers={"Authorization": "Bearer JONAS"})
        assert wrong_token.status_code == 401


def wait_until_projected(service: RunningService) -> None:
    answers: list[dict[str, Any]] = []
    with httpx2.Client(timeout=10.0) as client:

        def caught_up() -> bool:
            answer: dict[str, Any] = client.get(f"{service.url}/readyz").json()
            answers.append(answer)
            return bool(answer.get("projectionLag")) and not any(answer["projectionLag"].values())

        wait_until(
            caught_up, CATCH_UP_SECONDS, lambda: f"projections never caught up: {answers[-1]}"
        )


def test_the_service_logs_hold_no_personal_data_keys_or_tokens(
    launcher: Launcher, database_url: str, tmp_path: Path
) -> None:
    secrets = secrets_of_the_day()
    service = launcher.start(environment(database_url))
    simulate_a_day(service, tmp_path)
    wait_until_projected(service)  # the reads below read the day's verifications
    stray_deliveries_and_reads(service, secrets)
    wait_until_projected(service)
    service.stop()
    lines = service.stderr().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(isinstance(record, dict) and record["message"] for record in records)
    paths = {record.get("path") for record in records}
    assert "/webhooks/idenfy/auto-finished" in paths, "the deliveries were not logged at all"
    assert any(record.get("scan_ref") in secrets.scan_refs for record in records)
    assert secrets.found_in(service.stderr().encode()) == []
    assert secrets.found_in(service.stdout_path.read_bytes()) == []


def run_a_day_with(
    launcher: Launcher, database_url: str, logs: Path, **extra: str
) -> tuple[RunningService, Secrets]:
    secrets = secrets_of_the_day()
    service = launcher.start(environment(database_url, **extra))
    simulate_a_day(service, logs)
    wait_until_projected(service)  # the reads below read the day's verifications
    stray_deliveries_and_reads(service, secrets)
    wait_until_projected(service)
    return service, secrets


def test_encrypted_sqlite_files_and_their_write_ahead_logs_hold_no_personal_data(
    launcher: Launcher, sqlite_url: str, tmp_path: Path
) -> None:
    service, secrets = run_a_day_with(
        launcher, sqlite_url, tmp_path, LEDGER_ENCRYPTION_KEY=ENCRYPTION_KEY
    )
    # Read while the service runs: nothing checkpointed, the write-ahead logs as they are.
    contents = {path.name: path.read_bytes() for path in sqlite_files(sqlite_url)}
    assert all(contents.values()), {name: len(raw) for name, raw in contents.items()}
    everything = b"".join(contents.values())
    assert any(ref.encode() in everything for ref in secrets.scan_refs), "nothing readable at all"
    for name, raw in contents.items():
        assert secrets.found_in(raw) == [], name
    service.stop()


def test_without_an_encryption_key_the_sqlite_files_still_hold_no_personal_data(
    launcher: Launcher, sqlite_url: str, tmp_path: Path
) -> None:
    """Payloads, in events and in quarantine, are sealed under data keys either way;
    without a master key the data keys themselves are kept unwrapped."""
    service, secrets = run_a_day_with(launcher, sqlite_url, tmp_path)
    contents = {path.name: path.read_bytes() for path in sqlite_files(sqlite_url)}
    for name, raw in contents.items():
        assert secrets.found_in(raw) == [], name
    everything = b"".join(contents.values())
    assert any(ref.encode() in everything for ref in secrets.scan_refs), "nothing readable at all"
    service.stop()


@pytest.mark.postgres
def test_encrypted_postgres_tables_hold_no_personal_data(
    launcher: Launcher, postgres_url: str, tmp_path: Path
) -> None:
    service, secrets = run_a_day_with(
        launcher, postgres_url, tmp_path, LEDGER_ENCRYPTION_KEY=ENCRYPTION_KEY
    )
    tables = every_stored_byte(postgres_url)
    events = [name for name in tables if name.endswith("_events")]
    assert events, sorted(tables)
    assert "ledger_quarantine" in tables
    assert any(ref.encode() in b"".join(tables.values()) for ref in secrets.scan_refs)
    for name, raw in tables.items():
        assert secrets.found_in(raw) == [], name
    service.stop()
