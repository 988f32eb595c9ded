"""Benchmark: does a `list` wait behind long jobs on the same host? (Head-of-line blocking.)

GET /api/containers (a `list` job, end to end through the web and a worker) timed while the host
is idle, then while 8 log follows stream over SSE and a pull runs. Follows and pulls take the
host's stream lane, so the quick lane that `list` uses stays free. Writes docs/bench-head-of-line.md.

    .venv/bin/python -m bench.head_of_line [--rounds 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import httpx

from bench import UNLIMITED
from bench.pipeline import pct
from tests.support.fakeslack import FakeSlack
from tests.support.services import TEST_IMAGE, build_test_image, ensure_dockerd, start_redis
from tests.support.stack import API_TOKEN, Stack

ROOT = Path(__file__).resolve().parent.parent
CHATTY = "i=0; while true; do i=$((i+1)); echo line $i; usleep 20000; done"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def time_lists(http: httpx.Client, url: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        assert http.get(url).status_code == 200
        out.append((time.perf_counter() - t0) * 1000)
    return out


def follow(url: str, stop: threading.Event) -> None:
    with httpx.stream("GET", url, headers={**AUTH, "Accept": "text/event-stream"}, timeout=120) as resp:
        for _ in resp.iter_lines():
            if stop.is_set():
                return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    ensure_dockerd()
    build_test_image()
    client = docker.from_env()
    boxes = [
        client.containers.run(
            TEST_IMAGE,
            ["sh", "-c", CHATTY],
            detach=True,
            name=f"dvbench-{uuid.uuid4().hex[:6]}",
            labels={"dockerverse.test": "1"},
        )
        for _ in range(8)
    ]
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack, httpx.Client(headers=AUTH, timeout=60) as http:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp), policy_extra=UNLIMITED, DOCKERVERSE_STREAM_WORKERS="9")
        stop = threading.Event()
        try:
            url = f"{stack.web_url}/api/containers"
            time_lists(http, url, 10)  # warm up
            idle = time_lists(http, url, args.rounds)
            streams = [
                threading.Thread(target=follow, args=(f"{url}/{b.name}/logs?tail=1", stop), daemon=True) for b in boxes
            ]
            for t in streams:
                t.start()
            time.sleep(2)  # the follows are streaming
            pull_done = threading.Event()

            def pull() -> None:  # a pull on the same host's stream lane (it fails fast offline; repeat it)
                while not pull_done.is_set():
                    stack.shell("pull busybox:1.36")

            puller = threading.Thread(target=pull, daemon=True)
            puller.start()
            loaded = time_lists(http, url, args.rounds)
            pull_done.set()
        finally:
            stop.set()
            stack.stop()
            redis.stop()
            for b in boxes:
                b.remove(force=True)
    ratio = statistics.median(loaded) / statistics.median(idle)
    lines = [
        f"Head-of-line benchmark, {args.rounds} `GET /api/containers` each, {time.strftime('%Y-%m-%d')}",
        "",
        "| host | median ms | p99 ms |",
        "| --- | ---: | ---: |",
        f"| idle | {statistics.median(idle):.1f} | {pct(idle, 0.99):.1f} |",
        f"| 8 log follows streaming + pulls running | {statistics.median(loaded):.1f} | {pct(loaded, 0.99):.1f} |",
        "",
        f"Loaded median is **{ratio:.2f}x** idle (aim: at most 2x).",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-head-of-line.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
