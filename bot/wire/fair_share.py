"""Fair share of a host's stream workers: log follows (Slack, the shell, SSE) are long jobs.

Two viewers asking for `logs --follow 60m` used to hold every stream worker of a host for an hour,
so pulls and redeploys waited behind them. Each follow now takes a slot before it is queued: at most
``rate_limits.follows`` per actor, and never every stream worker of its host (one is always left for
pulls, redeploys and fan-outs). A slot is given back when the follow ends (worker), when its job
expires unrun, or at the latest at its own bound (deadline + duration), so a crashed worker leaks none.
"""

from __future__ import annotations

from typing import Literal

import redis

ACTOR_SLOTS = "dockerverse:follows:actor:"  # zset per actor: job id -> Unix time the slot lapses
HOST_SLOTS = "dockerverse:follows:host:"  # zset per host, the same
GRACE = 120.0  # seconds past a follow's own end before its slot lapses by itself

# One round trip, atomic: drop lapsed slots, check both caps, take the slot in both sets.
_TAKE = """
local now, lapse = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 'actor' end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 'host' end
redis.call('ZADD', KEYS[1], lapse, ARGV[3])
redis.call('ZADD', KEYS[2], lapse, ARGV[3])
local ttl = math.ceil(lapse - now)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return 'ok'
"""

Refusal = Literal["actor", "host"]


def host_cap(stream_workers: int) -> int:
    """Follows a host may run at once: all its stream workers but one."""
    return max(0, stream_workers - 1)


def take(
    conn: redis.Redis, actor: str, host: str, job_id: str, now: float, until: float, actor_cap: int, cap: int
) -> Refusal | None:
    """Take a follow slot for ``job_id`` until ``until``; the cap that refused it, else None."""
    got = conn.eval(_TAKE, 2, ACTOR_SLOTS + actor, HOST_SLOTS + host, now, until, job_id, actor_cap, cap)
    answer = got.decode() if isinstance(got, bytes) else str(got)
    if answer == "ok":
        return None
    return "actor" if answer == "actor" else "host"


def give_back(conn: redis.Redis | redis.client.Pipeline, actor: str, host: str, job_id: str) -> None:
    conn.zrem(ACTOR_SLOTS + actor, job_id)
    conn.zrem(HOST_SLOTS + host, job_id)


def held(conn: redis.Redis, actor: str, now: float) -> int:
    """Follows the actor holds now (for messages and tests)."""
    return int(conn.zcount(ACTOR_SLOTS + actor, f"({now}", "+inf"))
