"""Waiting on the event loop (redis.asyncio), holding no thread: job results for hooks and the
API, and the lines of a log follow for Server-Sent Events."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis
import redis.asyncio
from anyio.to_thread import run_sync as run_in_threadpool
from rq.job import Job
from rq.results import Result
from rq.serializers import JSONSerializer

from bot.core.errors import QueueUnavailable
from bot.wire import redis_url
from bot.wire.follow_control import ALIVE_TTL, alive_record, follow_key
from bot.wire.job_state import End, Line, as_str, describe, follow_entries, last_entry, result_stream
from bot.wire.queues import FINAL
from bot.wire.signing import Signer

SILENCE_CHECK = 10.0  # seconds without lines before asking whether the follow job still runs
DOWN = "Redis cannot be reached, so the job's state is unknown for now."


class Waiter:
    def __init__(self, url: str, connection: redis.Redis, key: Signer) -> None:
        # No read timeout: an XREAD BLOCK may rightly wait a minute (redis-py's default would cut it at 5 s).
        self.client = redis_url.async_client(url, socket_connect_timeout=0.8, socket_timeout=None)
        self.sync = connection  # only to build rq's Job and Result objects from what we read
        self.key = key  # seals the keep-alive of the follows it reads

    async def state(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """The job's state once it has a result (done or failed), or as it is at the timeout."""
        try:
            found = await self.client.xread({result_stream(job_id): "0-0"}, block=max(1, int(timeout * 1000)))
            raw = await self.client.hgetall(Job.key_for(job_id))
        except redis.RedisError:
            raise QueueUnavailable(DOWN) from None
        if not raw:
            return None
        # Decode what Redis sent rather than asking again from a thread: it saves a hop and two round trips.
        job = Job(job_id, connection=self.sync, serializer=JSONSerializer)
        job.restore(raw)
        result = None
        if found:
            result_id, fields = last_entry(found)
            result = Result.restore(job_id, result_id, fields, connection=self.sync, serializer=JSONSerializer)
        return describe(job, result)

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
            raise QueueUnavailable(DOWN) from None
        if not found:
            return None
        keys = found.keys() if isinstance(found, dict) else [k for k, _ in found]
        return any(as_str(k) == follow_key(job_id) for k in keys)

    async def hold(self, job_id: str) -> None:
        await self.client.set(*alive_record(self.key, follow_key(job_id)), ex=ALIVE_TTL)

    async def release(self, job_id: str) -> None:
        with contextlib.suppress(redis.RedisError):  # else it lapses by itself within ALIVE_TTL
            await self.client.delete(follow_key(job_id) + ":alive")

    async def lines(self, job_id: str) -> AsyncIterator[Line | End]:
        """The follow's lines as they come, holding it alive, until its end marker (or its job is gone)."""
        key, last, held, heard = follow_key(job_id), "0-0", time.monotonic(), time.monotonic()
        while True:
            if time.monotonic() - held > ALIVE_TTL / 3:
                await self.hold(job_id)
                held = time.monotonic()
            try:
                found = await self.client.xread({key: last}, count=1000, block=1000)
                if not found and time.monotonic() - heard > SILENCE_CHECK:
                    heard = time.monotonic()
                    status = await self.client.hget(Job.key_for(job_id), "status")
                    if as_str(status or b"gone") not in ("started", "queued"):
                        yield End("the follow job is no longer running (its worker stopped?); reconnect to resume")
                        return
            except redis.RedisError:
                yield End("Redis went away; reconnect to resume")
                return
            for entry_id, item in follow_entries(found):
                last, heard = entry_id, time.monotonic()
                if item is not None:
                    yield item
                if isinstance(item, End):
                    return

    async def close(self) -> None:
        await self.client.aclose()
