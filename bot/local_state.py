"""Where `dockerverse up` leaves its address for `dockerverse shell` on the same machine.

The file holds the embedded Redis socket and the job key, so it is written 0600 in
the user's state directory ($XDG_STATE_HOME/dockerverse, else ~/.local/state/dockerverse).
"""

from __future__ import annotations

import json
import os
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
