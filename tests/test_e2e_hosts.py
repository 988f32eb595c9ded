"""Many Docker hosts behind one bot: two real daemons, the second reached only over mutual TLS."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from tests.support.second_dockerd import SecondDaemon, start_second_dockerd
from tests.support.services import TEST_IMAGE, build_test_image
from tests.support.stack import ROOT, Stack
from tests.support.stack_factory import StackFactory, StackOptions, wait_served

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def beta_daemon(docker_engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecondDaemon]:
    """A second dockerd with the test image, listening on tcp://127.0.0.1 with --tlsverify."""
    daemon = start_second_dockerd(tmp_path_factory.mktemp("beta", numbered=True))
    client = daemon.client()
    try:
        build_test_image(client=client)
    finally:
        client.close()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def two_hosts(
    stack_factory: StackFactory, beta_daemon: SecondDaemon
) -> Iterator[tuple[Stack, subprocess.Popen[bytes]]]:
    """Web (default host alpha), `dockerverse worker` for alpha on the local socket and for beta over TLS."""
    options = StackOptions(
        db=9,
        env={"DOCKERVERSE_HOST_NAME": "alpha", "DOCKERVERSE_WORKER_TTL": "16", "DOCKERVERSE_STREAM_WORKERS": "1"},
    )
    with stack_factory(options) as stack:
        beta = stack.spawn(
            stack.logs[0].with_name("beta.log"),
            "worker",
            "--docker-host-name",
            "beta",
            env={
                "DOCKER_HOST": beta_daemon.tcp_url,
                "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(beta_daemon.client_certs),
            },
        )
        wait_served(stack, 2)
        yield stack, beta


def test_commands_route_by_host_and_fan_out(
    two_hosts: tuple[Stack, subprocess.Popen[bytes]], beta_daemon: SecondDaemon, docker_cleanup: docker.DockerClient
) -> None:
    """--host picks the daemon; without it the default host; --all-hosts merges both, labelled by host;
    `hosts` lists each host with its workers and Docker version."""
    stack, _ = two_hosts
    name = f"dvtest-{uuid.uuid4().hex[:6]}"
    made = stack.shell(
        f"run {TEST_IMAGE} --name {name}-b --host beta -- sleep 300", f"run {TEST_IMAGE} --name {name}-a -- sleep 300"
    )
    assert made.returncode == 0, made.stdout + made.stderr
    beta = beta_daemon.client()
    try:
        assert beta.containers.get(f"{name}-b").status == "running"
        with pytest.raises(docker.errors.NotFound):
            beta.containers.get(f"{name}-a")
    finally:
        beta.close()
    assert docker_cleanup.containers.get(f"{name}-a").status == "running"
    assert f"{name}-b" not in stack.shell(f"list {name}").stdout
    assert f"{name}-b" in stack.shell(f"list {name} --host beta").stdout

    merged = stack.shell(f"list {name} --all-hosts").stdout
    assert "2 running containers on 2 hosts" in merged
    assert any(line.split()[:1] == ["alpha"] and f"{name}-a" in line for line in merged.splitlines())
    assert any(line.split()[:1] == ["beta"] and f"{name}-b" in line for line in merged.splitlines())
    hosts = stack.shell("hosts").stdout
    assert "2 Docker hosts served" in hosts
    assert all(any(line.startswith(h) and "20.10" in line for line in hosts.splitlines()) for h in ("alpha", "beta"))


def test_a_docker_outage_is_said_plainly_and_the_worker_reconnects(
    two_hosts: tuple[Stack, subprocess.Popen[bytes]], beta_daemon: SecondDaemon
) -> None:
    """With beta's daemon down, commands there get a clear error and the worker stays up; when the
    daemon is back the same worker serves again."""
    stack, beta = two_hosts
    beta_daemon.halt()
    down = stack.shell("list --host beta")
    assert down.returncode == 1 and "Docker on host beta cannot be reached" in down.stdout, down.stdout
    assert beta.poll() is None  # the worker did not die with its daemon
    beta_daemon.resume()
    back = stack.shell("list --all --host beta")
    assert back.returncode == 0, back.stdout + back.stderr


def test_plain_tcp_is_refused_and_tls_needs_client_certificates(beta_daemon: SecondDaemon, tmp_path: Path) -> None:
    """A worker will not talk plain TCP to a daemon unless told to; the daemon refuses TLS without a client cert."""
    env = {
        "PATH": "/usr/bin:/bin",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DOCKERVERSE_JOB_KEY": "k" * 32,
        "DOCKER_HOST": beta_daemon.tcp_url,
    }
    worker = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "worker", "--lane", "quick"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 2 and "plain TCP without TLS" in worker.stderr
    url = beta_daemon.tcp_url.replace("tcp://", "https://") + "/version"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, verify=str(beta_daemon.client_certs / "ca.pem"), timeout=10)
    ok = requests.get(
        url,
        verify=str(beta_daemon.client_certs / "ca.pem"),
        timeout=10,
        cert=(str(beta_daemon.client_certs / "cert.pem"), str(beta_daemon.client_certs / "key.pem")),
    )
    assert ok.status_code == 200
