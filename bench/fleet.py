"""Benchmark: a fleet of 10 Docker hosts over two dockerds, no default host.

Ten `dockerverse worker --docker-host-name hNN` (each 1 quick + 1 stream worker process): h01-h05 on
the local dockerd, h06-h10 on a second dockerd over mutual TLS (tests/support/second_dockerd.py),
with `notify: host_down` set, so the idle cost includes each host's look at the others.
Measures `list --all --all-hosts` end to end (submit to merged result, as the shell and the web do),
that `hosts` lists all 10, what the idle fleet costs Redis (INFO commandstats deltas, and the beats
alone), and how long after three hosts are SIGKILLed they show as down in `hosts` and are refused.
Writes docs/bench-fleet.md.

    .venv/bin/python -m bench.fleet [--rounds 30] [--idle 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.pipeline import pct
from bot.core.errors import QueueUnavailable
from bot.core.policy import Actor, load_policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.wire import liveness
from bot.wire.payload import ReplyTo
from bot.wire.queues import connect
from tests.support.fakeslack import FakeSlack
from tests.support.second_dockerd import start_second_dockerd
from tests.support.services import ensure_dockerd, start_redis
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
LOCAL = tuple(f"h{i:02d}" for i in range(1, 6))
REMOTE = tuple(f"h{i:02d}" for i in range(6, 11))
KILLED = ("h04", "h09", "h10")
ACTOR = Actor("shell:bench", "shell")
NOTIFY = "notify:\n  - {channel: C0HOSTS, events: [host_down]}\n"


def ask(d: Dispatcher, text: str) -> tuple[float, dict[str, Any]]:
    """(milliseconds from submit to result, the result)."""
    t0 = time.perf_counter()
    sub = d.submit(text, ACTOR, ReplyTo())
    state = d.wait(sub.job_id, 60, sub.start_by) or {}
    return (time.perf_counter() - t0) * 1000, state.get("result") or {}


def calls(conn: redis.Redis) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in conn.info("commandstats").items()}


def wait_until(what: str, test: Any, timeout: float) -> float:
    t0 = time.monotonic()
    while not test():
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"bench: {what} did not happen within {timeout:g} s")
        time.sleep(0.2)
    return time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds the idle fleet's Redis cost is measured")
    args = parser.parse_args()
    ensure_dockerd()
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        second = start_second_dockerd(Path(tmp) / "dockerd2")
        server = start_redis(Path(tmp) / "redis")
        stack = Stack.start(server.url, slack.url, Path(tmp), 0, NOTIFY, hosts=LOCAL, DOCKERVERSE_STREAM_WORKERS="1")
        try:
            tls = {
                "DOCKER_HOST": second.tcp_url,
                "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(second.client_certs),
            }
            for host in REMOTE:
                log = Path(tmp) / f"worker-{host}.log"
                stack.hosts[host] = stack.spawn(log, "worker", "--docker-host-name", host, env=tls)
            env = {
                k: v for k, v in stack.env.items() if k in ("REDIS_URL", "DOCKERVERSE_JOB_KEY", "DOCKERVERSE_CONFIG")
            }
            settings = Settings(**env)  # by alias, as the environment names them
            conn = connect(settings.redis_url)
            d = Dispatcher(settings, load_policy(settings.config_path), conn)
            everyone = set(LOCAL + REMOTE)
            wait_until("10 hosts up", lambda: set(liveness.read(conn).up(10)) == everyone, 120)
            wait_until(
                "10 hosts in `hosts`", lambda: len(ask(d, "hosts")[1].get("data", {}).get("hosts", [])) == 10, 60
            )
            _, hosts = ask(d, "hosts")
            for _ in range(3):
                ask(d, "list --all --all-hosts")  # warm up
            times, answered = [], set()
            for _ in range(args.rounds):
                ms, result = ask(d, "list --all --all-hosts")
                times.append(ms)
                answered = set(result.get("data", {}).get("hosts", []))
            assert answered == everyone, answered

            time.sleep(3)  # the last jobs' bookkeeping settles
            before, t0 = calls(conn), time.monotonic()
            time.sleep(args.idle)
            after, idle = calls(conn), time.monotonic() - t0
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
            delta["info"] = delta.get("info", 0) - 1  # our own INFO
            total = sum(delta.values()) / idle
            beats = delta.get("zadd", 0) / idle
            workers = 2 * len(everyone)

            for host in KILLED:
                stack.kill(stack.hosts[host])
            killed = time.monotonic()

            def refused() -> bool:
                try:
                    d.submit(f"list --host {KILLED[-1]}", ACTOR, ReplyTo())
                except QueueUnavailable as exc:
                    return "is down" in exc.message
                return False

            refused_after = wait_until("a killed host refused", refused, 60)

            asked = [0.0]

            def shown_down() -> bool:
                asked[0] = time.monotonic() - killed
                shown = ask(d, "hosts")[1].get("data", {}).get("hosts", [])
                return {h["name"] for h in shown if h.get("down")} == set(KILLED)

            wait_until("3 hosts shown down", shown_down, 60)
            down_after = time.monotonic() - killed
            after_kill = [ask(d, "list --all --all-hosts")[0] for _ in range(10)]
            told = slack.wait_for("chat.postMessage", lambda c: "is down" in c.params["text"], count=3, timeout=30)
            alerted = max(c.at for c in told) - killed
        finally:
            stack.stop()
            server.stop()
            second.stop()
    top = sorted(delta.items(), key=lambda kv: -kv[1])[:8]
    lines = [
        f"Fleet benchmark, {time.strftime('%Y-%m-%d')}: 10 hosts (h01-h05 on the local dockerd, h06-h10 on a "
        "second one over mutual TLS), each `dockerverse worker` with 1 quick + 1 stream worker process, no "
        "default host; web, Redis and all 20 workers on one 2-core machine.",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| `hosts` lists | {len(hosts.get('data', {}).get('hosts', []))} hosts |",
        f"| `list --all --all-hosts`, {args.rounds} rounds: median / p95 | "
        f"{statistics.median(times):.0f} ms / {pct(times, 0.95):.0f} ms |",
        f"| idle fleet, all Redis commands | {total:.1f} /s ({total / workers:.2f} per worker process) |",
        f"| of which the beats (ZADD) | {beats:.1f} /s ({beats / workers:.2f} per worker process) |",
        f"| 3 hosts SIGKILLed: a command to one refused after | {refused_after:.1f} s |",
        f"| 3 hosts SIGKILLed: the first `hosts` showing all 3 down, asked / answered after | "
        f"{asked[0]:.1f} s / {down_after:.1f} s |",
        f"| 3 hosts SIGKILLed: the last `host_down` alert posted after | {alerted:.1f} s |",
        f"| `list --all --all-hosts` with 3 down: median | {statistics.median(after_kill):.0f} ms |",
        "",
        "Idle commands per second by command: " + ", ".join(f"{k} {v / idle:.1f}" for k, v in top) + ".",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-fleet.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
