"""Docker's multiplexed log stream, demultiplexed as the follow reads it: whatever the chunking, the same bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workers.docker.streams import demux


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
