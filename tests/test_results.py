"""The one reader of follows, as the shell runs it (Dispatcher.follow, on a loop of its own), against a
real Redis: what a worker writes to the follow stream and RQ to the result stream decides when it ends."""

from __future__ import annotations

import uuid

import redis

from bot.core.policy import Policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.results import STOPPED
from bot.wire.follow_control import follow_key
from bot.wire.job_state import End, Line, result_stream

KEY = "results-test-key-" + "k" * 16


def read_all(redis_url: str, job_id: str, conn: redis.Redis) -> tuple[list[Line | End], list[int]]:
    """Every item the shell would print, and whether the follow was held alive as each arrived."""
    items: list[Line | End] = []
    held: list[int] = []

    def each(item: Line | End) -> None:
        items.append(item)
        held.append(int(conn.exists(follow_key(job_id) + ":alive")))

    settings = Settings(REDIS_URL=redis_url, DOCKERVERSE_JOB_KEY=KEY)
    Dispatcher(settings, Policy(), conn).follow(job_id, each)
    return items, held


def test_a_follow_is_read_to_its_end_marker_held_alive_and_then_released(redis_url: str) -> None:
    """Lines come in order while the reader holds the follow alive; its end marker ends the read and the
    keep-alive is deleted, so the worker stops at once rather than when it lapses."""
    conn = redis.Redis.from_url(redis_url)
    job_id = uuid.uuid4().hex
    stream = follow_key(job_id)
    conn.xadd(stream, {"start": "web"})
    conn.xadd(stream, {"ts": "2026-01-01T00:00:01Z", "line": "one"})
    conn.xadd(stream, {"ts": "2026-01-01T00:00:02Z", "line": "two"})
    conn.xadd(stream, {"end": "its time limit (3s) was reached"})

    items, held = read_all(redis_url, job_id, conn)

    assert items == [
        Line("2026-01-01T00:00:01Z", "one"),
        Line("2026-01-01T00:00:02Z", "two"),
        End("its time limit (3s) was reached"),
    ]
    assert held == [1, 1, 1]
    assert not conn.exists(stream + ":alive")


def test_a_job_that_ended_before_it_streamed_ends_the_read_quietly(redis_url: str) -> None:
    """No such container: the job's result comes with nothing on the follow stream; the reader stops
    without a word, and the result (read next) says why."""
    conn = redis.Redis.from_url(redis_url)
    job_id = uuid.uuid4().hex
    conn.xadd(result_stream(job_id), {"type": "2"})

    items, _ = read_all(redis_url, job_id, conn)

    assert items == []


def test_a_job_that_ended_mid_stream_without_its_end_marker_is_said_to_have_stopped(redis_url: str) -> None:
    """A follow whose job has a result but wrote no end marker (its worker died) ends the read with
    every line it did write, then says it stopped."""
    conn = redis.Redis.from_url(redis_url)
    job_id = uuid.uuid4().hex
    conn.xadd(follow_key(job_id), {"start": "web"})
    conn.xadd(follow_key(job_id), {"ts": "2026-01-01T00:00:01Z", "line": "last words"})
    conn.xadd(result_stream(job_id), {"type": "2"})

    items, _ = read_all(redis_url, job_id, conn)

    assert items == [Line("2026-01-01T00:00:01Z", "last words"), End(STOPPED)]
