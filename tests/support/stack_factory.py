"""One way to start a test module's stack: a module says how its stack differs (``STACK = StackOptions(...)``)
and the conftest `stack` fixture starts it; a module whose stack needs more (a relay in front of Docker, a
warm-up before its first test) builds it with the `stack_factory` fixture the same way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest
import redis

from tests.support.services import RedisServer
from tests.support.stack import POLICY, Stack


@dataclass(frozen=True)
class StackOptions:
    """How one module's stack differs from the default (web + one worker for host `local`, the test policy)."""

    db: int  # the module's own Redis database: other modules' keys (and database 0's flushes) stay out
    workers: int = 1
    policy_extra: str = ""  # appended to the policy file
    policy_text: str | None = POLICY  # None: no policy file at all (the built-in defaults)
    hosts: tuple[str, ...] = ()  # one more `dockerverse worker --docker-host-name H` each; ready once all serve
    # Extra environment for every process; "{tmp}" in a value is the stack's own temporary directory.
    env: Mapping[str, str] = field(default_factory=dict)
    flush: bool = True  # FLUSHDB the module's database first, so no earlier run's workers or jobs linger


@dataclass
class StackFactory:
    """Starts stacks on the session's Redis and the module's fake Slack; use as ``with factory(options) as s``."""

    redis: RedisServer
    slack_url: str
    tmp_path_factory: pytest.TempPathFactory
    name: str  # the module's, for its temporary directories

    @contextlib.contextmanager
    def __call__(self, options: StackOptions, server: RedisServer | None = None, **env: str) -> Iterator[Stack]:
        """The running stack, stopped on leaving; ``server`` instead of the session's Redis, ``env`` on top."""
        url = (server or self.redis).url_for(options.db)
        if options.flush:
            with redis.Redis.from_url(url) as conn:
                conn.flushdb()
        tmp = self.tmp_path_factory.mktemp(self.name)
        extra = {k: v.replace("{tmp}", str(tmp)) for k, v in {**options.env, **env}.items()}
        running = Stack.start(
            url,
            self.slack_url,
            tmp,
            workers=options.workers,
            policy_extra=options.policy_extra,
            policy_text=options.policy_text,
            hosts=options.hosts,
            **extra,
        )
        try:
            if options.hosts:
                wait_served(running, len(options.hosts) + (1 if options.workers else 0))
            yield running
        finally:
            running.stop()


def wait_served(stack: Stack, count: int, timeout: float = 30.0) -> None:
    """Until `hosts` says `count` Docker hosts are served (each named worker registered and beating)."""
    want = f"{count} Docker host{'s' if count != 1 else ''} served"
    deadline = time.monotonic() + timeout
    said = ""
    while time.monotonic() < deadline:
        said = stack.shell("hosts").stdout
        if want in said:
            return
        time.sleep(0.5)
    raise AssertionError(f"not {want} within {timeout:g} s: {said}\n{stack.dump_logs()}")
