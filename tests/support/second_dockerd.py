"""A second Docker daemon on this machine, reachable only over mutual TLS on tcp://127.0.0.1.

Its own data and exec roots, unix socket, pid file and bridge, and no iptables rules, so it lives
beside the first. (Never `--bridge=none`: that deletes the first daemon's docker0.)
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from tests.support.services import ServiceError, _terminate, free_port

BRIDGE = "dvtest1"
BRIDGE_ADDRESS = "172.31.254.1/24"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(where: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, in `where` (docker-py's names)."""
    where.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=dockerverse-test-ca",
        cwd=where,
    )
    (where / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (where / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{who}-key.pem",
            "-out",
            f"{who}.csr",
            "-subj",
            f"/CN={who}",
            cwd=where,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{who}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            f"{who}-cert.pem",
            "-days",
            "2",
            "-extfile",
            f"{who}.ext",
            cwd=where,
        )
    client = where / "client"
    client.mkdir(exist_ok=True)
    shutil.copy(where / "ca.pem", client / "ca.pem")
    shutil.copy(where / "client-cert.pem", client / "cert.pem")
    shutil.copy(where / "client-key.pem", client / "key.pem")
    return client


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], capture_output=True)  # "already exists" is fine


@dataclass
class SecondDaemon:
    root: Path
    proc: subprocess.Popen[bytes]
    tcp_url: str
    client_certs: Path
    args: list[str]

    @property
    def unix_url(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def client(self) -> docker.DockerClient:
        """A client over its local socket (for the test's own set-up and checks)."""
        return docker.DockerClient(base_url=self.unix_url, timeout=60)

    def halt(self) -> None:
        """Stop the daemon alone (a Docker outage), keeping its state for `resume`."""
        _terminate(self.proc, timeout=30)

    def resume(self, timeout: float = 60.0) -> None:
        """Start it again on the same sockets, port and certificates."""
        self.proc = _launch(self.root, self.args)
        _wait_up(self, timeout)

    def stop(self) -> None:
        c = self.client()
        try:
            for container in c.containers.list(all=True):
                container.remove(force=True)
        finally:
            c.close()
        _terminate(self.proc, timeout=30)
        _ip("link", "delete", BRIDGE)


def _launch(root: Path, args: list[str]) -> subprocess.Popen[bytes]:
    log = (root / "dockerd.log").open("ab")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_up(daemon: SecondDaemon, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and daemon.proc.poll() is None:
        try:
            daemon.client().close()  # the client asks for the API version: it answers once it is up
            return
        except docker.errors.DockerException:  # not up yet
            time.sleep(0.3)
    _terminate(daemon.proc)
    raise ServiceError(f"second dockerd did not start:\n{(daemon.root / 'dockerd.log').read_text()[-3000:]}")


def start_second_dockerd(root: Path, timeout: float = 60.0) -> SecondDaemon:
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    certs = root / "certs"
    client_certs = make_certs(certs)
    port = free_port()
    args = [
        "dockerd",
        "--data-root",
        str(root / "data"),
        "--exec-root",
        str(root / "exec"),
        "-H",
        f"unix://{root}/docker.sock",
        "-H",
        f"tcp://127.0.0.1:{port}",
        "--tlsverify",
        "--tlscacert",
        str(certs / "ca.pem"),
        "--tlscert",
        str(certs / "server-cert.pem"),
        "--tlskey",
        str(certs / "server-key.pem"),
        "--pidfile",
        str(root / "docker.pid"),
        "--iptables=false",
        "--ip-masq=false",
        f"--bridge={BRIDGE}",
    ]
    daemon = SecondDaemon(root, _launch(root, args), f"tcp://127.0.0.1:{port}", client_certs, args)
    _wait_up(daemon, timeout)
    return daemon
