"""Redis as production runs it: the whole stack over TLS, and through a Sentinel failover under load.

Debian's redis-server and redis-sentinel, started here on free ports: a TLS-only Redis that asks for
client certificates, and a master, a replica and three sentinels whose master is SIGKILLed while
hooks stream in. Every acknowledged command must be answered in Slack exactly once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bot.wire import claims, redis_url
from bot.wire.queues import FINAL
from tests.support.fakeslack import FakeSlack
from tests.support.redis_ha import SentinelCluster, make_tls, start_tls_redis, tls_url
from tests.support.stack import API_TOKEN, Stack, standard_headers

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.slow]
CHANNEL = "C0LOAD"
JOB_IN_REPLY = re.compile(r"job `([0-9a-f]{12})`")


def post_hook(http: httpx.Client, stack: Stack, command: str, timeout: float = 10.0) -> httpx.Response:
    body = json.dumps({"command": command, "channel": CHANNEL}).encode()
    headers = standard_headers(body)
    return http.post(f"{stack.web_url}/hooks/ci", content=body, headers=headers, timeout=timeout)


def answered(slack: FakeSlack) -> Counter[str]:
    """Root replies posted in the load channel, counted by the job id they name."""
    found: Counter[str] = Counter()
    for call in slack.calls("chat.postMessage"):
        if call.params.get("channel") == CHANNEL:
            found.update(set(JOB_IN_REPLY.findall(json.dumps(call.params))))
    return found


def wait_for(ok: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_whole_stack_over_tls_with_client_certificates(tmp_path: Path) -> None:
    """REDIS_URL=rediss://...?ssl_ca_certs=&ssl_certfile=&ssl_keyfile= carries web and worker: a hook is
    answered in Slack and its result read back; without the CA the server's certificate is refused."""
    tls = make_tls(tmp_path / "tls")
    server = start_tls_redis(tmp_path, tls)
    try:
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            redis_url.client(f"rediss://127.0.0.1:{server.port}/0", socket_timeout=2).ping()
        with FakeSlack() as slack:
            stack = Stack.start(tls_url(server.port, tls), slack.url, tmp_path, DOCKERVERSE_STREAM_WORKERS="0")
            try:
                resp = post_hook(stack.http, stack, "help")
                assert resp.status_code == 202, resp.text
                job_id = resp.json()["job_id"]
                wait_for(lambda: answered(slack)[job_id[:12]] == 1, 30, "the hook's reply in Slack")

                # The Slack post happens inside the job, so RQ marks it finished a moment later.
                def job_state() -> dict[str, Any]:
                    return stack.http.get(
                        f"{stack.web_url}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {API_TOKEN}"}
                    ).json()

                wait_for(lambda: job_state()["status"] in FINAL, 30, "the job's end")
                assert job_state()["status"] == "finished", job_state()
            finally:
                stack.stop()
    finally:
        server.stop()


@dataclass
class Sent:
    at: float
    status: int
    job_id: str | None
    error: str


@dataclass
class Load:
    """One client sending `help` hooks back to back (as a CI fleet would), recording every answer."""

    stack: Stack
    sent: list[Sent] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client() as http:
            while not self.stop.is_set():
                at = time.monotonic()
                try:
                    resp = post_hook(http, self.stack, "help", timeout=8)
                    body = resp.json()
                    self.sent.append(Sent(at, resp.status_code, body.get("job_id"), body.get("error", "")))
                except (httpx.HTTPError, ValueError) as exc:
                    self.sent.append(Sent(at, 0, None, repr(exc)))
                time.sleep(0.03)

    def acked(self, after: float = 0.0) -> list[Sent]:
        return [s for s in list(self.sent) if s.status == 202 and s.job_id and s.at >= after]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    """A master, a replica and three sentinels (down after 1 s), stopped afterwards."""
    running = SentinelCluster.start(tmp_path / "ha")
    yield running
    running.stop()


def test_master_killed_under_load_loses_and_doubles_no_acknowledged_command(
    cluster: SentinelCluster, tmp_path: Path
) -> None:
    """SIGKILL the master mid-load: the sentinels promote the replica, web and workers carry on unrestarted,
    and every acknowledged hook is answered exactly once (refusals during the failover say why)."""
    with FakeSlack() as slack:
        stack = Stack.start(
            cluster.url, slack.url, tmp_path, DOCKERVERSE_REDIS_REPLICAS="1", DOCKERVERSE_STREAM_WORKERS="0"
        )
        load = Load(stack)
        thread = threading.Thread(target=load.run, daemon=True)
        try:
            thread.start()
            wait_for(lambda: len(load.acked()) >= 20, 60, "20 hooks acknowledged before the kill")
            old = cluster.master_port()
            killed_at = time.monotonic()
            cluster.node(old).kill()
            cluster.wait_until(lambda: cluster.master_port() not in (0, old), 30)
            promoted = time.monotonic() - killed_at
            cluster.node(old).start()  # restarted empty, as after a crash: the sentinels make it a replica
            cluster.wait_replicas(cluster.master_port(), 1, 60)
            replica_back = time.monotonic() - killed_at
            wait_for(lambda: len(load.acked(after=killed_at)) >= 20, 90, "20 hooks acknowledged after the kill")
            load.stop.set()
            thread.join(15)

            acked = {s.job_id[:12] for s in load.acked() if s.job_id}
            wait_for(lambda: acked <= set(answered(slack)), 90, "every acknowledged hook answered")
            conn = redis_url.client(cluster.url, socket_timeout=2)
            queue = "dockerverse:local"
            settled = (f"rq:queue:{queue}", f"rq:queue:{queue}:intermediate")

            def left() -> dict[str, object]:
                """What is still queued, taken, running or awaiting its deadline."""
                found: dict[str, object] = {k: conn.lrange(k, 0, -1) for k in settled}
                found["running"] = [
                    (e, conn.hget(f"rq:job:{e.decode().split(':')[0]}", "status"))
                    for e in conn.zrange(f"rq:wip:{queue}", 0, -1)
                ]
                found["deadlines"] = conn.zrange(claims.DEADLINES, 0, -1)
                return {k: v for k, v in found.items() if v}

            try:  # none left, so no late second answer can come
                wait_for(lambda: not left(), 90, "no job left queued, taken or running")
            except AssertionError:
                raise AssertionError(f"{left()}\n{stack.dump_logs()}") from None
            counts = answered(slack)
            doubled = {j: n for j, n in counts.items() if n > 1}
            lost = acked - set(counts)
            refused = [s for s in load.sent if s.status != 202]
            first_ok = min(s.at for s in load.acked(after=killed_at)) - killed_at
            print(
                f"\nfailover: promoted {promoted:.1f}s after SIGKILL, a replica again after {replica_back:.1f}s, "
                f"first acknowledged command sent {first_ok:.1f}s after it; {len(acked)} acknowledged, "
                f"{len(refused)} refused, {len(set(counts) - acked)} refused but answered, "
                f"{len(lost)} lost, {len(doubled)} doubled"
            )
            print(Counter(s.error[:90] for s in refused))
            assert not lost and not doubled, (lost, doubled)
            for s in refused:
                assert s.status == 503 and ("Redis" in s.error or "worker" in s.error), s
            for proc in stack.procs:
                assert proc.poll() is None, stack.dump_logs()
            logs = "".join(log.read_text(errors="replace") for log in stack.logs)
            assert "starting another" not in logs and "quitting" not in logs, stack.dump_logs()
        finally:
            load.stop.set()
            thread.join(15)
            stack.stop()
