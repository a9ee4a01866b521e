"""Frames between processes: a 4-byte big-endian length, then the body."""

from __future__ import annotations

import io
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from app.service.framing import HEADER, FrameBuffer, frame, read_frame, write_frame

BODIES = st.lists(st.binary(max_size=300), max_size=12)


def cut(stream: bytes, points: list[int]) -> list[bytes]:
    """``stream`` in pieces, cut at ``points`` (in any order, repeats allowed)."""
    edges = [0, *sorted(min(point, len(stream)) for point in points), len(stream)]
    return [stream[start:end] for start, end in itertools.pairwise(edges)]


def test_a_frame_is_its_bodys_length_in_four_big_endian_bytes_then_the_body() -> None:
    assert frame(b"") == b"\x00\x00\x00\x00"
    assert frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert frame(bytes(70_000))[:4] == b"\x00\x01\x11\x70"
    assert HEADER.size == 4


@settings(max_examples=300, deadline=None)
@given(BODIES, st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
def test_feeding_a_stream_cut_anywhere_gives_back_exactly_the_framed_bodies(
    bodies: list[bytes], points: list[int]
) -> None:
    stream = b"".join(frame(body) for body in bodies)
    frames = FrameBuffer()
    received: list[bytes] = []
    for piece in cut(stream, points):
        received.extend(frames.feed(piece))
    assert received == bodies
    assert frames.buffer == b""


@settings(max_examples=300, deadline=None)
@given(BODIES, st.binary(max_size=300), st.data())
def test_an_incomplete_last_frame_is_kept_until_the_rest_of_it_comes(
    bodies: list[bytes], last: bytes, data: st.DataObject
) -> None:
    complete = b"".join(frame(body) for body in bodies)
    tail = frame(last)
    missing = data.draw(st.integers(min_value=1, max_value=len(tail)), label="missing")
    frames = FrameBuffer()
    assert frames.feed(complete + tail[:-missing]) == bodies
    assert frames.buffer == tail[:-missing]
    if missing > 1:
        assert frames.feed(tail[-missing:-1]) == []
    assert frames.feed(tail[-1:]) == [last]
    assert frames.buffer == b""


def test_one_byte_at_a_time_gives_each_frame_when_its_last_byte_arrives() -> None:
    stream = frame(b"first") + frame(b"") + frame(b"third")
    frames = FrameBuffer()
    answers = [frames.feed(stream[i : i + 1]) for i in range(len(stream))]
    ends = {4 + 5 - 1: [b"first"], 9 + 4 - 1: [b""], len(stream) - 1: [b"third"]}
    assert answers == [ends.get(i, []) for i in range(len(stream))]


def test_several_frames_in_one_piece_come_out_in_order_with_the_start_of_the_next_kept() -> None:
    frames = FrameBuffer()
    stream = frame(b"a") + frame(b"bb") + frame(b"ccc")
    assert frames.feed(stream[:-2]) == [b"a", b"bb"]
    assert frames.feed(b"") == []
    assert frames.feed(stream[-2:]) == [b"ccc"]


@given(BODIES)
def test_frames_written_on_a_stream_read_back_whole_and_a_cut_one_reads_as_none(
    bodies: list[bytes],
) -> None:
    stream = io.BytesIO()
    for body in bodies:
        write_frame(stream, body)
    whole = stream.getvalue()
    assert whole == b"".join(frame(body) for body in bodies)
    reading = io.BytesIO(whole)
    assert [read_frame(reading) for _ in bodies] == bodies
    assert read_frame(reading) is None
    if whole:
        assert read_frame(io.BytesIO(whole[: len(frame(bodies[0])) - 1])) is None
