"""Checkpoints as C2SP signed notes: the Go note package's published example, keys,
and notes that must not open."""

from __future__ import annotations

import base64
import hashlib

import pytest

from adapters.signed_note import Checkpoint, NoteError, Signer, Verifier, open_note

# The example of Go's golang.org/x/mod/sumdb/note documentation.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
    "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_the_go_note_packages_example_is_signed_and_opened_byte_for_byte() -> None:
    signer = Signer.parse(GO_SIGNER)

    assert str(signer) == GO_SIGNER
    assert str(signer.verifier()) == GO_VERIFIER
    assert signer.sign(GO_TEXT) == GO_NOTE
    assert open_note(GO_NOTE, Verifier.parse(GO_VERIFIER)) == GO_TEXT


def test_the_key_hash_is_the_first_four_bytes_of_sha256_of_name_newline_type_and_key() -> None:
    verifier = Verifier.parse(GO_VERIFIER)
    public = base64.b64decode(GO_VERIFIER.rsplit("+", 1)[1])[1:]

    expected = hashlib.sha256(b"PeterNeumann\n\x01" + public).digest()[:4]

    assert verifier.key_hash == expected == bytes.fromhex("c74f20a3")


def test_a_new_key_signs_checkpoints_its_verifier_opens() -> None:
    signer = Signer.generate("ledger.example/log")
    text = Checkpoint("ledger.example/log", 42, bytes(range(32))).text()

    note = signer.sign(text)
    opened = Checkpoint.open(note, Verifier.parse(str(signer.verifier())))

    assert text == f"ledger.example/log\n42\n{base64.b64encode(bytes(range(32))).decode()}\n"
    assert opened == Checkpoint("ledger.example/log", 42, bytes(range(32)))
    assert Signer.parse(str(signer)).verifier() == signer.verifier()


@pytest.mark.parametrize(
    "edit",
    [
        lambda note: note.replace("\n42\n", "\n43\n"),
        lambda note: note.replace("ledger.example/log\n", "ledger.example/other\n", 1),
        lambda note: note.replace("\n\n", "\n"),
        lambda note: note[:-6] + ("A" if note[-6] != "A" else "B") + note[-5:],
        lambda note: note.replace("\u2014", "-"),
    ],
    ids=["size", "origin", "no-blank-line", "signature", "dash"],
)
def test_an_edited_checkpoint_does_not_open(edit: object) -> None:
    signer = Signer.generate("ledger.example/log")
    note = signer.sign(Checkpoint("ledger.example/log", 42, bytes(32)).text())
    assert callable(edit)

    with pytest.raises(NoteError):
        Checkpoint.open(edit(note), signer.verifier())


def test_a_checkpoint_signed_by_another_key_does_not_open() -> None:
    note = Signer.generate("log").sign(Checkpoint("log", 1, bytes(32)).text())

    with pytest.raises(NoteError, match="not signed by"):
        open_note(note, Signer.generate("log").verifier())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "PRIVATE+KEY+name+c74f20a3",
        "PRIVATE+KEY+PeterNeumann+00000000+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        GO_VERIFIER,
    ],
)
def test_malformed_signer_keys_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        Signer.parse(text)
