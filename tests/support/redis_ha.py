"""Redis as deployments run it, from Debian's own binaries: over TLS (a CA and certificates made here
with openssl), and a master, a replica and three sentinels on free ports in a tmp dir.

Plain functions and classes (no pytest) like services.py. Timeouts are short so a failover takes a few
seconds even on a busy 2-core CI machine: down-after-milliseconds 1000, failover-timeout 3000.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.services import ServiceError, free_port

MASTER_NAME = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_tls(directory: Path) -> TlsFiles:
    """A throw-away CA, and a server and a client certificate it signed, for 127.0.0.1 (EC P-256)."""
    if shutil.which("openssl") is None:
        raise ServiceError("openssl not found: run scripts/install-system-deps.sh")
    directory.mkdir(parents=True, exist_ok=True)
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    ca_ext = ("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-x509", *key, *ca_ext, "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=ca")
    ext = directory / "leaf.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    for name in ("server", "client"):
        csr = directory / f"{name}.csr"
        _openssl(
            "req", "-new", *key, "-keyout", str(directory / f"{name}.key"), "-out", str(csr), "-subj", f"/CN={name}"
        )
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                 "-out", str(directory / f"{name}.pem"), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return TlsFiles(
        ca, directory / "server.pem", directory / "server.key", directory / "client.pem", directory / "client.key"
    )


def tls_url(port: int, tls: TlsFiles, db: int = 0) -> str:
    """The REDIS_URL for it, as the README shows: the CA, and the client certificate Redis asks for."""
    return (
        f"rediss://127.0.0.1:{port}/{db}?ssl_ca_certs={tls.ca}&ssl_certfile={tls.client_cert}"
        f"&ssl_keyfile={tls.client_key}"
    )


# --------------------------------------------------------------------------- processes


def _wait_ping(client: redis.Redis, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with contextlib.suppress(redis.RedisError):
            if client.ping():
                return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise ServiceError(f"{proc.args} did not answer PING:\n{tail}")


@dataclass
class Node:
    """One redis-server (or redis-sentinel) process; `start` again after a kill keeps its port and args."""

    args: list[str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, client: redis.Redis | None = None) -> Node:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        _wait_ping(client or redis.Redis(port=self.port, socket_timeout=1), self.proc, self.log)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last replication, as a crashed machine."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def server_args(port: int, directory: Path, *extra: str) -> list[str]:
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory), "--daemonize", "no", "--repl-diskless-sync-delay", "0", *extra]  # fmt: skip


def start_tls_redis(directory: Path, tls: TlsFiles) -> Node:
    """A redis-server that speaks only TLS (`port 0`, `tls-port`), asking clients for a certificate."""
    port = free_port()
    args = server_args(0, directory, "--tls-port", str(port), "--tls-cert-file", str(tls.server_cert),
                        "--tls-key-file", str(tls.server_key), "--tls-ca-cert-file", str(tls.ca))  # fmt: skip
    client = redis.Redis.from_url(tls_url(port, tls), socket_timeout=1)
    return Node(args, port, directory / "redis-tls.log").start(client)


@dataclass
class SentinelCluster:
    """A master, one replica and three sentinels (quorum 2) watching them as `mymaster`."""

    directory: Path
    servers: list[Node]
    sentinels: list[Node]

    @classmethod
    def start(cls, directory: Path) -> SentinelCluster:
        if shutil.which("redis-sentinel") is None:
            raise ServiceError("redis-sentinel not found: run scripts/install-system-deps.sh")
        directory.mkdir(parents=True, exist_ok=True)
        master_port, replica_port = free_port(), free_port()
        master = Node(server_args(master_port, directory / "m"), master_port, directory / "master.log")
        replica = Node(
            server_args(replica_port, directory / "r", "--replicaof", "127.0.0.1", str(master_port)),
            replica_port,
            directory / "replica.log",
        )
        cluster = cls(directory, [master, replica], [])
        try:
            for node in (master, replica):
                Path(node.args[node.args.index("--dir") + 1]).mkdir(exist_ok=True)
                node.start()
            cluster.wait_replicas(master_port, 1)
            for i in range(3):
                port = free_port()
                conf = directory / f"sentinel{i}.conf"  # sentinels rewrite their file: one each
                conf.write_text(
                    f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
                    f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                    f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
                    f"sentinel parallel-syncs {MASTER_NAME} 1\n"
                )
                node = Node(["redis-sentinel", str(conf)], port, directory / f"sentinel{i}.log")
                cluster.sentinels.append(node.start())
            cluster.wait_until(lambda: all(cluster.sentinel_view(s)[1:] >= (1, 2) for s in cluster.sentinels), 30)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    def sentinel_view(self, sentinel: Node) -> tuple[int, int, int]:
        """(the master's port, the replicas and the other sentinels it knows) as one sentinel sees it."""
        with contextlib.suppress(redis.RedisError, TypeError):
            client = redis.Redis(port=sentinel.port, socket_timeout=1, decode_responses=True)
            addr = client.sentinel_get_master_addr_by_name(MASTER_NAME)
            master = client.sentinel_master(MASTER_NAME)
            return int(addr[1]), int(master["num-slaves"]), int(master["num-other-sentinels"])
        return 0, 0, 0

    def master_port(self) -> int:
        """The master as the sentinels' majority sees it (0 while they disagree)."""
        ports = [self.sentinel_view(s)[0] for s in self.sentinels]
        top = max(set(ports), key=ports.count)
        return top if ports.count(top) >= 2 else 0

    def node(self, port: int) -> Node:
        return next(n for n in self.servers if n.port == port)

    def wait_replicas(self, port: int, count: int, timeout: float = 30) -> None:
        client = redis.Redis(port=port, socket_timeout=1)

        def synced() -> bool:
            info = client.info("replication")
            online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
            return sum(1 for r in online if r.get("state") == "online") >= count

        self.wait_until(synced, timeout)

    @staticmethod
    def wait_until(ok: object, timeout: float) -> float:
        """Poll ``ok()`` until true; returns the seconds it took. Fails after ``timeout``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            with contextlib.suppress(redis.RedisError):
                if ok():  # type: ignore[operator]
                    return time.monotonic() - start
            time.sleep(0.05)
        raise ServiceError(f"not so within {timeout}s: {ok}")

    def stop(self) -> None:
        for node in [*self.sentinels, *self.servers]:
            node.stop()
