"""Benchmark: a signed hook `list` with wait, beside adnanh/webhook running `docker ps -a`.

adnanh/webhook (Debian's `webhook`) is what CI users wire by hand today: an HMAC-checked
HTTP endpoint that runs a shell command and returns its output. Both get the same
GitHub-style signed request over a kept-alive connection, alternately, in the same run,
each after a quiet 20 ms.
Dockerverse's hook `gh` has no Slack channel, so both do the same work: verify, run the
listing, answer with it. Writes docs/bench-hooks.md.

    .venv/bin/python -m bench.hooks [--rounds 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench import UNLIMITED
from bench.pipeline import pct
from bot.core.hook_signatures import github_key, github_signature
from tests.support.fakeslack import FakeSlack
from tests.support.services import ensure_dockerd, free_port, start_redis
from tests.support.stack import GH_SECRET, Stack

ROOT = Path(__file__).resolve().parent.parent


def start_webhook(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    docker = shutil.which("docker")
    if not shutil.which("webhook") or not docker:
        raise SystemExit("bench.hooks needs Debian's `webhook` and the docker CLI: apt-get install webhook docker.io")
    hooks = [
        {
            "id": "list",
            "execute-command": docker,
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    ensure_dockerd()
    key = github_key(GH_SECRET)
    ours_body = json.dumps({"command": "list --all", "wait": 30}).encode()
    theirs_body = b'{"ref": "refs/heads/main"}'
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack, httpx.Client() as http:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp), policy_extra=UNLIMITED)
        webhook, webhook_url = start_webhook(Path(tmp))
        try:
            ours, theirs = [], []
            for i in range(args.rounds + 20):
                # A quiet 20 ms before each request, so neither pays for the other's tail
                # (the docker CLI exiting, dockerd closing its connection): CI requests are sparse.
                time.sleep(0.02)
                t0 = time.perf_counter()
                r = http.post(
                    f"{stack.web_url}/hooks/gh",
                    content=ours_body,
                    headers={
                        "X-Hub-Signature-256": github_signature(key, ours_body),
                        "X-GitHub-Delivery": str(uuid.uuid4()),
                        "Content-Type": "application/json",
                    },
                )
                ours_s = time.perf_counter() - t0
                assert r.status_code == 200 and r.json()["status"] == "finished", r.text

                time.sleep(0.02)
                t0 = time.perf_counter()
                r = http.post(
                    webhook_url,
                    content=theirs_body,
                    headers={
                        "X-Hub-Signature-256": github_signature(key, theirs_body),
                        "Content-Type": "application/json",
                    },
                )
                theirs_s = time.perf_counter() - t0
                assert r.status_code == 200 and "CONTAINER ID" in r.text, r.text
                if i >= 20:
                    ours.append(ours_s * 1000)
                    theirs.append(theirs_s * 1000)
        finally:
            webhook.terminate()
            stack.stop()
            redis.stop()
    ratio = statistics.median(ours) / statistics.median(theirs)
    lines = [
        f"Hook benchmark, {args.rounds} alternating rounds, {time.strftime('%Y-%m-%d')}",
        "",
        "| signed request -> listing in the response | median ms | p99 ms |",
        "| --- | ---: | ---: |",
        f"| Dockerverse `POST /hooks/gh` `list --all` with wait | {statistics.median(ours):.1f} | "
        f"{pct(ours, 0.99):.1f} |",
        f"| adnanh/webhook running `docker ps -a` | {statistics.median(theirs):.1f} | {pct(theirs, 0.99):.1f} |",
        "",
        f"Dockerverse's median is **{ratio:.2f}x** webhook's (aim: at most 0.5x).",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-hooks.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
