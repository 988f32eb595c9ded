"""A job that failed on the worker (an exception, its time limit, its worker killed): its person hears why."""

from __future__ import annotations

import logging
from types import TracebackType

from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException

from bot.core.slack_text import escape
from workers.commands.context import Context
from workers.runtime import tasks
from workers.slack.render import Outcome

log = logging.getLogger(__name__)


def failure_message(exc_type: type[BaseException], exc: BaseException, job: Job) -> str:
    # A redeploy that stops half-way is put back by a worker of its host (workers/commands/redeploy/recovery.py).
    payload = job.kwargs.get("payload") if isinstance(job.kwargs, dict) else None
    command = payload.get("command") if isinstance(payload, dict) else None
    redeploying = isinstance(command, dict) and command.get("kind") == "redeploy"
    back = (
        " A half-done redeploy is put back by itself: the previous container runs again under its name within "
        "about 20 s (check with `list --all`)."
    )
    if issubclass(exc_type, AbandonedJobError):
        if redeploying:
            return "The redeploy was interrupted: the worker running it stopped (killed or crashed)." + back
        return (
            "The job was interrupted: the worker running it stopped (killed or crashed) before it finished. "
            "It is not re-run on its own, since a change may have half-happened: check with `list --all` or "
            "`images`, then run it again if it is still needed."
        )
    if issubclass(exc_type, JobTimeoutException):
        if redeploying:
            return f"The redeploy ran longer than its {job.timeout} s limit and was stopped." + back
        return (
            f"The job ran longer than its {job.timeout} s limit and was stopped; nothing more will run. "
            "Try a smaller request (e.g. a lower --tail)."
        )
    return (
        f"The job failed on the worker ({exc_type.__name__}: {escape(str(exc)[:300])}). It was logged; try again, "
        "and tell whoever runs Dockerverse if it keeps failing."
    )


def on_failure(
    ctx: Context, job: Job, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> bool:
    """RQ exception handler (bound to the worker's context): the person who asked always hears about a failure."""
    if isinstance(exc, tasks.UntrustedJob):
        log.error("refused untrusted job %s: %s (nothing was run)", job.id, exc)
        job.meta["error"] = f"Refused by the worker: {escape(exc)}. Nothing was run."
        job.save_meta()  # type: ignore[no-untyped-call]
        return False
    message = failure_message(exc_type, exc, job)
    job.meta["error"] = message
    job.save_meta()  # type: ignore[no-untyped-call]
    try:
        payload = tasks.trusted_payload(ctx.key, job.kwargs.get("payload"), job.kwargs.get("sig"), job)
    except tasks.UntrustedJob:
        return False
    running = ctx.progress.session  # the failed job's own message, when it is the one that was running
    session = running if running is not None and running.p.id == job.id else None
    tasks.deliver(ctx, payload, Outcome(False, message), 0.0, session)
    return True
