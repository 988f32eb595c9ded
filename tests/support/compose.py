"""deploy/docker-compose.yml run for real where no image registry is reachable (CI): every image is
built from a base made here with Debian's packages (scripts/local-base-image.sh), and the Python
packages come from wheels fetched beforehand with the host's python3 of the same Debian release, so
the image build needs no package index (the Dockerfile's PIP_OFFLINE=1).

What is slow to make is kept outside any clone, in /var/cache/dockerverse (the base's root
filesystem, the wheels) and in dockerd (the base, the Redis image, and the last built app and proxy
images under `dockerverse-local/`, whose layers a later build reuses): only a machine's first run
pays for them. What one test session makes is under its own names, removed at its end.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from tests.support.services import SESSION

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("DOCKERVERSE_CACHE_DIR", "/var/cache/dockerverse"))
# The host's Debian python3: the base is made from the host's Debian release, so it is the same Python,
# and the wheels it picks (environment markers included) are the ones the image's pip wants.
SYSTEM_PYTHON = "/usr/bin/python3"
# What the build reads (deploy/Dockerfile's COPY lines, .dockerignore), copied so the test's .env and
# policy.yaml sit beside it as a user's do, whatever is in the checkout's root.
CHECKOUT = ("pyproject.toml", "README.md", ".dockerignore", "bot", "workers", "deploy")
REDIS_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server \\
    && rm -rf /var/lib/apt/lists/* && install -d -o redis -g redis /data
USER redis
WORKDIR /data
"""
BUILD_TIMEOUT = 1800  # seconds: a machine's first run makes the base and fetches every wheel


def local_base() -> str:
    """The local base image's tag (made on first use)."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/local-base-image.sh")], capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def python_version(client: docker.DockerClient, image: str) -> str:
    code = "import platform; print(platform.python_version())"
    return bytes(client.containers.run(image, ["python3", "-c", code], remove=True)).decode().strip()


def requirements() -> list[str]:
    """What `pip install .` needs: the build backend and the package's dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return sorted([*project["build-system"]["requires"], *project["project"]["dependencies"]])


def wheelhouse(client: docker.DockerClient, base: str, dest: Path) -> None:
    """Fill `dest` with wheels for everything `pip install .` needs in `base`, fetched once a machine."""
    host = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
    )
    image = python_version(client, base)
    assert host.stdout.strip() == image, (
        f"{SYSTEM_PYTHON} is Python {host.stdout.strip() or '(missing)'} and {base} has {image}: the wheels "
        "would not fit. The base is made from this machine's Debian release; remove it and run again."
    )
    reqs = requirements()
    key = hashlib.sha256("\n".join([image, *reqs]).encode()).hexdigest()[:12]
    kept = CACHE / f"wheels-py{image}-{key}"
    if not kept.is_dir():
        part = CACHE / f"{kept.name}.part-{os.getpid()}"
        shutil.rmtree(part, ignore_errors=True)
        got = subprocess.run(
            [SYSTEM_PYTHON, "-m", "pip", "download", "-q", "--disable-pip-version-check", "-d", str(part), *reqs],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
        assert got.returncode == 0, got.stderr[-3000:]
        with contextlib.suppress(OSError):  # another run got there first: theirs is as good
            part.rename(kept)
        shutil.rmtree(part, ignore_errors=True)
    for wheel in kept.iterdir():
        shutil.copy2(wheel, dest / wheel.name)


def redis_image(client: docker.DockerClient, base: str) -> str:
    """Redis from Debian's redis-server on the local base, as the official image runs it (/data, user redis)."""
    tag = f"dockerverse-local/redis:{base.rpartition(':')[2]}"
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        client.images.build(
            fileobj=io.BytesIO(REDIS_DOCKERFILE.encode()), tag=tag, buildargs={"BASE_IMAGE": base}, rm=True
        )
    return tag


def copy_checkout(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.whl")
    for name in CHECKOUT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        else:
            shutil.copy2(source, dest / name)


def keep_layers(client: docker.DockerClient, image: str, cache_tag: str) -> None:
    """Tag a session's image under `dockerverse-local/` too, so its layers outlive the session and the next
    build reuses them; the image that tag named before goes, unless something else still uses it."""
    new = client.images.get(image)
    try:
        old = client.images.get(cache_tag)
    except docker.errors.ImageNotFound:
        old = None
    repository, _, tag = cache_tag.rpartition(":")
    new.tag(repository, tag)
    if old is not None and old.id != new.id:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(old.id)


@dataclass
class Compose:
    """`docker-compose` on a copy of the checkout, as its deploy/docker-compose.yml header says to run it."""

    root: Path
    project: str = field(default_factory=lambda: "dvtest-compose-" + re.sub(r"[^a-z0-9_-]", "-", SESSION.lower()))

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Only PATH and HOME from the test's environment: compose lets any variable there outrank .env.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
        command = ["docker-compose", "--env-file", ".env", "-f", "deploy/docker-compose.yml", "-p", self.project]
        out = subprocess.run([*command, *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout)
        assert not check or out.returncode == 0, f"docker-compose {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
        return out

    def container(self, client: docker.DockerClient, service: str) -> Container:
        labels = [f"com.docker.compose.project={self.project}", f"com.docker.compose.service={service}"]
        found = client.containers.list(all=True, filters={"label": labels})
        assert len(found) == 1, f"{service}: {len(found)} containers"
        return found[0]

    def logs(self) -> str:
        return self("logs", "--no-color", "--tail", "40", check=False).stdout
