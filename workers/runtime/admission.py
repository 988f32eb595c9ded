"""What a worker settles before it begins a job: signed for it, still fresh, and not claimed before.

``admit`` runs on the job a worker just dequeued, before RQ's bookkeeping and before any side
effect: a stale job is ended unrun (its person told), a job already claimed (a replayed id) is
dropped unrun and untouched, and otherwise this worker claims it. ``sweep`` is the housekeeping
pass every live worker makes every few seconds: jobs past their deadline that no worker took are
ended, and the channels of jobs that ended unrun are told, each once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.wire import claims
from bot.wire.payload import Payload, Unsigned, open_envelope
from bot.wire.replicas import quietly_held as replicas_hold
from bot.wire.signing import Verifier
from workers.runtime.opened import payload_of
from workers.slack.render import Outcome

log = logging.getLogger(__name__)
Deliver = Callable[[Payload, Outcome], object]


def admit(conn: redis.Redis, key: Verifier, job: Job, now: float, replicas: tuple[int, int] = (0, 0)) -> Payload | None:
    """The payload when this worker may begin the job (it is now claimed), else None (settled here).
    With ``replicas`` (how many, and the ms to wait each time) the claim must be held by that many
    replicas first, asked again until the job's deadline: a failover must not forget it.
    Raises ``Unsigned`` for a job whose payload is not ours: RQ then fails it, saying so."""
    kwargs = job.kwargs if isinstance(job.kwargs, dict) else {}
    p = payload_of(job, key, kwargs.get("payload"), kwargs.get("sig"))
    if p.stale(now):
        if not claims.expire(conn, job, p, now):
            log.warning("job %s is past its deadline and was claimed before: dropped unrun", job.id)
        return None
    token = uuid.uuid4().hex  # this attempt's: asking again after a lost reply finds its own claim
    while True:
        if not claims.claim_run(conn, job.id, token):
            log.warning("job %s was claimed before (run, expired, withdrawn or replayed): dropped unrun", job.id)
            return None
        count, wait_ms = replicas
        if replicas_hold(conn, claims.claim_key(job.id), count, wait_ms, claims.run_claim(token)):
            return p
        if p.stale(time.time()):
            if claims.expire(conn, job, p, time.time(), token):
                log.warning("job %s: its claim reached no replica before its deadline: ended unrun", job.id)
            return None
        log.warning("job %s: claim not yet on %d replica(s); asking again", job.id, count)


def sweep(conn: redis.Redis, key: Verifier, deliver: Deliver) -> None:
    """End the queued jobs whose deadline passed, then tell the channels of jobs that ended unrun."""
    now = time.time()
    for job_id in claims.due(conn, now):
        job = _fetch(conn, job_id)
        try:
            p = open_envelope(key, job.kwargs, job_id) if job else None
        except Unsigned as exc:
            log.warning("deadline list names job %s, whose payload is not ours (%s): skipped", job_id, exc)
            p = None
        if job is None or p is None or not claims.expire(conn, job, p, now):
            conn.zrem(claims.DEADLINES, job_id)  # gone, forged, or claimed meanwhile: nothing to end
    tell(conn, key, deliver)


def tell(conn: redis.Redis, key: Verifier, deliver: Deliver) -> None:
    """Post, once each, why jobs ended unrun, where their person asked."""
    for job_id, kind in claims.take_untold(conn):
        job = _fetch(conn, job_id)
        try:
            p = open_envelope(key, job.kwargs, job_id) if job else None
        except Unsigned:
            p = None
        if p is None or p.reply.channel is None:
            continue
        message = claims.expiry_message(p) if kind == "expired" else claims.INTERRUPTED
        deliver(p, Outcome(False, message, status=504 if kind == "expired" else 500))


def _fetch(conn: redis.Redis, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except NoSuchJobError:
        return None
