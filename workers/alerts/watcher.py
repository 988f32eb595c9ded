"""The event watcher: one per Docker host, however many workers serve it.

A thread of the quick-lane worker process. It holds a Redis lock with an expiry, renewed every
few seconds; the other workers' watchers wait, and one takes over within the expiry when the
holder dies (or at once when it shuts down warm). While it holds the lock it reads Docker's event
stream and hands each event to the Alerter, remembering in Redis the last event handled; when
Docker restarts or the connection drops, it reconnects with `since` that event, so Docker
replays what happened meanwhile (as much as the daemon still holds: its last 256 events).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import redis
import redis.lock

from bot.core.errors import DockerverseError
from bot.core.notify import HOST_EVENTS, watcher_key
from bot.core.policy import load_policy
from bot.core.settings import Settings
from bot.wire.job_keys import local_sealer
from bot.wire.queues import connect
from workers.alerts.events import Alerter
from workers.alerts.incidents import Incidents
from workers.docker.gateway import DockerGateway
from workers.slack.reply import SlackReplier

log = logging.getLogger(__name__)
LOCK_TTL = 15.0  # seconds: a dead holder's watcher is replaced within about this long
RENEW_EVERY = 4.0
TICK = 1.0  # seconds between looks at restart loops that may have recovered
RECONNECT_MAX = 10.0  # longest wait between attempts to reach Docker again
MAX_REPLAY = 3600.0  # seconds: on resuming, older events are not news any more
FILTERS = {"type": ["container"], "event": ["die", "oom", "start", "health_status"]}
_END = object()


class WatchLock:
    """redis-py's Lock (SET NX with an expiry, renewed and released only by its holder), without
    raising: its token names the worker holding it, which `doctor` shows."""

    def __init__(self, conn: redis.Redis, host: str, ttl: float) -> None:
        self.value = f"{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex[:8]}"
        # Not thread-local: a thread of its own renews it.
        self._lock = redis.lock.Lock(conn, watcher_key(host), timeout=ttl, thread_local=False)

    def acquire(self) -> bool:
        return bool(self._lock.acquire(blocking=False, token=self.value))

    def renew(self) -> bool:
        try:
            return bool(self._lock.reacquire())
        except redis.exceptions.LockError:  # lapsed, or taken by another worker meanwhile
            return False

    def release(self) -> None:
        with contextlib.suppress(redis.exceptions.LockError):
            self._lock.release()


class Watcher:
    def __init__(
        self,
        conn: redis.Redis,
        gateway: DockerGateway,
        alerter: Alerter,
        host: str,
        lock_ttl: float = LOCK_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conn, self.gw, self.alerter, self.host, self.clock = conn, gateway, alerter, host, clock
        self.lock = WatchLock(conn, host, lock_ttl)
        self.state = Incidents(conn, host)
        self.stopping = threading.Event()
        self.lost = threading.Event()
        self._close: Callable[[], None] | None = None
        self.thread = threading.Thread(target=self.run, name=f"watcher-{host}", daemon=True)

    def start(self) -> Watcher:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Warm shutdown: stop reading and give the lock up, so another watcher takes over at once."""
        self.stopping.set()
        self._hang_up()
        self.thread.join(5)
        self._release()

    def run(self) -> None:
        while not self.stopping.is_set():
            held = False
            try:
                held = self.lock.acquire()
                if held:
                    log.info("watching Docker events on host %r (lock %s)", self.host, self.lock.value)
                    self._hold()
            except redis.RedisError as exc:
                log.warning("event watcher: Redis failed (%s); trying again", exc)
            except Exception:  # the watcher must outlive any one bad event or bug
                log.exception("event watcher failed; starting again")
            finally:
                self._hang_up()
                if held and not self.lost.is_set():
                    self._release()
            self.stopping.wait(RENEW_EVERY)

    def _release(self) -> None:
        with contextlib.suppress(redis.RedisError):  # it expires by itself
            self.lock.release()

    # --- while holding the lock ----------------------------------------------------------------------

    def _renew(self, done: threading.Event) -> None:
        while not done.wait(RENEW_EVERY):
            try:
                held = self.lock.renew()
            except redis.RedisError as exc:
                log.warning("event watcher: cannot renew its lock (%s)", exc)
                held = False
            if not held:
                self.lost.set()
                self._hang_up()
                return

    def _hold(self) -> None:
        self.lost.clear()
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(done,), name="watcher-lock", daemon=True)
        renewer.start()
        delay = 1.0
        try:
            while not self.stopping.is_set() and not self.lost.is_set():
                if self._follow():
                    delay = 1.0
                self.stopping.wait(delay)  # Docker away: try again, less often
                delay = min(delay * 2, RECONNECT_MAX)
        finally:
            done.set()
            if self.lost.is_set():
                log.warning("event watcher: lost its lock; another worker watches host %r now", self.host)

    def _since(self) -> str | None:
        cursor = self.state.cursor()
        if cursor is None:
            return None
        oldest = self.clock() - MAX_REPLAY
        return cursor if float(cursor) >= oldest else f"{oldest:.9f}"

    def _follow(self) -> bool:
        """Read events until the stream ends; False when Docker could not be reached at all."""
        since = self._since()
        try:
            events, close = self.gw.events(since, FILTERS)
        except DockerverseError as exc:
            log.warning("event watcher: %s", exc.message)
            return False
        self._close = close
        log.info("event watcher: reading Docker events of %r since %s", self.host, since or "now")
        # A thread of its own drains the stream into a queue: Docker skips events for a listener that
        # takes more than 100 ms to receive one, and posting to Slack can take longer than that.
        inbox: queue.Queue[Any] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(events, inbox), name="watcher-events", daemon=True)
        reader.start()
        ticked = 0.0
        while not self.stopping.is_set() and not self.lost.is_set():
            try:
                item = inbox.get(timeout=TICK)
            except queue.Empty:
                item = None
            if item is _END:
                if not self.stopping.is_set() and not self.lost.is_set():
                    log.warning("event watcher: Docker's event stream on %r ended; reconnecting", self.host)
                break
            if item is not None:
                self._handle(item)
            if time.monotonic() - ticked >= TICK:
                ticked = time.monotonic()
                self.alerter.tick(self.clock())
        self._hang_up()
        return True

    def _handle(self, event: dict[str, Any]) -> None:
        if self.state.claim(event):
            try:
                self.alerter.handle(event)
            except DockerverseError as exc:
                log.warning("event watcher: %s", exc.message)
        if event.get("timeNano"):
            self.state.advance(int(event["timeNano"]))

    def _hang_up(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            try:
                close()
            except Exception as exc:  # already closed by the other side
                log.debug("closing the event stream: %s", exc)


def _pump(events: Iterator[dict[str, Any]], inbox: queue.Queue[Any]) -> None:
    try:
        for event in events:
            inbox.put(event)
    except DockerverseError as exc:
        log.warning("event watcher: %s", exc.message)
    except Exception as exc:  # closed under it, or anything else: the watcher reconnects
        log.debug("event stream ended: %r", exc)
    inbox.put(_END)


def start_watcher(settings: Settings, host: str) -> Watcher | None:
    """The host's event watcher, when the policy asks for alerts; None (and why, logged) otherwise."""
    try:
        # Rules about whole hosts (host_down) are workers/runtime/host_watch.py's, not this Docker event stream's.
        rules = tuple(r for r in load_policy(settings.config_path).notify if r.events - HOST_EVENTS)
    except DockerverseError as exc:
        log.error("no event alerts: %s", exc.message)
        return None
    if not rules:
        return None
    if not settings.slack_bot_token:
        log.error("no event alerts: the policy has `notify:` but SLACK_BOT_TOKEN is not set on this worker")
        return None
    conn = connect(settings.redis_url)
    gateway = DockerGateway(host, environment=settings.docker_environment())
    replier = SlackReplier(settings.slack_bot_token, settings.slack_base_url)
    alerter = Alerter(conn, gateway, replier, host, rules, local_sealer(settings))
    return Watcher(conn, gateway, alerter, host).start()
