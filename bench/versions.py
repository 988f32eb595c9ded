"""Benchmark: two versions of Dockerverse side by side, the CPU each process spends per signed hook.

The machine's speed drifts by a third between minutes, so a figure from an earlier run says little
about a change. This starts two stacks at once, one on a git ref (checked out in a temporary worktree)
and one on the working tree, each with its own Redis and the same fake Slack and dockerd, and sends
their hooks alternately from one Python client (httpx, kept-alive), reading each process's CPU time
from /proc around every request (10 ms ticks, summed: good to a few tenths of a millisecond over
hundreds of rounds). Both run on this checkout's virtualenv; `--hide MODULE` makes the ref's
processes run as if MODULE were not installed (a dependency the ref did not have). Writes
docs/bench-versions.md.

    .venv/bin/python -m bench.versions --base d8a5810 --hide hiredis [--rounds 500] [--command list]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench import UNLIMITED, sleeping_containers
from bench.hooks import cpu_seconds, github_delivery
from bot.core.hook_signatures import github_key
from tests.support import stack as stack_module
from tests.support.fakeslack import FakeSlack
from tests.support.services import start_redis
from tests.support.stack import CI_SECRET, GH_SECRET, Stack

ROOT = Path(__file__).resolve().parent.parent
PAUSE = 0.005  # after each answer, so the worker's bookkeeping after it is counted with its request


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def start(root: Path, redis_url: str, slack_url: str, tmp: Path, pythonpath: str) -> Stack:
    """A stack whose processes import Dockerverse from ``root`` (Stack starts them with root as cwd)."""
    saved = stack_module.ROOT
    stack_module.ROOT = root
    try:
        return Stack.start(
            redis_url, slack_url, tmp, policy_extra=UNLIMITED, DOCKERVERSE_STREAM_WORKERS="0", PYTHONPATH=pythonpath
        )
    finally:
        stack_module.ROOT = saved


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the git ref to compare the working tree with")
    parser.add_argument("--hide", action="append", default=[], help="a module the base runs without")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--command", default="list")
    parser.add_argument("--containers", type=int, default=1)
    parser.add_argument("--slack", action="store_true", help="the hook replies in a (fake) Slack channel too")
    args = parser.parse_args()
    key = github_key(CI_SECRET if args.slack else GH_SECRET)
    hook, extra = ("ci-github", {"channel": "C0VERSIONS"}) if args.slack else ("gh", {})
    names = (args.base, "working tree")
    cpu = {(name, proc): 0.0 for name in names for proc in ("web", "worker")}
    lat: dict[str, list[float]] = {name: [] for name in names}
    with (
        sleeping_containers(args.containers, "bench-versions"),
        tempfile.TemporaryDirectory() as tmp_dir,
        FakeSlack() as slack,
        httpx.Client(timeout=60) as http,
    ):
        tmp = Path(tmp_dir)
        base_tree = tmp / "base"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", str(base_tree), args.base], check=True)
        hidden = tmp / "hidden"
        hidden.mkdir()
        for module in args.hide:
            (hidden / f"{module}.py").write_text(f"raise ImportError('{module} hidden by bench.versions')\n")
        stacks: dict[str, Stack] = {}
        servers = []
        try:
            for name, root, pythonpath in (
                (names[0], base_tree, str(hidden)),
                (names[1], ROOT, ""),
            ):
                redis = start_redis(tmp / f"redis-{len(stacks)}")
                servers.append(redis)
                (tmp / f"stack-{len(stacks)}").mkdir()
                stacks[name] = start(root, redis.url, slack.url, tmp / f"stack-{len(stacks)}", pythonpath)
            pids = {
                (name, proc): process_tree(p.pid)
                for name, stack in stacks.items()
                for p in stack.procs
                for proc in ("web", "worker")
                if proc in list(p.args)  # type: ignore[arg-type]
            }

            def sender(stack: Stack) -> Callable[[], None]:
                def send() -> None:
                    raw = json.dumps({"command": args.command, "wait": 30, **extra}).encode()
                    r = http.post(f"{stack.web_url}/hooks/{hook}", content=raw, headers=github_delivery(key, raw))
                    assert r.status_code == 200 and r.json()["status"] == "finished", r.text

                return send

            sends = {name: sender(stack) for name, stack in stacks.items()}
            for _ in range(30):
                for send in sends.values():
                    send()
            for i in range(args.rounds):
                for name in names if i % 2 else names[::-1]:
                    mine = [k for k in pids if k[0] == name]
                    before = {k: sum(cpu_seconds(p) for p in pids[k]) for k in mine}
                    t0 = time.perf_counter()
                    sends[name]()
                    lat[name].append((time.perf_counter() - t0) * 1000)
                    time.sleep(PAUSE)
                    for k in mine:
                        cpu[k] += sum(cpu_seconds(p) for p in pids[k]) - before[k]
        finally:
            for stack in stacks.values():
                stack.stop()
            for server in servers:
                server.stop()
            subprocess.run([*git, "remove", "--force", str(base_tree)], check=False)
    per = {k: v / args.rounds * 1000 for k, v in cpu.items()}
    hidden_note = f", run without {', '.join(args.hide)}" if args.hide else ""
    lines = [
        f"Two versions side by side, {args.rounds} signed hook `{args.command}`s each, alternating, "
        f"{args.containers} running container(s){', each replying in Slack' if args.slack else ''}, "
        f"{time.strftime('%Y-%m-%d')}, one Python client (httpx), 2 cores",
        "",
        "| version | median ms | web CPU ms/cmd | worker CPU ms/cmd |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in names:
        label = f"`{name}`{hidden_note}" if name == args.base else name
        lines.append(
            f"| {label} | {statistics.median(lat[name]):.1f} | {per[(name, 'web')]:.2f} | {per[(name, 'worker')]:.2f} |"
        )
    base, head = names
    lines += [
        "",
        f"Working tree / `{base}`: worker CPU **{per[(head, 'worker')] / per[(base, 'worker')]:.2f}x**, web CPU "
        f"**{per[(head, 'web')] / per[(base, 'web')]:.2f}x**. CPU is user+system time from /proc around each "
        "request (10 ms ticks, summed over the rounds); the worker's includes its bookkeeping after the answer.",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-versions.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
