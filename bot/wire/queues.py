"""What both sides agree on to reach each other: queue names, the Redis client, and shared timings."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from bot.wire import redis_url

STOP_ACTION = "dockerverse_follow_stop"  # the Stop button on a follow in Slack; its value is the follow's key
PART_WAIT = 20.0  # seconds for every host to answer a fleet-wide command's part
FINAL = frozenset({"finished", "failed", "stopped", "canceled"})  # a job in one of these states is over


# Each host's lanes, each with workers of its own, so no job holds up a `list` behind it:
# quick commands; slow ones that may wait out a container's stop grace period (`stop`, `restart`,
# `rm --force`: 10 s when it ignores SIGTERM); and long ones (log follows, pulls, fan-outs).
LANES = ("quick", "slow", "stream")


def queue_name(host: str, lane: str = "quick") -> str:
    return f"dockerverse:{host}" if lane == "quick" else f"dockerverse:{host}:{lane}"


def connect(url: str, ride_out: bool = False) -> redis.Redis:
    """A Redis client that fails fast: a slash command must be answered within 3 s. A worker's
    (``ride_out``) on Sentinel retries through a failover instead: its job in hand must be recorded."""
    patient = ride_out and redis_url.is_sentinel(url)
    return redis_url.client(
        url,
        socket_connect_timeout=0.8,
        socket_timeout=2.0,
        health_check_interval=30,
        retry=redis_url.failover_retry() if patient else Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
    )
