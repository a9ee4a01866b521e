"""Evidence bundles: one verification's events, each with an inclusion proof against a
signed checkpoint, in a zip an auditor checks offline (``ledger verify-bundle``).

The zip holds, in this order: ``README.md`` (how to check it by hand),
``checkpoint.txt`` (the signed note), ``verifier.txt`` (the verifier key),
``events.json`` and ``payloads/<sequence>.bin`` for each event with a payload. It is
written one way only (stored entries, fixed times and attributes, sorted-key JSON),
and the verifier writes it again from what it read and demands the same bytes, so that
a change of any byte of the file is found, not only of what the proofs cover.

Nothing here reads a store: this module imports only the stdlib, the pure Merkle tree
and hash chain, and the signed-note format.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

from adapters.evidence_readme import README
from adapters.signed_note import Checkpoint, NoteError, Verifier
from domain import merkle

FORMAT = "verification-ledger bundle v1"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PARTS = ("README.md", "checkpoint.txt", "verifier.txt", "events.json")


class BundleError(ValueError):
    """The file is not a bundle this verifier can read at all."""


def _encode_json(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode()


def write(
    manifest: dict[str, Any], checkpoint: str, verifier: str, payloads: dict[int, bytes]
) -> bytes:
    """The bundle's bytes: ``manifest`` becomes ``events.json``."""
    entries = [
        ("README.md", README.encode()),
        ("checkpoint.txt", checkpoint.encode()),
        ("verifier.txt", (verifier + "\n").encode()),
        ("events.json", _encode_json(manifest)),
        *((f"payloads/{seq}.bin", payloads[seq]) for seq in sorted(payloads)),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def verify(data: bytes, key: Verifier | None = None) -> tuple[list[str], dict[str, Any]]:
    """(problems, summary): an empty list means every check held. ``key`` must have
    signed the checkpoint when given; otherwise the bundle's own verifier key is used."""
    try:
        files = _read(data)
    except Exception as error:  # a changed byte can break a zip any way zipfile knows
        return [f"not a readable bundle ({type(error).__name__}: {error})"], {}
    missing = [name for name in PARTS if name not in files]
    if missing:
        return [f"the bundle lacks {', '.join(missing)}"], {}
    problems = _form(data, files)
    try:
        verifier = Verifier.parse(files["verifier.txt"].decode())
        if key is not None and str(verifier) != str(key):
            problems.append("the bundle names another verifier key than the one given")
            verifier = key
        checkpoint = Checkpoint.open(files["checkpoint.txt"].decode(), verifier)
        manifest = json.loads(files["events.json"])
    except (NoteError, UnicodeDecodeError, ValueError) as error:
        return [*problems, f"the checkpoint does not verify: {error}"], {}
    try:
        problems.extend(_events(manifest, checkpoint, files))
    except Exception as error:  # whatever shape a changed events.json has
        problems.append(f"events.json is not as written ({type(error).__name__}: {error})")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("events"), list):
        return [*problems, "events.json is not as written"], {}
    summary = {"scanRef": manifest.get("scanRef"), "events": len(manifest["events"]),
               "treeSize": checkpoint.size, "verifier": str(verifier)}  # fmt: skip
    return problems, summary


def _read(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _form(data: bytes, files: dict[str, bytes]) -> list[str]:
    """Whether the file is exactly what the writer makes of its contents."""
    problems = []
    if files.get("README.md") != README.encode():
        problems.append("README.md is not the bundle's README")
    try:
        manifest = json.loads(files["events.json"])
        payloads = {int(name[9:-4]): value for name, value in files.items()
                    if name.startswith("payloads/") and name.endswith(".bin")}  # fmt: skip
        again = write(manifest, files["checkpoint.txt"].decode(),
                      files["verifier.txt"].decode().removesuffix("\n"), payloads)  # fmt: skip
    except Exception as error:  # a part changed beyond reading
        return [*problems, f"a part of the bundle is malformed ({type(error).__name__})"]
    if again != data:
        problems.append("the zip is not in the form the ledger writes (a byte was changed)")
    return problems


def _events(manifest: dict[str, Any], checkpoint: Checkpoint, files: dict[str, bytes]) -> list[str]:
    problems = []
    if manifest["format"] != FORMAT:
        problems.append(f"unknown bundle format {manifest['format']!r}")
    previous = None
    for number, entry in enumerate(manifest["events"], start=1):
        sequence, where = int(entry["sequence"]), f"sequence {entry['sequence']}"
        record = str(entry["record"]).encode("ascii")
        fields = json.loads(record)
        event_hash = hashlib.sha256(record).hexdigest()
        if sequence != number or fields.get("originator_version") != sequence:
            problems.append(f"{where}: events missing or out of order")
        if event_hash != entry["hash"] or fields.get("scan_ref") != manifest["scanRef"]:
            problems.append(f"{where}: the recorded fields do not match the event's hash")
        if fields.get("prev_hash") != previous:
            problems.append(f"{where}: prevHash does not match the previous event's hash")
        previous = entry["hash"]
        payload = files.get(f"payloads/{sequence}.bin")
        if payload is not None and hashlib.sha256(payload).hexdigest() != fields.get(
            "payload_sha256"
        ):
            problems.append(f"{where}: the payload does not match its SHA-256")
        proof = entry["inclusion"]
        leaf = merkle.leaf_hash(bytes.fromhex(event_hash))
        path = [bytes.fromhex(value) for value in proof["hashes"]]
        if int(proof["treeSize"]) != checkpoint.size or not merkle.verify_inclusion(
            leaf, int(proof["leafIndex"]), checkpoint.size, path, checkpoint.root
        ):
            problems.append(f"{where}: the inclusion proof does not lead to the checkpoint")
    return problems
