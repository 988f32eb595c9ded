"""`dockerverse worker-health`: a worker container's health check, since a worker serves no HTTP to ask.

Healthy when this machine (the container's hostname, as RQ records it) has a live worker in Redis on
each lane the supervisor runs for the Docker host, and the host beats (bot/wire/liveness.py): what the
web needs before it sends that host a job. Exit 0 healthy, else 1 with the reason, which Docker keeps
in the container's health log (`docker inspect`).
"""

from __future__ import annotations

import socket
import sys
from typing import TextIO

from redis.exceptions import RedisError

from bot.core.settings import Settings
from bot.wire import liveness
from bot.wire.hosts import WorkerInfo, workers
from bot.wire.queues import LANES, connect


def problem(mine: list[WorkerInfo], beats: liveness.Beats, host: str, lanes: tuple[str, ...], down_after: float) -> str:
    """Why this machine's workers for `host` are not healthy; empty when they are. Pure."""
    serving = {lane for w in mine if w.host == host for lane in w.lanes}
    missing = [lane for lane in lanes if lane not in serving]
    if missing:
        return (
            f"no live {' or '.join(missing)}-lane worker for Docker host `{host}` on this machine: "
            "the worker process is starting, crashing (see its log) or cannot reach Redis."
        )
    if host not in beats.up(down_after):
        return (
            f"Docker host `{host}` is not beating in Redis, so the web refuses its commands: its workers are "
            "stuck (see their log) or this machine's clock is far off."
        )
    return ""


def run_worker_health(settings: Settings, host: str, out: TextIO = sys.stdout) -> int:
    lanes = tuple(lane for lane in LANES if lane != "stream" or settings.stream_workers)
    try:
        conn = connect(settings.redis_url)
        hostname = socket.gethostname()
        mine = [w for w in workers(conn) if w.hostname == hostname and w.host == host]
        why = problem(mine, liveness.read(conn), host, lanes, settings.down_after)
    except (RedisError, ValueError) as exc:
        why = f"Redis does not answer ({type(exc).__name__}): check REDIS_URL and that Redis runs."
    if why:
        print(f"unhealthy: {why}", file=out)
        return 1
    print(f"healthy: {len(mine)} workers of Docker host `{host}` on {hostname}, and the host beats.", file=out)
    return 0
