"""A job's early answer (bot/wire/answers.py) against a real Redis: a waiter answers from it before RQ's
result exists, the job record shows it, RQ's result wins once it is there, and a malformed one is ignored."""

from __future__ import annotations

import uuid

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.core.policy import Policy
from bot.dispatch.jobs import Jobs
from bot.dispatch.results import Waiter, blocking
from bot.wire import answers
from bot.wire.signing import generate, parse_signing_key

KEY = parse_signing_key("K", generate()[0])


def started_job(conn: redis.Redis) -> Job:
    job = Job.create("workers.runtime.tasks.execute", connection=conn, serializer=JSONSerializer, id=uuid.uuid4().hex)
    job.set_status("started")
    job.save()
    return job


def wait_state(url: str, conn: redis.Redis, job_id: str, timeout: float) -> dict[str, object] | None:
    return blocking(url, conn, KEY, lambda w: Waiter.state(w, job_id, timeout))


def test_a_waiter_answers_from_the_early_answer_and_the_record_shows_it(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    job = started_job(conn)
    assert wait_state(redis_url, conn, job.id, 0.05)["status"] == "started"  # type: ignore[index]
    answers.publish(conn, job.id, {"ok": True, "summary": "3 running containers", "data": {}}, ended_at=1800000000.0)
    state = wait_state(redis_url, conn, job.id, 5)
    assert state is not None and state["status"] == "finished" and state["endedAt"] == 1800000000000
    assert state["result"] == {"ok": True, "summary": "3 running containers", "data": {}}
    assert 0 < conn.ttl(answers.answer_key(job.id)) <= answers.ANSWER_TTL
    polled = Jobs(Policy(), conn, KEY).state(job.id)
    assert polled is not None and polled["status"] == "finished" and polled["result"] == state["result"]


def test_a_failed_early_answer_reads_as_a_failed_job_with_its_summary(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    job = started_job(conn)
    answers.publish(conn, job.id, {"ok": False, "summary": "No container named `web`", "data": {}})
    state = wait_state(redis_url, conn, job.id, 5)
    assert state is not None and state["status"] == "failed" and state["error"] == "No container named `web`"


def test_a_malformed_answer_is_ignored(redis_url: str) -> None:
    """Whoever can write to Redis could write here: what does not parse as an answer is no answer."""
    conn = redis.Redis.from_url(redis_url)
    job = started_job(conn)
    conn.xadd(answers.answer_key(job.id), {"value": "not json", "at": "soon"})
    state = wait_state(redis_url, conn, job.id, 2)
    assert state is not None and state["status"] == "started" and state["result"] is None
    assert answers.read_entry({b"value": b"[1, 2]", b"at": b"1.0"}) is None
    for at in (b"nan", b"inf", b"-inf"):  # float() takes them; the job's endedAt (ms) cannot be one
        assert answers.read_entry({b"value": b'{"ok": true}', b"at": at}) is None
    assert answers.read_entry({b"value": b'{"ok": true}', b"at": b"1.5"}) == ({"ok": True}, 1.5)
