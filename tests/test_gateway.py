"""DockerGateway against the real engine: run, list, resolve, remove, logs, lifecycle, images, errors."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator

import docker
import docker.errors
import pytest

from bot.core import commands as c
from bot.core.errors import DockerFailure, DockerUnavailable, NotFound
from bot.core.policy import Actor
from bot.core.units import PortMapping, parse_port
from bot.wire.payload import ReplyTo, new_payload
from tests.support.services import TEST_LABEL, Registry, free_port
from workers.commands import images, inspect
from workers.commands.context import Context
from workers.docker.gateway import DockerGateway
from workers.docker.images import split_reference
from workers.docker.rows import ContainerRow

MB = 1024**2
# PID 1 of the test containers: exits at once on SIGTERM, so `stop` never waits 10 s for a SIGKILL.
IDLE = ("sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait")
TEST_LABELS = {TEST_LABEL: "1"}


def _name(what: str) -> str:
    return f"dvtest-gw-{what}-{uuid.uuid4().hex[:8]}"


def _run_cmd(
    image: str,
    name: str | None,
    *,
    command: tuple[str, ...] = IDLE,
    ports: tuple[PortMapping, ...] = (),
    env: tuple[tuple[str, str], ...] = (),
    memory: int | None = 64 * MB,
    cpus: float | None = 0.5,
    pids: int | None = 64,
) -> c.Run:
    return c.Run(image=image, name=name, ports=ports, env=env, memory=memory, cpus=cpus, pids=pids, command=command)


def _wait_state(gw: DockerGateway, target: str, state: str, timeout: float = 20.0) -> ContainerRow:
    deadline = time.monotonic() + timeout
    while True:
        row = gw.container(target)
        if row.state == state or time.monotonic() > deadline:
            assert row.state == state, f"{target} is {row.state}, not {state}, after {timeout}s"
            return row
        time.sleep(0.05)


def _wait_logs(gw: DockerGateway, target: str, needle: str, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        _, lines = gw.logs(target, tail=10_000, since=None)
        if needle in lines or time.monotonic() > deadline:
            assert needle in lines, f"{needle!r} not logged by {target} in {timeout}s: {lines[-5:]}"
            return lines
        time.sleep(0.05)


def test_run_applies_name_ports_env_limits_and_labels(gw: DockerGateway, test_image: str) -> None:
    """run creates the container with the given limits, labels, env and published port, and returns its row."""
    name, host_port = _name("run"), free_port()
    labels = {"dockerverse.managed-by": "dockerverse", "dockerverse.creator": "shell:t", "dockerverse.job": "j1"}
    cmd = _run_cmd(
        test_image,
        name,
        ports=(parse_port(f"{host_port}:8080"),),
        env=(("MODE", "once"), ("GREETING", "hello world")),
        memory=96 * MB,
        cpus=0.25,
        pids=48,
    )

    row = gw.run(cmd, labels)

    assert row.name == name
    assert row.ports == (f"{host_port}:8080",)
    assert row.state == "running"
    attrs = gw.inspect(row.id)
    host_config = attrs["HostConfig"]
    assert host_config["Memory"] == 96 * MB
    assert host_config["NanoCpus"] == 250_000_000
    assert host_config["PidsLimit"] == 48
    assert host_config["PortBindings"] == {"8080/tcp": [{"HostIp": "", "HostPort": str(host_port)}]}
    assert {k: attrs["Config"]["Labels"][k] for k in labels} == labels
    assert {"MODE=once", "GREETING=hello world"} <= set(attrs["Config"]["Env"])
    assert row.labels["dockerverse.job"] == "j1"


@pytest.mark.parametrize("missing", ["memory", "cpus", "pids"])
def test_run_refuses_a_command_without_limits(gw: DockerGateway, test_image: str, missing: str) -> None:
    """run never creates an unlimited container: a None memory, cpus or pids limit is refused."""
    name = _name("nolimit")
    base = _run_cmd(test_image, name)
    cmd = {
        "memory": dataclasses.replace(base, memory=None),
        "cpus": dataclasses.replace(base, cpus=None),
        "pids": dataclasses.replace(base, pids=None),
    }[missing]

    with pytest.raises(DockerFailure, match="without memory, CPU and PID limits"):
        gw.run(cmd, {})

    assert gw.containers(all=True, filter=name) == []


def test_run_with_a_name_in_use_fails_clearly(gw: DockerGateway, test_image: str) -> None:
    """A second run with the same name gives DockerFailure saying the name is already in use."""
    name = _name("dup")
    first = gw.run(_run_cmd(test_image, name), {})

    with pytest.raises(DockerFailure) as failure:
        gw.run(_run_cmd(test_image, name), {})

    assert "already in use" in failure.value.message
    assert name in failure.value.message
    assert [r.id for r in gw.containers(all=True, filter=name)] == [first.id]


def test_run_that_fails_to_start_leaves_no_container(gw: DockerGateway, test_image: str) -> None:
    """A container whose start fails (its host port is taken) is removed, and the error says why."""
    port = free_port()
    holder = gw.run(_run_cmd(test_image, _name("holder"), ports=(parse_port(f"{port}:80"),)), {})
    loser = _name("loser")

    with pytest.raises(DockerFailure) as failure:
        gw.run(_run_cmd(test_image, loser, ports=(parse_port(f"{port}:80"),)), {})

    assert "already allocated" in failure.value.message or "in use" in failure.value.message
    assert gw.containers(all=True, filter=loser) == []
    assert gw.container(holder.id).state == "running"


def test_containers_lists_running_only_unless_all(gw: DockerGateway, test_image: str) -> None:
    """containers() shows running containers; all=True adds exited ones; a filter matches by name."""
    prefix = _name("ps")
    running = gw.run(_run_cmd(test_image, f"{prefix}-up"), {})
    exited = gw.run(_run_cmd(test_image, f"{prefix}-done", command=("true",)), {})
    _wait_state(gw, exited.id, "exited")

    assert [r.name for r in gw.containers(filter=prefix)] == [running.name]
    assert [r.name for r in gw.containers(all=True, filter=prefix)] == [exited.name, running.name]
    assert [r.name for r in gw.containers(all=True, filter=f"{prefix}-done")] == [exited.name]
    assert all(not r.name.startswith("/") for r in gw.containers(all=True))


def test_containers_lists_published_ports_only(
    gw: DockerGateway, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """Exposed but unpublished ports are not listed; published ones show once as HOST:CONTAINER[/proto]."""
    tcp, udp = free_port(), free_port()
    published = gw.run(
        _run_cmd(test_image, _name("pub"), ports=(parse_port(f"{tcp}:80"), parse_port(f"{udp}:53/udp"))), {}
    )
    name = _name("exposed")
    api = docker_cleanup.api
    created = api.create_container(
        test_image,
        command=list(IDLE),
        name=name,
        ports=[80, (53, "udp")],
        labels=TEST_LABELS,
        host_config=api.create_host_config(mem_limit=64 * MB),
    )
    api.start(created["Id"])
    raw = api.containers(filters={"id": created["Id"]})[0]
    assert raw["Ports"], "Docker should report the exposed ports without a PublicPort"

    assert gw.container(name).ports == ()
    assert set(gw.container(published.id).ports) == {f"{tcp}:80", f"{udp}:53/udp"}
    assert len(gw.container(published.id).ports) == 2


def test_container_resolves_name_id_and_prefix(gw: DockerGateway, test_image: str) -> None:
    """container() finds one container by its name, its full id and a unique id prefix."""
    name = _name("find")
    row = gw.run(_run_cmd(test_image, name), {})

    assert gw.container(name) == row
    assert gw.container(row.id) == row
    assert gw.container(row.id[:12]) == row


def test_container_unknown_is_not_found_naming_the_target(gw: DockerGateway) -> None:
    """An unknown target raises NotFound whose message names it and how to list containers."""
    target = _name("ghost")

    with pytest.raises(NotFound) as missing:
        gw.container(target)

    assert f"`{target}`" in missing.value.message
    assert "list --all" in missing.value.message


def test_remove_running_container_needs_force(gw: DockerGateway, test_image: str) -> None:
    """rm of a running container without force says to stop it or use --force; with force it is gone."""
    name = _name("rm")
    row = gw.run(_run_cmd(test_image, name), {})

    with pytest.raises(DockerFailure) as refused:
        gw.remove(name, force=False)
    assert f"stop {name}" in refused.value.message
    assert "--force" in refused.value.message
    assert gw.container(name).state == "running"

    removed = gw.remove(name, force=True)

    assert removed.id == row.id
    with pytest.raises(NotFound):
        gw.container(name)


def test_remove_stopped_container_without_force(gw: DockerGateway, test_image: str) -> None:
    """rm of an exited container needs no force."""
    name = _name("rmexited")
    gw.run(_run_cmd(test_image, name, command=("true",)), {})
    _wait_state(gw, name, "exited")

    gw.remove(name, force=False)

    assert gw.containers(all=True, filter=name) == []


def test_logs_tail_returns_the_last_lines(gw: DockerGateway, test_image: str) -> None:
    """logs with tail N returns the last N lines, oldest first."""
    name = _name("tail")
    gw.run(_run_cmd(test_image, name, command=("sh", "-c", "seq 1 100; echo done; exec sleep 300")), {})
    _wait_logs(gw, name, "done")

    row, lines = gw.logs(name, tail=5, since=None)

    assert row.name == name
    assert lines == ["97", "98", "99", "100", "done"]


def test_logs_since_drops_older_lines(gw: DockerGateway, test_image: str) -> None:
    """logs with since S returns only the lines written in the last S seconds."""
    name = _name("since")
    script = "echo early; sleep 3; echo late; exec sleep 300"
    gw.run(_run_cmd(test_image, name, command=("sh", "-c", script)), {})
    assert _wait_logs(gw, name, "late") == ["early", "late"]

    _, recent = gw.logs(name, tail=100, since=2)

    assert recent == ["late"]


def test_lifecycle_stop_start_restart_change_state(gw: DockerGateway, test_image: str) -> None:
    """stop leaves the container exited, start and restart leave it running (restart starts it anew)."""
    name = _name("life")
    gw.run(_run_cmd(test_image, name), {})

    assert gw.lifecycle("stop", name).state == "exited"
    assert gw.lifecycle("start", name).state == "running"
    started = gw.inspect(name)["State"]["StartedAt"]
    restarted = gw.lifecycle("restart", name)

    assert restarted.state == "running"
    assert gw.inspect(name)["State"]["StartedAt"] != started


def test_lifecycle_of_unknown_container_is_not_found(gw: DockerGateway) -> None:
    """stop of a container that does not exist raises NotFound naming it."""
    target = _name("nolife")

    with pytest.raises(NotFound, match=target):
        gw.lifecycle("stop", target)


def test_images_lists_the_test_image_with_its_tag(gw: DockerGateway, test_image: str) -> None:
    """images() includes the test image with its repo:tag; a filter on its repository still finds it."""
    rows = gw.images()
    repository = test_image.rpartition(":")[0]

    assert any(test_image in r.tags for r in rows)
    # (other test runs on this daemon may have their own tag in the repository)
    assert len([r for r in gw.images(repository) if test_image in r.tags]) == 1
    assert all("<none>:<none>" not in r.tags for r in rows)


@contextlib.contextmanager
def _private_image(client: docker.DockerClient, image: str, repository: str) -> Iterator[str]:
    """A new image (its own id, committed from the test image) tagged `repository:one`; removed afterwards."""
    container = client.containers.create(image, name=_name("commit"), labels=TEST_LABELS)
    try:
        committed = container.commit(repository=repository, tag="one", changes=[f"LABEL dvtest.rmi={uuid.uuid4()}"])
    finally:
        container.remove(force=True)
    try:
        yield str(committed.id)
    finally:
        for tag in ("one", "two"):
            with contextlib.suppress(docker.errors.NotFound):
                client.images.remove(f"{repository}:{tag}", force=True)


def test_remove_image_untags_then_deletes_with_the_last_tag(
    gw: DockerGateway, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """rmi of one of two tags only untags (the image stays); rmi of its last tag deletes the image."""
    repository = f"dockerverse-test/dvtest-rmi-{uuid.uuid4().hex[:8]}"
    with _private_image(docker_cleanup, test_image, repository) as image_id:
        assert docker_cleanup.api.tag(image_id, repository, "two")

        untagged = gw.remove_image(f"{repository}:one")

        assert untagged == [{"Untagged": f"{repository}:one"}]
        assert [r.tags for r in gw.images(repository)] == [(f"{repository}:two",)]

        deleted = gw.remove_image(f"{repository}:two")

        assert {"Untagged": f"{repository}:two"} in deleted
        assert {"Deleted": image_id} in deleted
        assert gw.images(repository) == []
        with pytest.raises(docker.errors.ImageNotFound):
            docker_cleanup.images.get(image_id)


def test_remove_image_of_an_extra_tag_keeps_the_test_image(
    ctx: Context, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """rmi of an extra tag of the test image untags it and the handler says the image keeps its other tags."""
    extra = f"dockerverse-test/busybox:extra-{uuid.uuid4().hex[:8]}"
    image_id = docker_cleanup.images.get(test_image).id
    repository, _, tag = extra.rpartition(":")
    assert docker_cleanup.api.tag(test_image, repository, tag)
    payload = new_payload(
        "job-rmi", f"rmi {extra}", c.RemoveImage(image=extra), Actor("shell:t", "shell"), ReplyTo(), "local"
    )

    outcome = images.remove_image(ctx, c.RemoveImage(image=extra), payload)

    assert outcome.ok
    assert outcome.summary.startswith(f"Untagged `{extra}`")
    assert "keeps its other tags" in outcome.summary
    assert docker_cleanup.images.get(test_image).id == image_id
    assert extra not in docker_cleanup.images.get(test_image).tags


def test_remove_image_unknown_is_not_found(gw: DockerGateway) -> None:
    """rmi of an image that does not exist raises NotFound naming it."""
    ref = f"dockerverse-test/dvtest-none-{uuid.uuid4().hex[:8]}:nope"

    with pytest.raises(NotFound, match="No image"):
        gw.remove_image(ref)


def _counting(factory: Callable[[], docker.DockerClient]) -> tuple[Callable[[], docker.DockerClient], list[int]]:
    calls: list[int] = []

    def make() -> docker.DockerClient:
        calls.append(1)
        return factory()

    return make, calls


@pytest.mark.parametrize(
    "factory",
    [
        # Version negotiation talks to the daemon: the factory itself fails.
        lambda: docker.DockerClient(base_url="unix:///tmp/dockerverse-nonexistent.sock", timeout=2),
        # A pinned API version connects lazily: the first request fails.
        lambda: docker.DockerClient(base_url="unix:///tmp/dockerverse-nonexistent.sock", version="1.41", timeout=2),
    ],
    ids=["factory-fails", "request-fails"],
)
def test_dead_daemon_is_unavailable_and_reconnects(factory: Callable[[], docker.DockerClient]) -> None:
    """A dead daemon gives DockerUnavailable with a clear message, and the next call makes a new client."""
    make, calls = _counting(factory)
    gw = DockerGateway("deadhost", make)

    with pytest.raises(DockerUnavailable) as first:
        gw.containers()
    with pytest.raises(DockerUnavailable):
        gw.ping()

    message = first.value.message
    assert "`deadhost` cannot be reached" in message
    assert "Nothing was done" in message
    assert "Docker daemon is running" in message
    assert len(calls) == 2


def test_gateway_recovers_when_the_daemon_comes_back(docker_engine: docker.DockerClient) -> None:
    """After DockerUnavailable the gateway reconnects by itself once the factory reaches a live daemon."""
    live = [False]
    clients: list[docker.DockerClient] = []

    def make() -> docker.DockerClient:
        if live[0]:
            clients.append(docker.from_env(timeout=30))
            return clients[-1]
        return docker.DockerClient(base_url="unix:///tmp/dockerverse-nonexistent.sock", timeout=2)

    gw = DockerGateway("local", make)
    with pytest.raises(DockerUnavailable):
        gw.ping()

    live[0] = True

    try:
        assert gw.ping() is True
        assert len(clients) == 1
    finally:
        for client in clients:
            client.close()


def test_inspect_masks_secret_env_values(gw: DockerGateway, ctx: Context, test_image: str) -> None:
    """The inspect handler masks values of env vars whose names look like secrets and shows the others."""
    name = _name("inspect")
    env = (
        ("DB_PASSWORD", "hunter2"),
        ("API_TOKEN", "tok-123"),
        ("aws_secret_access_key", "aws-456"),
        ("MODE", "once"),
        ("EMPTY_SECRET", ""),
    )
    gw.run(_run_cmd(test_image, name, env=env, memory=80 * MB, cpus=0.5, pids=32), {})
    command = c.Inspect(target=name)
    console = Actor("shell:t", "shell")  # the top role, as the web signs it: may read what the bot did not make
    payload = new_payload("job-inspect", f"inspect {name}", command, console, ReplyTo(), "local", read_unmanaged=True)

    outcome = inspect.inspect(ctx, command, payload)

    shown = outcome.text + repr(outcome.data)
    for secret in ("hunter2", "tok-123", "aws-456"):
        assert secret not in shown
    assert {"DB_PASSWORD=••••", "API_TOKEN=••••", "aws_secret_access_key=••••", "MODE=once"} <= set(outcome.data["env"])
    assert "MODE=once" in outcome.text
    assert "memory 80m, cpus 0.5, pids 32" in outcome.text
    assert outcome.summary == f"`{name}` on `local`"


@pytest.mark.parametrize(
    ("ref", "split"),
    [
        ("nginx:1.27", ("nginx", "1.27")),
        ("localhost:5000/a/b", ("localhost:5000/a/b", "latest")),
        ("localhost:5000/a/b:2", ("localhost:5000/a/b", "2")),
        ("busybox@sha256:" + "a" * 64, ("busybox", "sha256:" + "a" * 64)),
    ],
)
def test_split_reference_handles_registry_ports_and_digests(ref: str, split: tuple[str, str]) -> None:
    """A registry's port is not a tag, and a digest stays whole."""
    assert split_reference(ref) == split


def test_pull_from_a_registry_reports_the_digest_and_unknown_images_plainly(
    gw: DockerGateway, docker_registry: Registry, test_image: str, docker_cleanup: docker.DockerClient
) -> None:
    """pull fetches from a real (local) registry and ends with the digest; a missing image is NotFound."""
    remote = f"{docker_registry.url}/dockerverse-test/busybox"
    docker_cleanup.api.tag(test_image, remote, "pulled")
    docker_registry.push(docker_cleanup, f"{remote}:pulled")
    docker_cleanup.api.remove_image(f"{remote}:pulled")

    digest = gw.pull(f"{remote}:pulled")
    assert digest.startswith(f"{remote}@sha256:")
    assert f"{remote}:pulled" in [t for row in gw.images() for t in row.tags]
    with pytest.raises(NotFound, match="No image"):
        gw.pull(f"{docker_registry.url}/dockerverse-test/nothing-here:1")
