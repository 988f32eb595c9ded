"""What the benchmarks share: the policy they run with, and the containers their hosts list."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker
from docker.models.containers import Container

from tests.support.services import TEST_LABEL, build_test_image, ensure_dockerd

# A benchmark is one actor sending hundreds of commands a minute: the policy's per-actor limits (reads,
# changes, follows) would measure the limiter, not the pipeline.
UNLIMITED = "rate_limits:\n  mutating: 100000/minute\n  reads: 100000/minute\n  follows: 50\n"


@contextlib.contextmanager
def sleeping_containers(count: int, label: str, first_name: str | None = None) -> Iterator[list[Container]]:
    """``count`` running containers of the test image for a benchmark's host to list (the first named
    ``first_name`` when given), labelled for the tests' clean-up and removed afterwards."""
    ensure_dockerd()
    client = docker.from_env()
    image = build_test_image()
    running: list[Container] = []
    try:
        for n in range(count):
            name = None if n else first_name
            running.append(
                client.containers.run(image, ["sleep", "3600"], detach=True, labels={TEST_LABEL: label}, name=name)
            )
        yield running
    finally:
        for container in running:
            container.remove(force=True)
