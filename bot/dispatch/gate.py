"""What a command must pass after the policy allows it: where it may run, whether a person must
confirm it first, and how often an actor may change things."""

from __future__ import annotations

import math
import time

import redis
from limits import parse as parse_limit
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from bot.core import commands as c
from bot.core.errors import CommandError, DockerverseError
from bot.core.policy import SLACK_SOURCES, Actor
from bot.core.slack_text import code


class NeedsConfirmation(DockerverseError):
    """Not refused: a person must click Confirm first (Slack only)."""

    status = 409


class RateLimited(DockerverseError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def confirmation_question(actor: Actor, command: c.Command, host: str) -> str | None:
    """rm and rmi from Slack wait for a Confirm click; other interfaces are explicit enough."""
    if actor.source not in SLACK_SOURCES:
        return None
    if isinstance(command, c.Remove):
        force = " It is stopped first if it runs." if command.force else ""
        return f"Remove container {code(command.target)} on {code(host)}?{force} This cannot be undone."
    if isinstance(command, c.RemoveImage):
        return f"Remove image {code(command.image)} on {code(host)}? (Only the tag goes if the image has others.)"
    return None


def check_streaming(actor: Actor, command: c.Command) -> None:
    """A follow needs someone reading it: a person in Slack, the API's SSE client, or the shell."""
    if isinstance(command, c.Logs) and command.follow and actor.source == "hook":
        raise CommandError("`logs --follow` from a hook has no one to stream to: use `logs NAME --tail N`.")


class RateLimit:
    """Commands per actor (person, hook or token) in a moving window kept in Redis: changing commands
    under `rate_limits.mutating`, every other one (reads too cost a worker) under the higher `reads`."""

    def __init__(self, conn: redis.Redis, mutating: str, reads: str = "120/minute") -> None:
        self.specs = {True: mutating, False: reads}
        self.items = {True: parse_limit(mutating), False: parse_limit(reads)}
        self.limiter = MovingWindowRateLimiter(
            RedisStorage("redis://", connection_pool=conn.connection_pool, key_prefix="dockerverse:rate")
        )

    def check(self, actor: Actor, command: c.Command) -> None:
        if actor.source == "shell" or isinstance(command, c.Help):
            return  # one's own console; and asking how things work costs nothing worth capping
        changes = command.mutates
        item = self.items[changes]
        kind, key = ("changing commands", "mutating") if changes else ("reading commands", "reads")
        if self.limiter.hit(item, key, actor.id):  # each kind counts apart, even at equal rates
            return
        reset = self.limiter.get_window_stats(item, key, actor.id).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise RateLimited(
            f"Slow down: at most {self.specs[changes]} {kind} per actor (rate_limits.{key}); try again in {wait} s.",
            wait,
        )
