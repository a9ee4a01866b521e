"""Checkpoints as C2SP signed notes with Ed25519 keys (``signed-note``, ``tlog-checkpoint``).

A note is text ending in a newline, a blank line, then one signature line per signer:
``— <name> <base64(key hash || signature)>``, the key hash being the first four bytes
of SHA-256(name || 0x0A || 0x01 || public key) and the signature Ed25519's over the
text. Keys are written as the Go note package writes them: a verifier
``<name>+<hex key hash>+<base64(0x01 || public key)>``, a signer
``PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || seed)>``. A checkpoint's text is
the origin, the tree size in decimal and the base64 root hash, a line each.

Nothing here touches a store: the bundle verifier uses it with no database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"
DASH = "\u2014 "
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A key, note or checkpoint that is malformed, or a signature that does not verify."""


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("not valid base64") from None


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise NoteError("a key name is not empty and has no spaces or '+'")
    return name


def key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A verifier key: who signed, and the public key to check it with."""

    name: str
    public: bytes

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public)

    def __str__(self) -> str:
        encoded = base64.b64encode(ED25519 + self.public).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise NoteError("a verifier key is <name>+<8 hex digits>+<base64 key>")
        name, hex_hash, encoded = parts
        raw = _b64decode(encoded)
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("the verifier key is not an Ed25519 key")
        verifier = cls(_check_name(name), raw[1:])
        if verifier.key_hash.hex() != hex_hash.lower():
            raise NoteError("the verifier key's hash does not match its name and key")
        return verifier

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, repr=False)
class Signer:
    """A signer key: a name and an Ed25519 private key (its 32-byte seed)."""

    name: str
    seed: bytes

    def __repr__(self) -> str:
        return f"Signer({self.name!r})"

    @classmethod
    def generate(cls, name: str) -> Signer:
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(_check_name(name), seed)

    @classmethod
    def parse(cls, text: str) -> Signer:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or len(parts[3]) != 8:
            raise NoteError("a signer key is PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>")
        raw = _b64decode(parts[4])
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("the signer key is not an Ed25519 key")
        signer = cls(_check_name(parts[2]), raw[1:])
        if signer.verifier().key_hash.hex() != parts[3].lower():
            raise NoteError("the signer key's hash does not match its name and key")
        return signer

    def __str__(self) -> str:
        encoded = base64.b64encode(ED25519 + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier().key_hash.hex()}+{encoded}"

    def verifier(self) -> Verifier:
        public = (
            Ed25519PrivateKey.from_private_bytes(self.seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        return Verifier(self.name, public)

    def sign(self, text: str) -> str:
        """The signed note of ``text`` (which ends in a newline, with no blank line)."""
        if not text.endswith("\n") or "\n\n" in text:
            raise NoteError("a note's text ends in one newline and has no blank line")
        signature = Ed25519PrivateKey.from_private_bytes(self.seed).sign(text.encode())
        line = base64.b64encode(self.verifier().key_hash + signature).decode()
        return f"{text}\n{DASH}{self.name} {line}\n"


def open_note(note: str, verifier: Verifier) -> str:
    """The text of ``note`` once ``verifier``'s signature on it checks (NoteError otherwise)."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise NoteError("the note is too large")
    text, blank, signatures = note.rpartition("\n\n")
    if not blank or not signatures.endswith("\n"):
        raise NoteError("not a signed note: no blank line before the signatures")
    text += "\n"
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("too many signatures")
    for line in lines:
        if not line.startswith(DASH):
            raise NoteError("a signature line does not start with an em dash")
        name, space, encoded = line[len(DASH) :].partition(" ")
        raw = _b64decode(encoded)
        if not space or len(raw) < 5:
            raise NoteError("a malformed signature line")
        if name == verifier.name and raw[:4] == verifier.key_hash:
            if len(raw) != 68 or not verifier.verify(text.encode(), raw[4:]):
                raise NoteError(f"the signature of {name} does not verify")
            return text
    raise NoteError(f"the note is not signed by {verifier.name}")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size and its root hash (``tlog-checkpoint``)."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint has an origin, a size and a root hash, a line each")
        origin, size, root = lines[:3]
        if not origin or not size.isascii() or not size.isdigit() or size != str(int(size)):
            raise NoteError("a checkpoint's size is a decimal number with no leading zero")
        raw = _b64decode(root)
        if len(raw) != 32:
            raise NoteError("a checkpoint's root hash is 32 bytes")
        return cls(origin, int(size), raw)

    @classmethod
    def open(cls, note: str, verifier: Verifier) -> Checkpoint:
        """The checkpoint a signed note holds, once its signature checks."""
        checkpoint = cls.parse(open_note(note, verifier))
        if checkpoint.origin != verifier.name:
            raise NoteError(f"the checkpoint's origin is not {verifier.name}")
        return checkpoint
