"""A worker's part in knowing which hosts are up: its beat, and noticing hosts that go down or return.

Every worker process beats (bot/wire/liveness.py). The quick-lane worker of each host also looks, every
few seconds, at every host's last beat: a host silent longer than DOCKERVERSE_DOWN_AFTER is
announced to the channels whose `notify:` rule has `host_down`, once per outage whichever worker
sees it first (HSETNX on the outage's mark, the hash form of SET NX), and its return is announced
once too (whoever deletes the mark). A fleet needs one host up for another's outage to be told.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import redis

from bot.core.units import format_duration
from bot.wire import liveness
from bot.wire.job_state import as_str
from workers.slack.reply import SlackReplier

log = logging.getLogger(__name__)
CHECK_EVERY = 3.9  # seconds between looks at the other hosts: every other beat, 4 s (quick-lane workers only)
PRUNE_EVERY = 600.0


class HostWatch:
    def __init__(
        self,
        conn: redis.Redis,
        host: str,
        down_after: float,
        channels: Sequence[str] = (),
        replier: SlackReplier | None = None,
        checks: bool = True,
    ) -> None:
        self.conn, self.host, self.down_after = conn, host, down_after
        self.channels, self.replier = tuple(channels), replier
        self.checks = checks  # one worker a host is enough to look at the others
        self.beater = liveness.Beater(conn, host)
        self._checked = self._pruned = float("-inf")

    def tick(self) -> None:
        """From the keep-alive thread every BEAT_EVERY seconds; never raises."""
        try:
            self.beater.beat()
            now = time.monotonic()
            if self.checks and now - self._checked >= CHECK_EVERY:
                self._checked = now
                self.check()
            if self.checks and now - self._pruned >= PRUNE_EVERY:
                self._pruned = now
                self.prune()
        except redis.RedisError as exc:  # Redis away: the worker's own loop reports it and reconnects
            log.debug("host beat or check skipped: %s", exc)
        except Exception:  # housekeeping must never take the worker down with it
            log.exception("looking for hosts that went down failed")

    def check(self) -> None:
        """Announce each outage once, and each return once."""
        if not self.channels or self.replier is None:
            return  # nobody to tell: the web and `hosts` read the beats themselves
        beats, announced = liveness.read(self.conn, announced=True)
        down = beats.down(self.down_after)
        for host, seen in down.items():
            if host not in announced and self.conn.hsetnx(liveness.DOWN, host, f"{seen:.3f}"):
                self._tell(went_down(host, seen, beats.now))
        for host, since in announced.items():
            # (a host forgotten as retired is not "back")
            if host not in down and self.conn.hdel(liveness.DOWN, host) and host in beats.seen:
                self._tell(came_back(host, since, beats.now))

    def prune(self) -> None:
        """Hosts silent a week are retired: no longer listed as down, nor announced."""
        now = liveness.server_time(self.conn)
        old = [as_str(h) for h in self.conn.zrangebyscore(liveness.BEATS, "-inf", now - liveness.FORGET_AFTER)]
        if old:
            with self.conn.pipeline() as pipe:
                pipe.zrem(liveness.BEATS, *old)
                pipe.hdel(liveness.DOWN, *old)
                pipe.execute()
            log.info("forgot hosts silent for a week: %s", ", ".join(old))

    def _tell(self, text: str) -> None:
        log.warning("%s", text)
        for channel in self.channels:
            if self.replier is not None:
                self.replier.post(channel, text)


def went_down(host: str, seen: float, now: float) -> str:
    return (
        f"🔴 *Docker host `{host}` is down*: its workers stopped beating ({liveness.last_seen(seen, now)}). "
        f"Commands for it are refused until it is back. Check `dockerverse worker --docker-host-name {host}` "
        "on that machine."
    )


def came_back(host: str, since: float, now: float) -> str:
    return (
        f"✅ *Docker host `{host}` is back up* after {format_duration(max(0.0, now - since))} without a beat; "
        "its commands are accepted again."
    )
