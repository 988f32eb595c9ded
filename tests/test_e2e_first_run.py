"""The first ten minutes with `dockerverse up`, as real processes: it refuses a busy port, `doctor`, `send`
and `shell` find it by themselves, two clones keep apart, and it leaves nothing behind when it stops."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from tests.support.services import free_port
from tests.support.stack import ROOT

pytestmark = pytest.mark.e2e


def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without any Dockerverse, Redis or Slack settings: a new user's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "SLACK_", "DOCKERVERSE_"))}
    return {**env, **extra}


def cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli.main", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def banner(self, timeout: float = 90.0) -> str:
        """Everything it printed up to the banner's last line; fails when it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            if "Ctrl-C here stops everything" in text:
                return text
            assert self.proc.poll() is None, f"up exited with {self.proc.returncode}:\n{text}"
            time.sleep(0.2)
        raise AssertionError(f"no banner within {timeout:g} s:\n{self.output()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@contextlib.contextmanager
def running_up(env: dict[str, str], cwd: Path, *args: str) -> Iterator[Up]:
    log = cwd / f"up-{free_port()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli.main", "up", *args], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    up = Up(proc, log)
    try:
        yield up
    finally:
        up.stop()


def banner_value(banner: str, pattern: str) -> str:
    found = re.search(pattern, banner)
    assert found, f"{pattern!r} is not in the banner:\n{banner}"
    return found.group(1)


class OtherInstance(http.server.BaseHTTPRequestHandler):
    """Another program on the port that answers /healthz as a Dockerverse web does."""

    def do_GET(self) -> None:
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_up_refuses_a_busy_port_and_never_claims_to_be_up(tmp_path: Path) -> None:
    """A port another web already answers on is refused before anything starts, naming --port; no "up"."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OtherInstance)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    state = tmp_path / "state"
    try:
        done = cli(clean_env(DOCKERVERSE_STATE_DIR=str(state)), tmp_path, "up", "--port", str(port), timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "dockerverse up --port " in done.stderr
    assert "is up" not in done.stdout + done.stderr
    assert not (state / "up.json").exists() and not (state / "redis.db").exists()  # nothing was started


def test_up_with_a_hook_serves_send_doctor_and_the_api_then_leaves_nothing_behind(
    docker_engine: docker.DockerClient, tmp_path: Path
) -> None:
    """`up --hook ci` prints an API token and the hook's secret; `doctor` passes beside it, `send` gets the
    job's result and a status URL that answers with that token; stopping it removes its state and temp files."""
    state, tmp = tmp_path / "state", tmp_path / "tmp"
    tmp.mkdir()
    env = clean_env(DOCKERVERSE_STATE_DIR=str(state), TMPDIR=str(tmp))
    port = free_port()
    with running_up(env, tmp_path, "--port", str(port), "--hook", "ci") as up:
        banner = up.banner()
        assert "Dockerverse is up." in banner
        token = banner_value(banner, r"api     token (\S+)")
        hook = f"http://127.0.0.1:{port}/hooks/ci"
        secret = banner_value(banner, re.escape(hook) + r"  \(role operator, secret (\w+)\)")
        assert (state / "up.json").stat().st_mode & 0o777 == 0o600

        doctor = cli(env, tmp_path, "doctor")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        for said in ("Checking the `dockerverse up`", "✅ Job keys: Ed25519", "✅ Hook `ci`", "✅ Redis at unix://"):
            assert said in doctor.stdout, doctor.stdout
        assert "All good." in doctor.stdout

        sent = cli(env, tmp_path, "send", hook, "list", "--secret", secret, "--wait", "30")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert re.match(r"✅ (No|\d+) running containers? on local", sent.stdout), sent.stdout  # dockerd is shared
        status_url = banner_value(sent.stdout, r"status: (\S+)")
        assert status_url.startswith(f"http://127.0.0.1:{port}/api/jobs/")
        assert httpx.get(status_url, timeout=10).status_code == 401  # the URL wants the token...
        job = httpx.get(status_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert job.status_code == 200 and job.json()["status"] == "finished"  # ...and answers with up's

        # From this checkout `send` needs no secret: it reads the running up's.
        mine = cli(env, tmp_path, "send", hook, "hosts", "--wait", "30")
        assert mine.returncode == 0 and "1 Docker host served" in mine.stdout, mine.stdout + mine.stderr
        assert up.stop() == 0
    assert sorted(p.name for p in state.iterdir()) == ["redis.db", "redis.log", "worker-seal.key"]
    assert list(tmp.iterdir()) == []  # no temporary folder left behind
    gone = cli(env, tmp_path, "send", hook, "list")
    assert gone.returncode == 2 and "no secret" in gone.stderr  # the stopped up's secret went with it


def clone(into: Path) -> Path:
    """A checkout of its own: run with it as the working directory, `python -m bot.cli.main` imports it."""
    for part in ("bot", "workers"):
        shutil.copytree(ROOT / part, into / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", into)
    return into


def test_two_clones_run_their_own_up_with_their_own_state_and_audit(
    docker_engine: docker.DockerClient, tmp_path: Path
) -> None:
    """Each clone's `up` keeps its state in `.dockerverse/` beside its code: its shell reaches its own Redis,
    and one clone's audit log never shows the other's commands."""
    env = clean_env(DOCKERVERSE_STREAM_WORKERS="0")  # quick-lane workers only: two ups on a shared machine
    a, b = clone(tmp_path / "a"), clone(tmp_path / "b")
    with (
        running_up(env, a, "--port", str(free_port())) as up_a,
        running_up(env, b, "--port", str(free_port())) as up_b,
    ):
        up_a.banner(), up_b.banner()
        states = [json.loads((c / ".dockerverse" / "up.json").read_text()) for c in (a, b)]
        assert states[0]["env"]["REDIS_URL"] != states[1]["env"]["REDIS_URL"]
        assert cli(env, a, "shell", "-c", "images only-in-clone-a").returncode == 0
        assert "only-in-clone-a" in cli(env, a, "shell", "-c", "audit").stdout
        audit_b = cli(env, b, "shell", "-c", "audit")
        assert audit_b.returncode == 0, audit_b.stdout + audit_b.stderr
        assert "only-in-clone-a" not in audit_b.stdout
