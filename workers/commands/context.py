"""What every command handler is given besides its command: the worker's clients, keys and switches.

The worker builds one ``Context`` when it starts (workers/runtime/startup.py) and keeps it for
its life; each job runs with a copy naming that job's worker and time limit. It is defined here,
below the runtime, because the handlers take it as a parameter and the runtime calls the handlers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from dataclasses import dataclass, field

import redis
from rq.job import Job

from bot.core.plain_text import plain
from bot.wire import liveness
from bot.wire.signing import Signer, Verifier
from workers.alerts.quiet import QuietMarks
from workers.docker.gateway import DockerGateway
from workers.slack.reply import Session, SlackReplier

DEFAULT_TIMEOUT = 3600  # seconds: RQ's limit for a job enqueued without one


class Progress:
    """What the running job shows while it runs (a pull's layer totals): on its Slack message when it
    has one, and in the job's meta as plain text (at most every SAVE_EVERY seconds), where
    GET /api/jobs/{id} shows it as `progress` (the dashboard's live pull). A worker runs one job at a
    time, so one slot is enough; it is empty between jobs."""

    SAVE_EVERY = 0.5

    def __init__(self) -> None:
        self.session: Session | None = None
        self.job: Job | None = None
        self._saved = 0.0  # when this job's progress was last saved

    def begin(self, job: Job | None, session: Session | None) -> None:
        self.job, self.session, self._saved = job, session, 0.0

    def end(self) -> None:
        self.job = self.session = None

    def report(self, text: str) -> None:
        """Show progress on the job's Slack message (throttled), and keep it with the job."""
        if self.session is not None:
            self.session.progress(text)
        now = time.monotonic()
        if self.job is None or now - self._saved < self.SAVE_EVERY:
            return
        self._saved = now
        self.job.meta["progress"] = plain(text)
        with contextlib.suppress(redis.RedisError):  # progress is for show: the job goes on without it
            self.job.save_meta()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Context:
    gateway: DockerGateway
    conn: redis.Redis
    key: Verifier  # checks the web's signatures; a worker has no key that signs jobs
    seal: Signer  # this machine's own key, for records only its workers read (bot/wire/job_keys.local_sealer)
    replier: SlackReplier | None  # None without SLACK_BOT_TOKEN
    marks: QuietMarks  # stop, restart and rm mark what they stop: no alert
    progress: Progress = field(default_factory=Progress)
    stopping: threading.Event = field(default_factory=threading.Event)  # SIGTERM: log follows end early
    down_after: float = liveness.DOWN_AFTER  # DOCKERVERSE_DOWN_AFTER: fan-outs skip hosts down this long
    replicas: tuple[int, int] = (0, 0)  # replicas that must hold a claim before a job begins, and ms to wait
    worker: str = ""  # the RQ worker running the job: a redeploy's journal names it
    timeout: int = DEFAULT_TIMEOUT  # the job's limit in seconds: a redeploy keeps room in it to roll back

    @property
    def host(self) -> str:
        return self.gateway.host_name

    def for_job(self, worker: str, timeout: float | None) -> Context:
        """This worker's context, naming the job's worker and time limit."""
        return dataclasses.replace(self, worker=worker, timeout=int(timeout or DEFAULT_TIMEOUT))
