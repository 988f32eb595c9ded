"""Smoke tests proving the test infrastructure itself works against real services."""

from __future__ import annotations

import asyncio
import json
import time

import docker
import pytest
import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.support import services
from tests.support.fakeslack import FakeSlack


def test_redis_ping_and_write(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.ping()
    client.set("dockerverse:smoke", "1")
    assert client.dbsize() == 1


def test_redis_is_flushed_between_tests(redis_url: str) -> None:
    # Runs after the test above: its key must be gone.
    assert redis.Redis.from_url(redis_url).dbsize() == 0


def test_redis_restart_keeps_port(redis_server: services.RedisServer, redis_url: str) -> None:
    port = redis_server.port
    client = redis.Redis.from_url(redis_url)
    assert client.ping()
    redis_server.kill()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    redis_server.start()
    assert redis_server.port == port and redis_server.url == redis_url
    assert client.ping()  # redis-py reconnects to the same address
    redis_server.restart()
    assert client.ping()


def test_fake_slack_records_post_message(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake_slack.url)
    assert client.auth_test()["user_id"] == "U0LAN0Z89"
    first = client.chat_postMessage(channel="C1", text="hi")
    second = client.chat_postMessage(
        channel="C1", text="again", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "again"}}]
    )
    assert first["ok"] and first["channel"] == "C1"
    assert float(second["ts"]) > float(first["ts"])
    calls = fake_slack.wait_for("chat.postMessage", count=2)
    assert calls[0].params == {"channel": "C1", "text": "hi"}
    assert calls[0].token == "xoxb-test"
    assert calls[1].json_param("blocks")[0]["type"] == "section"
    client.chat_update(channel="C1", ts=first["ts"], text="edited")
    assert fake_slack.calls("chat.update")[0].params["ts"] == first["ts"]


def test_fake_slack_file_upload_and_async_client(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake_slack.url)
    result = client.files_upload_v2(channel="C1", content="log line\n", filename="logs.txt", title="logs")
    file_id = result["file"]["id"]
    assert fake_slack.uploads[file_id] == b"log line\n"
    done = fake_slack.calls("files.completeUploadExternal")[0]
    assert json.loads(done.params["files"])[0]["id"] == file_id

    async def post() -> str:
        aclient = AsyncWebClient(token="xoxb-test", base_url=fake_slack.url)
        return str((await aclient.chat_postMessage(channel="C2", text="async"))["ts"])

    assert asyncio.run(post())
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C2")


def test_fake_slack_rate_limit_is_retried(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    client = WebClient(
        token="xoxb-test", base_url=fake_slack.url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)]
    )
    started = time.monotonic()
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]
    assert time.monotonic() - started >= 1.0  # slack_sdk honoured Retry-After
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 200]


def test_fake_slack_error_injection(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    client = WebClient(token="xoxb-test", base_url=fake_slack.url)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C9", text="x")
    assert err.value.response["error"] == "channel_not_found"
    with pytest.raises(AssertionError, match="wanted 2 matching"):
        fake_slack.wait_for("chat.postMessage", count=2, timeout=0.2)


def test_docker_runs_test_image(docker_cleanup: docker.DockerClient, test_image: str) -> None:
    out = docker_cleanup.containers.run(
        test_image, ["echo", "hello"], labels={services.TEST_LABEL: services.SESSION}, remove=False
    )
    assert out == b"hello\n"
    image = docker_cleanup.images.get(test_image)
    assert image.labels.get(services.TEST_LABEL) == services.SESSION  # this run's own image
    assert image.attrs["Config"]["Cmd"] == ["/bin/sh"]


def test_docker_cleanup_removed_containers(docker_engine: docker.DockerClient) -> None:
    # Runs after the test above: docker_cleanup must have removed its container.
    assert docker_engine.containers.list(all=True, filters={"label": f"{services.TEST_LABEL}={services.SESSION}"}) == []


def test_registry_push_and_pull(
    docker_cleanup: docker.DockerClient, test_image: str, docker_registry: services.Registry
) -> None:
    repo = f"{docker_registry.url}/dockerverse-test/busybox"
    docker_cleanup.images.get(test_image).tag(repo, "smoke")
    for line in docker_cleanup.images.push(repo, tag="smoke", stream=True, decode=True):
        assert "error" not in line, line
    docker_cleanup.images.remove(f"{repo}:smoke")
    pulled = docker_cleanup.images.pull(repo, tag="smoke")
    assert f"{repo}:smoke" in pulled.tags
    # Pushed tags are test images too: session cleanup must recognise them.
    assert services._is_test_repo(repo)
