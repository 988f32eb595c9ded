"""What a person is told when Redis cannot be reached: nothing was queued, and what to do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis

from bot.core.errors import QueueUnavailable

REDIS_DOWN = (
    "The job queue (Redis) cannot be reached, so nothing was queued and nothing will run later. "
    "Try again in a minute; if it keeps failing, ask whoever runs Dockerverse to check Redis."
)
STATE_UNKNOWN = "Redis cannot be reached, so the job's state is unknown for now: try again shortly."


@contextlib.contextmanager
def redis_down(message: str = REDIS_DOWN) -> Iterator[None]:
    """A Redis failure inside becomes ``QueueUnavailable(message)``: a 503 with words, not a traceback."""
    try:
        yield
    except redis.RedisError:
        raise QueueUnavailable(message) from None
