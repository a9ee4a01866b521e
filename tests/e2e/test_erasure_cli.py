"""``ledger erase``, ``ledger retention`` and ``ledger rotate-key`` as an operator runs them,
an erasure killed part way, and a store from before data keys brought to them."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from adapters.data_keys import TABLE as KEYS
from adapters.key_check import TABLE as KEY_CHECK
from adapters.key_check import master_cipher
from adapters.payload_migration import LAYOUT_ROW
from app.bootstrap import bootstrap
from app.config import ConfigError, load
from app.server import create_app
from app.service.audit import verify_ledger
from app.service.services import Services
from domain.verification import Verification
from tests.support.idenfy import result_body
from tests.support.process import LEDGER, clean_environment
from tests.support.settings import API_TOKENS, environment
from tests.support.stored_bytes import stored_bytes
from tests.support.webhooks import deliver

pytestmark = pytest.mark.process
PERSON = {"docFirstName": "KANARIJAGAMA", "docLastName": "ZVIRBLISGAMA", "docNumber": "CAN0000073"}
CLIENT = "client-cli-73"
AUDITOR = {"Authorization": f"Bearer {API_TOKENS['auditor']}"}


def ledger(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEDGER), *args], env=clean_environment(env), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def record(env: dict[str, str], count: int, client_id: str = CLIENT) -> list[str]:
    """``count`` verifications of the client, then the service closed."""
    services = bootstrap(load(env))
    refs = [f"cli-erase-{client_id}-{n:04d}" for n in range(count)]
    with TestClient(create_app(services)) as client:
        for ref in refs:
            deliver(client, "auto-finished", result_body(ref, client_id=client_id, data=PERSON))
    services.start_projections()
    head = services.ledger.recorder.max_notification_id() or 0
    for view in services.views.all():
        view.wait("Ledger", head, timeout=60)
    services.close()
    return refs


def event_states(env: dict[str, str]) -> list[bytes]:
    """The stored events' states as they lie in the SQLite file."""
    path = env["LEDGER_DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return [bytes(row[0]) for row in connection.execute("SELECT state FROM stored_events")]


def readable(services: Services, refs: list[str]) -> list[bool]:
    return [getattr(services.ledger.history(ref)[0], "payload", None) is not None for ref in refs]


def erased_events(services: Services, refs: list[str]) -> list[int]:
    return [
        sum(isinstance(e, Verification.Erased) for e in services.ledger.history(ref))
        for ref in refs
    ]


def test_an_operator_is_refused_then_erases_with_a_report(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    refs = record(env, 2)
    report = tmp_path / "erasure.json"

    refused = ledger(env, "erase", "--client", CLIENT, "--reason", "asked")
    unknown = ledger(env, "erase", "--client", "nobody", "--reason", "asked")
    due = ledger(env, "retention", "--dry-run")
    done = ledger(
        env, "erase", "--client", CLIENT, "--reason", "asked", "--override-retention",
        "--by", "dpo@example", "--report", str(report),
    )  # fmt: skip

    assert refused.returncode == 1
    assert "retained until" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert unknown.returncode == 1
    assert "nothing is recorded" in unknown.stderr
    assert due.returncode == 0
    assert "0 clients are due" in due.stderr
    assert done.returncode == 0, done.stderr
    found = json.loads(report.read_text())
    assert found["erasedBy"] == "dpo@example"
    assert found["stores"]["events"]["payloadsUnreadable"] == 2
    assert set(found["stores"]) == {"events", "dataKeys", "quarantine", "views", "accessLog"}
    assert ledger(env, "verify").returncode == 0
    exported = [json.loads(line) for line in ledger(env, "export").stdout.splitlines()]
    erased_rows = [row for row in exported if row["kind"] == "erased"]
    assert sorted(row["scanRef"] for row in erased_rows) == sorted(refs)
    assert {row["clientId"] for row in erased_rows} == {CLIENT}


def erase_command(client_id: str) -> list[str]:
    return [str(LEDGER), "erase", "--client", client_id, "--reason", "r", "--override-retention"]


def test_an_erasure_killed_part_way_leaves_the_client_erased_or_not_and_finishes_later(
    database_url: str,
) -> None:
    """Killed at fractions of how long a whole erasure of a client like it took."""
    env = environment(database_url)
    record(env, 150, "calibration")
    refs = record(env, 150)
    started = time.monotonic()
    assert ledger(env, *erase_command("calibration")[1:]).returncode == 0
    whole = time.monotonic() - started
    interrupted = 0
    for fraction in (0.5, 0.7, 0.85, 0.95):
        process = subprocess.Popen(
            erase_command(CLIENT), env=clean_environment(env),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(whole * fraction)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        services = bootstrap(load(env), create_tables=False)
        try:
            state = set(readable(services, refs))
            erased_at = services.retention.record(CLIENT).erased_at
            events = erased_events(services, refs)
        finally:
            services.close()
        assert len(state) == 1, "some payloads erased and others not"
        assert (erased_at is None) == state.pop()
        interrupted += erased_at is None or events != [1] * len(refs)
    assert interrupted, "no kill came before the erasure ended"
    finished = ledger(env, *erase_command(CLIENT)[1:])
    assert finished.returncode == 0, finished.stderr
    services = bootstrap(load(env), create_tables=False)
    try:
        assert not any(readable(services, refs))
        assert erased_events(services, refs) == [1] * len(refs)
    finally:
        services.close()


def test_rotating_the_key_rewraps_the_data_keys_and_retires_the_old_key(tmp_path: Path) -> None:
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    env = environment(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", LEDGER_ENCRYPTION_KEY=old)
    [ref] = record(env, 1)
    states_before = event_states(env)

    missing = ledger(env, "rotate-key")
    rotated = ledger({**env, "LEDGER_NEW_ENCRYPTION_KEY": new}, "rotate-key")

    assert missing.returncode == 2
    assert "LEDGER_NEW_ENCRYPTION_KEY" in missing.stderr
    assert rotated.returncode == 0, rotated.stderr
    with pytest.raises(ConfigError, match="LEDGER_ENCRYPTION_KEY"):
        bootstrap(load(env), create_tables=False)
    services = bootstrap(load({**env, "LEDGER_ENCRYPTION_KEY": new}))
    try:
        assert readable(services, [ref]) == [True]
    finally:
        services.close()
    assert event_states(env) == states_before  # no event was rewritten
    refused = ledger(env, "serve")
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted-whole"])
def test_a_store_from_before_data_keys_is_migrated_at_start(
    database_url: str, encrypted: bool
) -> None:
    key = base64.b64encode(os.urandom(32)).decode() if encrypted else None
    env = environment(database_url, **({"LEDGER_ENCRYPTION_KEY": key} if key else {}))
    [ref] = record(env, 1)
    services = bootstrap(load(env), create_tables=False)
    history = services.ledger.history(ref)
    heads, payload = [e.hash for e in history], getattr(history[0], "payload", None)
    assert isinstance(payload, bytes)
    unseal_as_before(services, key)
    services.close()
    plain = base64.b64encode(payload)[8:60]  # as the JSON state holds it
    assert any(plain in raw for raw in stored_bytes(database_url).values()) == (not encrypted)

    migrated = bootstrap(load(env))
    try:
        with TestClient(create_app(migrated)) as client:
            text = client.get(f"/verifications/{ref}/timeline?payload=1", headers=AUDITOR).text
        assert PERSON["docNumber"] in text
        assert [e.hash for e in migrated.ledger.history(ref)] == heads
        assert verify_ledger(migrated.ledger, migrated.clock()).intact
    finally:
        migrated.close()
    for name, raw in stored_bytes(database_url).items():
        assert plain not in raw, name


def unseal_as_before(services: Services, key: str | None) -> None:
    """Rewrite the store as a version before data keys left it: payloads as received in
    each event, the whole state encrypted under ``key`` when given; no data keys."""
    ledger, sql = services.ledger, services.ledger.keys.sql
    cipher = master_cipher(key)
    table = sql.table(ledger.recorder.events_table_name)  # type: ignore[attr-defined]
    rows = []
    for notification in ledger.recorder.select_notifications(start=None, limit=1000):
        state = ledger.mapper.transcoder.decode(notification.state)
        if "payload" in state:
            state["payload"] = ledger.keys.open_all([state["payload"]])[0]
        raw = ledger.mapper.transcoder.encode(state)
        ident = UUID(str(notification.originator_id))
        rows.append(
            (cipher.encrypt(raw) if cipher else raw, ident if sql.postgres else ident.hex,
             notification.originator_version)
        )  # fmt: skip
    with sql.transaction(commit=True) as c:
        c.cursor.executemany(
            sql.statement(
                f"UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?"
            ),
            rows,
        )
        c.execute(f"DELETE FROM {sql.table(KEYS)}")
        c.execute(f"DELETE FROM {sql.table(KEY_CHECK)} WHERE id = ?", (LAYOUT_ROW,))


def test_retention_erases_who_is_due_keeps_who_is_held_and_drops_old_quarantine(
    tmp_path: Path,
) -> None:
    env = environment(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", LEDGER_RETENTION_DAYS="0")
    [erased_ref] = record(env, 1)
    services = bootstrap(load(env))
    with TestClient(create_app(services)) as client:
        deliver(client, "auto-finished", result_body("held-1", client_id="held", data=PERSON))
        unusable = b'{"scanRef": "", "clientId": "stray-client"}'
        assert client.post("/webhooks/idenfy", content=unusable).status_code == 401
    services.retention.place_hold("held", "litigation", "admin", services.clock())
    head = services.ledger.recorder.max_notification_id() or 0
    services.start_projections()
    for view in services.views.all():
        view.wait("Ledger", head, timeout=60)
    services.close()
    report = tmp_path / "retention.json"

    preview = ledger(env, "retention", "--dry-run")
    done = ledger(env, "retention", "--report", str(report))

    assert preview.returncode == 0
    due = [line.split("\t")[0] for line in preview.stdout.splitlines()]
    assert sorted(due) == [CLIENT, "stray-client"]  # one known only from its quarantined copy
    assert done.returncode == 0, done.stderr
    assert "dropped 1 quarantined copies" in done.stdout
    assert sorted(item["clientId"] for item in json.loads(report.read_text())) == sorted(due)
    services = bootstrap(load(env), create_tables=False)
    try:
        assert readable(services, [erased_ref, "held-1"]) == [False, True]
        assert services.quarantine.count() == 0
    finally:
        services.close()
