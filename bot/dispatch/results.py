"""The one reader of what a job leaves in Redis: its result (for hooks, the API, the App Home, the shell
and doctor) and a log follow's lines (for Server-Sent Events and the shell).

It waits on the event loop (redis.asyncio), holding no thread; a process with no loop of its own
(the shell, doctor) runs it with ``blocking``, on a loop made for the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio
from anyio.to_thread import run_sync as run_in_threadpool
from rq.job import Job
from rq.results import Result
from rq.serializers import JSONSerializer

from bot.core.errors import QueueUnavailable
from bot.dispatch.outage import STATE_UNKNOWN
from bot.wire import answers, redis_url
from bot.wire.follow_control import ALIVE_TTL, alive_record, follow_key
from bot.wire.job_state import End, Line, as_str, describe, follow_entries, result_stream
from bot.wire.queues import FINAL
from bot.wire.signing import Signer

T = TypeVar("T")

ENTRIES_AT_ONCE = 100  # follow stream entries taken per read: each a batch of up to hundreds of lines
LINES_BLOCK_MS = 1000  # a follow's read waits at most this long, so the keep-alive is renewed in time
HOLD_EVERY = ALIVE_TTL / 3  # seconds between renewals of a follow's keep-alive
SILENCE_CHECK = 10.0  # seconds without lines before asking whether the follow job still runs
STOPPED = "the follow job is no longer running (its worker stopped?); reconnect to resume"
REDIS_GONE = "Redis went away; reconnect to resume"


def _by_stream(found: Any) -> dict[str, Any]:
    """An XREAD answer, RESP2 (list of pairs) or RESP3 (dict), as stream name -> entries."""
    pairs = found.items() if isinstance(found, dict) else (found or [])
    return {as_str(name): entries for name, entries in pairs}


class Waiter:
    def __init__(self, url: str, connection: redis.Redis, key: Signer) -> None:
        # No read timeout: an XREAD BLOCK may rightly wait a minute (redis-py's default would cut it at 5 s).
        self.client = redis_url.async_client(url, socket_connect_timeout=0.8, socket_timeout=None)
        self.sync = connection  # only to build rq's Job and Result objects from what we read
        self.key = key  # seals the keep-alive of the follows it reads

    async def state(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """The job's state once it has a result (done or failed), or as it is at the timeout."""
        # RQ's result, or the worker's early answer (bot/wire/answers.py), written ahead of a Slack post.
        rq_key, answer_key = result_stream(job_id), answers.answer_key(job_id)
        try:
            found = _by_stream(
                await self.client.xread({rq_key: "0-0", answer_key: "0-0"}, block=max(1, int(timeout * 1000)))
            )
            raw = await self.client.hgetall(Job.key_for(job_id))
        except redis.RedisError:
            raise QueueUnavailable(STATE_UNKNOWN) from None
        if not raw:
            return None
        # Decode what Redis sent rather than asking again from a thread: it saves a hop and two round trips.
        job = Job(job_id, connection=self.sync, serializer=JSONSerializer)
        job.restore(raw)
        result, answer = None, None
        if rq_key in found:
            result_id, fields = found[rq_key][-1]
            result = Result.restore(
                job_id, as_str(result_id), dict(fields), connection=self.sync, serializer=JSONSerializer
            )
        elif answer_key in found:
            answer = answers.read_entry(dict(found[answer_key][-1][1]))
        return describe(job, result, answer)

    async def settled(
        self, job_id: str, timeout: float, start_by: float, expire: Callable[[str], bool]
    ) -> dict[str, Any] | None:
        """Like ``state``, and a job nobody began by its deadline (``start_by``) is ended here, unrun,
        through ``expire`` (the dispatcher's, which claims it first), so the caller hears why at once."""
        end = time.time() + timeout
        first = min(end, start_by) if start_by else end
        state = await self.state(job_id, max(0.001, first - time.time()))
        if (state and state["status"] in FINAL) or not start_by or time.time() >= end:
            return state
        await run_in_threadpool(expire, job_id)  # False when a worker claimed it: then wait for its result
        return await self.state(job_id, max(0.001, end - time.time()))

    async def follow_started(self, job_id: str, timeout: float) -> bool | None:
        """True once the follow is reading the container; False when the job ended first (it failed,
        e.g. no such container: read its state); None at the timeout (not picked up yet)."""
        streams: dict[Any, Any] = {follow_key(job_id): "0-0", result_stream(job_id): "0-0"}
        try:
            found = await self.client.xread(streams, count=1, block=max(1, int(timeout * 1000)))
        except redis.RedisError:
            raise QueueUnavailable(STATE_UNKNOWN) from None
        if not found:
            return None
        return follow_key(job_id) in _by_stream(found)

    async def hold(self, job_id: str) -> None:
        await self.client.set(*alive_record(self.key, follow_key(job_id)), ex=ALIVE_TTL)

    async def release(self, job_id: str) -> None:
        with contextlib.suppress(redis.RedisError):  # else it lapses by itself within ALIVE_TTL
            await self.client.delete(follow_key(job_id) + ":alive")

    async def lines(self, job_id: str) -> AsyncIterator[Line | End]:
        """The follow's lines one by one (see ``batches``)."""
        async for batch in self.batches(job_id):
            for item in batch:
                yield item

    async def batches(self, job_id: str) -> AsyncIterator[list[Line | End]]:
        """The follow's lines as they come, all that one read found at a time (so a relay sends them at
        once), holding it alive, until its end marker. A job that ended without one ends them too:
        quietly if it never began (its result says why, e.g. no such container), else saying it
        stopped; so does one whose job is gone after a silence."""
        key, results = follow_key(job_id), result_stream(job_id)
        last, held, heard = "0-0", time.monotonic(), time.monotonic()
        while True:
            try:
                if time.monotonic() - held > HOLD_EVERY:
                    await self.hold(job_id)
                    held = time.monotonic()
                streams: dict[Any, Any] = {key: last, results: "0-0"}
                found = _by_stream(await self.client.xread(streams, count=ENTRIES_AT_ONCE, block=LINES_BLOCK_MS))
                if not found and time.monotonic() - heard > SILENCE_CHECK:
                    heard = time.monotonic()
                    status = await self.client.hget(Job.key_for(job_id), "status")
                    if as_str(status or b"gone") not in ("started", "queued"):
                        yield [End(STOPPED)]
                        return
            except redis.RedisError:
                yield [End(REDIS_GONE)]
                return
            entries = follow_entries({key: found[key]} if key in found else None)
            batch: list[Line | End] = []
            for entry_id, item in entries:
                last, heard = entry_id, time.monotonic()
                if isinstance(item, End):
                    yield [*batch, item]
                    return
                batch += item or ()
            if batch:
                yield batch
            if results in found and len(entries) < ENTRIES_AT_ONCE:  # every line read, and no end marker
                if last != "0-0":
                    yield [End(STOPPED)]
                return

    async def relay(self, job_id: str, each: Callable[[Line | End], None]) -> None:
        """Every line of a follow to ``each``, holding it alive from the start (the shell; the SSE relay
        in bot/web/api.py holds it before it waits for the follow to begin)."""
        try:
            await self.hold(job_id)
            async for item in self.lines(job_id):
                each(item)
        except redis.RedisError:  # the first hold (``lines`` says so itself)
            each(End(REDIS_GONE))
        finally:
            await self.release(job_id)

    async def close(self) -> None:
        await self.client.aclose()


def blocking(url: str, connection: redis.Redis, key: Signer, read: Callable[[Waiter], Awaitable[T]]) -> T:
    """``read(waiter)`` run to its end on an event loop of its own, with a connection made for the call:
    the same reader the web awaits, for a process that has no loop (Ctrl-C ends it as KeyboardInterrupt)."""

    async def run() -> T:
        waiter = Waiter(url, connection, key)
        try:
            return await read(waiter)
        finally:
            await waiter.close()

    return asyncio.run(run())
