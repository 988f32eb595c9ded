"""The socket proxy's allow-list is exactly what the gateway calls, and a worker works behind it.

Every test's workers (and the `gw` fixture) reach Docker through tests/support/recorder.py, which
enforces deploy/socket-proxy/allowlist.env as the shipped proxy does and records each call; the run
fails at its end on any call outside the list and lists the entries no test used (conftest.py).
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from bot.core.errors import DockerverseError
from bot.core.settings import Settings
from tests.support import recorder
from tests.support.proxy_allowlist import AllowList, AllowListError, normalize, report
from tests.support.services import TEST_LABEL
from tests.support.stack import Stack
from tests.support.stack_factory import StackOptions
from workers.docker.gateway import DockerGateway

ALLOW = AllowList.load()
DB = 14  # this module's own Redis database


def test_allowlist_has_one_entry_per_gateway_call() -> None:
    """The shipped file parses into GET, POST and DELETE entries, each written once."""
    assert set(ALLOW.regexes) == {"GET", "POST", "DELETE"}
    names = [str(e) for e in ALLOW.entries]
    assert len(names) == len(set(names)) and "POST /containers/[^/]+/rename" in names and "GET /events" in names


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1.43/containers/abc/exec"),
        ("POST", "/v1.43/exec/abc/start"),
        ("POST", "/v1.43/containers/abc/attach"),
        ("POST", "/v1.43/build"),
        ("POST", "/v1.43/commit"),
        ("POST", "/v1.43/containers/abc/kill"),
        ("POST", "/v1.43/volumes/create"),
        ("POST", "/v1.43/swarm/init"),
        ("POST", "/v1.43/plugins/pull"),
        ("PUT", "/v1.43/containers/abc/archive"),
        ("GET", "/v1.43/containers/abc/export"),
        ("GET", "/v1.43/secrets"),
        ("DELETE", "/v1.43/volumes/data"),
        ("DELETE", "/v1.43/networks/front"),
        ("POST", "/v1.43/containers/create/../abc/exec"),
    ],
)
def test_allowlist_refuses_what_the_gateway_never_calls(method: str, path: str) -> None:
    """Exec, attach, build, kill, archives, volumes, swarm, plugins and deletes of other kinds are refused."""
    assert not ALLOW.allows(method, path)


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/version", "/version"),
        ("GET", "/v1.41/containers/json?all=1&filters=%7B%7D", "/containers/json"),
        ("GET", "/v1.41/containers/3f2a9c/json", "/containers/{container}/json"),
        ("GET", "/v1.41/images/127.0.0.1%3A5000/dockerverse-test/app%3A1/json", "/images/{image}/json"),
        ("DELETE", "/v1.41/images/sha256%3Aabc", "/images/{image}"),
        ("POST", "/v1.41/networks/front/connect", "/networks/{id}/connect"),
    ],
)
def test_allowed_calls_are_named_without_ids(method: str, path: str, kind: str) -> None:
    """Calls the gateway makes pass, percent-decoded as Go does; the record names them without ids or versions."""
    assert ALLOW.allows(method, path) and ALLOW.entry_for(method, path) is not None
    assert normalize(path) == kind


def test_a_value_compose_would_alter_is_refused(tmp_path: Path) -> None:
    """A backslash or quote in the file is an error naming the line (compose would not pass it literally)."""
    bad = tmp_path / "allowlist.env"
    bad.write_text("SP_ALLOW_GET=(/v1[.][0-9]+)?/(version|info\\.json)\n")
    with pytest.raises(AllowListError, match="line 1"):
        AllowList.load(bad)


def test_report_lists_calls_outside_and_entries_unused() -> None:
    """The end-of-run report names a refused call with its test, and the entries nobody used."""
    calls = [
        {"method": "GET", "path": "/version", "raw": "/version", "test": "t1"},
        {"method": "POST", "path": "/containers/{container}/exec", "raw": "/v1.41/containers/x/exec", "test": "t2"},
    ]
    found = report(calls, ALLOW)
    assert found.outside == {"POST /containers/{container}/exec": {"t2"}}
    assert found.used == {"GET /version": 1} and len(found.unused) == len(ALLOW.entries) - 1


def test_worker_refuses_plain_tcp_unless_told_it_is_a_proxy() -> None:
    """Plain tcp:// is refused with what to do; DOCKERVERSE_ALLOW_PLAIN_TCP=1 (the deploy files' proxy) is accepted."""
    with pytest.raises(DockerverseError, match="DOCKERVERSE_ALLOW_PLAIN_TCP=1") as refused:
        Settings(DOCKER_HOST="tcp://socket-proxy:2375").docker_environment()
    assert "socket proxy" in refused.value.message
    allowed = Settings(DOCKER_HOST="tcp://socket-proxy:2375", DOCKERVERSE_ALLOW_PLAIN_TCP="1")
    assert allowed.docker_environment() == {"DOCKER_HOST": "tcp://socket-proxy:2375"}


def _raw(proxy: recorder.DockerRecorder, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(request)
        out = b""
        while data := sock.recv(65536):
            out += data
        return out


def test_proxy_refuses_calls_outside_the_list_as_the_real_one_does(docker_engine: docker.DockerClient) -> None:
    """403 for a path the list lacks, 405 for a method it lacks; both recorded as refused, nothing reaches Docker."""
    proxy = recorder.ACTIVE
    assert proxy is not None, "the session's recording proxy is off (DOCKERVERSE_TEST_DOCKER_PROXY=0)"
    probe = f"Host: docker\r\n{recorder.PROBE_HEADER}: 1\r\n".encode()  # left out of the run's report
    exec_call = b"POST /v1.41/containers/none/exec HTTP/1.1\r\n" + probe + b"Content-Length: 2\r\n\r\n{}"
    assert _raw(proxy, exec_call).startswith(b"HTTP/1.1 403 Forbidden")
    assert _raw(proxy, b"PATCH /v1.41/containers/none HTTP/1.1\r\n" + probe + b"\r\n").startswith(b"HTTP/1.1 405")
    refused = [c for c in proxy.calls() if not c["allowed"] and "none" in str(c["raw"])]
    assert {(c["method"], c["path"]) for c in refused} >= {
        ("POST", "/containers/{container}/exec"),
        ("PATCH", "/containers/{container}"),
    }


@pytest.fixture
def networks(docker_cleanup: docker.DockerClient) -> Iterator[tuple[str, str]]:
    names = tuple(f"dvtest-net-{uuid.uuid4().hex[:8]}" for _ in range(2))
    made = [docker_cleanup.networks.create(n, labels={TEST_LABEL: "1"}) for n in names]
    yield names[0], names[1]
    for net in made:  # this test's containers leave first; docker_cleanup removes them afterwards
        net.reload()
        for container in net.containers:
            net.disconnect(container, force=True)
        net.remove()


def test_a_copy_joins_the_old_containers_networks_through_the_proxy(
    gw: DockerGateway, docker_cleanup: docker.DockerClient, networks: tuple[str, str], test_image: str
) -> None:
    """Redeploy's copy of a container on two networks joins both (the network connect entry is used)."""
    first, second = networks
    old = docker_cleanup.containers.create(test_image, ["sleep", "60"], labels={TEST_LABEL: "1"}, network=first)
    docker_cleanup.networks.get(second).connect(old)
    cid = gw.create_like(gw.inspect(old.id), test_image, f"dvtest-copy-{uuid.uuid4().hex[:8]}", {TEST_LABEL: "1"})
    joined = docker_cleanup.api.inspect_container(cid)["NetworkSettings"]["Networks"]
    assert set(joined) == {first, second}
    assert recorder.ACTIVE is not None, "the session's recording proxy is off (DOCKERVERSE_TEST_DOCKER_PROXY=0)"
    connects = [c for c in recorder.ACTIVE.calls() if c["path"] == "/networks/{id}/connect"]
    assert any(second in str(c["raw"]) and c["allowed"] for c in connects)


STACK = StackOptions(db=DB)


def test_a_worker_behind_the_proxy_runs_every_command(
    stack: Stack, docker_cleanup: docker.DockerClient, test_image: str, request: pytest.FixtureRequest
) -> None:
    """Through the proxy on plain tcp:// (as deployed), run, list, logs, inspect, stop, start, restart, images, rm
    all work, and every call they made is on the allow-list."""
    assert recorder.ACTIVE is not None, "the session's recording proxy is off (DOCKERVERSE_TEST_DOCKER_PROXY=0)"
    assert stack.env["DOCKER_HOST"].startswith("tcp://127.0.0.1:")
    name = f"dvtest-proxy-{uuid.uuid4().hex[:8]}"
    out = stack.shell(
        f"run {test_image} --name {name} -- sh -c 'echo hello-from-proxy; sleep 300'",
        f"list {name}",
        f"logs {name}",
        f"inspect {name}",
        f"stop {name}",
        f"start {name}",
        f"restart {name}",
        "images dockerverse-test",
        f"rm {name} --force",
    )
    assert out.returncode == 0 and "❌" not in out.stdout, out.stdout + out.stderr + stack.dump_logs()
    assert "hello-from-proxy" in out.stdout and name in out.stdout
    mine = [c for c in recorder.ACTIVE.calls() if c["test"] and request.node.nodeid in str(c["test"])]
    assert mine and all(c["allowed"] for c in mine), json.dumps([c for c in mine if not c["allowed"]])
    assert {"POST /containers/create", "POST /containers/{container}/restart", "DELETE /containers/{container}"} <= {
        f"{c['method']} {c['path']}" for c in mine
    }
