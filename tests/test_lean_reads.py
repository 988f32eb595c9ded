"""The worker's lean Docker reads (workers/docker/lean_reads.py) against the real daemon: the answers
docker-py gives, docker-py's errors, a kept-alive connection the daemon dropped, a daemon gone or silent."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from bot.core.errors import DockerUnavailable, NotFound
from tests.support import recorder
from tests.support.relay import DockerRelay
from tests.support.services import TEST_LABEL
from workers.docker.connection import Connection, _APIClient, client_from_env
from workers.docker.lean_reads import LeanReads


@pytest.fixture
def relay(tmp_path_factory: pytest.TempPathFactory, docker_engine: docker.DockerClient) -> Iterator[DockerRelay]:
    proxy = recorder.ACTIVE  # in front of the recording proxy when there is one, so these calls are checked too
    host = proxy.unix_url if proxy else os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert host.startswith("unix://"), f"the relay needs a unix-socket daemon, not {host}"
    running = DockerRelay(Path(tmp_path_factory.mktemp("lean")) / "docker.sock", host.removeprefix("unix://"))
    yield running
    running.close()


def _counted(client: docker.DockerClient) -> list[str]:
    """The URLs the client's lean path served from now on."""
    lean = client.api._lean
    assert lean is not None, f"no lean reads for {client.api.base_url}"
    served: list[str] = []
    get = lean.get

    def counting(url: str, *args: Any, **kwargs: Any) -> Any:
        served.append(url)
        return get(url, *args, **kwargs)

    lean.get = counting
    return served


def _daemons(relay: DockerRelay) -> list[str]:
    urls = [relay.url]
    if recorder.ACTIVE is not None:
        urls.append(recorder.ACTIVE.tcp_url)  # plain TCP, as workers reach the shipped socket proxy
    return urls


def test_reads_answer_as_docker_py_does_over_unix_and_tcp(
    relay: DockerRelay, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    mark = uuid.uuid4().hex[:8]
    made = docker_cleanup.containers.create(test_image, ["true"], name=f"dvtest-lean-{mark}", labels={TEST_LABEL: mark})
    for url in _daemons(relay):
        client = client_from_env({"DOCKER_HOST": url})
        try:
            served = _counted(client)
            rows = client.api.containers(all=True, filters={"label": f"{TEST_LABEL}={mark}"})
            assert [row["Id"] for row in rows] == [made.id], url  # filters encoded as docker-py encodes them
            assert client.api.containers(all=False, filters={"label": f"{TEST_LABEL}={mark}"}) == [], url
            assert client.api.inspect_container(made.name)["Id"] == made.id
            assert len(served) == 3, f"{url}: {served}"
        finally:
            client.close()


def test_an_unknown_container_is_docker_py_not_found(relay: DockerRelay) -> None:
    conn = Connection("local", environment={"DOCKER_HOST": relay.url})
    served = _counted(conn.client)
    missing = pytest.raises(NotFound, match="No container `dvtest-lean-missing` on host `local`")
    with missing, conn.errors("inspect", "dvtest-lean-missing"):
        conn.client.api.inspect_container("dvtest-lean-missing")
    assert len(served) == 1


def test_a_kept_alive_connection_the_daemon_dropped_is_sent_again_once(relay: DockerRelay) -> None:
    client = client_from_env({"DOCKER_HOST": relay.url})
    try:
        served = _counted(client)
        client.api.containers()  # the connection is now open and idle
        relay.cut()  # as a daemon restart or an idle timeout closes it
        relay.restore()
        assert isinstance(client.api.containers(all=True), list)
        assert len(served) == 2
    finally:
        client.close()


def test_a_daemon_gone_is_unavailable_after_one_fresh_attempt(relay: DockerRelay) -> None:
    conn = Connection("gonehost", environment={"DOCKER_HOST": relay.url})
    conn.client.api.containers()
    relay.cut()
    try:
        with pytest.raises(DockerUnavailable, match="`gonehost` cannot be reached"), conn.errors("list"):
            conn.client.api.containers()
        assert relay.refused == 1  # the stale connection, then one new one (turned away), and no more
    finally:
        relay.restore()


def test_a_daemon_that_never_answers_times_out_plainly(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = Path(tmp_path_factory.mktemp("silent")) / "docker.sock"
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(path))
    silent.listen(1)  # connections are taken by the kernel and never answered
    lean = LeanReads("http+docker://localhost", socket_path=str(path))
    try:
        late = pytest.raises(DockerUnavailable, match="did not answer `list` in time")
        with late, Connection("slowhost").errors("list"):
            lean.get("http+docker://localhost/v1.41/containers/json", {"all": 1}, timeout=0.3)
    finally:
        lean.close()
        silent.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@pytest.mark.parametrize(
    "base_url, tls, lean",
    [
        ("unix:///tmp/dockerverse-lean.sock", False, True),
        ("tcp://127.0.0.1:2375", False, True),
        ("tcp://127.0.0.1:2376", True, False),
    ],
    ids=["unix", "plain-tcp", "tls"],
)
def test_only_unix_and_plain_tcp_daemons_read_lean(base_url: str, tls: bool, lean: bool) -> None:
    """A TLS daemon's reads keep docker-py's verified transport."""
    api = _APIClient(base_url=base_url, tls=tls, version="1.41")  # a pinned version: nothing is dialled
    try:
        assert (api._lean is not None) is lean
        if lean and base_url.startswith("unix://"):
            assert api._lean is not None and api._lean.socket_path == "/tmp/dockerverse-lean.sock"
    finally:
        api.close()
