"""A log follow's lines as Server-Sent Events, all the lines of one read in one chunk.

Each line is still its own event whose id is its Docker timestamp, so a client that reconnects with
Last-Event-ID resumes after the last line it saw; the end is an `end` event. The bytes are what
sse_starlette's ServerSentEvent writes for the same event, but a chatty container's thousands of
lines a second cost one string join and one send per read rather than an object and a send each.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.wire.job_state import End, Line

SEP = "\r\n"  # sse_starlette's default separator, which EventSourceResponse uses
_BREAKS = re.compile(r"\r\n|\r|\n")  # as ServerSentEvent splits data: one `data:` field per part


def encode(batch: Sequence[Line | End]) -> bytes:
    out: list[str] = []
    for item in batch:
        if isinstance(item, Line):
            out.append(f"id: {_BREAKS.sub('', item.stamp)}{SEP}")
            data = item.text
        else:
            out.append(f"event: end{SEP}")
            data = item.reason
        parts = _BREAKS.split(data) if "\r" in data or "\n" in data else (data,)
        out.extend(f"data: {part}{SEP}" for part in parts)
        out.append(SEP)
    return "".join(out).encode()
