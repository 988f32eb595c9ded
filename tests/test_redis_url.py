"""Redis with a password and through Sentinel: the whole queue path works with either URL."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.core.policy import Actor, Policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.wire.payload import ReplyTo
from bot.wire.queues import connect
from bot.wire.redis_url import client
from tests.support.services import free_port
from workers.runtime.main import build_worker


def _start(args: list[str], port: int, password: str | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port, password=password, socket_timeout=1).ping():
                return proc
        except redis.RedisError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"redis-server {args} did not start")


@pytest.fixture
def master_and_sentinel(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A password-protected Redis and a Sentinel that watches it as `mymaster`."""
    master, sentinel = free_port(), free_port()
    m = _start(
        ["--port", str(master), "--bind", "127.0.0.1", "--save", "", "--requirepass", "s3cret", "--dir", str(tmp_path)],
        master,
        "s3cret",
    )
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master} 1\n"
        "sentinel auth-pass mymaster s3cret\nsentinel down-after-milliseconds mymaster 5000\n"
    )
    s = _start([str(conf), "--sentinel"], sentinel)
    yield master, sentinel
    for proc in (s, m):
        proc.terminate()
        proc.wait(timeout=10)


def _round_trip(url: str) -> dict[str, object] | None:
    settings = Settings(REDIS_URL=url, DOCKERVERSE_JOB_KEY="k" * 32)
    worker = build_worker(settings, "local")
    worker.register_birth()
    dispatcher = Dispatcher(settings, Policy(), connect(url))
    sub = dispatcher.submit("help", Actor("shell:t", "shell"), ReplyTo())
    worker.register_death()  # work() registers it again
    worker.work(burst=True)
    return dispatcher.wait(sub.job_id, 5)


def test_password_and_sentinel_urls_carry_the_whole_queue_path(master_and_sentinel: tuple[int, int]) -> None:
    """A job goes in and its result comes back through redis://:password@ and redis+sentinel:// alike;
    a wrong password is refused."""
    master, sentinel = master_and_sentinel
    state = _round_trip(f"redis://:s3cret@127.0.0.1:{master}/3")
    assert state is not None and state["status"] == "finished"
    via_sentinel = f"redis+sentinel://:s3cret@127.0.0.1:{sentinel}/mymaster/4"
    assert client(via_sentinel).ping()
    state = _round_trip(via_sentinel)
    assert state is not None and state["status"] == "finished"
    with pytest.raises(redis.AuthenticationError):
        client(f"redis://:wrong@127.0.0.1:{master}/0").ping()
