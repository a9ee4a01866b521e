"""Frames between the service's processes: a 4-byte big-endian length, then the body.

The replay's reader process sends its batches this way on a pipe (``write_frame``,
``read_frame``); the server and its writer process send deliveries and receipts this
way on a socket pair (``frame``, and ``FrameBuffer`` for a stream that arrives in
pieces).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import IO, cast

HEADER = struct.Struct(">I")


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def write_frame(stream: IO[bytes], body: bytes) -> None:
    """``body`` framed on ``stream``, without copying a large body into one buffer."""
    stream.write(HEADER.pack(len(body)))
    stream.write(body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes | None:
    """One frame's body, or None when the stream ends before it is whole."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    body = stream.read(size)
    return body if len(body) == size else None


class FrameBuffer:
    """Frames out of a byte stream, however it is cut."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The frames ``data`` completes; an incomplete tail waits for the next feed."""
        self.buffer += data
        frames, start, end = [], 0, len(self.buffer)
        while end - start >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer, start)
            if end - start - HEADER.size < size:
                break
            start += HEADER.size
            frames.append(bytes(self.buffer[start : start + size]))
            start += size
        del self.buffer[:start]
        return frames


class FrameLink(asyncio.Protocol):
    """One end of the socket pair, as an asyncio protocol: frames in, a callback each."""

    def __init__(self, on_frame: Callable[[bytes], None], on_lost: Callable[[], None]):
        self.frames = FrameBuffer()
        self.on_frame = on_frame
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio's classes; they behave alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        for body in self.frames.feed(data):
            self.on_frame(body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost()
