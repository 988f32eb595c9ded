"""Benchmark: log lines over Server-Sent Events, beside `docker logs -f`, for chatty containers.

Two workloads, one after the other in one run: a container printing about 10,000 lines a second,
and one printing as fast as it can (busybox `yes`). For the same seconds an SSE client on
GET /api/containers/{id}/logs and `docker logs -f --tail 0` each count what they receive; the SSE
client also measures each line's latency from Docker's own timestamp (when dockerd took the line)
to its arrival. Writes docs/bench-sse.md.

    .venv/bin/python -m bench.sse [--seconds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

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
FLAT_OUT = ["yes", "line flat-out padding-to-look-like-a-log-line"]  # as fast as busybox can write
WORKLOADS = (("~10,000 lines/s", ["sh", "-c", CHATTY]), ("as fast as it can (`yes`)", FLAT_OUT))


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
    """Events received, counted in C as the `docker logs` reader counts newlines (a Python step a line would
    make this client the bottleneck); each chunk's last id gives one latency sample."""
    lines, start = 0, time.monotonic()
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Accept": "text/event-stream"}
    with httpx.stream("GET", url, headers=headers, timeout=seconds + 30) as resp:
        rest = b""
        for chunk in resp.iter_raw():
            now = time.time()
            complete, newline, rest = (rest + chunk).rpartition(b"\n")
            if newline:  # whole lines only: each `id:` field starts the text or follows a newline
                lines += complete.count(b"\nid: ") + complete.startswith(b"id: ")
                at = complete.rfind(b"id: ")
                if at >= 0 and (at == 0 or complete[at - 1 : at] == b"\n"):
                    stamp = complete[at + 4 :].split(b"\r", 1)[0].split(b"\n", 1)[0].decode()
                    s, ns = parse_docker_time(stamp)
                    latencies.append((now - (s + ns / 1e9)) * 1000)
            if time.monotonic() - start >= seconds:
                break
    out["lines"], out["seconds"] = lines, time.monotonic() - start


def measure(stack: Stack, client: docker.DockerClient, argv: list[str], seconds: float) -> dict[str, Any]:
    """One workload: both readers side by side on one fresh container, for the same seconds."""
    name = f"dvbench-{uuid.uuid4().hex[:6]}"
    logging = docker.types.LogConfig(type="json-file", config={"max-size": "200m", "max-file": "2"})
    container = client.containers.run(
        TEST_IMAGE, argv, name=name, detach=True, labels={"dockerverse.test": "1"}, log_config=logging
    )
    ours: dict[str, float] = {}
    theirs: dict[str, float] = {}
    latencies: list[float] = []
    try:
        time.sleep(1)
        url = f"{stack.web_url}/api/containers/{name}/logs?tail=1"
        threads = [
            threading.Thread(target=count_sse, args=(url, seconds, ours, latencies)),
            threading.Thread(target=count_docker_logs, args=(name, seconds, theirs)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        with contextlib.suppress(docker.errors.APIError):  # another run's cleanup may be removing it already
            container.remove(force=True)
    return {
        "ours": ours["lines"] / ours["seconds"],
        "theirs": theirs["lines"] / theirs["seconds"],
        "latencies": latencies or [float("nan")],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    ensure_dockerd()
    build_test_image()
    client = docker.from_env()
    results: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp))
        try:
            for label, argv in WORKLOADS:
                results.append((label, measure(stack, client, argv, args.seconds)))
        finally:
            stack.stop()
            redis.stop()
    lines = [
        f"SSE benchmark, {args.seconds:g} s per workload, {time.strftime('%Y-%m-%d')}, `python -m bench.sse`",
        "",
        "| container prints | SSE lines/s | `docker logs -f` lines/s | ratio | emit -> client p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in results:
        lat = r["latencies"]
        lines.append(
            f"| {label} | {r['ours']:,.0f} | {r['theirs']:,.0f} | **{r['ours'] / r['theirs']:.2f}x** | "
            f"{statistics.median(lat):.0f} | {pct(lat, 0.99):.0f} |"
        )
    lines += [
        "",
        "SSE is `GET /api/containers/{id}/logs` with `Accept: text/event-stream`; `docker logs -f --tail 0` reads "
        "the same container at the same time. Aim: at least 0.5x the line rate of `docker logs -f`; "
        "p99 latency at most 500 ms at ~10,000 lines/s.",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-sse.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
