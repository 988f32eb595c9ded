"""Benchmark: log lines over Server-Sent Events, beside `docker logs -f`, for a chatty container.

A container prints about 10,000 lines a second. For the same seconds, in the same run, an SSE
client on GET /api/containers/{id}/logs and `docker logs -f` each count what they receive; the SSE
client also measures each line's latency from Docker's own timestamp (when dockerd took the line)
to its arrival. Writes docs/bench-sse.md.

    .venv/bin/python -m bench.sse [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import httpx

from bench.pipeline import pct
from bot.core.units import parse_docker_time
from tests.support.fakeslack import FakeSlack
from tests.support.services import TEST_IMAGE, build_test_image, ensure_dockerd, start_redis
from tests.support.stack import API_TOKEN, Stack

ROOT = Path(__file__).resolve().parent.parent
# 100 lines, then 10 ms of sleep: about 10,000 lines a second from a busybox shell.
CHATTY = (
    'i=0; while true; do for j in $(seq 100); do echo "line $i $j padding-to-look-like-a-log-line"; done; '
    "i=$((i+1)); usleep 10000; done"
)


def count_docker_logs(name: str, seconds: float, out: dict[str, float]) -> None:
    proc = subprocess.Popen(
        ["docker", "logs", "-f", "--tail", "0", name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    lines, start = 0, time.monotonic()
    timer = threading.Timer(seconds, proc.kill)
    timer.start()
    for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
        lines += chunk.count(b"\n")
    out["lines"], out["seconds"] = lines, time.monotonic() - start


def count_sse(url: str, seconds: float, out: dict[str, float], latencies: list[float]) -> None:
    lines, start = 0, time.monotonic()
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Accept": "text/event-stream"}
    with httpx.stream("GET", url, headers=headers, timeout=seconds + 30) as resp:
        rest = b""
        for chunk in resp.iter_raw():
            now = time.time()
            *complete, rest = (rest + chunk).split(b"\n")
            for line in complete:
                if line.startswith(b"id: "):
                    lines += 1
                    if lines % 50 == 0:
                        s, ns = parse_docker_time(line[4:].decode().strip())
                        latencies.append((now - (s + ns / 1e9)) * 1000)
            if time.monotonic() - start >= seconds:
                break
    out["lines"], out["seconds"] = lines, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    ensure_dockerd()
    build_test_image()
    client = docker.from_env()
    name = f"dvbench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp))
        container = client.containers.run(
            TEST_IMAGE, ["sh", "-c", CHATTY], name=name, detach=True, labels={"dockerverse.test": "1"}
        )
        try:
            time.sleep(1)
            ours: dict[str, float] = {}
            theirs: dict[str, float] = {}
            latencies: list[float] = []
            threads = [
                threading.Thread(
                    target=count_sse,
                    args=(f"{stack.web_url}/api/containers/{name}/logs?tail=1", args.seconds, ours, latencies),
                ),
                threading.Thread(target=count_docker_logs, args=(name, args.seconds, theirs)),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            container.remove(force=True)
            stack.stop()
            redis.stop()
    ours_rate, theirs_rate = ours["lines"] / ours["seconds"], theirs["lines"] / theirs["seconds"]
    lines = [
        f"SSE benchmark, {args.seconds:g} s of a container printing ~10,000 lines/s, {time.strftime('%Y-%m-%d')}",
        "",
        "| reader | lines/s received | emit -> client p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
        f"| Dockerverse SSE (`GET /api/containers/{{id}}/logs`) | {ours_rate:,.0f} | "
        f"{statistics.median(latencies):.0f} | {pct(latencies, 0.99):.0f} |",
        f"| `docker logs -f` | {theirs_rate:,.0f} | | |",
        "",
        f"SSE delivers **{ours_rate / theirs_rate:.2f}x** the lines of `docker logs -f` (aim: at least 0.5x); "
        f"p99 latency {pct(latencies, 0.99):.0f} ms (aim: at most 500 ms).",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-sse.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
