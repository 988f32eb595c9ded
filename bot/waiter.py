"""Waiting on the event loop (redis.asyncio), holding no thread: job results for hooks and the
API, and the lines of a log follow for Server-Sent Events."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from rq.job import Job
from rq.results import Result
from rq.serializers import JSONSerializer

from bot.dispatch import follow_key
from bot.errors import QueueUnavailable
from bot.jobstate import describe, last_entry, result_stream

ALIVE_TTL = 10  # seconds; the reader refreshes it every few, the follow stops soon after it lapses
DOWN = "Redis cannot be reached, so the job's state is unknown for now."


@dataclass(frozen=True)
class Line:
    stamp: str  # Docker's timestamp: the SSE event id, and where a reconnect resumes
    text: str


@dataclass(frozen=True)
class End:
    reason: str


class Waiter:
    def __init__(self, url: str, connection: redis.Redis) -> None:
        self.client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=0.8)
        self.sync = connection  # only to build rq's Job and Result objects from what we read

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
        return any(_text(k) == follow_key(job_id) for k in keys)

    async def hold(self, job_id: str) -> None:
        await self.client.set(follow_key(job_id) + ":alive", b"1", ex=ALIVE_TTL)

    async def release(self, job_id: str) -> None:
        with contextlib.suppress(redis.RedisError):  # else it lapses by itself within ALIVE_TTL
            await self.client.delete(follow_key(job_id) + ":alive")

    async def lines(self, job_id: str) -> AsyncIterator[Line | End]:
        """The follow's lines as they come, holding it alive, until its end marker."""
        key, last, held = follow_key(job_id), "0-0", time.monotonic()
        while True:
            if time.monotonic() - held > ALIVE_TTL / 3:
                await self.hold(job_id)
                held = time.monotonic()
            try:
                found = await self.client.xread({key: last}, count=1000, block=1000)
            except redis.RedisError:
                yield End("Redis went away; reconnect to resume")
                return
            if not found:
                continue
            entries: Any = next(iter(found.values())) if isinstance(found, dict) else found[0][1]
            for entry_id, raw in entries:
                last = _text(entry_id)
                fields = {_text(k): _text(v) for k, v in raw.items()}
                if "end" in fields:
                    yield End(fields["end"])
                    return
                if "line" in fields:
                    yield Line(fields["ts"], fields["line"])

    async def close(self) -> None:
        await self.client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
