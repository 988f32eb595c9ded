"""`dockerverse worker`: a quick-lane worker, a slow-lane worker and N stream-lane workers for a Docker host.

Quick commands (list, logs, inspect, run ...), slow ones (stop, restart, rm --force: each may wait
out a container's stop grace period) and long ones (log follows, pulls) have separate queues and
separate processes, so neither a follow nor a stubborn container's stop holds up a `list`. The
supervisor restarts a worker that dies, and passes SIGTERM on: a warm shutdown, running jobs finish first.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger(__name__)
RESTART_DELAY = 2.0


def _spawn(host: str, lane: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", "worker", "--docker-host-name", host, "--lane", lane]
    )


def supervise(host: str, stream_workers: int) -> int:
    lanes = ["quick", "slow"] + ["stream"] * stream_workers
    children = [_spawn(host, lane) for lane in lanes]
    died_at = [0.0] * len(children)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "supervising %d workers for Docker host %r (1 quick, 1 slow, %d stream)", len(children), host, stream_workers
    )
    while not stopping:
        time.sleep(0.5)
        for i, child in enumerate(children):
            if child.poll() is None or stopping:
                continue
            if time.monotonic() - died_at[i] < RESTART_DELAY:
                continue
            log.error("%s worker exited with %s; starting another", lanes[i], child.returncode)
            died_at[i] = time.monotonic()
            children[i] = _spawn(host, lanes[i])
    for child in children:
        child.wait()
    return 0
