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
from bot.wire.signing import HmacKey, Signer, Verifier

log = logging.getLogger(__name__)
QUIET_SECONDS = 120  # Docker's stop waits 10 s before SIGKILL; the watcher may also lag a little
_conn: redis.Redis | None = None
_key: Signer = HmacKey(b"")  # set by use(); marks are only written once it is


def use(conn: redis.Redis, seal_key: Signer) -> None:
    """The worker's Redis and sealing key, for the handlers' marks (set when the worker is built)."""
    global _conn, _key
    _conn, _key = conn, seal_key


def key(host: str, container_id: str) -> str:
    return f"dockerverse:notify:{host}:quiet:{container_id}"


def mark(host: str, container_id: str) -> None:
    """Before the bot stops, restarts or removes a running container."""
    if _conn is None:  # handlers called directly (tests), not by a worker: nothing to tell
        return
    try:
        name = key(host, container_id)
        _conn.set(name, seal(_key, name, "quiet", ttl=QUIET_SECONDS), ex=QUIET_SECONDS)
    except redis.RedisError as exc:
        log.warning("could not mark %s as stopped by the bot, so an alert may follow: %s", container_id[:12], exc)


def unmark(host: str, container_id: str) -> None:
    if _conn is not None:
        with contextlib.suppress(redis.RedisError):
            _conn.delete(key(host, container_id))


@contextmanager
def ours(host: str, container_id: str, live: bool = True) -> Iterator[None]:
    """Mark a live container for the stop or removal inside; one that failed leaves no mark behind
    to hide a real crash in the next minutes."""
    if live:
        mark(host, container_id)
    try:
        yield
    except BaseException:
        if live:
            unmark(host, container_id)
        raise


def take(conn: redis.Redis, seal_key: Verifier, host: str, container_id: str) -> bool:
    """True, once, when the bot marked this container: the die it caused."""
    name = key(host, container_id)
    return bool(unseal(seal_key, name, conn.getdel(name)) == "quiet")
