"""`dockerverse worker`: an RQ worker with Docker access, serving one Docker host's queue.

It is a SimpleWorker: jobs run in the worker process, so the Docker and Slack clients
stay open across jobs (about 10 ms a job, against about 200 ms for RQ's forking
Worker). Job timeouts still apply (SIGALRM), and a job's exception fails only that
job. SIGTERM is a warm shutdown: the running job finishes first.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import redis
from redis.client import Pipeline
from rq import SimpleWorker, worker_registration
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.rate_limit import release_slot
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker import WorkerStatus

from bot.core.errors import DockerverseError
from bot.core.notify import host_channels
from bot.core.policy import load_policy
from bot.core.settings import Settings
from bot.wire.payload import Payload, Unsigned
from bot.wire.queues import LANES, connect, queue_name
from bot.wire.redis_url import FAILOVER_SECONDS
from bot.wire.replicas import quietly_held as replicas_hold
from workers.alerts.watcher import start_watcher
from workers.commands.context import Context
from workers.commands.redeploy.recovery import recover
from workers.runtime import admission, reaper, tasks
from workers.runtime.failures import on_failure
from workers.runtime.host_watch import HostWatch
from workers.runtime.signed_job import SignedJob
from workers.runtime.startup import build_context
from workers.slack.render import Outcome

log = logging.getLogger(__name__)


def _deliver(ctx: Context, p: Payload, outcome: Outcome) -> None:
    tasks.deliver(ctx, p, outcome, 0.0)


class NoDependentsQueue(Queue):
    """No Dockerverse job has dependents, and one that somebody wrote into Redis must never be released by a
    job of ours finishing: RQ's read of them after every job (a round trip) is skipped."""

    def move_dependents_to_ready(self, job: Job, *args: Any, **kwargs: Any) -> dict[str, list[str]]:
        return {}


class DockerverseWorker(SimpleWorker):
    """RQ's SimpleWorker with cheaper heartbeats, and one that notices a Redis that lost it. It runs each job
    with the context it was built with (workers/commands/context.py)."""

    # Back at work within 5 s of Redis returning (RQ's default backs off to a minute).
    max_connection_wait_time = 5.0
    # Two log lines a job (taken, OK or failed), not four: the description repeats the signed payload, and
    # "result is kept for ..." the same figure every time; each line costs a masking pass.
    log_result_lifespan = False
    _last_beat = 0.0
    _last_reap = 0.0
    _last_suspension_check = 0.0
    _state_in_redis: str | None = None  # the state last written outside a pipeline
    _begun: str | None = None  # the job whose start _begin wrote

    def __init__(self, queues: list[str], context: Context, host_watch: HostWatch | None = None, **kwargs: Any) -> None:
        self.context = context
        self.host_watch = host_watch  # the host's beat, and telling of other hosts' outages
        self.on_failure = functools.partial(on_failure, context)
        super().__init__(queues, exception_handlers=[self.on_failure], log_job_description=False, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        stop = threading.Event()
        reaper.keep_alive(
            self.connection,
            self.name,
            stop,
            registration=(self.key, self.worker_ttl),
            chore=self._sweep_expired,
            tick=self.host_watch.tick if self.host_watch else None,
        )
        try:
            return bool(super().work(*args, **kwargs))
        finally:
            stop.set()

    def execute_job(self, job: Job, queue: Queue) -> None:
        # Settled before RQ marks the job started: a replayed id is dropped without touching the record of
        # its first run, and a stale job never begins.
        ctx = self.context
        try:
            admitted = admission.admit(self.connection, ctx.key, job, time.time(), ctx.replicas) is not None
        except Unsigned:
            admitted = True  # SignedJob.func refuses it inside RQ, which fails the job saying why
        if admitted:
            if isinstance(job, SignedJob):
                job.context = ctx  # what the job function runs with
            # SimpleWorker.execute_job, with the job's start in one transaction (_begin).
            execution = self._begin(job, queue)
            self.perform_job(job, queue, execution)
            self.set_state(WorkerStatus.IDLE)
            return
        self.connection.lrem(queue.intermediate_queue_key, 1, job.id)
        admission.tell(self.connection, ctx.key, functools.partial(_deliver, ctx))

    def _begin(self, job: Job, queue: Queue) -> Execution:
        """RQ starts a job in two transactions back to back: its execution record (prepare_execution), then
        the job's own start (prepare_job_execution, first thing in perform_job). Both are one here, and
        perform_job's call is skipped for this job."""
        ttl = self.get_heartbeat_ttl(job)
        with self.connection.pipeline() as pipeline:
            execution = Execution.create(job, ttl, pipeline=pipeline, worker_name=self.name)
            self.executions[execution.id] = execution
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            self.heartbeat(ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)  # status, worker, started_at, last_heartbeat
            pipeline.persist(job.key)
            if len(self.queues) == 1:  # as perform_job decides it
                pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
            pipeline.execute()
        self._begun = job.id
        return execution

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        if self._begun == job.id:
            self._begun = None  # done in _begin's transaction
            return
        super().prepare_job_execution(job, remove_from_intermediate_queue)

    def _sweep_expired(self) -> None:
        """From the keep-alive thread, every few seconds, whatever the worker is busy with."""
        try:
            admission.sweep(self.connection, self.context.key, functools.partial(_deliver, self.context))
        except redis.RedisError as exc:
            log.debug("could not look for expired jobs: %s", exc)
        except Exception:  # housekeeping must never take the worker down with it
            log.exception("looking for expired jobs failed")

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        # RQ beats five times a job, three round trips each; plain beats closer than a second apart add
        # nothing. The registration always lives worker_ttl, never a job's timeout as RQ would set it:
        # the keep-alive thread renews it every few seconds while the process lives, job or no job, so a
        # killed worker drops out of RQ's registry within worker_ttl (its host is down sooner: bot/wire/liveness.py).
        now = time.monotonic()
        if timeout is None and pipeline is None and now - self._last_beat < 1.0:
            return
        super().heartbeat(self.worker_ttl, pipeline)
        if pipeline is None:
            self._last_beat = now
            self._reregister_if_lost()
            if now - self._last_reap >= REAP_EVERY:
                self._last_reap = now
                try:
                    reaper.reap(self.connection, SignedJob, self.on_failure)
                    reaper.rescue_limbo(self.connection)
                    # A redeploy its dead worker left half-done is put back as it was.
                    recover(self.context, functools.partial(reaper.alive, self.connection))
                except redis.RedisError as exc:
                    log.warning("could not look for jobs of dead workers: %s", exc)
                except DockerverseError as exc:
                    log.warning("could not look for half-done redeploys: %s", exc.message)
                except Exception:  # housekeeping must never take the worker down with it
                    log.exception("looking for dead workers' jobs and half-done redeploys failed")

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        # RQ writes "idle" after each job and again before the next dequeue: one round trip a job for nothing.
        if pipeline is None and state == self._state_in_redis:
            self._state = state
            return
        super().set_state(state, pipeline)
        self._state_in_redis = state if pipeline is None else None

    def check_for_suspension(self, burst: bool) -> None:
        # `rq suspend` is still honoured within a second; asking Redis before every job cost a round trip each.
        now = time.monotonic()
        if now - self._last_suspension_check >= 1.0:
            self._last_suspension_check = now
            super().check_for_suspension(burst)

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: Any, execution: Execution) -> None:
        record = functools.partial(self._record_success, job, execution)
        record()
        self._until_replicated(job, "finished", record)

    def _record_success(self, job: Job, execution: Execution) -> None:
        """RQ's handle_job_success in one transaction and no other round trip: its WATCH of the job's
        dependents (no Dockerverse job has any: NoDependentsQueue) and repeat scheduling (none is ever
        enqueued; a repeat count written into Redis must not run a command again) are left out, and the
        worker's "idle" state, which RQ writes on a round trip of its own next, rides along."""
        assert job.started_at is not None and job.ended_at is not None  # set by perform_job
        result_ttl = job.get_result_ttl(self.default_result_ttl)
        with self.connection.pipeline() as pipeline:
            self.increment_successful_job_count(pipeline=pipeline)
            self.increment_total_working_time(job.ended_at - job.started_at, pipeline)
            if result_ttl != 0:
                job._handle_success(
                    result_ttl,
                    pipeline=pipeline,
                    worker_name=self.name,
                    execution_id=execution.id,
                    execution_started_at=execution.created_at,
                    execution_ended_at=job.ended_at,
                )
            job.cleanup(result_ttl, pipeline=pipeline, remove_from_queue=False)
            job._status = JobStatus.FINISHED
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            super().set_state(WorkerStatus.IDLE, pipeline)
            pipeline.execute()
        self._state_in_redis = WorkerStatus.IDLE  # so SimpleWorker's own "idle" write right after is skipped
        release_slot(job)
        self.log.info(
            "Successfully completed job %s in %ss on worker %s", job.id, job.ended_at - job.started_at, self.name
        )

    def handle_job_failure(
        self, job: Job, queue: Queue, started_job_registry: Any = None, exc_string: str = "", execution: Any = None
    ) -> None:
        record = super().handle_job_failure
        record(job, queue, started_job_registry, exc_string, execution)
        self._until_replicated(job, "failed", lambda: record(job, queue, started_job_registry, exc_string, execution))

    def _until_replicated(self, job: Job, status: str, record: Callable[[], None]) -> None:
        """A result the master acknowledged but never passed on is lost in a failover: the promoted replica
        would still show the job running, and RQ's clean-up would fail it later, telling its person a second
        time. So, with DOCKERVERSE_REDIS_REPLICAS, write it again (idempotently) until replicas hold it."""
        count, wait_ms = self.context.replicas
        deadline = time.monotonic() + 3 * FAILOVER_SECONDS
        while not replicas_hold(self.connection, Job.key_for(job.id), count, wait_ms, status, field="status"):
            if time.monotonic() > deadline:
                log.error("job %s: its %s record reached no replica in time; it may be reported again", job.id, status)
                return
            log.warning("job %s: its %s record is not on %d replica(s) yet: writing it again", job.id, status, count)
            with contextlib.suppress(redis.RedisError):
                record()

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        # RQ's version also writes the job's `last_heartbeat` field on a round trip of its own, for
        # callbacks we do not use; the success pipeline saves the whole job hash right after anyway.
        job.ended_at = now()
        job.last_heartbeat = job.ended_at

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Warm shutdown: the running job finishes, but a log follow (which could run an hour)
        ends now, with a note to its reader."""
        self.context.stopping.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def _reregister_if_lost(self) -> None:
        """After a Redis restart without persistence our registration is gone: the web would
        refuse every command for this host until the worker restarted. Register again instead."""
        if self.connection.hexists(self.key, "birth"):
            return
        log.warning("registration lost (Redis restarted?): registering worker %s again", self.name)
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, pipe)
            pipe.expire(self.key, self.worker_ttl + 60)
            pipe.execute()


REAP_EVERY = 5.0  # seconds between looks for jobs whose worker died


def build_worker(settings: Settings, host: str, lanes: tuple[str, ...] = LANES, **kwargs: Any) -> DockerverseWorker:
    connection = connect(settings.redis_url, ride_out=True)
    context = build_context(settings, host, connection)
    # Every worker beats for its host; the quick lane's (one a host) also tells of other hosts' outages.
    host_watch = HostWatch(
        connection,
        host,
        settings.down_after,
        host_channels(load_policy(settings.config_path).notify),
        context.replier,
        checks="quick" in lanes,
    )
    return DockerverseWorker(
        [queue_name(host, lane) for lane in lanes],
        context,
        host_watch,
        connection=connection,
        serializer=JSONSerializer,
        job_class=SignedJob,
        queue_class=NoDependentsQueue,
        worker_ttl=settings.worker_ttl,
        **kwargs,
    )


def run_worker(settings: Settings, host: str, lanes: tuple[str, ...] = LANES, burst: bool = False) -> None:
    """One worker process on the given lanes (all of them for --burst and tests: one job at a time, then)."""
    worker = build_worker(settings, host, lanes)
    log.info("worker %s serving Docker host %r on %s", worker.name, host, ", ".join(worker.queue_names()))
    try:
        worker.context.gateway.ping()
    except DockerverseError as exc:  # keep serving: each job reports it, and the gateway reconnects
        log.warning("%s", exc.message)
    # Docker's events are watched from the quick lane's process: one watcher a host, by a Redis lock.
    watcher = start_watcher(settings, host) if "quick" in lanes and not burst else None
    try:
        worker.work(burst=burst, logging_level=settings.log_level, with_scheduler=False)
    finally:
        if watcher is not None:
            watcher.stop()
