"""A job once queued: its state as the API shows it (to whoever asked it, or the top role), ending it
unrun when nobody began it by its deadline, and the Stop button of a log follow."""

from __future__ import annotations

import re
import time
from typing import Any

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from bot.core.errors import CommandError, PolicyError
from bot.core.policy import Actor, Policy
from bot.dispatch.outage import STATE_UNKNOWN, redis_down
from bot.wire import answers, claims
from bot.wire.follow_control import STOP_TTL, follow_key, stop_record
from bot.wire.job_state import describe
from bot.wire.payload import Unsigned, open_envelope
from bot.wire.signing import Signer

JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the ids we issue (and RQ refuses others outright)


class Jobs:
    def __init__(self, policy: Policy, connection: redis.Redis, key: Signer) -> None:
        self.policy = policy
        self.redis = connection
        self.key = key

    def state(self, job_id: str, viewer: Actor | None = None) -> dict[str, Any] | None:
        """The job as the API shows it, or None when unknown. With a ``viewer``: only their own jobs,
        or any for the top role (a job's command and result may name what others run)."""
        if not JOB_ID.fullmatch(job_id):
            return None
        with redis_down(STATE_UNKNOWN):
            try:
                job = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
            except NoSuchJobError:
                return None
            if viewer is not None:
                self.check_owner(job, viewer)
            ended = job.get_status(refresh=False) in (JobStatus.FINISHED, JobStatus.FAILED)
            if ended:
                return describe(job, job.latest_result())
            return describe(job, None, answers.latest(self.redis, job_id))  # answered, still posting to Slack?

    def check_owner(self, job: Job, viewer: Actor) -> None:
        if self.policy.role_of(viewer) == self.policy.top_role:
            return
        try:
            owner = open_envelope(self.key, job.kwargs, job.id).actor.id
        except Unsigned:
            owner = None  # not a job we signed: nobody's to read but the top role's
        if owner != viewer.id:
            raise PolicyError(
                f"Not allowed: job `{job.id}` was asked by someone else; only they and role "
                f"`{self.policy.top_role}` may read it ({viewer.display} acts as `{viewer.role}`)."
            )

    def expire_if_stale(self, job_id: str) -> bool:
        """For a waiter that saw the deadline pass: fail the job unrun unless a worker claimed it first."""
        with redis_down():
            try:
                job = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
                return claims.expire(self.redis, job, open_envelope(self.key, job.kwargs, job_id), time.time())
            except (NoSuchJobError, Unsigned):
                return False

    def stop_follow(self, key: str, actor: Actor) -> None:
        """The Stop button: anyone who may read logs may stop a follow; the worker ends it within a second."""
        if not (key.startswith(follow_key("")) and JOB_ID.fullmatch(key.removeprefix(follow_key("")))):
            raise CommandError("That Stop button is not one of ours.")
        if "logs" not in self.policy.granted(self.policy.role_of(actor) or ""):
            raise PolicyError(f"Not allowed: stopping a follow needs the `logs` permission ({actor.display}).")
        with redis_down():
            self.redis.set(*stop_record(self.key, key), ex=STOP_TTL)
