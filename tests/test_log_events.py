"""The SSE relay's encoding of a follow's lines: byte for byte what sse_starlette writes, one event a line."""

from __future__ import annotations

from sse_starlette import ServerSentEvent

from bot.web.log_events import encode
from bot.wire.job_state import End, Line


def test_a_batch_is_the_events_sse_starlette_writes_one_a_line() -> None:
    """Each line is its own event with its Docker timestamp as id (what Last-Event-ID resumes from), carriage
    returns split into data fields as the library splits them, and the end is an `end` event."""
    batch: list[Line | End] = [
        Line("2026-01-01T00:00:01.000000001Z", "plain"),
        Line("2026-01-01T00:00:01.000000002Z", ""),
        Line("2026-01-01T00:00:01.000000003Z", "progress 10%\rprogress 20%\r\nboth"),
        Line("", "an old entry without a stamp"),
        End("the container stopped\nreconnect"),
    ]
    expected = b"".join(
        ServerSentEvent(data=i.text, id=i.stamp).encode()
        if isinstance(i, Line)
        else ServerSentEvent(data=i.reason, event="end").encode()
        for i in batch
    )
    assert encode(batch) == expected
    assert encode([]) == b""
