"""The Docker hosts being served, read from RQ's own worker registry (each worker's heartbeat).

A worker serves one host's lanes, named `dockerverse:<host>` (quick), `dockerverse:<host>:slow` and
`dockerverse:<host>:stream`.
A worker that dies drops out of RQ's registry within its TTL (30 s); its host counts as down much
sooner, once its workers' beats stop (bot/wire/liveness.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from rq import Worker

from bot.wire import liveness
from bot.wire.job_state import as_str

PREFIX = "dockerverse:"


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    host: str
    lanes: tuple[str, ...]
    state: str
    last_heartbeat: str
    hostname: str
    pid: str


def lane_of_queue(queue: str) -> tuple[str, str] | None:
    """`dockerverse:web1` -> (web1, quick); `dockerverse:web1:stream` -> (web1, stream); others None."""
    if not queue.startswith(PREFIX):
        return None
    host, _, lane = queue.removeprefix(PREFIX).partition(":")
    return (host, lane or "quick") if host else None


def workers(conn: redis.Redis) -> list[WorkerInfo]:
    """Every live worker of ours: registered, and its heartbeat key not expired."""
    keys = sorted(Worker.all_keys(connection=conn))
    with conn.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, ["queues", "state", "last_heartbeat", "hostname", "pid"])
        rows = pipe.execute()
    out = []
    for key, (queues, state, beat, hostname, pid) in zip(keys, rows, strict=True):
        lanes = [lane for q in as_str(queues).split(",") if (lane := lane_of_queue(q))]
        if not lanes or beat is None:
            continue  # not ours, or expired between the two reads
        out.append(
            WorkerInfo(
                key.rsplit(":", 1)[-1],
                lanes[0][0],
                tuple(sorted({lane for _, lane in lanes})),
                as_str(state),
                as_str(beat),
                as_str(hostname),
                as_str(pid),
            )
        )
    return out


def live_hosts(conn: redis.Redis, down_after: float = liveness.DOWN_AFTER) -> list[str]:
    """Hosts with a registered quick-lane worker that are not down (still beating), sorted."""
    registered = {w.host for w in workers(conn) if "quick" in w.lanes}
    return sorted(registered - liveness.read(conn).down(down_after).keys())
