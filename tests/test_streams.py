"""Docker's multiplexed log stream, demultiplexed as the follow reads it: whatever the chunking, the same bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import DockerUnavailable
from workers.docker.streams import dechunk, demux


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


@given(
    st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=40)), max_size=20),
    st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=60),
)
def test_frames_cut_anywhere_come_out_whole_and_in_order(frames: list[tuple[int, bytes]], cuts: list[int]) -> None:
    """Frames split across reads at any byte (a header too) give every payload once, in order, stdout and
    stderr alike; a read of whole frames comes out as one chunk."""
    wire = b"".join(frame(s, p) for s, p in frames)
    chunks, pos = [], 0
    for cut in cuts * (len(wire) // sum(cuts) + 1):
        chunks.append(wire[pos : pos + cut])
        pos += cut
    out = list(demux(iter(c for c in chunks if c)))
    assert b"".join(out) == b"".join(p for _, p in frames)
    assert list(demux(iter([wire]))) == ([b"".join(p for _, p in frames)] if wire else [])


@given(
    st.lists(st.binary(min_size=1, max_size=300), max_size=12),
    st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40),
)
def test_a_chunked_body_read_in_any_pieces_is_its_data_in_order(chunks: list[bytes], cuts: list[int]) -> None:
    """HTTP chunking (sizes in hex, CRLFs, a chunk extension) cut at any byte gives the body's data, and the
    zero-size last chunk ends it even when more bytes follow."""
    wire = b"".join(f"{len(c):x};ext=1\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\nnot ours"
    pieces, pos = [], 0
    while pos < len(wire):
        cut = cuts[len(pieces) % len(cuts)]
        pieces.append(wire[pos : pos + cut])
        pos += cut
    assert b"".join(dechunk(iter(pieces))) == b"".join(chunks)


@pytest.mark.parametrize("size", [b"-5", b"+5", b"zz", b""])
def test_a_malformed_chunk_size_stops_the_read_saying_so(size: bytes) -> None:
    """A size that is not hex (int() would accept a sign, and a negative size would loop) is refused."""
    with pytest.raises(DockerUnavailable, match="malformed"):
        list(dechunk(iter([b"3\r\nabc\r\n" + size + b"\r\nxxxxx\r\n"])))
