"""Real local services for the test suite: redis-server, dockerd, a test image, a registry.

Plain functions and classes (no pytest here) so that scripts and fixtures can share them.
Everything binds to 127.0.0.1 on a free port so parallel runs and a system Redis on 6379
never collide.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

# Test runs from several checkouts may share one dockerd: each names its own image (and labels it so)
# with DOCKERVERSE_TEST_SESSION, so one run's clean-up never removes another's containers mid-test.
SESSION = os.environ.get("DOCKERVERSE_TEST_SESSION", "latest")
TEST_IMAGE = f"dockerverse-test/busybox:{SESSION}"
TEST_LABEL = "dockerverse.test"
# The label the bot puts on what it runs: tests that stand in for such a container without a `run` add it.
MANAGED = {"dockerverse.managed-by": "dockerverse"}
SESSIONS_LOCK = Path("/tmp/dockerverse-test-sessions.lock")
TEST_REPO_PREFIX = "dockerverse-test/"

# Applets linked in the test image; all point at the one static busybox binary.
BUSYBOX_APPLETS = (
    *("sh", "echo", "sleep", "cat", "ls", "env", "true", "false", "yes", "seq"),
    *("head", "tail", "printf", "wget", "nc", "httpd", "hostname", "ps", "date", "id"),
)
BUSYBOX_PATH = Path("/bin/busybox")

DOCKERD_PIDFILE = Path("/var/run/docker.pid")
DOCKERD_LOG = Path("/tmp/dockerverse-dockerd.log")

# Keeps the Popen of a dockerd we started referenced, so Python never warns that it is
# "still running" when the object is collected: dockerd is meant to outlive the tests.
_STARTED_DOCKERD: list[subprocess.Popen[bytes]] = []


class ServiceError(RuntimeError):
    """A service could not be started; the message carries its log tail."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log at {path}: {exc}>"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_dockerd(pid: int) -> bool:
    if not _pid_alive(pid):
        return False
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd"
    except OSError:
        return True  # no /proc to ask: trust the live pid


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


# --------------------------------------------------------------------------- redis


def _redis_ping(port: int, timeout: float = 0.5, password: str | None = None) -> bool:
    # Raw RESP instead of redis-py: this must work even while the client library misbehaves.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            if password:  # AUTH first: a password-protected Redis answers PING with -NOAUTH
                sock.sendall(f"AUTH {password}\r\n".encode())
                if not sock.recv(64).startswith(b"+OK"):
                    return False
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A private redis-server process; `restart()` keeps the port so clients can reconnect."""

    tmpdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)  # set: started with --requirepass

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """A database of its own for one test module's stack (tests flush database 0 between them)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    @property
    def logfile(self) -> Path:
        return self.tmpdir / f"redis-{self.port}.log"

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and _redis_ping(self.port, password=self.password)

    def start(self, timeout: float = 15.0) -> None:
        """Start redis-server (no persistence at all) and wait until it answers PING."""
        if self.proc is not None and self.proc.poll() is None:
            raise ServiceError(f"redis-server already running on port {self.port}")
        exe = shutil.which("redis-server")
        if exe is None:
            raise ServiceError("redis-server not found: run scripts/install-system-deps.sh")
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        args = [
            exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.tmpdir),
            "--daemonize",
            "no",
            "--logfile",
            str(self.logfile),
            *(["--requirepass", self.password] if self.password else []),
        ]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"redis-server exited with {self.proc.returncode}:\n{_tail(self.logfile)}")
            if _redis_ping(self.port, password=self.password):
                return
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"redis-server did not answer PING in {timeout}s:\n{_tail(self.logfile)}")

    def stop(self) -> None:
        """Terminate gracefully (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc is not None:
            _terminate(self.proc)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL, like a crash; bring it back with `start()`."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port (data is gone: nothing is persisted)."""
        self.stop()
        self.start()


def start_redis(tmpdir: str | os.PathLike[str], attempts: int = 3, password: str | None = None) -> RedisServer:
    """Start redis-server on a free loopback port (with a password if given); retries if the port is grabbed."""
    last: ServiceError | None = None
    for _ in range(attempts):
        server = RedisServer(tmpdir=Path(tmpdir), port=free_port(), password=password)
        try:
            server.start()
            return server
        except ServiceError as exc:
            last = exc
    assert last is not None
    raise last


# --------------------------------------------------------------------------- dockerd


def docker_client(timeout: int = 60) -> docker.DockerClient:
    """docker-py client for the default engine (DOCKER_HOST or /var/run/docker.sock)."""
    return docker.from_env(timeout=timeout)


def _docker_answers() -> bool:
    try:
        client = docker.from_env(timeout=5)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except Exception:  # any failure means "not (yet) usable"
        return False
    finally:
        client.close()


def ensure_dockerd(timeout: float = 60.0) -> None:
    """Make sure a Docker engine answers; start dockerd in the background if none does."""
    if _docker_answers():
        return
    pid: int | None = None
    if DOCKERD_PIDFILE.exists():
        try:
            pid = int(DOCKERD_PIDFILE.read_text().strip() or "0")
        except (OSError, ValueError):
            pid = None
        if not pid or not _is_dockerd(pid):
            # A pid file of a dead dockerd (or a reused pid) makes a new one refuse to start.
            DOCKERD_PIDFILE.unlink(missing_ok=True)
            pid = None
    if pid is None:
        exe = shutil.which("dockerd")
        if exe is None:
            raise ServiceError("dockerd not found: run scripts/install-system-deps.sh")
        log = DOCKERD_LOG.open("ab")
        # New session: dockerd is shared by later runs and must not die with this process group.
        _STARTED_DOCKERD.append(
            subprocess.Popen(
                [exe],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        )
        log.close()
    # else: a live dockerd is still starting up; wait for it instead of starting a second one.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _docker_answers():
            return
        if _STARTED_DOCKERD and _STARTED_DOCKERD[-1].poll() is not None:
            break
        time.sleep(0.5)
    raise ServiceError(f"dockerd did not answer within {timeout}s; log {DOCKERD_LOG}:\n{_tail(DOCKERD_LOG)}")


# --------------------------------------------------------------------------- test image


def _image_tar() -> bytes:
    """A root filesystem of one static busybox plus applet symlinks, built in memory."""
    if not BUSYBOX_PATH.exists():
        raise ServiceError(f"{BUSYBOX_PATH} missing: install busybox-static")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in (("bin", 0o755), ("tmp", 0o1777), ("etc", 0o755), ("root", 0o700)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        data = BUSYBOX_PATH.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in BUSYBOX_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return buf.getvalue()


def build_test_image(tag: str = TEST_IMAGE, client: docker.DockerClient | None = None) -> str:
    """Import the busybox image as `tag` (label dockerverse.test=1) and return its id."""
    repository, _, version = tag.rpartition(":")
    if not repository or "/" in version:  # no explicit tag ("host:5000/name" has a colon too)
        repository, version = tag, "latest"
    own = client is None
    client = client or docker_client()
    try:
        old_id: str | None
        try:
            old_id = client.images.get(tag).id
        except docker.errors.ImageNotFound:
            old_id = None
        client.api.import_image_from_data(
            _image_tar(),
            repository=repository,
            tag=version,
            changes=['CMD ["/bin/sh"]', f"LABEL {TEST_LABEL}={SESSION}"],
        )
        new_id = str(client.images.get(tag).id)
        if old_id and old_id != new_id:
            # Re-importing leaves the previous image untagged; drop it so reruns don't pile up.
            # (still used by a container or another tag: leave it)
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(old_id, force=False, noprune=False)
        return new_id
    finally:
        if own:
            client.close()


def _remove(container: Container, attempts: int = 5) -> None:
    """Force-remove one container. dockerd sometimes answers 500 ("unable to remove filesystem ...: device
    or resource busy") while a dying container's mounts are released: try again shortly, a few times."""
    for attempt in range(attempts):
        try:
            container.remove(force=True, v=True)
            return
        except docker.errors.NotFound:
            return  # gone already (--rm)
        except docker.errors.APIError as exc:
            if "already in progress" in str(exc):  # being removed already (by --rm or another run)
                return
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def remove_test_containers(image_tag: str = TEST_IMAGE, every_session: bool = False) -> int:
    """Force-remove containers labelled dockerverse.test (this session's value, unless ``every_session``)
    or started from `image_tag`."""
    label = TEST_LABEL if every_session or SESSION == "latest" else f"{TEST_LABEL}={SESSION}"
    client = docker_client()
    try:
        found: dict[str, Container] = {}
        for filters in ({"label": label}, {"ancestor": image_tag}):
            try:
                for c in client.containers.list(all=True, filters=filters):
                    found[c.id] = c
            except docker.errors.APIError:
                pass  # ancestor filter errors when the image does not exist: nothing to find
        for c in found.values():
            _remove(c)
        return len(found)
    finally:
        client.close()


def _is_test_repo(repo: str) -> bool:
    # "dockerverse-test/x" or "127.0.0.1:5000/dockerverse-test/x" (pushed to a test registry).
    return repo.startswith(TEST_REPO_PREFIX) or f"/{TEST_REPO_PREFIX}" in repo


def cleanup_docker(image_tag: str = TEST_IMAGE, last: bool = True) -> None:
    """Remove test containers, then images tagged under dockerverse-test/ and our dangling ones; when
    another test run still uses the daemon (not ``last``), only this run's own containers and image."""
    remove_test_containers(image_tag, every_session=last)
    client = docker_client()
    try:
        if not last:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image_tag, force=True)
            return
        for image in client.images.list():
            for repo_tag in image.tags:
                if _is_test_repo(repo_tag.rpartition(":")[0] or repo_tag):
                    with contextlib.suppress(docker.errors.NotFound):
                        client.images.remove(repo_tag, force=True)
        # Untagged leftovers of rebuilt test images still carry our label.
        client.images.prune(filters={"dangling": True, "label": TEST_LABEL})
    finally:
        client.close()


# --------------------------------------------------------------------------- registry


@dataclass
class Registry:
    """A private Docker registry (Debian's docker-registry) on 127.0.0.1, no auth, no TLS."""

    tmpdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)  # set: started with --requirepass

    @property
    def url(self) -> str:
        # dockerd allows plain HTTP for 127.0.0.0/8 registries without configuration.
        return f"127.0.0.1:{self.port}"

    @property
    def logfile(self) -> Path:
        return self.tmpdir / "registry.log"

    @staticmethod
    def push(client: docker.DockerClient, ref: str) -> None:
        """Push `ref` (already tagged for this registry); docker-py reports failures as stream events."""
        for event in client.api.push(ref, stream=True, decode=True):
            assert "error" not in event, event

    def start(self, timeout: float = 30.0) -> None:
        exe = shutil.which("docker-registry")
        if exe is None:
            raise ServiceError("docker-registry not found: run scripts/install-system-deps.sh")
        storage = self.tmpdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.tmpdir / "config.yml"
        # JSON is valid YAML, so no YAML library is needed to write the config.
        config.write_text(
            json.dumps(
                {
                    "version": 0.1,
                    "log": {"level": "warn"},
                    "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
                    "http": {"addr": self.url},
                }
            )
        )
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                [exe, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"docker-registry exited:\n{_tail(self.logfile)}")
            try:
                with urllib.request.urlopen(f"http://{self.url}/v2/", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServiceError(f"docker-registry did not answer in {timeout}s:\n{_tail(self.logfile)}")

    def stop(self) -> None:
        if self.proc is not None:
            _terminate(self.proc)
            self.proc = None


def start_registry(tmpdir: str | os.PathLike[str]) -> Registry:
    """Start docker-registry on a free loopback port with storage under `tmpdir`."""
    registry = Registry(tmpdir=Path(tmpdir), port=free_port())
    registry.start()
    return registry
