"""`redeploy` end to end: real dockerd, Debian's docker-registry on 127.0.0.1, `dockerverse web` and workers.

Images are built here from the busybox test image: busybox's httpd serves a page naming the image's
version, and a health check fetches it (or, for the bad image, simply fails).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import redis as redis_lib

from tests.support.fakeslack import FakeSlack
from tests.support.services import SESSION, TEST_LABEL, Registry, free_port
from tests.support.stack import CI_SECRET, Stack
from tests.support.stack_factory import StackOptions

REPO = "dockerverse-test/web"
GOOD = "HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"
BAD = "HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD false"
SLOW = "HEALTHCHECK --interval=2s --timeout=2s --retries=30 CMD test -f /tmp/ready"


STACK = StackOptions(db=15)


@pytest.fixture
def publish(
    docker_cleanup: docker.DockerClient, docker_registry: Registry, test_image: str
) -> Iterator[Callable[..., str]]:
    """Build an image (version page + health check), push it to the local registry, drop the local copy."""
    built: list[str] = []

    def build(
        tag: str, version: str, health: str = GOOD, cmd: str = '["httpd", "-f", "-p", "8080", "-h", "/www"]'
    ) -> str:
        ref = f"{docker_registry.url}/{REPO}:{tag}"
        dockerfile = (
            f"FROM {test_image}\nLABEL dockerverse.test=1\nRUN mkdir -p /www && echo {version} > /www/index.html\n"
            "STOPSIGNAL SIGKILL\nVOLUME /data\n"  # httpd as PID 1 ignores SIGTERM: spare each stop its 10 s
            f"{health}\nCMD {cmd}\n"
        )
        image, _ = docker_cleanup.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=ref, rm=True)
        docker_registry.push(docker_cleanup, ref)
        docker_cleanup.api.remove_image(ref)  # the worker must pull it
        built.append(str(image.id))
        return ref

    yield build
    for image_id in built:
        with contextlib.suppress(docker.errors.APIError):
            docker_cleanup.api.remove_image(image_id, force=True)


def shell(stack: Stack, command: str) -> subprocess.CompletedProcess[str]:
    return stack.shell(command)


def page(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text.strip()


def wait_page(port: int, want: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            last = page(port)
            if last == want:
                return
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise AssertionError(f"port {port} serves {last!r}, not {want!r}")


def start_service(stack: Stack, ref: str, name: str, port: int, *extra: str) -> dict[str, Any]:
    done = shell(stack, f"run {ref} --name {name} -p {port}:8080 -e GREETING=hello {' '.join(extra)}")
    assert done.returncode == 0, done.stdout + done.stderr
    return docker.from_env().api.inspect_container(name)


def containers_named(client: docker.DockerClient, name: str) -> list[Any]:
    return [c for c in client.containers.list(all=True) if c.name.startswith(name)]


def test_a_new_tag_keeps_name_ports_env_limits_and_labels(stack: Stack, publish: Callable[..., str]) -> None:
    v1, v2 = publish("v1", "one"), publish("v2", "two")
    name, port = f"dv-rd-{uuid.uuid4().hex[:6]}", free_port()
    before = start_service(stack, v1, name, port)
    wait_page(port, "one")
    client = docker.from_env()
    client.containers.get(name).exec_run(["sh", "-c", "echo kept > /data/marker"])  # data in the image's volume

    done = shell(stack, f"redeploy {name} --image {v2}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Redeployed {name}" in done.stdout and "healthy after" in done.stdout

    after = client.api.inspect_container(name)
    assert after["Id"] != before["Id"] and after["Config"]["Image"] == v2
    assert client.containers.get(name).exec_run(["cat", "/data/marker"]).output.strip() == b"kept"
    assert after["State"]["Running"] and after["State"]["Health"]["Status"] == "healthy"
    assert "GREETING=hello" in after["Config"]["Env"]
    assert after["HostConfig"]["PortBindings"] == before["HostConfig"]["PortBindings"]
    for limit in ("Memory", "NanoCpus", "PidsLimit", "RestartPolicy"):
        assert after["HostConfig"][limit] == before["HostConfig"][limit]
    for label in ("dockerverse.managed-by", "dockerverse.creator"):
        assert after["Config"]["Labels"][label] == before["Config"]["Labels"][label]
    assert [c.name for c in containers_named(client, name)] == [name], "the old container was not removed"
    assert page(port) == "two"


def test_a_moving_tag_is_pulled_again(stack: Stack, publish: Callable[..., str]) -> None:
    main = publish("main", "build-1")
    name, port = f"dv-rd-{uuid.uuid4().hex[:6]}", free_port()
    start_service(stack, main, name, port)
    wait_page(port, "build-1")
    publish("main", "build-2")  # CI pushed a new build under the same tag

    done = shell(stack, f"redeploy {name}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert page(port) == "build-2"


def test_an_unhealthy_image_is_rolled_back_and_ci_fails(stack: Stack, publish: Callable[..., str]) -> None:
    good, bad = publish("good", "stable"), publish("bad", "broken", health=BAD)
    name, port = f"dv-rd-{uuid.uuid4().hex[:6]}", free_port()
    before = start_service(stack, good, name, port)
    wait_page(port, "stable")

    cmd = [sys.executable, "-m", "bot.cli.main", "send", f"{stack.web_url}/hooks/ci", f"redeploy {name} --image {bad}"]
    sent = subprocess.run(
        [*cmd, "--secret", CI_SECRET, "--wait", "60"], env=stack.env, capture_output=True, text=True, timeout=120
    )
    assert sent.returncode == 1, sent.stdout + sent.stderr  # the pipeline fails
    assert "Rolled back" in sent.stdout and "health check failed" in sent.stdout, sent.stdout

    client = docker.from_env()
    after = client.api.inspect_container(name)
    assert after["Id"] == before["Id"] and after["State"]["Running"]
    assert [c.name for c in containers_named(client, name)] == [name], "the new container was left behind"
    wait_page(port, "stable")


def test_a_container_that_exits_is_rolled_back_with_its_exit_code(stack: Stack, publish: Callable[..., str]) -> None:
    good, crash = publish("ok", "fine"), publish("crash", "x", health="", cmd='["sh", "-c", "echo boom; exit 3"]')
    name, port = f"dv-rd-{uuid.uuid4().hex[:6]}", free_port()
    start_service(stack, good, name, port)
    done = shell(stack, f"redeploy {name} --image {crash}")
    assert done.returncode != 0
    assert "exited with code 3" in done.stdout, done.stdout
    wait_page(port, "fine")


def test_one_redeploy_per_container_at_a_time(stack: Stack, publish: Callable[..., str]) -> None:
    good, slow = publish("base", "base"), publish("slow", "slow", health=SLOW)
    name, port = f"dv-rd-{uuid.uuid4().hex[:6]}", free_port()
    start_service(stack, good, name, port)
    first = subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", "shell", "-c", f"redeploy {name} --image {slow} --health-timeout 8s"],
        env=stack.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    conn = redis_lib.Redis.from_url(stack.env["REDIS_URL"])
    key = f"dockerverse:redeploy:local:{name}"
    deadline = time.monotonic() + 60
    while not conn.exists(key) and time.monotonic() < deadline:
        time.sleep(0.2)
    second = shell(stack, f"redeploy {name} --image {good}")
    out, _ = first.communicate(timeout=120)
    assert second.returncode != 0 and "already being redeployed" in second.stdout, second.stdout
    assert "shell:" in second.stdout  # who holds it
    assert "Rolled back" in out and "not healthy within 8s" in out, out
    wait_page(port, "base")
    assert not conn.exists(key)


def test_a_worker_killed_mid_redeploy_leaves_the_old_container_serving(
    stack: Stack, publish: Callable[..., str]
) -> None:
    good, slow = publish("steady", "steady"), publish("never", "never", health=SLOW)
    name, port = f"dv-rd-{uuid.uuid4().hex[:6]}", free_port()
    before = start_service(stack, good, name, port)
    conn = redis_lib.Redis.from_url(stack.env["REDIS_URL"])
    key = f"dockerverse:redeploy:local:{name}"
    stack.spawn(Path(stack.logs[0]).with_name("redeploy-shell.log"), "shell", "-c", f"redeploy {name} --image {slow}")

    deadline = time.monotonic() + 60
    journal: dict[str, Any] = {}
    while time.monotonic() < deadline:
        raw = conn.get(key)
        journal = json.loads(raw)["d"] if raw else {}  # the sealed record: {"d": data, "exp", "s"}
        if journal.get("phase") == "proving":
            break
        time.sleep(0.2)
    assert journal.get("phase") == "proving", journal
    pid = int(conn.hget(f"rq:worker:{journal['worker']}", "pid") or 0)
    os.kill(pid, signal.SIGKILL)  # mid-swap: the new container runs, the old one is stopped and aside

    client = docker.from_env()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and conn.exists(key):
        time.sleep(0.5)
    assert not conn.exists(key), "the half-done redeploy was not reverted"
    after = client.api.inspect_container(name)
    assert after["Id"] == before["Id"] and after["State"]["Running"]
    assert [c.name for c in containers_named(client, name)] == [name]
    wait_page(port, "steady")


def test_in_slack_progress_edits_the_message_and_the_steps_go_in_the_thread(
    stack: Stack, slack: FakeSlack, publish: Callable[..., str]
) -> None:
    v1, v2 = publish("s1", "s-one"), publish("s2", "s-two")
    name, port = f"dv-rd-{uuid.uuid4().hex[:6]}", free_port()
    start_service(stack, v1, name, port)
    chan = "C" + uuid.uuid4().hex[:10].upper()
    ack = stack.slash(f"redeploy {name} --image {v2}", user="U0OPS", channel=chan)  # an operator
    assert ack.status_code == 200 and "queued" in ack.text, ack.text

    def done(call: Any) -> bool:
        return call.params.get("channel") == chan and "Redeployed" in str(call.params.get("text"))

    slack.wait_for("chat.update", done, timeout=90)
    running = slack.calls("chat.postMessage")
    root = next(c for c in running if c.params.get("channel") == chan and not c.params.get("thread_ts"))
    assert "Redeploying" in str(root.params["text"])  # shown while it pulls, starts and proves
    steps = slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == root.response.get("ts"), timeout=30
    )
    thread = "\n".join(str(c.params["text"]) for c in steps)
    assert "pulling" in thread and "health checks: 1 of 1 passed" in thread and "removed the old container" in thread
    assert page(port) == "s-two"


def test_an_auto_remove_container_is_refused_and_left_alone(stack: Stack, publish: Callable[..., str]) -> None:
    """Stopping a `--rm` container deletes it, so there would be nothing to roll back to."""
    ref = publish("rm", "rm")
    client = docker.from_env()
    client.images.pull(ref)
    name = f"dv-rd-{uuid.uuid4().hex[:6]}"
    client.containers.run(ref, name=name, detach=True, auto_remove=True, labels={TEST_LABEL: SESSION})
    done = shell(stack, f"redeploy {name}")
    assert done.returncode != 0 and "auto-remove" in done.stdout and "Nothing was changed" in done.stdout
    assert client.containers.get(name).status == "running"
