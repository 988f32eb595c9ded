"""Jobs whose worker died mid-run (SIGKILL, a crash, the machine gone) are failed and their person told.

Each worker process keeps `dockerverse:alive:<worker>` alive every few seconds from a thread of its
own, even while a job runs (the same thread beats for its host every 2 s: workers/runtime/host_watch.py).
Any worker, every few seconds, looks at the jobs our queues have started: one whose worker's key has
lapsed is handed to RQ's own abandoned-job clean-up, which records the failure (waiters wake) and
calls our exception handler, which tells the person who asked. Nothing is re-run: a `run` or `rm`
that may have half-happened must be looked at first.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from bot.wire import claims
from bot.wire.job_state import as_str

log = logging.getLogger(__name__)
ALIVE_PREFIX = "dockerverse:alive:"
ALIVE_TTL = 15  # seconds: a worker silent this long is dead
ALIVE_EVERY = 5.0
TICK_EVERY = 2.0  # the host's beat (bot/liveness.BEAT_EVERY)
CLAIM_PREFIX = "dockerverse:reaped:"


def keep_alive(
    conn: redis.Redis,
    worker_name: str,
    stop: threading.Event,
    registration: tuple[str, int] | None = None,
    chore: Callable[[], None] | None = None,
    tick: Callable[[], None] | None = None,
) -> threading.Thread:
    """A daemon thread that says this worker process lives, job or no job; it also keeps the worker's
    RQ registration (key, ttl) from lapsing during a long job, and does ``chore`` each time; ``tick``
    (the host's beat) it does every TICK_EVERY seconds."""

    def beat() -> None:
        every = TICK_EVERY if tick is not None else ALIVE_EVERY
        for n in itertools.count():
            if tick is not None:
                tick()
            if n % max(1, round(ALIVE_EVERY / every)) == 0:  # with a tick: every other one, 4 s
                try:
                    with conn.pipeline(transaction=False) as pipe:
                        pipe.set(ALIVE_PREFIX + worker_name, b"1", ex=ALIVE_TTL)
                        if registration:
                            pipe.expire(*registration)
                        pipe.execute()
                except redis.RedisError as exc:  # Redis away: the worker's own loop reports and reconnects
                    log.debug("alive key not written: %s", exc)
                if chore is not None:
                    chore()
            if stop.wait(every):
                return

    thread = threading.Thread(target=beat, name="alive", daemon=True)
    thread.start()
    return thread


def alive(conn: redis.Redis, worker_name: str) -> bool:
    """Whether that worker process said it lives within ALIVE_TTL."""
    return bool(conn.exists(ALIVE_PREFIX + worker_name))


def reap(conn: redis.Redis, job_class: Any, on_abandoned: Callable[..., Any]) -> int:
    """Settle the jobs of dead workers (once each, whichever worker gets there first): one that had begun
    is failed and its person told; one the worker took but never began goes back on its queue."""
    found = 0
    for raw_key in conn.scan_iter(match="rq:wip:dockerverse:*", count=100):
        key = as_str(raw_key)
        queue_key = "rq:queue:" + key.removeprefix("rq:wip:")
        dead: dict[str, int] = {}
        for raw in conn.zrange(key, 0, -1):
            entry = as_str(raw)
            job_id, _, execution_id = entry.partition(":")
            # The execution names its worker first; the job hash only from a later step, which a worker
            # killed just after taking the job never reached.
            worker = conn.hget(f"rq:execution:{job_id}:{execution_id}", "worker_name") or conn.hget(
                f"rq:job:{job_id}", "worker_name"
            )
            name = as_str(worker) if worker else None
            if not name or alive(conn, name):
                continue
            if not conn.set(CLAIM_PREFIX + job_id, b"1", nx=True, ex=3600):
                continue
            if as_str(conn.hget(f"rq:job:{job_id}", "status") or b"") == "started":
                dead[entry] = 0
                continue
            # Not begun (RQ marks a job started just before running it), so nothing of it ran: run it
            # after all (RQ's own clean-up would skip it, and nobody would ever hear of it), unless the
            # dead worker had claimed it: claims are never given back, so it ends unrun and is told.
            if not _interrupted(conn, job_id, queue_key, (key, entry)):
                requeue(conn, queue_key, job_id, started=(key, entry))
            conn.delete(CLAIM_PREFIX + job_id)
            found += 1
            log.warning("job %s was taken by dead worker %s before it began: queued again", job_id, name)
        if dead:
            conn.zadd(key, dead)  # expired now: RQ's clean-up takes them
            registry = StartedJobRegistry(
                key.removeprefix("rq:wip:"), connection=conn, job_class=job_class, serializer=JSONSerializer
            )
            registry.cleanup(exception_handlers=[on_abandoned])
            found += len(dead)
            log.warning("failed %d job(s) of dead workers on %s", len(dead), key)
    return found


def requeue(conn: redis.Redis, queue_key: str, job_id: str, started: tuple[str, str] | None = None) -> bool:
    """Put a job that never began back on its queue, out of the intermediate list (and the started
    registry entry `(key, entry)` if it has one), in one step. False when it was not in the list."""
    with conn.pipeline() as pipe:
        if started:
            pipe.zrem(*started)
        pipe.lrem(queue_key + ":intermediate", 1, job_id)
        pipe.rpush(queue_key, job_id)
        removed = pipe.execute()[-2]
    return bool(removed)


def _interrupted(conn: redis.Redis, job_id: str, queue_key: str, started: tuple[str, str] | None = None) -> bool:
    """True when the never-begun job had been claimed by its dead worker: then it is ended unrun and its
    person told (see claims.interrupt), or, when it had ended already (a replayed id), just let go."""
    if not claims.claimed(conn, job_id):
        return False
    try:
        job: Job | None = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except NoSuchJobError:
        job = None
    if job is None or not claims.interrupt(conn, job):
        log.warning("job %s was claimed before and has ended: dropped from %s unrun", job_id, queue_key)
        conn.lrem(queue_key + ":intermediate", 0, job_id)
    if started:
        conn.zrem(*started)
    return True


LIMBO_PREFIX = "dockerverse:limbo:"
LIMBO_GRACE = 10.0  # seconds: a live worker moves a job it dequeued to the started registry within milliseconds


def rescue_limbo(conn: redis.Redis) -> int:
    """Put back on their queue the jobs a worker dequeued but never started (killed, or its connection
    dropped, between RQ's BLMOVE into the queue's intermediate list and the start of the job).

    Such a job has not run a single line, so queueing it again keeps "at most once"; RQ itself would
    only fail it, silently, after its ten-minute maintenance. A job that did reach the started registry
    is the reaper's, above."""
    rescued = 0
    for raw_key in conn.scan_iter(match="rq:queue:dockerverse:*:intermediate", count=100):
        intermediate = as_str(raw_key)
        queue_key = intermediate.removesuffix(":intermediate")
        started = {
            as_str(e).split(":", 1)[0] for e in conn.zrange("rq:wip:" + queue_key.removeprefix("rq:queue:"), 0, -1)
        }
        for raw_id in conn.lrange(intermediate, 0, -1):
            job_id = as_str(raw_id)
            if job_id in started:
                continue
            seen = LIMBO_PREFIX + job_id
            if conn.set(seen, f"{time.time():.3f}", nx=True, ex=3600):
                continue  # first seen now: a live worker may be about to start it
            first = float(as_str(conn.get(seen) or b"0"))
            if time.time() - first < LIMBO_GRACE:
                continue
            if _interrupted(conn, job_id, queue_key):
                conn.delete(seen)
                continue
            if not requeue(conn, queue_key, job_id):  # another worker rescued it meanwhile: take this copy back
                conn.lrem(queue_key, -1, job_id)
                continue
            conn.delete(seen)
            rescued += 1
            log.warning("job %s was dequeued by a worker that never started it: queued again on %s", job_id, queue_key)
    return rescued
