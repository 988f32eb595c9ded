"""`dockerverse web` and `dockerverse worker` started as real processes with secrets that are not real keys:
each stops at start, exits non-zero and names the variable, with no traceback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.services import RedisServer, free_port
from tests.support.stack import API_TOKEN, CI_SECRET, GH_SECRET, JOB_KEY, POLICY, ROOT

pytestmark = pytest.mark.e2e
START_TIMEOUT = 30.0


@pytest.fixture
def env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    """A configuration whose secrets are all good, on Redis database 12; tests spoil one of them."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return {
        **os.environ,
        "REDIS_URL": redis_server.url_for(12),
        "DOCKERVERSE_CONFIG": str(policy),
        "DOCKERVERSE_JOB_KEY": JOB_KEY,
        "DOCKERVERSE_API_TOKEN": API_TOKEN,
        "CI_HOOK_SECRET": CI_SECRET,
        "GH_HOOK_SECRET": GH_SECRET,
    }


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli.main", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def stopped_at_start(proc: subprocess.Popen[str]) -> str:
    """The process's output once it has exited; fails if it is still running after START_TIMEOUT."""
    try:
        out, _ = proc.communicate(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        pytest.fail(f"still running after {START_TIMEOUT:g} s: it started with a secret that is not a key\n{out}")
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    return out


def empty_key_delivery(web_url: str) -> httpx.Response:
    """A Standard Webhooks delivery signed with an empty HMAC key, which anyone can make."""
    body = json.dumps({"command": "help"}).encode()
    msg_id, ts = "msg_empty_key", str(int(time.time()))
    digest = hmac.new(b"", f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
    return httpx.post(f"{web_url}/hooks/ci", content=body, headers=headers, timeout=10)


def test_placeholder_hook_secret_stops_the_web_and_no_empty_key_delivery_gets_in(env: dict[str, str]) -> None:
    """With the `whsec_...` placeholder (which decodes to no key) the web does not start, so it never takes a
    delivery signed with an empty key; it names CI_HOOK_SECRET and says how to make a real secret."""
    port = free_port()
    proc = start({**env, "CI_HOOK_SECRET": "whsec_..."}, "web", "--port", str(port))
    deadline = time.monotonic() + START_TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            accepted = empty_key_delivery(f"http://127.0.0.1:{port}")
        except httpx.HTTPError:
            time.sleep(0.1)
            continue
        os.killpg(proc.pid, 9)
        pytest.fail(f"the web started, and answered {accepted.status_code} to a delivery signed with an empty key")
    out = stopped_at_start(proc)
    assert "CI_HOOK_SECRET (the secret of hook `ci`) is still `whsec_...`" in out, out
    assert "openssl rand -hex 32" in out and 'echo "whsec_$(openssl rand -base64 32)"' in out, out


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("CI_HOOK_SECRET", "short-secret", "CI_HOOK_SECRET (the secret of hook `ci`) is too short to be a key"),
        ("CI_HOOK_SECRET", "whsec_not-base64!", "CI_HOOK_SECRET (the secret of hook `ci`) starts with `whsec_`"),
        ("DOCKERVERSE_API_TOKEN", "letmein-1234", "DOCKERVERSE_API_TOKEN is too short to be a key: 12 bytes"),
        ("DOCKERVERSE_API_TOKEN", "generate-with-openssl-rand-hex-32", "DOCKERVERSE_API_TOKEN is still `generate"),
        ("DOCKERVERSE_JOB_KEY", "generate-with-openssl-rand-hex-32", "DOCKERVERSE_JOB_KEY is still `generate"),
    ],
)
def test_a_secret_that_is_not_a_key_stops_the_web(env: dict[str, str], variable: str, value: str, says: str) -> None:
    """A short, placeholder or mistyped secret stops `dockerverse web` at start, naming the variable."""
    out = stopped_at_start(start({**env, variable: value}, "web", "--port", str(free_port())))
    assert "dockerverse web: " in out and says in out, out
    assert "openssl rand -hex 32" in out, out


@pytest.mark.parametrize("value", ["too-short-key", "generate-with-openssl-rand-hex-32"])
def test_a_job_key_that_is_not_a_key_stops_the_worker(env: dict[str, str], value: str) -> None:
    """`dockerverse worker` (its supervisor, before any worker starts) stops on a short or placeholder job key."""
    out = stopped_at_start(start({**env, "DOCKERVERSE_JOB_KEY": value}, "worker"))
    assert out.startswith("dockerverse worker: DOCKERVERSE_JOB_KEY is "), out
    assert "openssl rand -hex 32" in out, out
