"""Transcodings the event store needs beyond the library's defaults."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
from eventsourcing.persistence import JSONTranscoder, Transcoding


class BytesAsBase64(Transcoding):
    """Original payload bytes, kept exactly, inside the JSON-encoded event state."""

    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data, validate=True)


class FastJSONTranscoder(JSONTranscoder):
    """The library's JSON transcoder, decoding with msgspec.

    Events are encoded exactly as the library encodes them; decoding parses the JSON
    with msgspec and then restores the registered types (``{"_type_", "_data_"}``
    objects), which gives the same values several times faster.
    """

    def decode(self, data: bytes) -> Any:
        return self._restore(_decoder.decode(data))

    def _restore(self, value: Any) -> Any:
        if type(value) is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._decode_obj({**value, "_data_": self._restore(value["_data_"])})
            return {
                key: self._restore(item) if type(item) in _CONTAINERS else item
                for key, item in value.items()
            }
        if type(value) is list:
            return [self._restore(item) if type(item) in _CONTAINERS else item for item in value]
        return value


_CONTAINERS = (dict, list)
_decoder = msgspec.json.Decoder()
