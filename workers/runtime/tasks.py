"""The job function workers run, and the per-process state it needs.

``execute`` checks the signature (again: the job class checked it before import),
runs the command's handler through the one Docker gateway and replies through the
one Slack reply module. Its return value is the job's JSON result.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

from rq import get_current_job

from bot.core import commands as c
from bot.core.errors import DockerverseError
from bot.core.settings import Settings
from bot.wire import confirm, liveness
from bot.wire.job_keys import local_sealer, worker_keys
from bot.wire.payload import Payload, Unsigned, open_envelope
from bot.wire.signing import Signer, Verifier
from workers.commands import fanout
from workers.commands.follow import follow
from workers.commands.handlers import HANDLERS, audit_log
from workers.commands.redeploy import redeploy
from workers.docker.gateway import DockerGateway
from workers.runtime import progress
from workers.slack.render import Outcome
from workers.slack.reply import Session, SlackReplier

log = logging.getLogger(__name__)


class UntrustedJob(Exception):
    """A job this worker did not get from the web: wrong function, bad or missing signature."""


@dataclass
class Runtime:
    key: Verifier  # checks the web's signatures; a worker has no key that signs jobs
    seal: Signer  # this machine's own key, for records only its workers read (bot/job_keys.local_sealer)
    host: str
    gateway: DockerGateway
    replier: SlackReplier | None
    down_after: float = liveness.DOWN_AFTER  # DOCKERVERSE_DOWN_AFTER: fan-outs skip hosts down this long
    replicas: tuple[int, int] = (0, 0)  # replicas that must hold a claim before a job begins, and ms to wait


_runtime: Runtime | None = None


def configure(settings: Settings, host: str, gateway: DockerGateway | None = None) -> Runtime:
    """Set up this process's Docker gateway and Slack client, kept open across jobs."""
    global _runtime
    replier = SlackReplier(settings.slack_bot_token, settings.slack_base_url) if settings.slack_bot_token else None
    docker_env = settings.docker_environment()  # refuses plain TCP before anything runs
    gateway = gateway or DockerGateway(host, environment=docker_env)
    keys, seal = worker_keys(settings).verifier, local_sealer(settings)
    replicas = (settings.redis_replicas, settings.redis_wait_ms)
    _runtime = Runtime(keys, seal, host, gateway, replier, settings.down_after, replicas)
    return _runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("workers.runtime.tasks.configure() was not called in this process")
    return _runtime


def trusted_payload(payload: Any, sig: Any, job_id: str | None) -> Payload:
    """The payload, if its signature is ours and it was issued for this job; else ``UntrustedJob``."""
    try:
        return open_envelope(runtime().key, {"payload": payload, "sig": sig}, job_id)
    except Unsigned as exc:
        raise UntrustedJob(str(exc)) from None


def execute(payload: dict[str, Any], sig: str) -> dict[str, Any]:
    """Run one signed command and reply; returns the result kept with the job."""
    job = get_current_job()
    p = trusted_payload(payload, sig, job.id if job else None)
    rt = runtime()
    started = time.monotonic()
    session = open_session(p)
    if p.host != rt.host:
        outcome = Outcome(
            False,
            f"This job was for host `{p.host}` but reached the worker of `{rt.host}`; "
            "nothing was done. Check the workers' --docker-host-name.",
        )
    else:
        try:
            if isinstance(p.command, c.Logs) and p.command.follow and job is not None:
                outcome = follow(rt.gateway, p.command, p, job.connection, rt.key, session)
            elif isinstance(p.command, c.Redeploy) and job is not None:
                worker = job.worker_name or ""
                outcome = redeploy(rt.gateway, p.command, p, job.connection, rt.seal, worker, int(job.timeout or 3600))
            elif isinstance(p.command, c.Audit) and job is not None:
                outcome = audit_log(job.connection, p.command)
            elif isinstance(p.command, c.Hosts) and not p.command.local and job is not None:
                outcome = fanout.hosts_everywhere(job.connection, p, rt.down_after)
            elif isinstance(p.command, c.ListContainers) and p.command.all_hosts and job is not None:
                outcome = fanout.list_everywhere(job.connection, p, p.command, rt.down_after)
            else:
                outcome = HANDLERS[type(p.command)](rt.gateway, p.command, p)
        except DockerverseError as exc:
            outcome = Outcome(False, exc.message, status=exc.status)
    seconds = time.monotonic() - started
    if outcome.confirm is True and job is not None:
        token = confirm.ask_for_job(job.connection, p.id)  # the web re-reads the command from this signed job
        outcome = dataclasses.replace(outcome, confirm=token)
    if not outcome.ok and job is not None:
        job.meta["failed"] = outcome.summary  # read by the audit log's outcome column
        job.save_meta()  # type: ignore[no-untyped-call]
    delivery = deliver(p, outcome, seconds, session)
    return {**outcome.to_json(), "host": rt.host, "seconds": round(seconds, 4), "delivery": delivery}


def open_session(p: Payload) -> Session | None:
    """The job's Slack conversation, if it has one; handlers report progress through it."""
    rt = runtime()
    session = rt.replier.session(p) if rt.replier is not None and p.reply.channel else None
    progress.current = session
    if session is not None:
        session.start()
    return session


def deliver(p: Payload, outcome: Outcome, seconds: float, session: Session | None = None) -> dict[str, Any]:
    rt = runtime()
    progress.current = None
    if p.reply.channel is None:
        return {"ok": True, "posted": 0}
    if rt.replier is None:
        log.error("job %s wants a Slack reply but SLACK_BOT_TOKEN is not set on this worker", p.id)
        return {"ok": False, "posted": 0, "error": "SLACK_BOT_TOKEN is not set on the worker"}
    return (session or rt.replier.session(p)).finish(outcome, seconds)
