"""The reaper against a real Redis and RQ's own code: the writes a worker makes when it takes a job are
made by RQ itself (a SimpleWorker that is then never run, as if SIGKILLed at that instant)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from workers.runtime import reaper

QUEUE = "dockerverse:local"


def taken_by_a_worker_that_died(conn: redis.Redis) -> Job:
    """A job a worker moved out of the queue and registered as started, then died before it marked the
    job itself (RQ's prepare_execution ran, its prepare_job_execution did not)."""
    queue = Queue(QUEUE, connection=conn, serializer=JSONSerializer)
    job = queue.enqueue("builtins.print", "never run")
    worker = SimpleWorker([queue], connection=conn, serializer=JSONSerializer, name="dead-worker-1")
    taken = queue.dequeue_any([queue], timeout=None, connection=conn, serializer=JSONSerializer)
    assert taken is not None and taken[0].id == job.id
    worker.prepare_execution(taken[0])
    assert conn.hget(job.key, "worker_name") in (None, b"")  # the job hash does not name the worker yet
    return job


def test_a_job_whose_worker_died_right_after_taking_it_runs_after_all(redis_url: str) -> None:
    """Nothing of it ran (RQ marks a job started just before running it): it goes back on its queue, once,
    and nobody is told of a failure. RQ's own clean-up would skip it, leaving it in limbo."""
    conn = redis.Redis.from_url(redis_url)
    job = taken_by_a_worker_that_died(conn)
    queue = Queue(QUEUE, connection=conn, serializer=JSONSerializer)
    assert reaper.reap(conn, Job, lambda *a: pytest.fail("a job that never began was failed")) == 1
    assert queue.job_ids == [job.id]
    assert not conn.llen(queue.key + ":intermediate") and not conn.zcard(queue.started_job_registry.key)
    assert reaper.reap(conn, Job, lambda *a: pytest.fail("settled twice")) == 0


def test_a_begun_job_whose_worker_died_is_failed_and_told_once(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    job = taken_by_a_worker_that_died(conn)
    job.set_status("started")  # RQ's prepare_job_execution ran: the job may have done something
    told: list[tuple[str, Any]] = []

    def handler(failed: Job, exc_type: type[BaseException], exc: BaseException, tb: Any) -> bool:
        told.append((failed.id, exc_type))
        return False

    assert reaper.reap(conn, Job, handler) == 1
    assert told == [(job.id, AbandonedJobError)]
    assert reaper.reap(conn, Job, handler) == 0


def test_a_live_workers_job_is_left_alone(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    taken_by_a_worker_that_died(conn)
    conn.set(reaper.ALIVE_PREFIX + "dead-worker-1", b"1", ex=15)  # it is alive after all
    assert reaper.reap(conn, Job, lambda *a: pytest.fail("reaped a live worker's job")) == 0


def test_a_job_dequeued_but_never_started_is_queued_again_once(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = redis.Redis.from_url(redis_url)
    queue = Queue(QUEUE, connection=conn, serializer=JSONSerializer)
    job = queue.enqueue("builtins.print", "not yet")
    conn.lmove(queue.key, queue.key + ":intermediate", "LEFT", "RIGHT")  # a worker's BLMOVE, then death
    monkeypatch.setattr(reaper, "LIMBO_GRACE", 0.0)
    assert reaper.rescue_limbo(conn) == 0  # first seen: a live worker may be about to start it
    assert reaper.rescue_limbo(conn) == 1
    assert reaper.rescue_limbo(conn) == 0
    assert queue.job_ids == [job.id] and not conn.llen(queue.key + ":intermediate")


def test_a_job_its_dead_worker_had_claimed_ends_unrun_and_is_told(redis_url: str) -> None:
    """Claims are never given back: a job claimed by a worker that died before beginning it is not queued
    again (a replay could otherwise reuse the claim) but failed with the reason and listed to be told."""
    from bot.wire import claims

    conn = redis.Redis.from_url(redis_url)
    job = taken_by_a_worker_that_died(conn)
    assert claims.claim_run(conn, job.id, "t1")
    assert reaper.reap(conn, Job, lambda *a: pytest.fail("a job that never began was failed as abandoned")) == 1
    queue = Queue(QUEUE, connection=conn, serializer=JSONSerializer)
    assert queue.job_ids == [] and not conn.zcard(queue.started_job_registry.key)
    job.refresh()
    assert job.get_status() == "failed" and job.meta["error"] == claims.INTERRUPTED
    assert claims.take_untold(conn) == [(job.id, "interrupted")]
    assert claims.take_untold(conn) == []  # told once
