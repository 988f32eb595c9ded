"""A mistyped policy file stops `dockerverse web`, `worker` and `doctor` at start, as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import RedisServer, free_port
from tests.support.stack import JOB_KEY

pytestmark = pytest.mark.e2e
DOCKERVERSE = Path(sys.executable).parent / "dockerverse"  # the console script `pip install` made
MISTYPED = """
roles:
  viewer: ["*"]
image:                     # images:, mistyped: it used to load and leave every image allowed
  allow: [busybox]
"""
SAID = "image: unknown key; did you mean images?"


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60.0) -> tuple[int, str]:
    """Run the command to its end; one still running at ``timeout`` (and its children) is killed: a failure."""
    proc = subprocess.Popen(
        [str(DOCKERVERSE), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a worker supervisor's children die with it
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"`dockerverse {args[0]}` still ran after {timeout:.0f} s with a mistyped policy:\n{out}")
    return proc.returncode, out


@pytest.mark.parametrize("command", ["web", "worker", "doctor"])
def test_a_mistyped_policy_stops_each_process_with_the_key_path(
    command: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    """`image:` for `images:` makes web, worker and doctor exit non-zero naming the file and the key, with
    the nearest valid key, and no traceback."""
    assert DOCKERVERSE.exists(), f"{DOCKERVERSE} is missing: pip install -e . in this environment"
    policy = tmp_path / "policy.yaml"
    policy.write_text(MISTYPED)
    # Only what we give: no Slack, no other DOCKERVERSE_* from the shell that runs the tests.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKERVERSE_", "SLACK_", "REDIS_URL"))}
    env |= {"DOCKERVERSE_CONFIG": str(policy), "DOCKERVERSE_JOB_KEY": JOB_KEY, "REDIS_URL": redis_server.url_for(12)}
    args = {"web": ["web", "--port", str(free_port())], "worker": ["worker"], "doctor": ["doctor"]}[command]
    status, out = run(args, env, tmp_path)  # tmp_path: no stray .env is read
    assert status != 0, out
    assert f"the policy file {policy}: {SAID}" in out, out
    assert "Traceback" not in out, out
