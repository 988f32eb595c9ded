"""Benchmark: slash-command acknowledgements under concurrent senders, measured with wrk (C), so the
load generator does not share Python's interpreter lock with what it measures.

One signed request (Slack accepts the same timestamp for 5 minutes) is replayed by wrk at 1, 20 and
100 connections for 10 s each, against uvicorn with the real worker running every job (`list` against
dockerd) and posting it to the fake Slack on the same 2 cores; then `help` at 20 connections, as earlier
figures were taken. Writes docs/bench-acks.md.

    .venv/bin/python -m bench.acks
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis as redis_lib
from rq import Queue

from bench import UNLIMITED
from bench.suite import memory, slash_request
from bot.wire.queues import queue_name
from tests.support.fakeslack import FakeSlack
from tests.support.services import ensure_dockerd, start_redis
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
LUA = """
wrk.method = "POST"
wrk.body = {body}
{headers}
"""


def percentile(output: str, label: str) -> str:
    found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", output, re.MULTILINE)
    if not found:
        return "?"
    value, unit = float(found.group(1)), found.group(2)
    return f"{value / 1000 if unit == 'us' else value * 1000 if unit == 's' else value:.1f}"


def drain(url: str, timeout: float = 180.0) -> None:
    """Until the host's quick lane is empty: each level starts with the workers idle."""
    conn = redis_lib.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    while conn.llen(Queue(queue_name("local", "quick"), connection=conn).key) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)
    conn.close()


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("bench.acks needs wrk: apt-get install wrk")
    ensure_dockerd()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp), policy_extra=UNLIMITED)
        try:
            for command, connections in (("list", 1), ("list", 20), ("list", 100), ("help", 20)):
                body, headers = slash_request(stack, command, "C0WRK")
                script = Path(tmp) / "slash.lua"
                script.write_text(
                    LUA.format(
                        body=repr(body.decode()).replace("'", '"'),
                        headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
                    )
                )
                posted_before = len(slack.calls("chat.postMessage"))
                out = subprocess.run(
                    [
                        "wrk",
                        "-t",
                        str(min(2, connections)),
                        "-c",
                        str(connections),
                        "-d",
                        "10s",
                        "--latency",
                        "-s",
                        str(script),
                        f"{stack.web_url}/slack/events",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
                non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                ran = len(slack.calls("chat.postMessage")) - posted_before
                rows.append(
                    (
                        command,
                        connections,
                        percentile(out, "50"),
                        percentile(out, "99"),
                        rate.group(1) if rate else "?",
                        non2xx.group(1) if non2xx else "0",
                        ran,
                    )
                )
                drain(redis.url)
            web_rss, worker_rss = memory(stack, redis.url)
        finally:
            stack.stop()
            redis.stop()
    lines = [
        f"Slash-command acknowledgements under wrk, 10 s per level, {time.strftime('%Y-%m-%d')}, 2 cores",
        "",
        "| command | concurrent senders | p50 ms | p99 ms | acks/s | non-2xx | results posted during the 10 s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| `{cmd}` | {c} | {p50} | {p99} | {rate} | {bad} | {ran:,} |" for cmd, c, p50, p99, rate, bad, ran in rows
    ]
    lines += [
        "",
        "Slack allows 3,000 ms; aim: p99 at most 100 ms at 20 senders.",
        "",
        f"RSS after the load: web {web_rss:.0f} MB, largest worker {worker_rss:.0f} MB (aim: at most 100 MB each). "
        "Sustained throughput: bench/throughput.py.",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-acks.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
