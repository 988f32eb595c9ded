"""Containers the bot itself stops, restarts or removes raise no alarm.

The stop, restart and rm handlers mark the container in Redis just before they act; the event
watcher takes the mark with the `die` that follows and stays quiet. A mark is used once and
lapses on its own, so a later crash of the same container is reported as usual. Marks are sealed
with the worker machine's own key (bot/wire/sealed.py, bot/job_keys.local_sealer): one written into Redis
by anyone else hides nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bot.wire.sealed import seal, unseal
from bot.wire.signing import Signer, Verifier

log = logging.getLogger(__name__)
QUIET_SECONDS = 120  # Docker's stop waits 10 s before SIGKILL; the watcher may also lag a little


def key(host: str, container_id: str) -> str:
    return f"dockerverse:notify:{host}:quiet:{container_id}"


class QuietMarks:
    """The marks one host's handlers leave, in the worker's Redis, sealed with the machine's own key."""

    def __init__(self, conn: redis.Redis, seal_key: Signer, host: str) -> None:
        self.conn, self.seal_key, self.host = conn, seal_key, host

    def mark(self, container_id: str) -> None:
        """Before the bot stops, restarts or removes a running container."""
        try:
            name = key(self.host, container_id)
            self.conn.set(name, seal(self.seal_key, name, "quiet", ttl=QUIET_SECONDS), ex=QUIET_SECONDS)
        except redis.RedisError as exc:
            log.warning("could not mark %s as stopped by the bot, so an alert may follow: %s", container_id[:12], exc)

    def unmark(self, container_id: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.conn.delete(key(self.host, container_id))

    @contextmanager
    def ours(self, container_id: str, live: bool = True) -> Iterator[None]:
        """Mark a live container for the stop or removal inside; one that failed leaves no mark behind
        to hide a real crash in the next minutes."""
        if live:
            self.mark(container_id)
        try:
            yield
        except BaseException:
            if live:
                self.unmark(container_id)
            raise


def take(conn: redis.Redis, seal_key: Verifier, host: str, container_id: str) -> bool:
    """True, once, when the bot marked this container: the die it caused."""
    name = key(host, container_id)
    return bool(unseal(seal_key, name, conn.getdel(name)) == "quiet")
