"""Secrets stay masked through the real stack: a container's env and Cmd in `inspect`'s Slack reply,
the audit log and job descriptions, every process log, and `doctor` and `up` on a Redis with a password."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.support import services
from tests.support.fakeslack import Call, FakeSlack
from tests.support.stack import API_TOKEN, ROOT, Stack
from tests.support.stack_factory import StackFactory, StackOptions

pytestmark = pytest.mark.e2e
SECRET = "s3cret"
REDIS_PASSWORD = "rEd1s-pw-" + uuid.uuid4().hex[:8]  # in REDIS_URL: never printed by any process


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.RedisServer]:
    """A redis-server that wants a password (`--requirepass`), so every process's REDIS_URL carries one."""
    server = services.start_redis(tmp_path_factory.mktemp("redis-pw"), password=REDIS_PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(stack_factory: StackFactory, locked_redis: services.RedisServer) -> Iterator[Stack]:
    """Web and worker on the password-protected Redis, with the fake Slack."""
    with stack_factory(StackOptions(db=1), server=locked_redis) as running:
        yield running


def posts(slack: FakeSlack, chan: str, count: int) -> list[Call]:
    return slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == chan, count=count, timeout=30)


def everything_said(slack: FakeSlack) -> str:
    return "\n".join(repr(c.params) for c in slack.calls())


def process_logs(stack: Stack) -> str:
    return "\n".join(log.read_text(errors="replace") for log in stack.logs if log.exists())


def test_inspect_audit_and_jobs_never_show_a_containers_secrets(
    stack: Stack, slack: FakeSlack, docker_cleanup: docker.DockerClient, test_image: str
) -> None:
    """A run with a password in a URL env value, `-e=API_TOKEN=...` and `--requirepass` in its Cmd starts with
    them intact, but Slack, the audit log, the job's description and the process logs only ever show them masked."""
    chan, name = "C" + uuid.uuid4().hex[:10].upper(), f"dvtest-{uuid.uuid4().hex[:8]}"
    stack.slash(
        f"run {test_image} --name {name} -e DATABASE_URL=postgres://app:{SECRET}@db/app -e=API_TOKEN={SECRET} "
        f"-e MODE=demo -- sh -c 'trap \"exit 0\" TERM; sleep 300 & wait' --requirepass {SECRET}",
        channel=chan,
    )
    started = slack.settled(posts(slack, chan, 1)[0])
    assert "Started" in repr(started.params), repr(started.params)
    real = docker_cleanup.containers.get(name).attrs["Config"]
    assert f"DATABASE_URL=postgres://app:{SECRET}@db/app" in real["Env"] and f"API_TOKEN={SECRET}" in real["Env"]
    assert real["Cmd"][-2:] == ["--requirepass", SECRET]  # the job ran the command as typed, unmasked

    stack.slash(f"inspect {name}", channel=chan)
    shown = repr(slack.settled(posts(slack, chan, 2)[1]).params)
    assert "DATABASE_URL=postgres://app:••••@db/app" in shown and "API_TOKEN=••••" in shown, shown
    assert "--requirepass ••••" in shown and "MODE=demo" in shown, shown
    assert SECRET not in everything_said(slack)

    api = {"Authorization": f"Bearer {API_TOKEN}"}
    entries = httpx.get(f"{stack.web_url}/api/audit?limit=20", headers=api).json()["entries"]
    run = next(e for e in entries if e["channel"] == chan and e["command"].startswith("run"))
    assert "API_TOKEN=••••" in run["command"] and "postgres://app:••••@db/app" in run["command"], run
    assert SECRET not in repr(entries)
    job = httpx.get(f"{stack.web_url}/api/jobs/{run['job_id']}", headers=api).json()
    assert job["status"] == "finished" and SECRET not in job["command"], job
    logs = process_logs(stack)
    assert SECRET not in logs and REDIS_PASSWORD not in logs


def doctor(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "doctor"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    return done.stdout + done.stderr


def test_doctor_never_prints_the_redis_password(stack: Stack, locked_redis: services.RedisServer) -> None:
    """`doctor` names the Redis it checks with the password masked, also when the URL is wrong and the
    error quotes it."""
    out = doctor(stack.env)
    broken = doctor({**stack.env, "REDIS_URL": f"redis+sentinel://:{REDIS_PASSWORD}@127.0.0.1:1"})
    assert REDIS_PASSWORD not in out + broken, out + broken
    assert f"✅ Redis at redis://:••••@127.0.0.1:{locked_redis.port}/1" in out, out
    assert "❌ Redis at redis+sentinel://:••••@127.0.0.1:1" in broken and "name the master" in broken, broken


def test_up_never_prints_the_redis_password(
    locked_redis: services.RedisServer, docker_engine: docker.DockerClient, tmp_path: Path
) -> None:
    """`up` on a Redis of the user's own says where it is with the password masked, and neither it nor the web
    and worker it starts print the password, up to Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "SLACK_", "DOCKERVERSE_"))}
    env.update(REDIS_URL=locked_redis.url_for(2), DOCKERVERSE_STATE_DIR=str(tmp_path / "state"))
    port = services.free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", "up", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert up.stdout is not None
    said = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and up.poll() is None:
            said.append(up.stdout.readline())
            if "dockerverse shell" in said[-1]:
                break
        banner = "".join(said)
        assert f"redis   redis://:••••@127.0.0.1:{locked_redis.port}/2" in banner, banner
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
    assert up.returncode == 0, banner + rest
    assert REDIS_PASSWORD not in banner + rest
