"""Whose data a payload is: the subject whose data key seals it (ADR 31)."""

from __future__ import annotations

import msgspec


def stored_name(value: str) -> str:
    """A client id or scanRef as the keys table holds it: ``%`` and NUL (which PostgreSQL
    text cannot hold) percent-encoded, so that distinct names stay distinct."""
    return value.replace("%", "%25").replace("\x00", "%00")


def name_from_stored(value: str) -> str:
    """The client id or scanRef ``stored_name`` gave ``value`` for."""
    return value.replace("%00", "\x00").replace("%25", "%")


def client_subject(client_id: str) -> str:
    return f"client:{stored_name(client_id)}"


def ref_subject(scan_ref: str) -> str:
    return f"ref:{stored_name(scan_ref)}"


def quarantine_subject(identity: str) -> str:
    """The subject of a quarantined copy that names neither a client nor a verification."""
    return f"quarantine:{identity}"


class _Names(msgspec.Struct):
    clientId: object = None
    scanRef: object = None


_names = msgspec.json.Decoder(_Names)


def subject_of(body: bytes, identity: str) -> tuple[str, str | None]:
    """The data key subject of a quarantined body (and its client): the client it names,
    else the verification it names, else the copy itself."""
    try:
        names = _names.decode(body)
    except (msgspec.DecodeError, RecursionError):
        names = _Names()
    if isinstance(names.clientId, str) and names.clientId:
        return client_subject(names.clientId), names.clientId
    if isinstance(names.scanRef, str) and names.scanRef:
        return ref_subject(names.scanRef), None
    return quarantine_subject(identity), None
