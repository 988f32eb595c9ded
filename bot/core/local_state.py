"""Where `dockerverse up` keeps what it runs on, and its address for `shell`, `doctor` and `send`.

One folder an instance (`instance_dir`): two clones on one machine never share a Redis, an audit log
or the state the other commands read. The state file holds the embedded Redis socket, the job
signing key and the API token, so it is written 0600 in a 0700 folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.core.errors import DockerverseError

# The checkout this code runs from, when it runs from one (an editable install or `python -m`).
CHECKOUT = Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    """This machine's (this user's) folder: a worker's own sealing key. Not per checkout, as every worker
    on the machine reads the same key."""
    base = os.environ.get("DOCKERVERSE_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "dockerverse"
    )
    return Path(base)


def instance_dir() -> Path:
    """The folder of this instance's `up`: `.dockerverse/` in the checkout the code runs from; without a
    checkout (installed from a wheel), one a virtualenv under the user's state folder.
    DOCKERVERSE_STATE_DIR, when set, is the folder itself."""
    if os.environ.get("DOCKERVERSE_STATE_DIR"):
        return state_dir()
    if (CHECKOUT / "pyproject.toml").is_file() and os.access(CHECKOUT, os.W_OK):
        return CHECKOUT / ".dockerverse"
    venv = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    return state_dir() / f"up-{Path(sys.prefix).name}-{venv}"


def state_file() -> Path:
    return instance_dir() / "up.json"


def make_instance_dir() -> Path:
    path = instance_dir()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@contextlib.contextmanager
def claimed_instance() -> Iterator[Path]:
    """The instance folder, held for one `up` at a time: a second would share the first one's Redis data."""
    path = make_instance_dir()
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by the kernel even when `up` is killed
        except BlockingIOError:
            running = read_state()
            where = f" on {running['web_url']} (pid {running['pid']})" if running else ""
            raise DockerverseError(
                f"another `dockerverse up` is already running from {path.parent}{where}: use that one "
                "(`dockerverse shell` finds it), or stop it first."
            ) from None
        yield path
    finally:
        os.close(fd)


def write_state(data: dict[str, Any]) -> Path:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    return path


def read_state() -> dict[str, Any] | None:
    """The running `up`'s state, or None when there is none (or its process is gone)."""
    try:
        data: dict[str, Any] = json.loads(state_file().read_text())
        os.kill(int(data["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return data


def clear_state() -> None:
    state_file().unlink(missing_ok=True)


def worker_secret() -> bytes:
    """This machine's own random key for the records its workers seal for themselves; made 0600 on first use.

    Every worker process on the machine (every lane and the event watcher) reads the same file, so a
    quiet mark or redeploy journal one writes, another can check; no other machine can forge one.
    """
    path = state_dir() / "worker-seal.key"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:  # O_EXCL: of two workers starting at once, exactly one writes it
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    for _ in range(50):  # the writer may not have written yet
        text = path.read_text().strip()
        if text:
            break
        time.sleep(0.01)
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise OSError(f"{path} is not a key: delete it and start the worker again (it makes a new one)")
    return key
