"""The verifiable log as an auditor uses it (ADR 28): over HTTP, and with the ``ledger``
command as processes, on each store."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from adapters.signed_note import Checkpoint, Signer, Verifier
from app.server import create_app
from domain import merkle
from domain.verification import Verification
from tests.support.process import LEDGER, clean_environment
from tests.support.tampering import AUDITOR, LEGACY, MANUAL, STORY, EventTable, record
from tests.support.transparency import (
    LOG_SIGNER,
    LOG_VERIFIER,
    signing_environment,
    signing_services,
)

pytestmark = pytest.mark.process
TIMEOUT_SECONDS = 60.0


def ledger(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEDGER), *args],
        env=clean_environment(signing_environment(database_url)),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def test_the_api_gives_the_checkpoint_and_proofs_that_verify_against_it(
    database_url: str,
) -> None:
    with signing_services(database_url) as services:
        record(services.ledger)
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            note = client.get("/audit/checkpoint", headers=AUDITOR)
            proof = client.get(
                "/audit/proofs/inclusion",
                params={"scanRef": MANUAL, "sequence": 3, "treeSize": 10},
                headers=AUDITOR,
            )
            subject = str(Verification.create_id(MANUAL))
            same = client.get(
                "/audit/proofs/inclusion", params={"subject": subject, "sequence": 3},
                headers=AUDITOR,
            )  # fmt: skip
            consistency = client.get(
                "/audit/proofs/consistency", params={"from": 4, "to": 10}, headers=AUDITOR
            )
            assert services.tree is not None
            early = services.tree.root(4)
            refused = client.get("/audit/checkpoint", headers={"Authorization": "Bearer x"})
            missing = client.get(
                "/audit/proofs/inclusion", params={"scanRef": MANUAL, "sequence": 9},
                headers=AUDITOR,
            )  # fmt: skip
            bad = client.get("/audit/proofs/consistency", params={"from": 5, "to": 4},
                             headers=AUDITOR)  # fmt: skip
            zipped = client.get(f"/audit/bundles/{MANUAL}", headers=AUDITOR)

    assert note.status_code == 200
    assert note.headers["content-type"].startswith("text/plain")
    checkpoint = Checkpoint.open(note.text, LOG_SIGNER.verifier())
    assert checkpoint.size == 10
    body = proof.json()
    assert proof.status_code == 200
    assert same.json() == body
    assert body["treeSize"] == 10
    assert merkle.verify_inclusion(
        bytes.fromhex(body["leafHash"]), body["leafIndex"], 10,
        [bytes.fromhex(h) for h in body["hashes"]], checkpoint.root,
    )  # fmt: skip
    hashes = [bytes.fromhex(h) for h in consistency.json()["hashes"]]
    assert consistency.json()["from"] == 4
    assert merkle.verify_consistency(4, 10, early, checkpoint.root, hashes)
    assert refused.status_code == 401
    assert (missing.status_code, bad.status_code) == (404, 422)
    assert zipped.status_code == 200
    assert zipped.headers["content-type"] == "application/zip"


def test_an_auditor_saves_a_checkpoint_proves_the_ledger_extends_it_and_checks_a_bundle(
    database_url: str, tmp_path: Path
) -> None:
    with signing_services(database_url) as services:
        record(services.ledger, STORY[:6])
    saved, bundle = tmp_path / "checkpoint.txt", tmp_path / "bundle.zip"

    made = ledger(database_url, "checkpoint", "--save", str(saved))
    with signing_services(database_url) as services:
        record(services.ledger, STORY[6:])
    extends = ledger(database_url, "verify", "--checkpoint", str(saved))
    bundled = ledger(database_url, "bundle", LEGACY, "--output", str(bundle))
    valid = ledger(database_url, "verify-bundle", str(bundle), "--key", LOG_VERIFIER)
    other_key = str(Signer.generate("ledger.test/log").verifier())
    wrong_key = ledger(database_url, "verify-bundle", str(bundle), "--key", other_key)
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    bundle.write_bytes(bytes(data))
    changed = ledger(database_url, "verify-bundle", str(bundle), "--key", LOG_VERIFIER)
    gone = ledger(database_url, "verify-bundle", str(tmp_path / "none.zip"))

    assert made.returncode == 0, made.stderr
    assert saved.read_text() == made.stdout
    assert Checkpoint.open(made.stdout, Verifier.parse(LOG_VERIFIER)).size == 5
    assert extends.returncode == 0, extends.stdout + extends.stderr
    assert "extends: the checkpoint of 5 events" in extends.stdout
    assert bundled.returncode == 0, bundled.stderr
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert "valid: 2 events of" in valid.stdout
    assert (wrong_key.returncode, changed.returncode, gone.returncode) == (1, 1, 2)


def test_verify_against_a_checkpoint_exits_1_after_a_rewrite_and_2_for_a_bad_file(
    database_url: str, tmp_path: Path
) -> None:
    with signing_services(database_url) as services:
        record(services.ledger)
    saved = tmp_path / "checkpoint.txt"
    assert ledger(database_url, "checkpoint", "--save", str(saved)).returncode == 0
    forged = tmp_path / "forged.txt"
    forged.write_text(saved.read_text().replace("\n10\n", "\n9\n"))

    EventTable(database_url).delete(MANUAL, 4)
    cut = ledger(database_url, "verify", "--checkpoint", str(saved))
    refused = ledger(database_url, "verify", "--checkpoint", str(forged))

    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert "events were removed" in cut.stdout
    assert refused.returncode == 2


@pytest.mark.parametrize("name", ["log.example/one", "x"])
def test_keygen_prints_a_signer_and_its_verifier(sqlite_url: str, name: str) -> None:
    made = ledger(sqlite_url, "checkpoint", "keygen", name)

    signer_line, verifier_line = made.stdout.splitlines()
    assert made.returncode == 0
    assert str(Signer.parse(signer_line).verifier()) == verifier_line
    assert verifier_line.startswith(f"{name}+")
    assert len(base64.b64decode(verifier_line.split("+", 2)[2])) == 33
