"""The compose deployment really starts: deploy/docker-compose.yml as shipped, every image built from the
Dockerfiles in deploy/ (on a base made from Debian's packages, no registry), with a .env and the
shipped example policy; web, worker, socket proxy and Redis come up healthy and a signed hook runs.

The first run on a machine makes the base and fetches the wheels (a few minutes, kept in
/var/cache/dockerverse); later runs rebuild only what changed (tests/support/compose.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import yaml

from bot.cli.send import signed_request
from bot.wire.signing import generate
from tests.support import compose
from tests.support.compose import Compose
from tests.support.services import SESSION, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HEALTHY_WITHIN = 120.0  # seconds from `up`: the worker's first check runs 10 s in, the web's too


@dataclass
class Deployment:
    compose: Compose
    client: docker.DockerClient
    url: str
    env: dict[str, str]

    def api(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.env['DOCKERVERSE_API_TOKEN']}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                answer: dict[str, Any] = json.load(resp)
        except urllib.error.HTTPError as exc:
            pytest.fail(f"GET {path} answered {exc.code}: {exc.read().decode()}")
        return answer


def _policy() -> str:
    """The shipped example, less what needs Slack (the hook's channel, alerts: there is no Slack here),
    with the test image allowed."""
    policy = yaml.safe_load((compose.ROOT / "deploy/policy.example.yaml").read_text())
    del policy["hooks"]["ci"]["channel"], policy["notify"]
    policy["images"]["allow"] = ["dockerverse-test/**:*"]
    return yaml.safe_dump(policy, sort_keys=False)  # the order of `permissions:` ranks the roles


def _env(base: str, port: int) -> dict[str, str]:
    signing, verify = generate()
    images = {"DOCKERVERSE_IMAGE": "app", "DOCKERVERSE_SOCKET_PROXY_IMAGE": "socket-proxy"}
    return {
        "REDIS_PASSWORD": secrets.token_hex(16),
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),  # as .env.example says to find it
        "DOCKERVERSE_SIGNING_KEY": signing,
        "DOCKERVERSE_VERIFY_KEY": verify,
        "DOCKERVERSE_API_TOKEN": secrets.token_hex(32),
        "CI_HOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "DOCKERVERSE_WEB_PORT": f"127.0.0.1:{port}",
        "DOCKERVERSE_BASE_IMAGE": base,
        "DOCKERVERSE_PIP_OFFLINE": "1",
        **{name: f"dockerverse-test/compose-{what}:{SESSION}" for name, what in images.items()},
    }


@pytest.fixture(scope="module")
def deployment(docker_engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The compose project, built and up; taken down with its volumes and this session's image tags after."""
    root = tmp_path_factory.mktemp("compose-checkout")
    compose.copy_checkout(root)
    base = compose.local_base()
    compose.wheelhouse(docker_engine, base, root / "deploy/wheels")
    port = free_port()
    env = {**_env(base, port), "REDIS_IMAGE": compose.redis_image(docker_engine, base)}
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (root / "policy.yaml").write_text(_policy())
    project = Compose(root)
    project("down", "--volumes", "--remove-orphans")  # what a crashed run of this session left
    try:
        project("build", timeout=compose.BUILD_TIMEOUT)
        compose.keep_layers(docker_engine, env["DOCKERVERSE_IMAGE"], "dockerverse-local/compose-app:cache")
        compose.keep_layers(
            docker_engine, env["DOCKERVERSE_SOCKET_PROXY_IMAGE"], "dockerverse-local/compose-proxy:cache"
        )
        project("up", "--detach")
        yield Deployment(project, docker_engine, f"http://127.0.0.1:{port}", env)
    finally:
        project("down", "--volumes", "--remove-orphans", check=False)
        for name in ("DOCKERVERSE_IMAGE", "DOCKERVERSE_SOCKET_PROXY_IMAGE"):  # the layers stay, under :cache
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_engine.images.remove(env[name])


def _healthy(d: Deployment, service: str) -> dict[str, Any]:
    """The service's health once Docker calls it healthy; fails at once on unhealthy or a stopped container."""
    deadline = time.monotonic() + HEALTHY_WITHIN
    while True:
        container = d.compose.container(d.client, service)
        state = container.attrs["State"]
        health = state.get("Health") or {}
        if health.get("Status") == "healthy":
            return dict(health)
        stuck = health.get("Status") == "unhealthy" or state["Status"] in ("exited", "dead")
        assert not stuck and time.monotonic() < deadline, (
            f"{service} is {state['Status']}, health {health.get('Status')}: {health.get('Log')}\n{d.compose.logs()}"
        )
        time.sleep(0.5)


def test_every_service_starts_and_reports_healthy(deployment: Deployment) -> None:
    """The worker's own check (not the web's HTTP one) says its lanes are registered and its host beats;
    the proxy reaches Docker; the web answers; Redis runs with its password."""
    worker = _healthy(deployment, "worker")
    assert worker["Log"][-1]["Output"].startswith("healthy: "), worker["Log"][-1]
    assert "Docker host `local`" in worker["Log"][-1]["Output"]
    _healthy(deployment, "socket-proxy")
    _healthy(deployment, "web")
    with urllib.request.urlopen(deployment.url + "/readyz", timeout=10) as resp:
        ready = json.load(resp)
    assert ready["ok"] and ready["hosts"] == ["local"], ready
    redis = deployment.compose.container(deployment.client, "redis")
    assert redis.attrs["State"]["Status"] == "running"
    refused = redis.exec_run(["redis-cli", "ping"])
    assert b"NOAUTH" in refused.output, refused.output  # --requirepass from .env took effect


def test_a_signed_hook_runs_through_the_proxy_and_returns_its_result(deployment: Deployment, test_image: str) -> None:
    """A Standard-Webhooks-signed `run` with wait comes back finished, as /api/jobs/{id} also says; `dockerverse
    send` (the CI client) then reads the container's logs through the same path."""
    _healthy(deployment, "worker")
    name = f"dvtest-compose-{uuid.uuid4().hex[:8]}"
    secret = deployment.env["CI_HOOK_SECRET"]
    body = json.dumps({"command": f"run {test_image} --name {name} -- echo hello-from-compose", "wait": 60})
    try:
        request = signed_request(deployment.url + "/hooks/ci", secret, body.encode())
        try:
            with urllib.request.urlopen(request, timeout=90) as resp:
                job = json.load(resp)
        except urllib.error.HTTPError as exc:
            pytest.fail(f"the hook answered {exc.code}: {exc.read().decode()}\n{deployment.compose.logs()}")
        assert job["status"] == "finished" and job["result"]["ok"], job
        assert name in job["result"]["summary"], job
        assert deployment.api(f"/api/jobs/{job['id']}")["status"] == "finished"
        created = deployment.client.containers.get(name)
        assert created.labels.get("dockerverse.creator") == "hook:ci", created.labels
        secret_args = ("--secret", secret, "--wait", "60")
        sent = subprocess.run(
            [sys.executable, "-m", "bot.cli.main", "send", f"{deployment.url}/hooks/ci", f"logs {name}", *secret_args],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert sent.returncode == 0 and "hello-from-compose" in sent.stdout, sent.stdout + sent.stderr
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            deployment.client.containers.get(name).remove(force=True)


def test_the_proxy_refuses_calls_off_the_list_and_only_workers_reach_it(deployment: Deployment) -> None:
    """From the worker, exec is refused (403) and a ping passes; the web cannot even resolve the proxy."""
    _healthy(deployment, "socket-proxy")
    probe = (
        "import http.client\n"
        "for method, path in (('POST', '/v1.41/containers/x/exec'), ('GET', '/v1.41/_ping')):\n"
        "    c = http.client.HTTPConnection('socket-proxy', 2375, timeout=10)\n"
        "    c.request(method, path)\n"
        "    print(method, path, c.getresponse().status)\n"
    )
    worker = deployment.compose("exec", "-T", "worker", "python", "-c", probe)
    assert worker.stdout.split("\n")[:2] == ["POST /v1.41/containers/x/exec 403", "GET /v1.41/_ping 200"], worker
    reach = "import socket; socket.create_connection(('socket-proxy', 2375), timeout=3)"
    web = deployment.compose("exec", "-T", "web", "python", "-c", reach, check=False)
    assert web.returncode != 0 and "socket.gaierror" in web.stderr, web


def test_a_missing_policy_file_stops_compose_instead_of_mounting_a_directory(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Without policy.yaml beside .env, creating the web fails naming the path (no empty directory in its place)."""
    shutil.copytree(deployment.compose.root / "deploy", tmp_path / "deploy", ignore=shutil.ignore_patterns("*.whl"))
    shutil.copy2(deployment.compose.root / ".env", tmp_path / ".env")
    bare = Compose(tmp_path, project=f"{deployment.compose.project}-nopolicy")
    try:
        out = bare("run", "--rm", "--no-deps", "web", "true", check=False)
        assert out.returncode != 0 and "bind source path does not exist" in out.stderr, out
        assert str(tmp_path / "policy.yaml") in out.stderr and not (tmp_path / "policy.yaml").exists()
    finally:
        bare("down", "--volumes", "--remove-orphans", check=False)
