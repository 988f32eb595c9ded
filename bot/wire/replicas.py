"""Acknowledge only what a replica holds, so a Redis failover loses no acknowledged command.

Redis replicates asynchronously: a master killed a moment after it answered "queued" may take the
job with it, and the replica promoted in its place never saw it. With
``DOCKERVERSE_REDIS_REPLICAS=N`` the web says "queued" only after N replicas hold the job, and a
worker begins a job only after N replicas hold its claim (else a promoted replica, not knowing the
job was claimed, would hand it out again and it would run twice).

WAIT counts from the last write of the connection it is sent on, and a pooled client may send the
next command on another connection (or, after a failover, to another server). So the check is one
pipeline on one connection: a script that writes a fence only if the key we care about is there,
with the value we expect, then WAIT for that write.
"""

from __future__ import annotations

import contextlib
import logging

import redis

from bot.core.errors import QueueUnavailable
from bot.wire import claims

log = logging.getLogger(__name__)

FENCE = "dockerverse:fence"
# Writes (and so replicates) only on the server that holds KEYS[1] (= ARGV[1] when given; a hash's
# field ARGV[2] = ARGV[1] when that is given too).
_FENCE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] then
  local v
  if ARGV[2] then v = redis.call('HGET', KEYS[1], ARGV[2]) else v = redis.call('GET', KEYS[1]) end
  if v ~= ARGV[1] then return 0 end
end
return redis.call('INCR', KEYS[2])
"""


def held(
    conn: redis.Redis, key: str, replicas: int, timeout_ms: int, value: str | None = None, field: str | None = None
) -> bool:
    """True when ``key`` (holding ``value``, or with ``field`` = ``value`` for a hash) is on this master and
    on ``replicas`` replicas; False when it is not so or not replicated within ``timeout_ms``. Raises
    ``redis.RedisError``."""
    if replicas <= 0:
        return True
    args = [a for a in (value, field) if a is not None]
    with conn.pipeline(transaction=False) as pipe:
        pipe.eval(_FENCE_SCRIPT, 2, key, FENCE, *args)
        pipe.wait(replicas, timeout_ms)
        here, acked = pipe.execute()
    return bool(here) and int(acked) >= replicas


class Withdrawn(QueueUnavailable):
    """The job was taken back before any worker claimed it: it will not run."""


def unconfirmed(replicas: int, timeout_ms: int) -> str:
    return (
        f"Redis did not confirm within {timeout_ms} ms that {replicas} replica(s) hold this job (Redis may be "
        "failing over), so it was withdrawn and will not run. Send the command again in a few seconds."
    )


UNKNOWN = (
    "Redis failed while this job was being confirmed (it may be failing over), so whether it runs is not "
    "known: check `GET /api/jobs/{id}` (or the channel) in a minute before sending it again."
)


def confirm_enqueued(conn: redis.Redis, job_id: str, replicas: int, timeout_ms: int) -> None:
    """Return when the queued job is safe on ``replicas`` replicas (or a worker already claimed it);
    else withdraw it and raise ``Withdrawn``, or ``QueueUnavailable`` when its fate is unknown."""
    try:
        if held(conn, f"rq:job:{job_id}", replicas, timeout_ms):
            return
        # Withdrawn by taking its claim first: no worker begins it. A worker that claimed it already holds
        # it and confirms its own claim before running it, so it will be answered: acknowledge it.
        if not conn.set(claims.claim_key(job_id), "withdrawn", nx=True, ex=claims.CLAIM_TTL):
            return
        claims.settle_fetched(conn, job_id, unconfirmed(replicas, timeout_ms))
    except redis.RedisError as exc:
        log.warning("job %s: enqueue not confirmed on %d replica(s): %s", job_id, replicas, exc)
        raise QueueUnavailable(UNKNOWN.replace("{id}", job_id)) from None
    log.warning("job %s: not on %d replica(s) within %d ms: withdrawn", job_id, replicas, timeout_ms)
    raise Withdrawn(unconfirmed(replicas, timeout_ms))


def quietly_held(
    conn: redis.Redis, key: str, replicas: int, timeout_ms: int, value: str, field: str | None = None
) -> bool:
    """``held``, with a Redis error counted as "not yet" (the caller tries again)."""
    with contextlib.suppress(redis.RedisError):
        return held(conn, key, replicas, timeout_ms, value, field)
    return False
