"""Benchmark: slash-command acknowledgements under concurrent senders, measured with wrk (C), so the
load generator does not share Python's interpreter lock with what it measures.

One signed request (Slack accepts the same timestamp for 5 minutes) is replayed by wrk at 1, 20 and
100 connections for 10 s each, against uvicorn with the real worker draining the queue and posting
to the fake Slack. Writes docs/bench-acks.md.

    .venv/bin/python -m bench.acks
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import UNLIMITED
from bench.suite import memory, slash_request
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


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("bench.acks needs wrk: apt-get install wrk")
    ensure_dockerd()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp), policy_extra=UNLIMITED)
        try:
            body, headers = slash_request(stack, "help", "C0WRK")
            script = Path(tmp) / "slash.lua"
            script.write_text(
                LUA.format(
                    body=repr(body.decode()).replace("'", '"'),
                    headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
                )
            )
            for connections in (1, 20, 100):
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
                done = re.search(r"(\d+) requests in", out)
                rows.append(
                    (
                        connections,
                        percentile(out, "50"),
                        percentile(out, "99"),
                        rate.group(1) if rate else "?",
                        non2xx.group(1) if non2xx else "0",
                        done.group(1) if done else "0",
                    )
                )
                time.sleep(3)
            web_rss, worker_rss = memory(stack, redis.url)
        finally:
            stack.stop()
            redis.stop()
    lines = [
        f"Slash-command acknowledgements under wrk, 10 s per level, {time.strftime('%Y-%m-%d')}, 2 cores",
        "",
        "| concurrent senders | p50 ms | p99 ms | acks/s | non-2xx |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {c} | {p50} | {p99} | {rate} | {bad} |" for c, p50, p99, rate, bad, _ in rows]
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
