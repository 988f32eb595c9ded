"""Soak: mixed commands at a steady rate for a long time, with workers killed and Redis restarted.

Not part of the test run. Everything real: uvicorn, `dockerverse worker` (its supervisor restarts
killed workers), redis-server with an append-only file (so a restart keeps the queues), dockerd and
the fake Slack. Checks that every acknowledged command gets exactly one final reply, and reports
the RSS of the web and worker processes over time. Writes docs/soak.md.

    .venv/bin/python -m bench.soak --minutes 30 [--rate 5] [--kill-every 120]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import docker
import redis as redis_lib

from bench import UNLIMITED
from bot.wire.hosts import workers
from tests.support.fakeslack import FakeSlack
from tests.support.services import TEST_IMAGE, build_test_image, ensure_dockerd, free_port
from tests.support.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
JOB = re.compile(r"job `([0-9a-f]{12})`")
FINAL = ("✅", "❌", "⚠️")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def start_redis(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(tmp),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            if redis_lib.Redis(port=port).ping():
                return proc
        except redis_lib.RedisError:
            time.sleep(0.1)
    raise RuntimeError("redis did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=5.0, help="commands a second")
    parser.add_argument("--kill-every", type=float, default=120, help="seconds between worker SIGKILLs")
    args = parser.parse_args()
    ensure_dockerd()
    build_test_image()
    client = docker.from_env()
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        redis_proc = start_redis(Path(tmp), port)
        stack = Stack.start(url, slack.url, Path(tmp), policy_extra=UNLIMITED)
        names = [f"dvsoak-{i}" for i in range(5)]
        for n in names:
            client.containers.run(
                TEST_IMAGE,
                ["sh", "-c", "while true; do date; sleep 1; done"],
                name=n,
                detach=True,
                labels={"dockerverse.test": "1", "dockerverse.bench": "soak"},
            )
        mix = (
            ["list", "list --all", "images", "help", "hosts"]
            + [f"logs {n} --tail 5" for n in names]
            + [f"inspect {n}" for n in names]
            + [f"restart {n}" for n in names[:2]]
        )
        acked: dict[str, str] = {}
        refused = Counter[str]()
        rss: list[tuple[float, float, float]] = []
        end = time.monotonic() + args.minutes * 60
        start = time.monotonic()
        next_kill, restarted, n = start + args.kill_every, False, 0
        try:
            while time.monotonic() < end:
                n += 1
                text = random.choice(mix)
                ack = stack.slash(text, user=f"U0SOAK{n % 50}", channel="C0DEPLOY", timeout=5).json()["text"]
                found = JOB.search(ack)
                if found:
                    acked[found.group(1)] = text
                else:
                    refused[ack.split(":")[0][:60]] += 1
                now = time.monotonic()
                if now >= next_kill:
                    quick = [w for w in workers(redis_lib.Redis.from_url(url)) if "quick" in w.lanes]
                    if quick:
                        with contextlib.suppress(ProcessLookupError):  # one already killed, still registered
                            os.kill(int(quick[0].pid), signal.SIGKILL)
                            print(f"{time.strftime('%H:%M:%S')} SIGKILL quick worker {quick[0].name}", flush=True)
                    next_kill = now + args.kill_every
                if not restarted and now - start >= args.minutes * 30:  # halfway: Redis goes away and returns
                    redis_proc.terminate()
                    redis_proc.wait()
                    time.sleep(2)
                    redis_proc = start_redis(Path(tmp), port)
                    print(f"{time.strftime('%H:%M:%S')} Redis restarted", flush=True)
                    restarted = True
                if n % max(1, int(args.rate * 30)) == 0:
                    worker_pids = [int(w.pid) for w in workers(redis_lib.Redis.from_url(url))]
                    rss.append(
                        (
                            now - start,
                            rss_mb(stack.procs[-1].pid),
                            sum(map(rss_mb, worker_pids)) / max(1, len(worker_pids)),
                        )
                    )
                time.sleep(max(0.0, 1 / args.rate - (time.monotonic() - now)))
            time.sleep(90)  # let the last jobs, and any interrupted ones, be told
        finally:
            stack.stop()
            redis_proc.terminate()
            for box in client.containers.list(all=True, filters={"label": "dockerverse.bench=soak"}):
                box.remove(force=True)
            kept = Path(tempfile.gettempdir()) / "dockerverse-soak-logs"  # to look into a lost or doubled reply
            shutil.rmtree(kept, ignore_errors=True)
            with contextlib.suppress(OSError, shutil.Error):
                shutil.copytree(tmp, kept, ignore=shutil.ignore_patterns("*.aof*", "appendonlydir", "*.rdb", "*.sock"))
        finals = Counter[str]()
        said: dict[str, list[str]] = {}
        for call in slack.calls():
            if call.method not in ("chat.postMessage", "chat.update") or call.status != 200:
                continue
            text = str(call.params.get("text", ""))
            found = JOB.search(str(call.params.get("blocks", "")))
            if found and text.startswith(FINAL):
                finals[found.group(1)] += 1
                said.setdefault(found.group(1), []).append(f"{call.method}: {text[:100]}")
    missing = [j for j in acked if finals[j] == 0]
    doubled = [j for j in acked if finals[j] > 1]
    lines = [
        f"Soak, {args.minutes:g} min at {args.rate:g} commands/s, a worker SIGKILLed every "
        f"{args.kill_every:g} s, Redis restarted halfway, {time.strftime('%Y-%m-%d')}",
        "",
        f"- commands sent: {n}; acknowledged as queued: {len(acked)}; refused in the acknowledgement: "
        f"{sum(refused.values())} ({', '.join(f'{k}: {v}' for k, v in refused.most_common(3)) or 'none'})",
        f"- acknowledged with exactly one final reply: {len(acked) - len(missing) - len(doubled)}; "
        f"with none: {len(missing)}; with more than one: {len(doubled)}",
        *(f"  - no reply: job `{j}` (`{acked[j]}`)" for j in missing),
        *(f"  - {finals[j]} replies: job `{j}` (`{acked[j]}`): {' / '.join(said[j])}" for j in doubled),
        "",
        "| minute | web RSS MB | worker RSS MB (mean) |",
        "| ---: | ---: | ---: |",
    ]
    lines += [f"| {t / 60:.1f} | {web:.0f} | {worker:.0f} |" for t, web, worker in rss]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "soak.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
