"""Benchmark: a signed `/docker list` to the result's chat.postMessage, beside raw docker-py.

Everything real: redis-server, dockerd, `dockerverse web` (uvicorn) and one `dockerverse
worker` as processes, and the fake Slack recording when the post arrives. Each round
times, side by side, (1) the raw docker-py list call the worker makes and (2) the whole
pipeline: HTTP slash command -> bolt -> parse/policy -> RQ -> worker -> Docker -> Slack.
Prints a Markdown table (and writes it to docs/bench-pipeline.md).

    .venv/bin/python -m bench.pipeline [--rounds 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import docker

from bench import UNLIMITED
from tests.support.fakeslack import FakeSlack
from tests.support.services import ensure_dockerd, start_redis
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    ensure_dockerd()
    client = docker.from_env()
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp), policy_extra=UNLIMITED)
        try:
            raw, ack, e2e = [], [], []
            for i in range(args.rounds + 20):  # the first 20 warm up both sides
                t0 = time.perf_counter()
                client.api.containers(all=False)
                raw_s = time.perf_counter() - t0

                chan = "C" + uuid.uuid4().hex[:10].upper()
                t0 = time.monotonic()
                resp = stack.slash("list", channel=chan)
                ack_s = time.monotonic() - t0
                assert resp.status_code == 200 and "queued" in resp.text, resp.text
                [post] = slack.wait_for("chat.postMessage", lambda c, ch=chan: c.params.get("channel") == ch)
                if i >= 20:
                    raw.append(raw_s * 1000)
                    ack.append(ack_s * 1000)
                    e2e.append((post.at - t0) * 1000)
                slack.reset()
        finally:
            stack.stop()
            redis.stop()
    rows = [
        ("raw docker-py `containers()` (the worker's own call)", raw),
        ("slash command acknowledged (HTTP round trip, job queued)", ack),
        ("slash command -> result's chat.postMessage (end to end)", e2e),
    ]
    lines = [
        f"Pipeline benchmark, {args.rounds} sequential rounds, warm worker, {time.strftime('%Y-%m-%d')}",
        "",
        "| measure | median ms | p99 ms |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {statistics.median(v):.1f} | {pct(v, 0.99):.1f} |" for name, v in rows]
    overhead = statistics.median(e2e) - statistics.median(raw)
    lines += [
        "",
        f"Pipeline overhead at the median (end to end minus raw docker-py): **{overhead:.1f} ms**; "
        f"end to end is {statistics.median(e2e) / statistics.median(raw):.1f}x the raw call.",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-pipeline.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
