"""Benchmark: sustained throughput through web, Redis, two workers and the fake Slack.

wrk (C, outside Python's interpreter lock) sends signed `/docker list` slash commands for 10 s at
8 connections to uvicorn while two `dockerverse worker`s (quick lanes) run them against dockerd
and post each result to the fake Slack. Throughput is results posted over the time from wrk's
start to the last post: the web, Redis, both workers, dockerd and the fake Slack share the same
2 cores for all of it. Every acknowledged command must be posted exactly once.

    .venv/bin/python -m bench.throughput
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import UNLIMITED
from bench.acks import LUA
from bench.soak import JOB
from bench.suite import memory, slash_request
from tests.support.fakeslack import FakeSlack
from tests.support.services import ensure_dockerd, start_redis
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "C0TPUT"


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("bench.throughput needs wrk: apt-get install wrk")
    ensure_dockerd()
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp), workers=2, policy_extra=UNLIMITED)
        try:
            body, headers = slash_request(stack, "list", CHANNEL)
            script = Path(tmp) / "slash.lua"
            script.write_text(
                LUA.format(
                    body=repr(body.decode()).replace("'", '"'),
                    headers="\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
                )
            )
            time.sleep(2)  # both workers registered and idle
            started = time.monotonic()
            out = subprocess.run(
                ["wrk", "-t", "2", "-c", "8", "-d", "10s", "-s", str(script), f"{stack.web_url}/slack/events"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            load_ended = time.monotonic()
            sent = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            acked = sent - int(non2xx.group(1) if non2xx else 0)
            posted = slack.wait_for(
                "chat.postMessage", lambda c: c.params.get("channel") == CHANNEL, count=acked, timeout=600
            )
            time.sleep(2)  # anything posted twice would show up now
            posted = slack.calls("chat.postMessage")
            ids = [m.group(1) for c in posted for m in [JOB.search(str(c.params.get("blocks")))] if m]
            last = max(c.at for c in posted)
            during = sum(1 for c in posted if c.at <= load_ended)
            web_rss, worker_rss = memory(stack, redis.url)
        finally:
            stack.stop()
            redis.stop()
    rate = len(posted) / (last - started)
    text = "\n".join(
        [
            f"Sustained throughput, {time.strftime('%Y-%m-%d')}, 2 cores: web, Redis, dockerd, two workers and the "
            "fake Slack on one machine",
            "",
            "| measure | value |",
            "| --- | ---: |",
            f"| `/docker list` sent by wrk in 10 s (8 connections) / acknowledged | {sent:,} / {acked:,} |",
            f"| results posted / distinct jobs / posted twice | {len(posted):,} / {len(set(ids)):,} / "
            f"{len(ids) - len(set(ids))} |",
            f"| **throughput**: posted ÷ (last post - first request) | **{rate:.0f} commands/s** |",
            f"| posted while wrk was still sending | {during / (load_ended - started):.0f}/s |",
            f"| RSS after: web / largest worker | {web_rss:.0f} MB / {worker_rss:.0f} MB |",
            "",
            "Aim: at least 200 commands/s, none lost, none doubled. (wrk counts the answers it got within its 10 s; "
            "requests still in flight when it stopped were accepted and ran too, so posts can exceed its count.)",
        ]
    )
    print(text)
    (ROOT / "docs" / "bench-throughput.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
