"""A job runs at most once, and only while fresh.

Every job has a claim key in Redis, set once (SET NX) by whoever decides its fate first and kept
longer than the job itself: the worker about to begin it ("run"), or whoever finds it past its
payload's `start_by` ("expired"): the worker that dequeues it late, the housekeeping pass of any
live worker, or the web waiting on it. A job whose id is pushed back onto a queue finds its claim
taken and is dropped unrun; a job past its deadline never starts, however long its host was away.

An expired job is failed in RQ (so waiters wake with the reason), taken off its queue, and, when it
has a Slack channel, put on a list from which one worker tells that channel, once.
"""

from __future__ import annotations

import logging
from typing import Literal

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import FailedJobRegistry
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.utils import now as rq_now

from bot.core import commands as c
from bot.core.slack_text import code
from bot.core.units import format_duration
from bot.wire import fair_share
from bot.wire.payload import Payload

log = logging.getLogger(__name__)

CLAIM_PREFIX = "dockerverse:claim:"
CLAIM_TTL = 8 * 24 * 3600  # longer than a finished job's hash lives (7 days), so no replay outlives its claim
DEADLINES = "dockerverse:deadlines"  # zset: job id -> start_by, for the housekeeping pass
UNTOLD = "dockerverse:untold"  # list: expired jobs whose channel is still to be told
Verdict = Literal["run", "expired", "interrupted"]

# The one who tells a channel flips the claim from "expired" (or "interrupted") to "told": once.
_TELL_ONCE = """
local v = redis.call('GET', KEYS[1])
if v == 'expired' or v == 'interrupted' then redis.call('SET', KEYS[1], 'told', 'KEEPTTL') return v end
return false
"""


def as_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def claim_key(job_id: str) -> str:
    return CLAIM_PREFIX + job_id


def run_claim(token: str) -> str:
    """The claim's value for one attempt to begin a job: "run" and the attempt's own token, so an attempt
    that retries its claim (its reply lost in a failover) knows the claim it finds is its own."""
    return f"run:{token}"


def claim_run(conn: redis.Redis, job_id: str, token: str) -> bool:
    """Before anything of the job happens: True for the one attempt (``token``) that may run it, also
    when that attempt asks again."""
    mine = run_claim(token)
    with conn.pipeline(transaction=False) as pipe:
        pipe.set(claim_key(job_id), mine, nx=True, ex=CLAIM_TTL)
        pipe.zrem(DEADLINES, job_id)  # started in time: the housekeeping pass need not look at it
        pipe.get(claim_key(job_id))
        won, _, now_held = pipe.execute()
    return bool(won) or as_text(now_held) == mine


def expiry_message(p: Payload) -> str:
    return (
        f"Host {code(p.host)} did not pick this up within {format_duration(p.deadline)}; nothing was done "
        "(its workers are down or busy). Check `hosts`, then send the command again if it is still wanted."
    )


INTERRUPTED = (
    "The worker that took this job stopped (killed or crashed) before it began, so nothing was done. "
    "Send the command again if it is still wanted."
)


# Gives up a claim its holder never acted on (it waited for replicas past the job's deadline).
_GIVE_UP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], 'expired', 'KEEPTTL') return 1 end
return 0
"""


def expire(conn: redis.Redis, job: Job, p: Payload, now: float, token: str | None = None) -> bool:
    """Fail a job that is past its deadline and was never claimed (or claimed by the attempt ``token``,
    which never began it); True when this call did it."""
    if not p.stale(now):
        return False
    if token is not None:
        if not conn.eval(_GIVE_UP, 1, claim_key(job.id), run_claim(token)):
            return False
    elif not conn.set(claim_key(job.id), "expired", nx=True, ex=CLAIM_TTL):
        return False
    settle_unrun(conn, job, expiry_message(p))
    if isinstance(p.command, c.Logs) and p.command.follow:
        fair_share.give_back(conn, p.actor.id, p.host, p.id)  # a follow that never ran holds no slot
    late = format_duration(now - p.issued_at)
    log.warning("job %s for host %s expired unrun (%s after it was issued)", job.id, p.host, late)
    return True


def settle_unrun(conn: redis.Redis, job: Job, message: str) -> None:
    """Record that a job ended without running: failed with ``message`` for its waiters and the audit
    log, off its queue and its worker's lists, and listed for its channel (if any) to be told."""
    job.meta["error"] = job.meta["failed"] = message
    job.ended_at = rq_now()
    queue = Queue(job.origin, connection=conn)
    with conn.pipeline() as pipe:
        job.set_status(JobStatus.FAILED, pipeline=pipe)
        job.save(pipeline=pipe)
        FailedJobRegistry(job.origin, connection=conn).add(job, ttl=job.failure_ttl, exc_string=message, pipeline=pipe)
        Result.create_failure(job, job.failure_ttl, exc_string=message, pipeline=pipe)
        pipe.lrem(queue.key, 0, job.id)
        pipe.lrem(queue.intermediate_queue_key, 0, job.id)
        pipe.zrem(DEADLINES, job.id)
        pipe.rpush(UNTOLD, job.id)
        pipe.execute()


def settle_fetched(conn: redis.Redis, job_id: str, message: str) -> None:
    """``settle_unrun`` for a job known by id (gone already: nothing to settle)."""
    try:
        job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except NoSuchJobError:
        return
    settle_unrun(conn, job, message)


def claimed(conn: redis.Redis, job_id: str) -> bool:
    return bool(conn.exists(claim_key(job_id)))


def interrupt(conn: redis.Redis, job: Job) -> bool:
    """A queued job claimed by a worker that died before beginning it: it cannot run now (claims are
    never given back, or a replay could reuse one), so it ends here and its person is told."""
    held = conn.get(claim_key(job.id))
    if job.get_status(refresh=True) not in (JobStatus.QUEUED, None) or not as_text(held).startswith("run"):
        return False
    conn.set(claim_key(job.id), "interrupted", xx=True, keepttl=True)
    settle_unrun(conn, job, INTERRUPTED)
    return True


def due(conn: redis.Redis, now: float, limit: int = 200) -> list[str]:
    """Ids of queued jobs whose deadline has passed (those that started were taken off the list)."""
    return [
        i.decode() if isinstance(i, bytes) else str(i) for i in conn.zrangebyscore(DEADLINES, "-inf", now, 0, limit)
    ]


def take_untold(conn: redis.Redis, limit: int = 50) -> list[tuple[str, str]]:
    """(job id, message kind) of ended-unrun jobs this caller is now the one to tell, each once."""
    ids = conn.lpop(UNTOLD, limit) or []
    out = []
    for raw in ids:
        job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind = conn.eval(_TELL_ONCE, 1, claim_key(job_id))
        if kind:
            out.append((job_id, kind.decode() if isinstance(kind, bytes) else str(kind)))
    return out
