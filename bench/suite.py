"""Benchmark suite: command-to-result for list, logs and run beside docker-py, `list` over 1,000
containers, and memory. Everything real. Writes docs/bench-suite.md and docs/bench-latency.png.
(Acknowledgements under concurrent senders and sustained throughput: bench/acks.py, with wrk.)

    .venv/bin/python -m bench.suite
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import docker
import redis as redis_lib

from bench import UNLIMITED
from bench.pipeline import pct
from bench.soak import rss_mb
from bot.wire.hosts import workers
from tests.support.fakeslack import Call, FakeSlack
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


def to_result(stack: Stack, slack: FakeSlack, text: str, rounds: int) -> list[float]:
    """Signed slash command to the result's post (or the edit that carries it), in ms."""
    out = []
    for _ in range(rounds):
        chan = "C" + uuid.uuid4().hex[:10].upper()
        t0 = time.monotonic()
        stack.slash(text.replace("{n}", uuid.uuid4().hex[:6]), channel=chan, user="U0ADMIN")
        out.append((result_call(slack, chan).at - t0) * 1000)
    slack.reset()
    return out


def result_call(slack: FakeSlack, chan: str, timeout: float = 30) -> Call:
    """The post, or the edit of a running message, that carries a job's result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in slack.calls():
            if (
                call.method in ("chat.postMessage", "chat.update")
                and call.params.get("channel") == chan
                and str(call.params.get("text", "")).startswith(("✅", "❌"))
            ):
                return call
        time.sleep(0.002)
    raise AssertionError(f"no result in {chan}")


def raw(call: object, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        call()  # type: ignore[operator]
        out.append((time.perf_counter() - t0) * 1000)
    return out


def memory(stack: Stack, url: str) -> tuple[float, float]:
    pids = [int(w.pid) for w in workers(redis_lib.Redis.from_url(url))]
    # The web by its command line: benchmarks spawn more workers after it, so it is not always last.
    web = next(p.pid for p in stack.procs if "web" in list(p.args))  # type: ignore[arg-type]
    return rss_mb(web), max((rss_mb(p) for p in pids), default=0.0)


def plot(series: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.boxplot(list(series.values()), orientation="horizontal", showfliers=False)
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
        # No rate limit in the way of a benchmark's 60 runs a minute.
        stack = Stack.start(redis.url, slack.url, Path(tmp), policy_extra=UNLIMITED)
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
