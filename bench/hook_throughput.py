"""Benchmark: sustained signed hooks from a Python client, each posted to Slack exactly once.

20 senders in one asyncio client (httpx, kept-alive connections) send `--commands` GitHub-signed hooks
(`list`, replying in a channel of the fake Slack, no wait) as fast as they are accepted, while two
`dockerverse worker`s run them against dockerd (one container running) and post each result. Throughput
is results posted over the time from the first request to the last post; the client, web, Redis,
dockerd, both workers and the fake Slack share the machine's 2 cores. CPU per command is each process's
user+system time over the run divided by the commands. Writes docs/bench-hook-throughput.md.

    .venv/bin/python -m bench.hook_throughput [--commands 600] [--senders 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import httpx

from bench import UNLIMITED, sleeping_containers
from bench.hooks import cpu_seconds, github_delivery
from bench.soak import JOB
from bot.core.hook_signatures import github_key
from tests.support.fakeslack import FakeSlack
from tests.support.services import start_redis
from tests.support.stack import CI_SECRET, Stack

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "C0HOOKTPUT"


def children(pid: int) -> list[int]:
    found = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return found + [g for c in found for g in children(c)]


async def send_all(url: str, total: int, senders: int) -> float:
    """Every hook sent and accepted; returns when the first was sent (monotonic)."""
    key = github_key(CI_SECRET)
    left = list(range(total))
    started = time.monotonic()
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def sender() -> None:
            while left:
                left.pop()
                raw = json.dumps({"command": "list", "channel": CHANNEL}).encode()
                r = await http.post(url, content=raw, headers=github_delivery(key, raw))
                assert r.status_code == 202, r.text

        await asyncio.gather(*(sender() for _ in range(senders)))
    return started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=600)
    parser.add_argument("--senders", type=int, default=20)
    args = parser.parse_args()
    with sleeping_containers(1, "bench-hook-throughput"), tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp), workers=2, policy_extra=UNLIMITED)
        try:
            web = next(p.pid for p in stack.procs if "web" in list(p.args))  # type: ignore[arg-type]
            workers = [c for p in stack.procs if "worker" in list(p.args) for c in children(p.pid)]  # type: ignore[arg-type]
            watched = {
                "client and fake Slack (this process)": [os.getpid()],
                "web": [web],
                "workers (all lanes)": workers,
            }
            before = {name: sum(cpu_seconds(p) for p in pids) for name, pids in watched.items()}
            started = asyncio.run(send_all(f"{stack.web_url}/hooks/ci-github", args.commands, args.senders))
            sent_by = time.monotonic()
            slack.wait_for(
                "chat.postMessage",
                lambda c: c.params.get("channel") == CHANNEL and "⏳" not in str(c.params.get("text")),
                count=args.commands,
                timeout=600,
            )
            used = {name: sum(cpu_seconds(p) for p in pids) - before[name] for name, pids in watched.items()}
            posted = [
                c
                for c in slack.calls("chat.postMessage")
                if c.params.get("channel") == CHANNEL and "⏳" not in str(c.params.get("text"))
            ]
            last = max(c.at for c in posted)
            ids = [m.group(1) for c in posted for m in [JOB.search(str(c.params.get("blocks")))] if m]
        finally:
            stack.stop()
            redis.stop()
    rate = len(posted) / (last - started)
    rows = [
        f"Sustained signed hooks, {time.strftime('%Y-%m-%d')}: {args.commands} `list` (one container running) "
        f"from {args.senders} senders in one Python client (httpx, asyncio, kept-alive), two workers, the fake "
        "Slack; client, web, Redis, dockerd and workers on the same 2 cores",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| hooks accepted / results posted / distinct jobs / posted twice | {args.commands:,} / {len(posted):,} / "
        f"{len(set(ids)):,} / {len(ids) - len(set(ids))} |",
        f"| **throughput**: posted ÷ (last post - first request) | **{rate:.0f} commands/s** |",
        f"| accepted while sending | {args.commands / (sent_by - started):.0f}/s |",
    ]
    rows += [f"| CPU per command: {name} | {ms / args.commands * 1000:.2f} ms |" for name, ms in used.items()]
    rows += ["", "Aim: at least 200 commands/s, every one posted exactly once."]
    text = "\n".join(rows)
    print(text)
    (ROOT / "docs" / "bench-hook-throughput.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
