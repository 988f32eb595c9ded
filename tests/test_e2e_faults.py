"""End to end under faults: Redis going away and coming back, Slack rate limits."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import docker
import httpx
import pytest

from tests.support.fakeslack import FakeSlack
from tests.support.services import start_redis
from tests.support.stack_factory import StackFactory, StackOptions

pytestmark = pytest.mark.e2e
# A stack per test, on database 0 (emptied before and after each test by `redis_url`): these tests kill things.
FRESH = StackOptions(db=0)


def test_redis_down_is_said_within_slacks_limit_and_service_resumes(
    slack: FakeSlack, stack_factory: StackFactory, docker_engine: docker.DockerClient, tmp_path: Path
) -> None:
    """With Redis gone the slash command is still answered in time, saying so; nothing runs later;
    when Redis is back the same processes serve again."""
    redis = start_redis(tmp_path / "redis")
    try:
        with stack_factory(FRESH, server=redis) as stack:
            redis.stop()
            resp = stack.slash("list", channel="C0DOWN", timeout=3.0)  # Slack gives up after 3 s
            assert resp.status_code == 200
            assert "cannot be reached" in resp.json()["text"] and "nothing was queued" in resp.json()["text"]
            assert httpx.get(f"{stack.web_url}/readyz").status_code == 503

            redis.start()  # same port, empty: the worker must register again by itself
            stack.wait_ready(timeout=60)
            chan = "C" + uuid.uuid4().hex[:8].upper()
            assert "queued as job" in stack.slash("list", channel=chan).json()["text"]
            slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, timeout=20)
            assert not [c for c in slack.calls() if c.params.get("channel") == "C0DOWN"]
    finally:
        redis.stop()


def test_slack_rate_limit_is_waited_out_and_the_reply_arrives_once(
    slack: FakeSlack, stack_factory: StackFactory, redis_url: str, docker_engine: docker.DockerClient
) -> None:
    """A 429 with Retry-After on chat.postMessage is retried after the wait: one reply, not lost, not doubled."""
    with stack_factory(FRESH) as stack:
        slack.fail_next("chat.postMessage", status=429, retry_after=1, times=1)
        chan = "C" + uuid.uuid4().hex[:8].upper()
        started = time.monotonic()
        stack.slash("help", channel=chan)
        slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan and c.status == 200, timeout=20)
        assert time.monotonic() - started >= 1.0  # Retry-After honoured
        attempts = [c.status for c in slack.calls("chat.postMessage") if c.params.get("channel") == chan]
        assert attempts == [429, 200]


def _worker_pid(redis_url: str, lane: str, host: str = "local") -> int:
    import redis as redis_lib

    from bot.wire.hosts import workers

    [one] = [w for w in workers(redis_lib.Redis.from_url(redis_url)) if w.host == host and lane in w.lanes]
    return int(one.pid)


def _running(redis_url: str, queue: str = "dockerverse:local", timeout: float = 20.0) -> None:
    """Until a worker has started a job of `queue` (RQ's registry of started jobs holds it)."""
    import redis as redis_lib

    deadline = time.monotonic() + timeout
    with redis_lib.Redis.from_url(redis_url) as conn:
        while not conn.zcard(f"rq:wip:{queue}"):
            assert time.monotonic() < deadline, f"no job of {queue} started within {timeout:g} s"
            time.sleep(0.1)


def test_a_worker_killed_mid_job_is_reported_and_not_rerun(
    slack: FakeSlack,
    stack_factory: StackFactory,
    redis_url: str,
    docker_cleanup: docker.DockerClient,
    test_image: str,
) -> None:
    """SIGKILL to the slow-lane worker during a `stop` (which takes Docker 10 s): the thread hears within 60 s
    that the job was interrupted, the stop is not run again, and the supervisor's new worker serves the next."""
    import os
    import signal

    with stack_factory(FRESH) as stack:
        chan = "C" + uuid.uuid4().hex[:8].upper()
        name = f"dvtest-{uuid.uuid4().hex[:6]}"
        stack.slash(f"run {test_image} --name {name} -- sleep 300", channel=chan)  # PID 1 ignores SIGTERM
        slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, timeout=20)
        stack.slash(f"stop {name}", channel=chan)
        _running(redis_url, "dockerverse:local:slow")  # Docker is now waiting out its 10 s before SIGKILL
        os.kill(_worker_pid(redis_url, "slow"), signal.SIGKILL)
        killed = time.monotonic()
        told = slack.wait_for(
            "chat.postMessage",
            lambda c: c.params.get("channel") == chan and "interrupted" in c.params.get("text", ""),
            timeout=60,
        )[0]
        assert time.monotonic() - killed <= 60 and "not re-run" in told.params["text"]
        stack.wait_ready(timeout=30)
        again = stack.shell(f"restart {name}")  # on the slow-lane worker the supervisor started instead
        assert again.returncode == 0 and f"Restarted {name}" in again.stdout, again.stdout + again.stderr
        assert not [
            c for c in slack.calls() if c.params.get("channel") == chan and "Stopped" in str(c.params.get("text", ""))
        ]


def test_a_job_dequeued_by_a_worker_that_died_before_starting_it_runs_once(
    slack: FakeSlack,
    stack_factory: StackFactory,
    redis_url: str,
    docker_cleanup: docker.DockerClient,
    test_image: str,
) -> None:
    """RQ moves a job into the queue's intermediate list (BLMOVE) before starting it: a worker killed in
    between leaves it there, where RQ only fails it, silently, ten minutes later. It never ran, so it is
    queued again and runs once. (The BLMOVE of the dying worker is made here by hand, on the slow lane.)"""
    import subprocess
    import sys

    import redis as redis_lib

    with stack_factory(FRESH) as stack:
        first, second = (f"dvtest-{uuid.uuid4().hex[:6]}" for _ in range(2))
        for name in (first, second):  # PID 1 ignores SIGTERM: each stop waits out Docker's 10 s
            assert stack.shell(f"run {test_image} --name {name} -- sleep 300").returncode == 0
        busy = subprocess.Popen(  # keeps the slow-lane worker busy for Docker's 10 s stop timeout
            [sys.executable, "-m", "bot.cli.main", "shell", "-c", f"stop {first}"],
            env=stack.env,
            stdout=subprocess.PIPE,
        )
        _running(redis_url, "dockerverse:local:slow")
        conn = redis_lib.Redis.from_url(redis_url)
        chan = "C" + uuid.uuid4().hex[:8].upper()
        assert "queued" in stack.slash(f"stop {second}", channel=chan).text
        queue = "rq:queue:dockerverse:local:slow"
        moved = conn.lmove(queue, queue + ":intermediate", "LEFT", "RIGHT")  # the dying worker's BLMOVE
        assert moved is not None
        busy.wait(timeout=60)
        slack.wait_for(
            "chat.update",
            lambda c: c.params.get("channel") == chan and f"Stopped `{second}`" in c.params.get("text", ""),
            timeout=60,
        )
        roots = [c for c in slack.calls("chat.postMessage") if c.params.get("channel") == chan]
        assert len(roots) == 1, roots  # one run: its "running" message, edited to the result
        assert not conn.llen(queue + ":intermediate")


def test_sigterm_is_a_warm_shutdown(
    slack: FakeSlack,
    stack_factory: StackFactory,
    redis_url: str,
    docker_cleanup: docker.DockerClient,
    test_image: str,
) -> None:
    """SIGTERM to `dockerverse worker` lets a running job finish (its reply arrives), ends a follow with a
    note to its reader, and the workers exit."""
    import signal

    with stack_factory(FRESH) as stack:
        worker = stack.procs[0]
        chan = "C" + uuid.uuid4().hex[:8].upper()
        name = f"dvtest-{uuid.uuid4().hex[:6]}"
        stack.slash(f"run {test_image} --name {name} -- sleep 300", channel=chan)
        slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, timeout=20)
        follow = f"fol{uuid.uuid4().hex[:6]}"
        stack.slash(f"logs {name} --follow 5m", channel=follow.upper())
        stack.slash(f"stop {name}", channel=chan)
        _running(redis_url, "dockerverse:local:slow")
        worker.send_signal(signal.SIGTERM)
        # A stop takes Docker seconds, so its "running" message is edited to the result.
        done = slack.wait_for(
            "chat.update",
            lambda c: c.params.get("channel") == chan and f"Stopped `{name}`" in c.params.get("text", ""),
            timeout=30,
        )
        assert done
        note = slack.wait_for(
            "chat.update",
            lambda c: c.params.get("channel") == follow.upper() and "shutting down" in c.params.get("text", ""),
            timeout=30,
        )
        assert note
        assert worker.wait(timeout=30) == 0
