"""``ledger`` started by an operator: bad settings refused in one line, ``--dev`` ready to try."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import time
from pathlib import Path

import httpx2
import pytest

from app.bootstrap import bootstrap
from app.config import load
from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.process import CLEAN_STOP, LEDGER, Launcher, clean_environment, free_port

pytestmark = pytest.mark.process

QUICKLY_SECONDS = 10.0
UNREACHABLE_SECONDS = 30.0
KEYS = "first-signing-key"


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """An empty working directory, where the default database would go."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


def ledger(
    *args: str, environ: dict[str, str], cwd: Path, timeout: float = UNREACHABLE_SECONDS
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``ledger *args`` to its end; what it did and how long it took."""
    began = time.monotonic()
    result = subprocess.run(
        [str(LEDGER), *args],
        env=clean_environment(environ),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return result, time.monotonic() - began


def serve_args() -> tuple[str, ...]:
    return ("serve", "--port", str(free_port()))


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        pytest.param({}, "IDENFY_SIGNING_KEYS", id="no-signing-keys"),
        pytest.param({"IDENFY_SIGNING_KEYS": " , "}, "IDENFY_SIGNING_KEYS", id="empty-keys"),
        pytest.param(
            {"IDENFY_SIGNING_KEYS": KEYS, "LEDGER_DATABASE_URL": "mysql://x"},
            "LEDGER_DATABASE_URL",
            id="mysql-url",
        ),
        pytest.param(
            {"IDENFY_SIGNING_KEYS": KEYS, "LEDGER_API_KEYS": "nobody:tok"},
            "LEDGER_API_KEYS",
            id="unknown-role",
        ),
        pytest.param(
            {"IDENFY_SIGNING_KEYS": "k"}, "IDENFY_SIGNING_KEYS", id="signing-key-too-short"
        ),
        pytest.param(
            {"IDENFY_SIGNING_KEYS": KEYS, "LEDGER_API_KEYS": "auditor:short-token"},
            "LEDGER_API_KEYS",
            id="api-token-too-short",
        ),
        pytest.param(
            {"IDENFY_SIGNING_KEYS": KEYS, "LEDGER_ENCRYPTION_KEY": "not base64!"},
            "LEDGER_ENCRYPTION_KEY",
            id="encryption-key-not-base64",
        ),
        pytest.param(
            {"IDENFY_SIGNING_KEYS": KEYS, "LEDGER_ENCRYPTION_KEY": "c2hvcnQ="},
            "LEDGER_ENCRYPTION_KEY",
            id="encryption-key-too-short",
        ),
    ],
)
def test_a_bad_setting_stops_serve_with_one_line_naming_the_variable(
    environ: dict[str, str], variable: str, cwd: Path
) -> None:
    result, took = ledger(*serve_args(), environ=environ, cwd=cwd)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert took < QUICKLY_SECONDS
    assert list(cwd.iterdir()) == [], "it started half-configured: something was created"


def test_an_unreachable_postgresql_server_stops_serve_with_one_line(cwd: Path) -> None:
    environ = {
        "IDENFY_SIGNING_KEYS": KEYS,
        "LEDGER_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/ledger",
    }
    result, took = ledger(*serve_args(), environ=environ, cwd=cwd)
    lines = result.stderr.splitlines()
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert "cannot open" in lines[0]
    assert "database" in lines[0]
    assert took < UNREACHABLE_SECONDS


def printed_keys(stderr: str) -> dict[str, str]:
    keys = {}
    for line in stderr.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name in ("IDENFY_SIGNING_KEYS", "LEDGER_API_KEYS"):
            keys[name] = value
    return keys


def test_serve_dev_makes_keys_once_keeps_them_private_and_accepts_deliveries_signed_with_them(
    launcher: Launcher, cwd: Path
) -> None:
    first = launcher.start({}, args=["--dev"], cwd=cwd)
    printed = printed_keys(first.stderr())
    assert set(printed) == {"IDENFY_SIGNING_KEYS", "LEDGER_API_KEYS"}, first.stderr()
    kept = cwd / "var" / "ledger-dev-keys.json"
    assert json.loads(kept.read_text()) == printed
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    raw = encode(result_body("dev-5a7d-11ef-9c2a-0242ac120002"))
    headers = signed_headers(raw, printed["IDENFY_SIGNING_KEYS"], "IDENTIFICATION")
    answer = httpx2.post(f"{first.url}/webhooks/idenfy", content=raw, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "recorded"
    tokens = dict(pair.split(":", 1) for pair in printed["LEDGER_API_KEYS"].split(","))
    registered = httpx2.post(
        f"{first.url}/verifications",
        json={"scanRef": "dev-registered-1", "clientId": "user-1"},
        headers={"Authorization": f"Bearer {tokens['backend']}"},
    )
    assert registered.status_code == 201, registered.text
    assert first.stop() in CLEAN_STOP

    second = launcher.start({}, args=["--dev"], cwd=cwd)
    assert printed_keys(second.stderr()) == printed
    again = httpx2.post(f"{second.url}/webhooks/idenfy", content=raw, headers=headers)
    assert again.json()["result"] == "duplicate"
    assert second.stop() in CLEAN_STOP


def test_serve_dev_replaces_an_unusable_keys_file_with_a_private_one(
    launcher: Launcher, cwd: Path
) -> None:
    kept = cwd / "var" / "ledger-dev-keys.json"
    kept.parent.mkdir()
    kept.write_text("[]")
    kept.chmod(0o644)
    service = launcher.start({}, args=["--dev"], cwd=cwd)
    assert json.loads(kept.read_text()) == printed_keys(service.stderr())
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert service.stop() in CLEAN_STOP


def test_serve_dev_with_a_corrupt_keys_file_says_so_in_one_line(cwd: Path) -> None:
    kept = cwd / "var" / "ledger-dev-keys.json"
    kept.parent.mkdir()
    kept.write_text("{not json")
    result, took = ledger(*serve_args(), "--dev", environ={}, cwd=cwd)
    lines = result.stderr.splitlines()
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert "ledger-dev-keys.json" in lines[0]
    assert took < QUICKLY_SECONDS


@pytest.mark.parametrize("args", [("--help",), ("serve", "--help")], ids=["ledger", "serve"])
def test_help_is_shown_and_exits_zero(args: tuple[str, ...], cwd: Path) -> None:
    result, _ = ledger(*args, environ={}, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "Usage: ledger" in result.stdout
    assert ("--dev" in result.stdout) == ("serve" in args)


@pytest.mark.parametrize("command", [serve_args(), ("verify",), ("replay",)], ids=lambda a: a[0])
def test_a_wrong_encryption_key_stops_a_command_with_one_line(
    command: tuple[str, ...], cwd: Path
) -> None:
    database = f"sqlite:///{cwd / 'ledger.sqlite3'}"
    first = {"IDENFY_SIGNING_KEYS": KEYS, "LEDGER_DATABASE_URL": database}
    written = {**first, "LEDGER_ENCRYPTION_KEY": base64.b64encode(b"a" * 32).decode()}
    bootstrap(load(written)).close()
    other = {**first, "LEDGER_ENCRYPTION_KEY": base64.b64encode(b"b" * 32).decode()}

    result, _ = ledger(*command, environ=other, cwd=cwd)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ledger: LEDGER_ENCRYPTION_KEY: "), lines
