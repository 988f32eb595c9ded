"""Benchmark: does a slow `stop` hold up `list` on the same host? (The host-wide stall of issue 21.)

A container that ignores SIGTERM makes `stop` wait out Docker's 10 s grace period before the SIGKILL.
While such a stop runs (its job seen `started`), `GET /api/containers` and a hook `list` with wait
are timed, end to end through the web and the host's workers; then the container is started again
and the next round begins. Writes docs/bench-lanes.md.

    .venv/bin/python -m bench.lanes [--rounds 3] [--label before|after]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import httpx

from bench import UNLIMITED
from bench.pipeline import pct
from tests.support.fakeslack import FakeSlack
from tests.support.services import TEST_IMAGE, TEST_LABEL, build_test_image, ensure_dockerd, start_redis
from tests.support.stack import API_TOKEN, Stack, standard_headers

ROOT = Path(__file__).resolve().parent.parent
STUBBORN = "trap '' TERM; while :; do sleep 1; done"  # SIGTERM ignored: `stop` waits the full grace period
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
FINAL = {"finished", "failed", "stopped", "canceled"}


def hook(http: httpx.Client, stack: Stack, command: str, wait: float = 0) -> dict[str, Any]:
    body = json.dumps({"command": command, "wait": wait}).encode()
    headers = standard_headers(body)
    resp = http.post(f"{stack.web_url}/hooks/ci", content=body, headers=headers, timeout=wait + 30)
    assert resp.status_code in (200, 202), resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def status(http: httpx.Client, stack: Stack, job_id: str) -> str:
    return str(http.get(f"{stack.web_url}/api/jobs/{job_id}", headers=AUTH).json().get("status"))


def timed(call: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1000


def stall_round(http: httpx.Client, stack: Stack, name: str) -> tuple[list[float], list[float], float]:
    """(API list ms, hook list ms) timed while one slow stop runs, and how long that stop took (s)."""
    t0 = time.perf_counter()
    job = hook(http, stack, f"stop {name}")["job_id"]
    while (state := status(http, stack, job)) not in {"started", *FINAL}:
        time.sleep(0.02)
    assert state == "started", f"the stop ended before it could be watched: {state}"
    api: list[float] = []
    hooked: list[float] = []

    def keep_timing(out: list[float], call: Callable[[], object]) -> None:
        while status(http, stack, job) not in FINAL:
            out.append(timed(call))

    # Both kinds of `list` at once, each again and again until the stop has ended.
    threads = [
        threading.Thread(
            target=keep_timing,
            args=(api, lambda: http.get(f"{stack.web_url}/api/containers", headers=AUTH).raise_for_status()),
        ),
        threading.Thread(target=keep_timing, args=(hooked, lambda: hook(http, stack, "list", wait=30))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    assert hook(http, stack, f"start {name}", wait=30)["status"] == "finished"
    return api, hooked, took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="after", help="the row's name in docs/bench-lanes.md")
    args = parser.parse_args()
    ensure_dockerd()
    build_test_image()
    client = docker.from_env()
    box = client.containers.run(
        TEST_IMAGE,
        ["sh", "-c", STUBBORN],
        detach=True,
        name=f"dvbench-stubborn-{uuid.uuid4().hex[:6]}",
        labels={TEST_LABEL: "1", "dockerverse.managed-by": "dockerverse"},
    )
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack, httpx.Client(timeout=60) as http:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp), policy_extra=UNLIMITED)
        try:
            url = f"{stack.web_url}/api/containers"
            idle = [timed(lambda: http.get(url, headers=AUTH).raise_for_status()) for _ in range(20)][5:]
            api: list[float] = []
            hooked: list[float] = []
            stops: list[float] = []
            for _ in range(args.rounds):
                a, h, took = stall_round(http, stack, box.name or "")
                api.extend(a)
                hooked.extend(h)
                stops.append(took)
        finally:
            stack.stop()
            redis.stop()
            box.remove(force=True)
    row = (
        f"| {args.label} | {statistics.median(idle):.0f} | {statistics.median(api):.0f} | {max(api):.0f} "
        f"| {statistics.median(hooked):.0f} | {max(hooked):.0f} | {len(api)} | {statistics.median(stops):.1f} |"
    )
    print(row, f"(p99 API list while stopping: {pct(api, 0.99):.0f} ms)")
    record(row)


HEADER = [
    "Lanes benchmark: `list` on a host while a `stop` waits out Docker's 10 s grace period",
    "(`python -m bench.lanes --label ...`; one row per run, newest last).",
    "",
    "| run | idle API list median ms | API list during stop median ms | max ms "
    "| hook `list` (wait) median ms | max ms | lists timed | stop s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]


def record(row: str) -> None:
    """Add the row to docs/bench-lanes.md, replacing an earlier row of the same name."""
    path = ROOT / "docs" / "bench-lanes.md"
    label = row.split("|")[1]
    old = path.read_text().splitlines() if path.exists() else HEADER
    table = [line for line in old if line.startswith("|") and line.split("|")[1] != label]
    rest = [line for line in old if not line.startswith("|") and line not in HEADER]
    path.write_text("\n".join(HEADER + table[2:] + [row] + rest) + "\n")


if __name__ == "__main__":
    main()
