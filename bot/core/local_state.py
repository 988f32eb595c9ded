"""Where `dockerverse up` leaves its address for `dockerverse shell` on the same machine.

The file holds the embedded Redis socket and the job signing key, so it is written 0600 in
the user's state directory ($XDG_STATE_HOME/dockerverse, else ~/.local/state/dockerverse).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any


def state_dir() -> Path:
    base = os.environ.get("DOCKERVERSE_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "dockerverse"
    )
    return Path(base)


def state_file() -> Path:
    return state_dir() / "up.json"


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

    Every worker process on the machine (both lanes and the event watcher) reads the same file, so a
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
