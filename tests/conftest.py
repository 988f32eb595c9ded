"""Shared fixtures: real Redis, real Docker engine with a busybox test image, fake Slack.

Docker tests never skip: CI must have an engine, so a missing one fails loudly with the reason.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests.support` must import however pytest is started (`pytest` or `python -m pytest`,
# any import mode), so put the repository root on sys.path ourselves.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import docker  # noqa: E402
import redis  # noqa: E402

from bot.core.settings import Settings  # noqa: E402
from bot.wire.queues import connect  # noqa: E402
from tests.support import recorder, services  # noqa: E402
from tests.support.fakeslack import FakeSlack  # noqa: E402
from tests.support.proxy_allowlist import AllowList, report  # noqa: E402
from tests.support.stack import Stack  # noqa: E402
from tests.support.stack_factory import StackFactory, StackOptions  # noqa: E402
from workers.commands.context import Context  # noqa: E402
from workers.docker.gateway import DockerGateway  # noqa: E402
from workers.runtime.startup import build_context  # noqa: E402

MARKERS = {
    "docker": "needs the Docker engine (started by the docker_engine fixture)",
    "redis": "needs a real redis-server (started by the redis_server fixture)",
    "e2e": "end-to-end: bot, workers, Redis, Docker and fake Slack together",
    "slow": "takes more than a few seconds",
}

# Fixtures that imply a marker, so `-m "not docker"` selects without tests repeating themselves.
_FIXTURE_MARKERS = {
    "docker_engine": "docker",
    "test_image": "docker",
    "docker_cleanup": "docker",
    "docker_registry": "docker",
    "redis_server": "redis",
    "redis_url": "redis",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")


_PROXY_REPORT = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The run fails when any worker or gateway call was one the shipped socket proxy would refuse."""
    log = recorder.SESSION_LOG
    if log is None or not log.exists():
        return
    lines = [line for line in log.read_text().splitlines() if line]
    found = report([json.loads(line) for line in lines], AllowList.load())
    session.config.stash[_PROXY_REPORT] = found.text()
    if found.outside and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    text = config.stash.get(_PROXY_REPORT, "")
    if text:
        terminalreporter.write_sep("-", "Docker API calls vs deploy/socket-proxy/allowlist.env")
        terminalreporter.write_line(text)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in _FIXTURE_MARKERS.items():
            if fixture in names:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisServer]:
    """A private redis-server on a free loopback port for the whole session."""
    server = services.start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: services.RedisServer) -> Iterator[str]:
    """URL of the session Redis, emptied (FLUSHDB) before and after the test."""
    # A previous test may have killed Redis and failed before bringing it back.
    if not redis_server.is_running():
        redis_server.stop()
        redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushdb()
    yield redis_server.url
    if not redis_server.is_running():
        redis_server.stop()
        redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushdb()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    """docker-py client of a running engine (started if needed) with the test image built."""
    try:
        services.ensure_dockerd()
        services.remove_test_containers(services.TEST_IMAGE)  # leftovers of a crashed run
        services.build_test_image(services.TEST_IMAGE)
    except Exception as exc:  # turn any cause into one loud, readable failure
        pytest.fail(f"Docker engine unavailable (tests need it, never skipped): {exc}", pytrace=False)
    client = services.docker_client()
    # Held shared while this run uses the daemon: the last run to finish (the one that can take it
    # exclusively) also removes the registry images every run shares.
    sessions = services.SESSIONS_LOCK.open("a")
    fcntl.flock(sessions, fcntl.LOCK_SH)
    try:
        yield client
    finally:
        client.close()
        try:
            fcntl.flock(sessions, fcntl.LOCK_EX | fcntl.LOCK_NB)
            last = True
        except BlockingIOError:
            last = False
        services.cleanup_docker(services.TEST_IMAGE, last=last)
        sessions.close()


@pytest.fixture(scope="session", autouse=True)
def docker_api_recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[recorder.DockerRecorder | None]:
    """Every worker and `gw` reach dockerd through a proxy enforcing the shipped allow-list, which
    records each call; the session's calls are checked and reported at the end (see below).
    DOCKERVERSE_TEST_DOCKER_PROXY=0 turns it off, to tell a proxy problem from another."""
    if os.environ.get("DOCKERVERSE_TEST_DOCKER_PROXY") == "0":
        yield None
        return
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert host.startswith("unix://"), f"the recording proxy forwards to a unix-socket daemon, not {host}"
    where = tmp_path_factory.mktemp("docker-api")
    log = Path(os.environ.get("DOCKERVERSE_DOCKER_API_LOG") or where / "calls.jsonl")
    running = recorder.DockerRecorder(host.removeprefix("unix://"), log, where / "docker.sock")
    recorder.ACTIVE, recorder.SESSION_LOG = running, log
    try:
        yield running
    finally:
        recorder.ACTIVE = None
        running.close()


@pytest.fixture(scope="session")
def test_image(docker_engine: docker.DockerClient) -> str:
    """Tag of the busybox test image (label dockerverse.test=1, CMD /bin/sh)."""
    return services.TEST_IMAGE


@pytest.fixture
def docker_cleanup(docker_engine: docker.DockerClient) -> Iterator[docker.DockerClient]:
    """Removes containers labelled dockerverse.test or made from the test image after the test."""
    yield docker_engine
    services.remove_test_containers(services.TEST_IMAGE)


@pytest.fixture(scope="session")
def docker_registry(
    docker_engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[services.Registry]:
    """A private plain-HTTP registry; push/pull `f"{docker_registry.url}/dockerverse-test/..."`."""
    try:
        registry = services.start_registry(tmp_path_factory.mktemp("registry"))
    except services.ServiceError as exc:
        pytest.fail(f"docker-registry unavailable: {exc}", pytrace=False)
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake Slack Web API server; pass `fake_slack.url` as base_url."""
    with FakeSlack() as server:
        yield server


@pytest.fixture(scope="module")
def slack_server() -> Iterator[FakeSlack]:
    """One fake Slack for a module's stack (end-to-end modules start one stack each).

    At the end it fails the module if the product sent anything Slack would refuse: a reply
    Slack drops is a reply the user never sees, however green the test's own assertions.
    """
    with FakeSlack() as server:
        yield server
        refused = "\n".join(f"  {c.method} -> {c.response}: {c.params!r}"[:2000] for c in server.refusals())
        assert not refused, f"the product sent what Slack refuses:\n{refused}"


@pytest.fixture(scope="module")
def stack_factory(
    request: pytest.FixtureRequest,
    redis_server: services.RedisServer,
    slack_server: FakeSlack,
    docker_engine: docker.DockerClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> StackFactory:
    """Starts this module's stacks (web + workers on the session Redis and the module's fake Slack)."""
    name = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    return StackFactory(redis_server, slack_server.url, tmp_path_factory, name)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, stack_factory: StackFactory) -> Iterator[Stack]:
    """The module's running stack, as its `STACK = StackOptions(...)` says; stopped after its last test."""
    options = getattr(request.module, "STACK", None)
    if not isinstance(options, StackOptions):
        pytest.fail(
            f"{request.module.__name__} uses the `stack` fixture but sets no `STACK = StackOptions(db=...)`: "
            "add one naming the module's own Redis database (and what else differs).",
            pytrace=False,
        )
    with stack_factory(options) as running:
        yield running


@pytest.fixture
def slack(slack_server: FakeSlack, docker_cleanup: docker.DockerClient) -> FakeSlack:
    """The module's fake Slack holding this test's calls only; test containers removed afterwards."""
    slack_server.reset()
    return slack_server


@pytest.fixture
def gw(docker_cleanup: docker.DockerClient) -> Iterator[DockerGateway]:
    """A gateway on the test engine; every test container is removed afterwards."""
    clients: list[docker.DockerClient] = []

    def factory() -> docker.DockerClient:
        # Through the recording proxy, as a deployed worker reaches Docker.
        proxy = recorder.ACTIVE
        client = docker.DockerClient(base_url=proxy.tcp_url, timeout=60) if proxy else docker.from_env(timeout=60)
        clients.append(client)
        return clients[-1]

    yield DockerGateway("local", factory)
    for client in clients:
        client.close()


@pytest.fixture
def ctx(gw: DockerGateway, redis_url: str) -> Context:
    """What a worker gives its handlers, built as a worker builds it, on the test gateway and Redis."""
    settings = Settings(REDIS_URL=redis_url, DOCKERVERSE_JOB_KEY="k" * 32, DOCKERVERSE_HOST_NAME="local")
    return build_context(settings, "local", connect(redis_url), gateway=gw)
