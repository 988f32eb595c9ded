"""`dockerverse up` then `dockerverse shell`: the whole product on one machine with no Slack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import pytest

from tests.support.services import free_port

pytestmark = pytest.mark.e2e


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "SLACK_", "DOCKERVERSE_"))}
    return {**env, "DOCKERVERSE_STATE_DIR": str(tmp_path / "state")}


def _shell(
    env: dict[str, str], cwd: Path, *commands: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "bot.cli.main", "shell"] + [a for c in commands for a in ("-c", c)]
    return subprocess.run(args, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


def test_up_then_shell_runs_commands_with_embedded_redis(
    docker_cleanup: docker.DockerClient, test_image: str, tmp_path: Path
) -> None:
    """`up` starts web, worker and an embedded Redis; `shell` runs commands on it; Ctrl-C stops everything."""
    env, port = _env(tmp_path), free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", "up", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = []
        assert up.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            banner.append(line)
            if "dockerverse shell" in line or up.poll() is not None:
                break
        text = "".join(banner)
        assert f"http://127.0.0.1:{port}" in text and f"embedded, data in {tmp_path / 'state'}" in text, text

        name = f"dvtest-{uuid.uuid4().hex[:8]}"
        result = _shell(
            env, tmp_path, f"run {test_image} --name {name} -- sh -c 'echo ready; sleep 300'", f"list {name}"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"✅ Started {name}" in result.stdout and "1 running container matching" in result.stdout
        assert docker_cleanup.containers.get(name).labels["dockerverse.creator"].startswith("shell:")

        piped = _shell(env, tmp_path, stdin=f"logs {name}\nrm {name}\nfrobnicate\n")
        assert "ready" in piped.stdout
        assert f"is running: stop it first (stop {name})" in piped.stdout
        assert "Unknown command frobnicate. Try help" in piped.stdout
        assert piped.returncode == 1  # a failed command fails a scripted shell

        followed = _shell(env, tmp_path, f"logs {name} --follow 3s")
        assert followed.returncode == 0, followed.stdout + followed.stderr
        assert (
            followed.stdout.startswith("ready\n")
            and "(stream ended: its time limit (3s) was reached)" in followed.stdout
            and "Followed" in followed.stdout
        )

        assert _shell(env, tmp_path, f"rm {name} --force").returncode == 0
        with pytest.raises(docker.errors.NotFound):
            docker_cleanup.containers.get(name)
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=60) == 0
    assert not (tmp_path / "state" / "up.json").exists()
    gone = _shell(env, tmp_path, "list")
    assert gone.returncode == 2 and "no `dockerverse up` is running" in gone.stderr
