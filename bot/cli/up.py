"""`dockerverse up`: one machine, one command. Web and a worker as child processes, with an embedded
Redis (bot/cli/embedded_redis.py) when REDIS_URL is unset, all kept in this instance's folder.

It tells the truth: a busy port is refused before anything starts, and "up" is printed only once
*its own* web answers (the instance nonce at /healthz), not whatever else listens there.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from types import FrameType

from bot.cli.embedded_redis import embedded_redis
from bot.cli.up_banner import banner, how_to_call
from bot.cli.up_launch import Launch, plan
from bot.core.errors import DockerverseError
from bot.core.local_state import claimed_instance, clear_state, write_state
from bot.core.masking import mask_text
from bot.core.policy import load_policy
from bot.core.settings import Settings
from bot.web.dashboard.signin_codes import signin_line


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli.main", *args], env=env)


def _can_listen(host: str, port: int) -> OSError | None:
    """Binds as uvicorn will (SO_REUSEADDR), so a port only in TIME_WAIT counts as free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            return None
    except OSError as exc:
        return exc


def check_port(host: str, port: int) -> None:
    """Refuses a port something already listens on, naming the flag that picks another."""
    problem = _can_listen(host, port)
    if problem is None:
        return
    if problem.errno == errno.EADDRINUSE:
        spare = next((p for p in range(port + 1, port + 50) if _can_listen(host, p) is None), None)
        pick = f"dockerverse up --port {spare}" if spare else "dockerverse up --port PORT"
        raise DockerverseError(
            f"port {port} on {host} is already in use (another program, or another `dockerverse up`): "
            f"stop that, or start on another port: {pick}."
        )
    raise DockerverseError(f"cannot listen on {host}:{port}: {problem.strerror}. Pick others with --host and --port.")


def own_web_answers(url: str, instance: str, alive: Callable[[], bool], timeout: float = 60.0) -> bool:
    """True once `url`/healthz echoes `instance`; False when the web died or the time is up. Another
    program answering on the port (this web failing to bind) is not taken for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
                if json.loads(resp.read()).get("instance") == instance:
                    return True
        except (OSError, ValueError, AttributeError):  # not listening yet; or not JSON, or not an object
            pass
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


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_up(settings: Settings, host: str, port: int, hooks: Sequence[str] = ()) -> int:
    check_port(host, port)
    # SIGTERM too stops it the orderly way (what it made is removed); SIGINT also when started in the
    # background, where it is ignored by default.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        with claimed_instance() as folder, contextlib.ExitStack() as cleanup:
            web_url = f"http://{host}:{port}"
            launch = plan(settings, load_policy(settings.config_path), web_url, list(hooks), folder)
            if launch.policy_file is not None:
                cleanup.callback(launch.policy_file.unlink, missing_ok=True)
            embedded = "redis_url" not in settings.model_fields_set
            redis_url = cleanup.enter_context(embedded_redis(folder)) if embedded else settings.redis_url
            env = {**os.environ, "REDIS_URL": redis_url, "DOCKERVERSE_HOST_NAME": settings.host_name}
            launch.web_env["REDIS_URL"] = redis_url
            # The workers' own sealing key goes in the instance folder too: nothing of this `up` is shared.
            worker_env = {**launch.worker_env, "DOCKERVERSE_STATE_DIR": str(folder)}
            procs = [
                _spawn(["worker"], env | worker_env),
                _spawn(["web", "--host", host, "--port", str(port)], env | launch.web_env),
            ]
            redis = f"embedded, data in {folder}" if embedded else mask_text(redis_url)
            return _serve(launch, procs, banner(launch, settings, redis, how_to_call()))
    except KeyboardInterrupt:  # stopped while starting: what it made is gone already
        print("\nStopped before it was up.", file=sys.stderr)
        return 1


def _serve(launch: Launch, procs: list[subprocess.Popen[bytes]], text: str) -> int:
    """Waits for the web, records the state, prints the banner, then watches the children until one
    exits or up is stopped; stops them all and removes the state either way."""
    worker, web = procs
    try:
        if not own_web_answers(launch.web_url, launch.instance, lambda: web.poll() is None):
            why = (
                f"the web process exited with {web.returncode} (see its output above; a port taken meanwhile?)"
                if web.poll() is not None
                else "the web process did not answer in time (see its output above)"
            )
            print(f"dockerverse up: {why}; nothing is up on {launch.web_url}. Stopping.", file=sys.stderr)
            return 1
        write_state(launch.state(os.getpid()))
        print(
            text, "  " + signin_line(launch.web_env, launch.web_env["REDIS_URL"], launch.web_url), sep="\n", flush=True
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        gone = worker if worker.poll() is not None else web
        print(
            f"dockerverse up: {'worker' if gone is worker else 'web'} exited with {gone.returncode}; "
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
