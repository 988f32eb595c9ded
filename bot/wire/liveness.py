"""Which Docker hosts are up: a beat every worker writes every 2 s, read by the web and the workers.

Every worker process writes its host's name with the time into one sorted set every BEAT_EVERY
seconds (one ZADD). A host is down within DOCKERVERSE_DOWN_AFTER seconds of its last worker
stopping (silent for MARGIN less than that, so the web's one-second cache still refuses in time):
the web refuses its commands at once, saying when it was last seen; `hosts` lists it with that
time; a worker's housekeeping posts the `host_down` alerts (workers/runtime/host_watch.py). RQ's own
worker registry says the same only after DOCKERVERSE_WORKER_TTL (30 s), and nothing more.

The times are Redis's clock (TIME), each worker correcting its own clock by the offset it measured,
so hosts whose clocks disagree are not taken for down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, overload

import redis

from bot.core.units import format_duration
from bot.wire.job_state import as_str

BEATS = "dockerverse:hosts:beats"  # sorted set: host -> when a worker of it last beat (Redis clock)
DOWN = "dockerverse:hosts:down"  # hash: host -> when it was last seen, for the outage already announced
BEAT_EVERY = 2.0  # seconds between a worker's beats
DOWN_AFTER = 10.0  # a host is down within this many seconds of its workers stopping (DOCKERVERSE_DOWN_AFTER)
SYNC_EVERY = 300.0  # seconds between a worker's looks at Redis's clock
FORGET_AFTER = 7 * 24 * 3600  # a host silent a week is taken for retired, no longer listed as down
CACHE = 1.0  # seconds the web trusts what it read: a busy web asks Redis at most once a second
MARGIN = CACHE + 0.5  # silent for down_after less this is down: known as such within down_after
# A host that beat this recently is surely alive (one killed a moment ago is not down yet). (An `up` limit.)
FRESH = BEAT_EVERY + 1.5 + MARGIN


@dataclass(frozen=True)
class Beats:
    """Every host's last beat and Redis's time when they were read."""

    now: float
    seen: dict[str, float]

    def down(self, after: float) -> dict[str, float]:
        """Hosts down by the `after` rule (see MARGIN), with when each was last seen."""
        return {h: t for h, t in sorted(self.seen.items()) if self.now - t > after - MARGIN}

    def up(self, after: float) -> list[str]:
        return sorted(h for h, t in self.seen.items() if self.now - t <= after - MARGIN)


def server_time(conn: redis.Redis) -> float:
    seconds, micros = conn.time()
    return seconds + micros / 1e6


@overload
def read(conn: redis.Redis) -> Beats: ...
@overload
def read(conn: redis.Redis, announced: Literal[True]) -> tuple[Beats, dict[str, float]]: ...


def read(conn: redis.Redis, announced: bool = False) -> Beats | tuple[Beats, dict[str, float]]:
    """One round trip: Redis's time and every host's last beat (and, when asked, the outages already
    announced: host -> when it was last seen)."""
    with conn.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.zrange(BEATS, 0, -1, withscores=True)
        if announced:
            pipe.hgetall(DOWN)
        (seconds, micros), rows, *marks = pipe.execute()
    beats = Beats(seconds + micros / 1e6, {as_str(h): float(t) for h, t in rows})
    if not announced:
        return beats
    return beats, {as_str(h): float(t) for h, t in marks[0].items()}


class Beater:
    """A worker's beat: one ZADD every BEAT_EVERY seconds, in Redis's clock (the offset is measured
    once at start and every few minutes, so the beat itself stays one command)."""

    def __init__(self, conn: redis.Redis, host: str, clock: Callable[[], float] = time.time) -> None:
        self.conn, self.host, self.clock = conn, host, clock
        self.offset = 0.0
        self.synced = float("-inf")

    def beat(self) -> None:
        if time.monotonic() - self.synced > SYNC_EVERY:
            before = self.clock()
            server = server_time(self.conn)
            self.offset = server - (before + self.clock()) / 2
            self.synced = time.monotonic()
        # GT: a worker whose offset was measured a little late never moves its host's time backwards.
        self.conn.zadd(BEATS, {self.host: self.clock() + self.offset}, gt=True)


class View:
    """The web's view of the fleet, read at most once a CACHE."""

    def __init__(self, conn: redis.Redis, down_after: float) -> None:
        self.conn, self.down_after = conn, down_after
        self._cached: tuple[float, Beats] | None = None

    def beats(self) -> Beats:
        now = time.monotonic()
        if self._cached is None or self._cached[0] < now:
            self._cached = (now + CACHE, read(self.conn))
        return self._cached[1]

    def last_seen_if_down(self, host: str) -> float | None:
        """When a down host was last seen; None when it is up, or has never beaten (unknown here)."""
        return self.beats().down(self.down_after).get(host)

    def up(self) -> list[str]:
        """Hosts that are up, those that beat within FRESH first (each part sorted)."""
        beats = self.beats()
        fresh = beats.up(FRESH)
        return fresh + [h for h in beats.up(self.down_after) if h not in fresh]


def stamp(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def last_seen(at: float, now: float) -> str:
    """`last seen 14s ago (2026-12-03 05:53:10 UTC)`"""
    return f"last seen {format_duration(max(0.0, now - at))} ago ({stamp(at)})"


def refusal(host: str, at: float, now: float) -> str:
    """Why a command for a down host was refused at once, and what to do."""
    return (
        f"Docker host `{host}` is down: its workers stopped beating, {last_seen(at, now)}. Nothing was "
        f"queued. Check `dockerverse worker --docker-host-name {host}` on that machine; `hosts` shows when it "
        "is back."
    )


def down_note(down: dict[str, float], now: float) -> str:
    """`Down: `beta` (last seen 14s ago (...)).` for the hosts and list answers; empty when none is."""
    if not down:
        return ""
    return "Down: " + ", ".join(f"`{h}` ({last_seen(t, now)})" for h, t in sorted(down.items())) + "."
