"""Transcodings the event store needs beyond the library's defaults."""

from __future__ import annotations

import base64

from eventsourcing.persistence import Transcoding


class BytesAsBase64(Transcoding):
    """Original payload bytes, kept exactly, inside the JSON-encoded event state."""

    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data, validate=True)
