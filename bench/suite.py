"""Benchmark suite (issue 9): acknowledgement under concurrency, command-to-result for list, logs and
run beside docker-py, sustained throughput with none lost or doubled, `list` over 1,000 containers,
and memory. Everything real. Writes docs/bench-suite.md and docs/bench-latency.png.

    .venv/bin/python -m bench.suite
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import docker
import httpx
import redis as redis_lib

from bench.pipeline import pct
from bench.soak import JOB, rss_mb
from bot.hosts import workers
from tests.support.fakeslack import FakeSlack
from tests.support.services import TEST_IMAGE, build_test_image, ensure_dockerd, start_redis
from tests.support.stack import SIGNING_SECRET, Stack, slack_signature

ROOT = Path(__file__).resolve().parent.parent


def slash_request(stack: Stack, text: str, channel: str) -> tuple[bytes, dict[str, str]]:
    from urllib.parse import urlencode

    body = urlencode(
        {
            "team_id": "T1",
            "channel_id": channel,
            "user_id": "U0ADMIN",
            "command": "/docker",
            "text": text,
            "response_url": "http://127.0.0.1:9/x",
            "trigger_id": "1",
        }
    ).encode()
    ts = str(int(time.time()))
    return body, {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, ts, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def acks(stack: Stack, senders: int, per_sender: int) -> list[float]:
    """Each of `senders` concurrent clients sends `per_sender` slash commands; ack latencies in ms."""
    out: list[float] = []

    async def sender(client: httpx.AsyncClient) -> None:
        for _ in range(per_sender):
            body, headers = slash_request(stack, "help", "C0ACK")
            t0 = time.perf_counter()
            resp = await client.post(f"{stack.web_url}/slack/events", content=body, headers=headers)
            out.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200 and "queued" in resp.text, resp.text

    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(sender(client) for _ in range(senders)))
    return out


def to_result(stack: Stack, slack: FakeSlack, text: str, rounds: int) -> list[float]:
    """Signed slash command to the result's post (or the edit that carries it), in ms."""
    out = []
    for _ in range(rounds):
        chan = "C" + uuid.uuid4().hex[:10].upper()
        t0 = time.monotonic()
        stack.slash(text.replace("{n}", uuid.uuid4().hex[:6]), channel=chan, user="U0ADMIN")
        [post] = slack.wait_for(
            "chat.postMessage",
            lambda c, ch=chan: c.params.get("channel") == ch and str(c.params.get("text", "")).startswith("✅"),
            timeout=30,
        )
        out.append((post.at - t0) * 1000)
    slack.reset()
    return out


def raw(call: object, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        call()  # type: ignore[operator]
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def throughput(stack: Stack, slack: FakeSlack, total: int, senders: int) -> tuple[float, int, int, int]:
    """Commands/s from the first send to the last reply; (rate, acknowledged, replied once, replied twice)."""
    acked: set[str] = set()

    async def sender(client: httpx.AsyncClient, n: int) -> None:
        for _ in range(n):
            body, headers = slash_request(stack, "help", "C0LOAD")
            resp = await client.post(f"{stack.web_url}/slack/events", content=body, headers=headers)
            found = JOB.search(resp.text)
            if found:
                acked.add(found.group(1))

    slack.reset()
    t0 = time.monotonic()
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        await asyncio.gather(*(sender(client, total // senders) for _ in range(senders)))
    slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0LOAD", count=len(acked), timeout=300)
    elapsed = max(c.at for c in slack.calls("chat.postMessage")) - t0
    replies = Counter(
        m.group(1)
        for c in slack.calls("chat.postMessage")
        if c.params.get("channel") == "C0LOAD"
        for m in [JOB.search(str(c.params.get("blocks")))]
        if m
    )
    once = sum(1 for j in acked if replies[j] == 1)
    twice = sum(1 for j in acked if replies[j] > 1)
    return len(acked) / elapsed, len(acked), once, twice


def memory(stack: Stack, url: str) -> tuple[float, float]:
    pids = [int(w.pid) for w in workers(redis_lib.Redis.from_url(url))]
    return rss_mb(stack.procs[-1].pid), max((rss_mb(p) for p in pids), default=0.0)


def plot(series: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.boxplot(list(series.values()), vert=False, showfliers=False)
    ax.set_yticks(range(1, len(series) + 1), list(series))
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log scale; boxes 25-75 %, whiskers 1.5 IQR)")
    ax.set_title("Dockerverse latency, one run on 2 cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ensure_dockerd()
    build_test_image()
    client = docker.from_env()
    rows: list[tuple[str, str, str, str]] = []
    series: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        redis = start_redis(Path(tmp) / "redis")
        stack = Stack.start(redis.url, slack.url, Path(tmp))
        stack.spawn(Path(tmp) / "worker-2.log", "worker")  # two workers on the host
        client.containers.run(
            TEST_IMAGE,
            ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done"],
            detach=True,
            name="dvbench-logs",
            labels={"dockerverse.bench": "suite"},
        )
        made: list[str] = []
        try:
            idle_web, idle_worker = memory(stack, redis.url)
            for senders in (1, 20, 100):
                lat = asyncio.run(acks(stack, senders, max(5, 600 // senders)))
                series[f"ack, {senders} senders"] = lat
                rows.append(
                    (
                        f"slash command acknowledged, {senders} concurrent senders",
                        f"{statistics.median(lat):.1f}",
                        f"{pct(lat, 0.99):.1f}",
                        "p99 ≤ 100 ms at 20" if senders == 20 else "",
                    )
                )
            slack.reset()
            cases = [
                ("list", "list --all", lambda: client.api.containers(all=True)),
                ("logs", "logs dvbench-logs --tail 20", lambda: client.api.logs("dvbench-logs", tail=20)),
                ("run", f"run {TEST_IMAGE} --name dvbench-{{n}} -- true", None),
            ]
            for label, text, call in cases:
                e2e = to_result(stack, slack, text, 60)
                series[f"{label}, end to end"] = e2e
                rows.append(
                    (
                        f"`{label}`: slash command → result posted",
                        f"{statistics.median(e2e):.1f}",
                        f"{pct(e2e, 0.99):.1f}",
                        "overhead ≤ 10 ms (list)" if label == "list" else "",
                    )
                )
                if call is not None:
                    direct = raw(call, 60)
                    series[f"{label}, docker-py"] = direct
                    rows.append(
                        (
                            f"`{label}`: the raw docker-py call",
                            f"{statistics.median(direct):.1f}",
                            f"{pct(direct, 0.99):.1f}",
                            "",
                        )
                    )
            made = [
                c.id for c in client.containers.list(all=True, filters={"name": "dvbench-"}) if c.name != "dvbench-logs"
            ]
            rate, acked, once, twice = asyncio.run(throughput(stack, slack, 2000, 20))
            rows.append(
                (
                    "sustained: 2,000 commands, 20 senders, 2 workers",
                    f"{rate:.0f} commands/s",
                    "",
                    f"{once} of {acked} replied once, {twice} twice; aim ≥ 200/s",
                )
            )
            busy_web, busy_worker = memory(stack, redis.url)
            rows.append(
                (
                    "RSS idle → after the load: web / largest worker",
                    f"{idle_web:.0f} → {busy_web:.0f} MB",
                    f"{idle_worker:.0f} → {busy_worker:.0f} MB",
                    "aim ≤ 100 MB each",
                )
            )
            # 1,000 containers, created not started.
            for i in range(1000):
                made.append(
                    client.api.create_container(
                        TEST_IMAGE, ["true"], name=f"dvbench-many-{i:04d}", labels={"dockerverse.bench": "suite"}
                    )["Id"]
                )
            many = to_result(stack, slack, "list --all dvbench-many", 10)
            series["list of 1,000 containers"] = many
            rows.append(
                (
                    "`list --all` over 1,000 containers → posted (20 a page, within 50 blocks)",
                    f"{statistics.median(many):.1f}",
                    f"{pct(many, 0.99):.1f}",
                    "aim ≤ 500 ms",
                )
            )
        finally:
            for box in client.containers.list(all=True, filters={"label": "dockerverse.bench=suite"}):
                box.remove(force=True)
            for cid in made:
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(cid, force=True)
            stack.stop()
            redis.stop()
    lines = [
        f"Benchmark suite, one run, {time.strftime('%Y-%m-%d')}, 2 cores",
        "",
        "| measure | median ms | p99 ms | aim / note |",
        "| --- | ---: | ---: | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "bench-suite.md").write_text(text + "\n")
    plot(series, ROOT / "docs" / "bench-latency.png")


if __name__ == "__main__":
    main()
