"""A job's answer, written the moment its outcome exists: before its Slack post and RQ's bookkeeping.

A caller that waits (a hook's or the API's `wait`, the shell, the App Home's fleet view) reads the job's
result, not its Slack message, so a job from such a source appends its result here the moment it has it,
then posts to Slack (if it replies there) and leaves RQ to record it; the waiter blocks on this stream
and RQ's result stream together and answers from whichever comes first. RQ's result follows with
`delivery` (what reached Slack) added; that one is kept, this one lapses. A slash command's job has
nobody waiting on it, so it writes none.

Like RQ's result, this is what a worker reports and is shown, never acted on: nothing the web does
depends on it but the words it returns to the caller who asked.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import redis

from bot.wire.job_state import as_str

# Seconds: past any wait (hooks wait at most 60 s) and any Slack post with its retries, when RQ's result
# holds the same; short, because each is a copy of a result that may be large.
ANSWER_TTL = 120
WAITED_SOURCES = frozenset({"hook", "api", "shell", "home"})  # whose callers may wait on a job's result


def answer_key(job_id: str) -> str:
    return f"dockerverse:answer:{job_id}"


def publish(conn: redis.Redis, job_id: str, value: dict[str, Any], ended_at: float | None = None) -> None:
    """One round trip: the answer, and its expiry."""
    with conn.pipeline(transaction=False) as pipe:
        pipe.xadd(answer_key(job_id), {"value": json.dumps(value), "at": repr(ended_at or time.time())})
        pipe.expire(answer_key(job_id), ANSWER_TTL)
        pipe.execute()


def latest(conn: redis.Redis, job_id: str) -> tuple[dict[str, Any], float] | None:
    """The job's answer if it has one (for a reader that does not wait: GET /api/jobs/{id})."""
    entries: Any = conn.xrevrange(answer_key(job_id), count=1)
    return read_entry(dict(entries[0][1])) if entries else None


def read_entry(fields: dict[Any, Any]) -> tuple[dict[str, Any], float] | None:
    """(the result, when it ended) from a stream entry; None for one that is not an answer's shape."""
    named = {as_str(k): as_str(v) for k, v in fields.items()}
    try:
        value, at = json.loads(named.get("value", "")), float(named.get("at", ""))
    except ValueError:
        return None
    # A time that is not a finite number (`nan`, `inf`) would fail the job's shape (endedAt in ms) for every reader.
    return (value, at) if isinstance(value, dict) and math.isfinite(at) else None
