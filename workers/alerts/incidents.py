"""What the event watcher remembers, in Redis, so that a watcher taking over carries on where the
last one stopped and nothing is posted twice.

Per host: the last event handled (where to resume), the events already claimed, containers'
recent restarts, restart loops in progress, and open incidents: the message a channel got about a
container, so that what follows (more deaths, the loop, recovery) goes in its thread or edits it
instead of making a new post.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from bot.wire.job_state import as_str

SEEN_TTL = 3600  # seconds an event stays claimed: longer than any replay after a reconnect
DIED_TTL = 3600  # a start within this long after a die is a restart


@dataclass(frozen=True)
class Incident:
    ts: str  # the root message's ts in the channel
    kind: str  # what the root says: die, oom, unhealthy, loop
    noted: bool  # the die that followed has been told in its thread


class Incidents:
    def __init__(self, conn: redis.Redis, host: str) -> None:
        self.conn = conn
        self.base = f"dockerverse:notify:{host}:"

    # --- the event stream ------------------------------------------------------------------------

    def claim(self, event: dict[str, Any]) -> bool:
        """True the first time this event is seen: replays after a reconnect or a take-over skip it."""
        actor = (event.get("Actor") or {}).get("ID", "")
        name = f"{self.base}seen:{event.get('timeNano')}:{actor}:{event.get('Action')}"
        return bool(self.conn.set(name, b"1", nx=True, ex=SEEN_TTL))

    def cursor(self) -> str | None:
        """Docker's "seconds.nanoseconds" of the last event handled: where the stream resumes."""
        raw = self.conn.get(self.base + "cursor")
        return as_str(raw) if raw else None

    def advance(self, time_nano: int) -> None:
        self.conn.set(self.base + "cursor", f"{time_nano // 10**9}.{time_nano % 10**9:09d}")

    # --- restarts --------------------------------------------------------------------------------

    def died(self, container_id: str, at: float, exit_code: int | None) -> None:
        code = "" if exit_code is None else str(exit_code)
        self.conn.set(f"{self.base}died:{container_id}", code, ex=DIED_TTL)

    def restarted(self, container_id: str, at: float, keep: float) -> tuple[bool, int | None]:
        """A start after a die is a restart, kept `keep` seconds: (restarted?, the exit code it died with)."""
        key = f"{self.base}died:{container_id}"
        with self.conn.pipeline() as pipe:  # GET and DEL in one transaction (GETDEL needs Redis 6.2)
            pipe.get(key)
            pipe.delete(key)
            died, _ = pipe.execute()
        if died is None:
            return False, None
        key = f"{self.base}restarts:{container_id}"
        with self.conn.pipeline() as pipe:
            pipe.zadd(key, {str(at): at})
            pipe.zremrangebyscore(key, "-inf", at - keep)
            pipe.expire(key, int(keep) + 60)
            pipe.execute()
        code = as_str(died)
        return True, int(code) if code.lstrip("-").isdigit() else None

    def restarts_since(self, container_id: str, since: float) -> int:
        return int(self.conn.zcount(f"{self.base}restarts:{container_id}", since, "+inf"))

    def last_restart(self, container_id: str) -> float | None:
        last = self.conn.zrevrange(f"{self.base}restarts:{container_id}", 0, 0, withscores=True)
        return float(last[0][1]) if last else None

    # --- incidents: one root message per channel and container -----------------------------------

    def _incident_key(self, channel: str, container_id: str) -> str:
        return f"{self.base}incident:{channel}:{container_id}"

    def incident(self, channel: str, container_id: str) -> Incident | None:
        raw = {as_str(k): as_str(v) for k, v in self.conn.hgetall(self._incident_key(channel, container_id)).items()}
        if not raw.get("ts"):
            return None
        return Incident(raw["ts"], raw.get("kind", ""), raw.get("noted") == "1")

    def open(self, channel: str, container_id: str, ts: str, kind: str, ttl: float) -> None:
        key = self._incident_key(channel, container_id)
        with self.conn.pipeline() as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"ts": ts, "kind": kind, "noted": "0"})
            pipe.expire(key, max(1, int(ttl)))
            pipe.execute()

    def update(self, channel: str, container_id: str, ttl: float, **fields: str | int) -> None:
        """Change fields of an open incident and keep it open `ttl` seconds more."""
        key = self._incident_key(channel, container_id)
        with self.conn.pipeline() as pipe:
            if fields:
                pipe.hset(key, mapping={k: v for k, v in fields.items()})
            pipe.expire(key, max(1, int(ttl)))
            pipe.execute()

    def close(self, channel: str, container_id: str) -> None:
        self.conn.delete(self._incident_key(channel, container_id))

    # --- restart loops in progress ---------------------------------------------------------------

    def begin_loop(self, channel: str, container_id: str, info: dict[str, Any]) -> bool:
        """True for the one caller that starts this loop's alert."""
        return bool(self.conn.hsetnx(self.base + "loops", f"{channel} {container_id}", json.dumps(info)))

    def set_loop(self, channel: str, container_id: str, info: dict[str, Any]) -> None:
        self.conn.hset(self.base + "loops", f"{channel} {container_id}", json.dumps(info))

    def loops(self) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for field, raw in self.conn.hgetall(self.base + "loops").items():
            channel, _, container_id = as_str(field).partition(" ")
            out[(channel, container_id)] = json.loads(as_str(raw))
        return out

    def end_loop(self, channel: str, container_id: str) -> bool:
        """True for the one caller that ends it (and posts the note)."""
        return bool(self.conn.hdel(self.base + "loops", f"{channel} {container_id}"))
