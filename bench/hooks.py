"""Benchmark: signed hooks with `wait`, beside adnanh/webhook running `docker ps -a`, with 20 running
containers on the host; and the CPU each Dockerverse process spends per command.

adnanh/webhook (Debian's `webhook`) is what CI users wire by hand today: an HMAC-checked HTTP endpoint
that runs a shell command and returns its output. Every request is GitHub-style signed and sent over a
kept-alive connection by one Python client (httpx), the kinds taking turns in the same rounds, each after
a quiet 20 ms. Dockerverse's hook `gh` has no Slack channel; `ci-github` replies in a Slack channel (the
fake Slack), so its `wait` shows whether the caller waits for the post. `help` (no Docker at all) is the
pipeline's fixed cost. CPU per command: user+system time of the web and of the quick-lane worker, read
from /proc around each request and summed per kind. Writes docs/bench-hooks.md.

    .venv/bin/python -m bench.hooks [--rounds 200] [--containers 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from bench import UNLIMITED, sleeping_containers
from bench.pipeline import pct
from bot.core.hook_signatures import github_key, github_signature
from tests.support.fakeslack import FakeSlack
from tests.support.services import free_port, start_redis
from tests.support.stack import CI_SECRET, GH_SECRET, Stack

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
KINDS = {
    "webhook": "adnanh/webhook running `docker ps -a`",
    "list": "Dockerverse hook `list --all` with wait, no Slack channel",
    "list-slack": "Dockerverse hook `list --all` with wait, replying in Slack",
    "list-one": "Dockerverse hook `list` of one container (its name as the filter) with wait, no Slack channel",
    "help": "Dockerverse hook `help` with wait (no Docker call)",
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start_webhook(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    docker_cli = shutil.which("docker")
    if not shutil.which("webhook") or not docker_cli:
        raise SystemExit("bench.hooks needs Debian's `webhook` and the docker CLI: apt-get install webhook docker.io")
    hooks = [
        {
            "id": "list",
            "execute-command": docker_cli,
            "pass-arguments-to-command": [{"source": "string", "name": "ps"}, {"source": "string", "name": "-a"}],
            "include-command-output-in-response": True,
            "trigger-rule": {
                "match": {
                    "type": "payload-hmac-sha256",
                    "secret": GH_SECRET,
                    "parameter": {"source": "header", "name": "X-Hub-Signature-256"},
                }
            },
        }
    ]
    (tmp / "hooks.json").write_text(json.dumps(hooks))
    port = free_port()
    proc = subprocess.Popen(
        ["webhook", "-hooks", str(tmp / "hooks.json"), "-ip", "127.0.0.1", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/hooks/list"
    for _ in range(100):
        try:
            httpx.get(url, timeout=0.5)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("webhook did not start")


def github_delivery(key: bytes, raw: bytes) -> dict[str, str]:
    """Headers of a GitHub-signed hook request with a fresh delivery id (each runs once)."""
    return {
        "X-Hub-Signature-256": github_signature(key, raw),
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }


def quick_worker_pid(stack: Stack) -> int:
    """The quick-lane worker process: the supervisor's child that takes `list` (the first it starts)."""
    supervisor = next(p.pid for p in stack.procs if "worker" in list(p.args))  # type: ignore[arg-type]
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return int(children[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--containers", type=int, default=20)
    args = parser.parse_args()
    one = f"bench-one-{uuid.uuid4().hex[:8]}"  # the container `list-one` lists, by name
    gh, ci = github_key(GH_SECRET), github_key(CI_SECRET)
    lat: dict[str, list[float]] = {k: [] for k in KINDS}
    cpu: dict[str, dict[str, float]] = {k: {"web": 0.0, "worker": 0.0} for k in KINDS}
    with (
        sleeping_containers(args.containers, "bench-hooks", first_name=one),
        tempfile.TemporaryDirectory() as tmp,
        FakeSlack() as slack,
        httpx.Client(timeout=60) as http,
    ):
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp), policy_extra=UNLIMITED)
        webhook, webhook_url = start_webhook(Path(tmp))
        web = next(p.pid for p in stack.procs if "web" in list(p.args))  # type: ignore[arg-type]
        worker = quick_worker_pid(stack)

        def dockerverse(hook: str, key: bytes, command: str, channel: str | None = None) -> Callable[[], None]:
            def send() -> None:
                body = json.dumps({"command": command, "wait": 30} | ({"channel": channel} if channel else {}))
                raw = body.encode()
                r = http.post(
                    f"{stack.web_url}/hooks/{hook}",
                    content=raw,
                    headers=github_delivery(key, raw),
                )
                assert r.status_code == 200 and r.json()["status"] == "finished", r.text

            return send

        def theirs() -> None:
            raw = b'{"ref": "refs/heads/main"}'
            headers = {"X-Hub-Signature-256": github_signature(gh, raw), "Content-Type": "application/json"}
            r = http.post(webhook_url, content=raw, headers=headers)
            assert r.status_code == 200 and "CONTAINER ID" in r.text, r.text

        senders = {
            "webhook": theirs,
            "list": dockerverse("gh", gh, "list --all"),
            "list-slack": dockerverse("ci-github", ci, "list --all", "C0BENCH"),
            "list-one": dockerverse("gh", gh, f"list {one}"),
            "help": dockerverse("gh", gh, "help"),
        }
        try:
            mark = cpu_seconds(web), cpu_seconds(worker)
            for i in range(args.rounds + 20):
                for kind, send in senders.items():
                    t0 = time.perf_counter()
                    send()
                    took = time.perf_counter() - t0
                    # A quiet 20 ms after each request, so none pays for another's tail (the docker CLI
                    # exiting, a Slack post made after the answer), which is counted in its own CPU.
                    time.sleep(0.02)
                    now = cpu_seconds(web), cpu_seconds(worker)
                    if i >= 20:
                        lat[kind].append(took * 1000)
                        cpu[kind]["web"] += now[0] - mark[0]
                        cpu[kind]["worker"] += now[1] - mark[1]
                    mark = now
            posts = slack.wait_for(
                "chat.postMessage", lambda c: c.params.get("channel") == "C0BENCH", count=args.rounds + 20
            )
        finally:
            webhook.terminate()
            stack.stop()
            redis.stop()
    median = {k: statistics.median(v) for k, v in lat.items()}
    lines = [
        f"Hook benchmark, {args.rounds} rounds of each kind in turn, {args.containers} running containers, "
        f"{time.strftime('%Y-%m-%d')}, one Python client (httpx, kept-alive), 2 cores",
        "",
        "| signed request -> answer | median ms | p99 ms | vs webhook | web CPU ms/cmd | worker CPU ms/cmd |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, label in KINDS.items():
        cpu_cols = (
            f"{cpu[kind]['web'] / args.rounds * 1000:.1f} | {cpu[kind]['worker'] / args.rounds * 1000:.1f}"
            if kind != "webhook"
            else "(dockerd and the docker CLI) | "
        )
        lines.append(
            f"| {label} | {median[kind]:.1f} | {pct(lat[kind], 0.99):.1f} | "
            f"{median[kind] / median['webhook']:.2f}x | {cpu_cols} |"
        )
    lines += [
        "",
        f"`list --all` without a Slack channel is **{median['list'] / median['webhook']:.2f}x** webhook's median; "
        f"replying in Slack, **{median['list-slack'] / median['webhook']:.2f}x** (aim: at most 0.5x). "
        f"{len(posts)} Slack posts for {args.rounds + 20} Slack-replying hooks (each exactly once). CPU is "
        "user+system time from /proc (10 ms ticks, summed over the rounds).",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-hooks.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
