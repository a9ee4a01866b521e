"""``ledger verify`` and ``ledger export`` run by an auditor, as processes, against each store."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.export import COLUMNS
from app.bootstrap import bootstrap
from app.config import load
from app.service.audit import SavedDigest, verify_ledger
from app.service.services import Services
from domain.reports import Kind
from domain.verification import Verification
from tests.support.process import LEDGER, clean_environment, free_port
from tests.support.settings import environment
from tests.support.tampering import (
    FIRST_DELIVERY_AT,
    MANUAL,
    STORY,
    EventTable,
    change_a_decision,
    corrupt_the_json,
    record,
    registered,
    result,
    save_digest,
)

pytestmark = pytest.mark.process

TIMEOUT_SECONDS = 60.0
HOSTILE_CLIENT_IDS = ('=HYPERLINK("https://evil.example","open")', "@SUM(1+1)*cmd|'/C calc'!A0")


def ledger(database_url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``ledger *args`` run to its end with the test's settings."""
    return subprocess.run(
        [str(LEDGER), *args],
        env=clean_environment(environment(database_url, **extra)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def one_line(text: str) -> str:
    """The one ``ledger: ...`` line a failing command writes, progress lines aside."""
    lines = [line for line in text.splitlines() if line.startswith("ledger: ")]
    assert len(lines) == 1, text
    return lines[0]


def ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def stored(services: Services) -> list[tuple[int, str, int, str]]:
    """(position, scanRef, sequence, hash) of every stored event, in ledger order."""
    found = []
    for notification in services.ledger.recorder.select_notifications(start=1, limit=1000):
        event = services.ledger.mapper.to_domain_event(notification)
        assert isinstance(event, Verification.Event)
        found.append((notification.id, event.scan_ref, event.originator_version, event.hash))
    return found


def rows(records: list[dict[str, Any]]) -> list[tuple[int, str, int, str]]:
    return [(r["position"], r["scanRef"], r["sequence"], r["hash"]) for r in records]


# ledger verify


def test_verify_says_an_intact_ledger_is_intact_and_saves_its_digest(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    record(services.ledger)
    digest_file = tmp_path / "digest.json"

    saved = ledger(database_url, "verify", "--save-digest", str(digest_file))
    again = ledger(database_url, "verify", "--digest", str(digest_file))

    expected = verify_ledger(services.ledger, datetime.now(UTC)).digest
    assert saved.returncode == 0, saved.stderr
    assert f"10 events in 4 verifications; digest {expected.digest}" in saved.stdout
    assert SavedDigest.load(digest_file).digest == expected.digest
    assert SavedDigest.load(digest_file).heads == expected.heads
    assert again.returncode == 0, again.stderr
    assert expected.digest in again.stdout


def test_verify_names_the_scan_ref_and_sequence_of_a_tampered_event_and_exits_1(
    services: Services, database_url: str
) -> None:
    record(services.ledger)
    change_a_decision(EventTable(database_url), services.ledger)

    answer = ledger(database_url, "verify")

    assert answer.returncode == 1, answer.stderr
    assert f"{MANUAL} sequence 3" in answer.stdout
    assert MANUAL in one_line(answer.stderr)
    assert "intact" not in answer.stdout


def test_verify_counts_a_stored_event_that_no_longer_decodes_as_tampered(
    services: Services, database_url: str
) -> None:
    record(services.ledger)
    corrupt_the_json(EventTable(database_url), services.ledger)

    answer = ledger(database_url, "verify")

    assert answer.returncode == 1, answer.stderr
    assert f"{MANUAL} sequence 3: the stored event no longer decodes" in answer.stdout
    assert "Traceback" not in answer.stderr


def test_verify_against_a_saved_digest_finds_a_cut_chain_that_alone_looks_intact(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    record(services.ledger)
    digest_file = tmp_path / "digest.json"
    assert ledger(database_url, "verify", "--save-digest", str(digest_file)).returncode == 0

    EventTable(database_url).delete(MANUAL, 4)
    alone = ledger(database_url, "verify")
    against = ledger(database_url, "verify", "--digest", str(digest_file))

    assert alone.returncode == 0, alone.stderr
    assert against.returncode == 1, against.stderr
    assert f"{MANUAL} sequence 4" in against.stdout
    assert "cut short" in against.stdout


def edited_heads(path: Path) -> None:
    data = json.loads(path.read_text())
    data["heads"][0][2] = "00" * 32
    path.write_text(json.dumps(data))


def edited_count(path: Path) -> None:
    data = json.loads(path.read_text())
    data["events"] += 1
    path.write_text(json.dumps(data))


def truncated(path: Path) -> None:
    path.write_text(path.read_text()[:-10])


def removed(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("spoil", [edited_heads, edited_count, truncated, removed])
def test_verify_refuses_an_edited_or_unreadable_digest_file_with_exit_2(
    sqlite_url: str, tmp_path: Path, spoil: Callable[[Path], None]
) -> None:
    services = bootstrap(load(environment(sqlite_url)))
    try:
        record(services.ledger)
        save_digest(services.ledger, tmp_path)
    finally:
        services.close()
    digest_file = tmp_path / "digest.json"

    spoil(digest_file)
    answer = ledger(sqlite_url, "verify", "--digest", str(digest_file))

    assert answer.returncode == 2, answer.stderr
    assert str(digest_file) in one_line(answer.stderr)
    assert "intact" not in answer.stdout


@pytest.fixture(params=["sqlite", "postgres"])
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return f"postgresql://postgres@127.0.0.1:{free_port()}/ledger"
    folder = tmp_path / "not-a-file.sqlite3"
    folder.mkdir()
    return f"sqlite:///{folder}"


def test_verify_exits_2_when_the_database_cannot_be_reached(unreachable_url: str) -> None:
    answer = ledger(unreachable_url, "verify")

    assert answer.returncode == 2, answer.stderr
    assert one_line(answer.stderr)
    assert "intact" not in answer.stdout


def test_verify_and_export_need_no_webhook_signing_key(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    # An auditor checks the ledger with database access only, never iDenfy's secret.
    record(services.ledger)
    auditor_env = {"IDENFY_SIGNING_KEYS": "", "LEDGER_API_KEYS": ""}

    verified = ledger(database_url, "verify", **auditor_env)
    exported = ledger(database_url, "export", "--output", str(tmp_path / "e.ndjson"), **auditor_env)

    assert verified.returncode == 0, verified.stderr
    assert exported.returncode == 0, exported.stderr


# ledger export


def test_export_writes_every_event_in_ledger_order_as_ndjson(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    record(services.ledger)
    output = tmp_path / "events.ndjson"

    answer = ledger(database_url, "export", "--format", "ndjson", "--output", str(output))

    assert answer.returncode == 0, answer.stderr
    exported = ndjson(output)
    assert rows(exported) == stored(services)
    assert [r["position"] for r in exported] == list(range(1, 11))
    manual = [r for r in exported if r["scanRef"] == MANUAL]
    assert [r["kind"] for r in manual] == [
        "registered", "auto-finished", "manual-finished", "document-expiration",
    ]  # fmt: skip
    assert manual[2]["overall"] == "APPROVED"
    assert manual[2]["prevHash"] == manual[1]["hash"]
    assert "payload" not in manual[2]


def test_export_takes_a_window_of_ledger_positions_both_inclusive(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    record(services.ledger)
    output = tmp_path / "events.ndjson"

    answer = ledger(database_url, "export", "--since", "3", "--until", "7", "--output", str(output))

    assert answer.returncode == 0, answer.stderr
    assert rows(ndjson(output)) == stored(services)[2:7]


def test_export_takes_a_window_of_received_times_both_inclusive(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    receipts = record(services.ledger)
    since = FIRST_DELIVERY_AT + timedelta(hours=2)
    until = FIRST_DELIVERY_AT + timedelta(hours=5)
    output = tmp_path / "events.ndjson"

    answer = ledger(
        database_url, "export", "--format", "ndjson", "--output", str(output),
        "--since", since.isoformat().replace("+00:00", "Z"), "--until", until.isoformat(),
    )  # fmt: skip

    assert answer.returncode == 0, answer.stderr
    expected = [
        receipt.position
        for step, receipt in zip(STORY, receipts, strict=True)
        if step.kind is not None and not receipt.duplicate and since <= step.at <= until
    ]
    assert expected == [3, 5, 6]
    exported = ndjson(output)
    assert [r["position"] for r in exported] == expected
    assert all(since <= datetime.fromisoformat(r["receivedAt"]) <= until for r in exported)


def test_export_of_a_ledger_with_an_undecodable_event_says_why_in_one_line(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    record(services.ledger)
    corrupt_the_json(EventTable(database_url), services.ledger)

    answer = ledger(database_url, "export", "--output", str(tmp_path / "events.ndjson"))

    assert answer.returncode != 0
    assert "Traceback" not in answer.stderr, answer.stderr
    assert one_line(answer.stderr)


def test_export_as_csv_has_the_documented_columns_and_neutralises_formulas(
    services: Services, database_url: str, tmp_path: Path
) -> None:
    hostile = tuple(
        result(f"bad-{n}", Kind.AUTO_FINISHED, 30 + n, final=True, overall="APPROVED",
               finish_time=1718790000, client_id=client_id)
        for n, client_id in enumerate(HOSTILE_CLIENT_IDS)
    )  # fmt: skip
    record(services.ledger, (*STORY, *hostile, registered("bad-2", "-1+1")))
    output = tmp_path / "events.csv"

    answer = ledger(database_url, "export", "--format", "csv", "--output", str(output))

    assert answer.returncode == 0, answer.stderr
    raw = output.read_bytes()
    assert raw.startswith((",".join(COLUMNS) + "\r\n").encode())
    header, *table = list(csv.reader(io.StringIO(raw.decode())))
    assert tuple(header) == COLUMNS
    by_column = [dict(zip(COLUMNS, row, strict=True)) for row in table]
    assert [int(r["position"]) for r in by_column] == list(range(1, 14))
    assert [(r["scanRef"], int(r["sequence"]), r["hash"]) for r in by_column[:10]] == [
        (ref, seq, hash_) for _, ref, seq, hash_ in stored(services)[:10]
    ]
    client_ids = [r["clientId"] for r in by_column[10:]]
    assert client_ids == [f"'{HOSTILE_CLIENT_IDS[0]}", f"'{HOSTILE_CLIENT_IDS[1]}", "'-1+1"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)
