"""The one way in: text from any edge (Slack, hooks, the API, the App Home, the shell, doctor) becomes a
parsed, authorized, signed RQ job here, and what the edges ask of a job after that is answered here.

A thin facade over the steps, each a module of its own: admission (policy, gate, host, rate limits,
confirmations), enqueue (dedupe, sign, queue), jobs (state, deadline, Stop), results (the one reader
of results and follows), audit_trail and placement. ``bot/`` never touches Docker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from bot.core.errors import DockerverseError
from bot.core.grammar import normalize, parse, shown
from bot.core.masking import mask_text
from bot.core.policy import Actor, Policy
from bot.core.settings import Settings
from bot.dispatch import results
from bot.dispatch.admission import Admission
from bot.dispatch.audit_trail import AuditTrail
from bot.dispatch.enqueue import SEEN_TTL, Enqueuer, Submitted
from bot.dispatch.gate import NeedsConfirmation
from bot.dispatch.jobs import Jobs
from bot.dispatch.placement import Placement
from bot.wire import confirm
from bot.wire.job_keys import web_keys
from bot.wire.job_state import End, Line
from bot.wire.payload import ReplyTo

__all__ = ["SEEN_TTL", "Dispatcher", "Submitted"]  # what the edges need comes from the one way in


class Dispatcher:
    def __init__(self, settings: Settings, policy: Policy, connection: redis.Redis) -> None:
        self.settings = settings
        self.policy = policy
        self.redis = connection
        self._key = web_keys(settings).signer  # only the web holds it: no worker can mint a job
        self.trail = AuditTrail(settings, connection)
        self.metrics = self.trail.metrics
        self.placement = Placement(settings, policy, connection)
        self.admission = Admission(policy, connection, self._key, self.placement, self.trail)
        self.enqueuer = Enqueuer(settings, policy, self._key, self.placement, self.trail)
        self.jobs = Jobs(policy, connection, self._key)

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
            command, host = self.admission.admit(parsed, actor, confirmed)
            return self.enqueuer.enqueue(display, command, actor, reply, host, dedupe_key, confirmed, dedupe_ttl)
        except NeedsConfirmation as exc:
            self.trail.record(actor, display, "asked", None, exc.message)
            raise
        except DockerverseError as exc:
            self.trail.record(actor, display, "refused", None, exc.message)
            raise

    def ask_confirmation(self, text: str, actor: Actor, reply: ReplyTo) -> str:
        return self.admission.ask_confirmation(text, actor, reply)

    def take_confirmation(self, token: str, actor: Actor, decision: str = "confirmed") -> confirm.Pending | None:
        return self.admission.take_confirmation(token, actor, decision)

    def job_state(self, job_id: str, viewer: Actor | None = None) -> dict[str, Any] | None:
        return self.jobs.state(job_id, viewer)

    def expire_if_stale(self, job_id: str) -> bool:
        return self.jobs.expire_if_stale(job_id)

    def stop_follow(self, key: str, actor: Actor) -> None:
        self.jobs.stop_follow(key, actor)

    def audit_entries(self, limit: int) -> list[dict[str, Any]]:
        return self.trail.entries(limit)

    def readiness(self) -> dict[str, Any]:
        return self.placement.readiness()

    def wait(self, job_id: str, timeout: float, start_by: float = 0.0) -> dict[str, Any] | None:
        """Block until the job ends or the timeout passes; a job still unclaimed at its deadline is ended
        here, unrun. For callers with no event loop (the shell, doctor): the web awaits ``results`` itself."""
        return results.blocking(
            self.settings.redis_url,
            self.redis,
            self._key,
            lambda waiter: waiter.settled(job_id, timeout, start_by, self.expire_if_stale),
        )

    def follow(self, job_id: str, each: Callable[[Line | End], None]) -> None:
        """A follow's lines to ``each`` as they come, holding it alive, until its end (or Ctrl-C)."""
        results.blocking(self.settings.redis_url, self.redis, self._key, lambda waiter: waiter.relay(job_id, each))
