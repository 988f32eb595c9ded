"""The job function workers run.

``execute`` checks the signature (again: the job class checked it before import), runs the
command through the one routing table with the worker's context, and replies through the one
Slack reply module. Its return value is the job's JSON result.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import redis
from rq.job import Job

from bot.core.errors import DockerverseError
from bot.wire import answers, confirm
from bot.wire.payload import Payload, Unsigned
from bot.wire.signing import Verifier
from workers.commands import routes
from workers.commands.context import Context
from workers.runtime.opened import payload_of
from workers.slack.render import Outcome
from workers.slack.reply import Session

log = logging.getLogger(__name__)


class UntrustedJob(Exception):
    """A job this worker did not get from the web: wrong function, bad or missing signature."""


def trusted_payload(key: Verifier, payload: Any, sig: Any, job: Job) -> Payload:
    """The payload, if its signature is ours and it was issued for this job; else ``UntrustedJob``."""
    try:
        return payload_of(job, key, payload, sig)
    except Unsigned as exc:
        raise UntrustedJob(str(exc)) from None


def execute(ctx: Context, job: Job, payload: dict[str, Any], sig: str) -> dict[str, Any]:
    """Run one signed command and reply; returns the result kept with the job. The job class binds
    ``ctx`` and ``job`` (workers/runtime/signed_job.py); RQ passes the rest from the job's kwargs."""
    p = trusted_payload(ctx.key, payload, sig, job)
    ctx = ctx.for_job(job.worker_name or "", job.timeout)
    started = time.monotonic()
    session = open_session(ctx, p, job)
    if p.host != ctx.host:
        outcome = Outcome(
            False,
            f"This job was for host `{p.host}` but reached the worker of `{ctx.host}`; "
            "nothing was done. Check the workers' --docker-host-name.",
        )
    else:
        try:
            outcome = routes.handle(ctx, p)
        except DockerverseError as exc:
            outcome = Outcome(False, exc.message, status=exc.status)
    seconds = time.monotonic() - started
    if outcome.confirm is True:
        token = confirm.ask_for_job(ctx.conn, p.id)  # the web re-reads the command from this signed job
        outcome = dataclasses.replace(outcome, confirm=token)
    if not outcome.ok:
        job.meta["failed"] = outcome.summary  # read by the audit log's outcome column
        job.save_meta()  # type: ignore[no-untyped-call]
    result = {**outcome.to_json(), "host": ctx.host, "seconds": round(seconds, 4)}
    if p.actor.source in answers.WAITED_SOURCES:
        answer_first(ctx, p.id, result)  # what a waiting caller reads, ahead of a Slack post and RQ's records
    return {**result, "delivery": deliver(ctx, p, outcome, seconds, session)}


def answer_first(ctx: Context, job_id: str, result: dict[str, Any]) -> None:
    """The result where a waiter finds it before the Slack post; lost only if Redis is, and then RQ's
    result (after the post) still answers, so it is logged, never raised."""
    try:
        answers.publish(ctx.conn, job_id, result)
    except redis.RedisError as exc:
        log.warning("job %s: could not write its answer ahead of the Slack post: %s", job_id, exc)


def open_session(ctx: Context, p: Payload, job: Job) -> Session | None:
    """The job's Slack conversation, if it has one; handlers report progress through it (and the job)."""
    session = ctx.replier.session(p) if ctx.replier is not None and p.reply.channel else None
    ctx.progress.begin(job, session)
    if session is not None:
        session.start()
    return session


def deliver(
    ctx: Context, p: Payload, outcome: Outcome, seconds: float, session: Session | None = None
) -> dict[str, Any]:
    ctx.progress.end()
    if p.reply.channel is None:
        return {"ok": True, "posted": 0}
    if ctx.replier is None:
        log.error("job %s wants a Slack reply but SLACK_BOT_TOKEN is not set on this worker", p.id)
        return {"ok": False, "posted": 0, "error": "SLACK_BOT_TOKEN is not set on the worker"}
    return (session or ctx.replier.session(p)).finish(outcome, seconds)
