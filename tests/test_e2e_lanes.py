"""End to end: a slow `stop` takes its host's slow lane, so `list` on that host never waits behind it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from typing import Any

import docker
import pytest

from tests.support.jobs import settled
from tests.support.services import SESSION, TEST_LABEL
from tests.support.stack import API_TOKEN, ROOT, Stack, standard_headers
from tests.support.stack_factory import StackOptions, wait_served

pytestmark = pytest.mark.e2e

STACK = StackOptions(db=10)
STUBBORN = "trap '' TERM; while :; do sleep 1; done"  # ignores SIGTERM: `stop` waits out Docker's 10 s
MANAGED = {TEST_LABEL: SESSION, "dockerverse.managed-by": "dockerverse"}  # the bot's: the ci hook may stop it


def hook(stack: Stack, command: str, wait: float = 0) -> dict[str, Any]:
    """The `ci` hook (operator) asked to run `command`; its answer (the finished job when it waited)."""
    body = json.dumps({"command": command, "wait": wait}).encode()
    headers = standard_headers(body)
    resp = stack.http.post(f"{stack.web_url}/hooks/ci", content=body, headers=headers, timeout=wait + 30)
    assert resp.status_code in (200, 202), resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def job(stack: Stack, job_id: str) -> dict[str, Any]:
    resp = stack.http.get(f"{stack.web_url}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {API_TOKEN}"})
    state: dict[str, Any] = resp.json()
    return state


def started(stack: Stack, job_id: str, timeout: float = 30.0) -> None:
    """Until a worker has begun the job (it is not merely queued)."""
    deadline = time.monotonic() + timeout
    while (status := job(stack, job_id)["status"]) != "started":
        assert status not in ("finished", "failed"), f"job {job_id} ended before it was seen running: {status}"
        assert time.monotonic() < deadline, f"job {job_id} not started within {timeout:g} s: {status}"
        time.sleep(0.05)


def test_list_answers_while_a_stop_waits_out_a_container_ignoring_sigterm(
    stack: Stack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A `stop` of a container that ignores SIGTERM holds a worker for Docker's 10 s grace period; a hook
    `list` sent while it runs finishes first, showing the container still running, and then the stop ends."""
    name = f"dvtest-stubborn-{uuid.uuid4().hex[:6]}"
    docker_cleanup.containers.run(test_image, ["sh", "-c", STUBBORN], name=name, labels=MANAGED, detach=True)
    stop = hook(stack, f"stop {name}")["job_id"]
    started(stack, stop)

    listed = hook(stack, f"list {name}", wait=30)

    assert listed["status"] == "finished", listed
    assert [(c["name"], c["status"]) for c in listed["result"]["data"]["containers"]] == [(name, "running")]
    stopped = settled(stack, stop)
    assert stopped["status"] == "finished" and "Stopped" in stopped["result"]["summary"], stopped
    assert listed["endedAt"] < stopped["endedAt"]  # the list did not wait for the stop to end


def health(stack: Stack, host: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "bot.cli.main", "worker-health", "--docker-host-name", host]
    return subprocess.run(args, env=stack.env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_host_whose_worker_has_no_slow_lane_still_runs_stops(
    stack: Stack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A host served by a quick-lane worker alone (one started before the slow lane existed) still runs
    `stop` and `rm --force`: they take its quick lane rather than being refused. `worker-health` passes
    for `dockerverse worker`'s host (every lane served) and names the slow lane missing on that one."""
    stack.spawn(
        stack.logs[0].with_name("worker-quick-only.log"), "worker", "--docker-host-name", "old", "--lane", "quick"
    )
    wait_served(stack, 2)
    name = f"dvtest-old-{uuid.uuid4().hex[:6]}"
    docker_cleanup.containers.run(
        test_image, ["sleep", "300"], name=name, labels=MANAGED, stop_signal="SIGKILL", detach=True
    )

    stopped = hook(stack, f"stop {name} --host old", wait=30)
    removed = hook(stack, f"rm {name} --force --host old", wait=30)

    assert stopped["status"] == "finished" and stopped["result"]["host"] == "old", stopped
    assert removed["status"] == "finished" and removed["result"]["host"] == "old", removed
    assert not docker_cleanup.containers.list(all=True, filters={"name": name})
    assert health(stack, "local").returncode == 0
    old = health(stack, "old")
    assert old.returncode == 1 and "no live slow or stream-lane worker for Docker host `old`" in old.stdout, old.stdout
