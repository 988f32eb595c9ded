"""The one reader of follows, as the shell runs it (Dispatcher.follow, on a loop of its own), against a
real Redis: what a worker writes to the follow stream and RQ to the result stream decides when it ends."""

from __future__ import annotations

import uuid

import redis

from bot.core.masking import mask_text
from bot.core.policy import Policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.results import STOPPED
from bot.wire.follow_control import follow_key
from bot.wire.job_state import End, Line, line_batch, result_stream
from workers.commands.follow import Batcher

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


def test_batched_entries_read_back_line_by_line_beside_old_one_line_entries(redis_url: str) -> None:
    """A batch entry (many lines, their stamps beside them) reads back as one Line each, in order with its own
    stamp, and the one-line entries an older worker wrote read as before, in the same stream."""
    conn = redis.Redis.from_url(redis_url)
    job_id = uuid.uuid4().hex
    stream = follow_key(job_id)
    conn.xadd(stream, {"start": "web"})
    conn.xadd(stream, {"ts": "2026-01-01T00:00:01.000000001Z", "line": "old worker"})
    conn.xadd(stream, line_batch(["2026-01-01T00:00:02.000000001Z", "2026-01-01T00:00:02.000000002Z"], ["a", ""]))
    conn.xadd(stream, line_batch(["2026-01-01T00:00:03.000000001Z"], ["b\rc"]))
    conn.xadd(stream, {"end": "the container stopped"})

    items, held = read_all(redis_url, job_id, conn)

    assert items == [
        Line("2026-01-01T00:00:01.000000001Z", "old worker"),
        Line("2026-01-01T00:00:02.000000001Z", "a"),
        Line("2026-01-01T00:00:02.000000002Z", ""),
        Line("2026-01-01T00:00:03.000000001Z", "b\rc"),
        End("the container stopped"),
    ]
    assert held == [1] * 5


def test_what_the_worker_batches_reads_back_whole_in_order_and_masked(redis_url: str) -> None:
    """Thousands of lines through the worker's Batcher become a few entries and read back exactly, each once,
    in order, with its stamp; a secret on one line is masked there and nowhere else changes."""
    conn = redis.Redis.from_url(redis_url)
    job_id = uuid.uuid4().hex
    out = Batcher(conn, follow_key(job_id))
    sent = [(f"2026-01-01T00:00:00.{n:09d}Z", f"line {n} padding-to-look-like-a-log-line") for n in range(5000)]
    sent[1234] = (sent[1234][0], "connecting with DB_PASSWORD=hunter22 to redis://:pw1234@cache:6379")
    for start in range(0, len(sent), 7):  # as Docker's chunks come: a few lines at a time
        out.add(sent[start : start + 7])
    out.flush(end="the container stopped")

    items, _ = read_all(redis_url, job_id, conn)

    assert conn.xlen(follow_key(job_id)) < 100  # batches, not an entry a line
    assert items[-1] == End("the container stopped") and out.sent == len(sent)
    assert [(i.stamp, i.text) for i in items[:-1] if isinstance(i, Line)] == [
        (stamp, mask_text(text)) for stamp, text in sent
    ]
    assert items[1234] == Line(sent[1234][0], "connecting with DB_PASSWORD=•••• to redis://:••••@cache:6379")
