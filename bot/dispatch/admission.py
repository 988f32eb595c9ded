"""Whether a parsed command may go in, and where: the policy, the gate (streaming, confirmation), the
host it runs on, and the actor's rate limits; and the Confirm click that lets a kept command in."""

from __future__ import annotations

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.core import commands as c
from bot.core.errors import PolicyError
from bot.core.grammar import normalize, shown
from bot.core.policy import Actor, Policy
from bot.dispatch.audit_trail import AuditTrail
from bot.dispatch.gate import NeedsConfirmation, RateLimit, check_streaming, confirmation_question
from bot.dispatch.outage import redis_down
from bot.dispatch.placement import Placement
from bot.wire import confirm
from bot.wire.payload import ReplyTo, Unsigned, open_envelope
from bot.wire.signing import Signer


class Admission:
    def __init__(
        self, policy: Policy, connection: redis.Redis, key: Signer, placement: Placement, trail: AuditTrail
    ) -> None:
        self.policy = policy
        self.redis = connection
        self.key = key
        self.placement = placement
        self.trail = trail
        self.rate = RateLimit(connection, policy.rate_limit, policy.read_rate_limit)

    def admit(self, parsed: c.Command, actor: Actor, confirmed: bool) -> tuple[c.Command, str]:
        """The command as the policy allows it and the host it runs on; raises a ``DockerverseError``
        fit to show the user, or ``NeedsConfirmation`` when a person must confirm it in Slack first."""
        command = self.policy.authorize(actor, parsed)
        check_streaming(actor, command)
        host = self.placement.host_for(command)  # a host that is down is refused before any question
        question = None if confirmed else confirmation_question(actor, command, host)
        if question:
            raise NeedsConfirmation(question)
        with redis_down():
            self.rate.check(actor, command)
        return command, host

    def ask_confirmation(self, text: str, actor: Actor, reply: ReplyTo) -> str:
        """Keep the command for a Confirm click (a few minutes, once); returns the button's token."""
        text = normalize(text)
        with redis_down():
            return confirm.ask(self.redis, self.key, confirm.Pending(text, shown(text), actor.id, reply))

    def take_confirmation(self, token: str, actor: Actor, decision: str = "confirmed") -> confirm.Pending | None:
        """The kept command, once, for the person who asked or the top role (anyone else in the channel
        is refused and the kept command stays for them); every click is audited with who clicked."""
        with redis_down():
            pending = confirm.peek(self.redis, self.key, token, self.asked_by_job)
            if pending is None:
                return None
            top = self.policy.top_role
            if actor.id != pending.requested_by and self.policy.role_of(actor) != top:
                verb = "confirm" if decision == "confirmed" else "cancel"
                reason = f"Only <@{pending.requested_by}>, who asked, or someone with role `{top}` may {verb} this."
                self.trail.record(actor, pending.shown, "refused", None, reason)
                raise PolicyError(f"Not allowed: {reason}")
            taken = confirm.take(self.redis, self.key, token, self.asked_by_job)
        if taken is not None:
            self.trail.record(actor, taken.shown, decision, None, f"asked by {taken.requested_by}")
        return taken

    def asked_by_job(self, job_id: str) -> confirm.Pending | None:
        """A worker's confirmation names only the job that asked: its command is what this web signed."""
        try:
            job = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
            p = open_envelope(self.key, job.kwargs, job_id)
        except (NoSuchJobError, Unsigned, ValueError):
            return None
        return confirm.Pending(p.text, shown(p.text), p.actor.id, p.reply)
