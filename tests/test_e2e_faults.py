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
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def test_redis_down_is_said_within_slacks_limit_and_service_resumes(
    fake_slack: FakeSlack, docker_engine: docker.DockerClient, tmp_path: Path
) -> None:
    """With Redis gone the slash command is still answered in time, saying so; nothing runs later;
    when Redis is back the same processes serve again."""
    redis = start_redis(tmp_path / "redis")
    stack = Stack.start(redis.url, fake_slack.url, tmp_path)
    try:
        redis.stop()
        resp = stack.slash("list", channel="C0DOWN", timeout=3.0)  # Slack gives up after 3 s
        assert resp.status_code == 200
        assert "cannot be reached" in resp.json()["text"] and "nothing was queued" in resp.json()["text"]
        assert httpx.get(f"{stack.web_url}/readyz").status_code == 503

        redis.start()  # same port, empty: the worker must register again by itself
        stack.wait_ready(timeout=60)
        chan = "C" + uuid.uuid4().hex[:8].upper()
        assert "queued as job" in stack.slash("list", channel=chan).json()["text"]
        fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, timeout=20)
        assert not [c for c in fake_slack.calls() if c.params.get("channel") == "C0DOWN"]
    finally:
        stack.stop()
        redis.stop()


def test_slack_rate_limit_is_waited_out_and_the_reply_arrives_once(
    fake_slack: FakeSlack, redis_url: str, docker_engine: docker.DockerClient, tmp_path: Path
) -> None:
    """A 429 with Retry-After on chat.postMessage is retried after the wait: one reply, not lost, not doubled."""
    stack = Stack.start(redis_url, fake_slack.url, tmp_path)
    try:
        fake_slack.fail_next("chat.postMessage", status=429, retry_after=1, times=1)
        chan = "C" + uuid.uuid4().hex[:8].upper()
        started = time.monotonic()
        stack.slash("help", channel=chan)
        fake_slack.wait_for(
            "chat.postMessage", lambda c: c.params.get("channel") == chan and c.status == 200, timeout=20
        )
        assert time.monotonic() - started >= 1.0  # Retry-After honoured
        attempts = [c.status for c in fake_slack.calls("chat.postMessage") if c.params.get("channel") == chan]
        assert attempts == [429, 200]
    finally:
        stack.stop()
