"""A recording socket proxy between the workers and the real dockerd, enforcing the shipped allow-list.

It plays deploy/socket-proxy's part in the tests: a plain-HTTP listener on a loopback TCP port (the
shipped proxy's `tcp://socket-proxy:2375`, so workers run with the settings the deploy files give
them) and, for relays that need one, on a unix socket. Each request's method and path is checked
against deploy/socket-proxy/allowlist.env as the proxy checks it (403 for a path, 405 for a method
it does not allow) and appended to a JSON-lines file: method, normalized path, raw path, the entry
that allowed it, and the test that was running. Allowed requests are forwarded to dockerd unchanged;
responses (log follows, event streams, pull progress) are piped back byte for byte.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from io import BufferedReader
from pathlib import Path

from tests.support.proxy_allowlist import AllowList, normalize

ACTIVE: DockerRecorder | None = None  # set by the session fixture; Stack and `gw` route through it
SESSION_LOG: Path | None = None  # this session's record, kept for the report after the fixture ends

# A request carrying this header is a test probing the proxy on purpose: recorded, left out of the report.
PROBE_HEADER = "X-Dockerverse-Probe"
_REFUSED = {403: b"Forbidden", 405: b"Method Not Allowed"}


class DockerRecorder:
    def __init__(self, upstream: str, log: Path, unix_path: Path, allowlist: AllowList | None = None) -> None:
        self.upstream, self.log, self.unix_path = upstream, log, unix_path
        self.allowlist = allowlist or AllowList.load()
        self._lock = threading.Lock()
        self._servers: list[socket.socket] = []
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.1", 0))
        self.port = int(tcp.getsockname()[1])
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind(str(unix_path))
        for server in (tcp, unix):
            server.listen(128)
            self._servers.append(server)
            threading.Thread(target=self._accept, args=(server,), name="docker-recorder", daemon=True).start()

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.unix_path}"

    def worker_env(self) -> dict[str, str]:
        """What a worker behind the shipped socket proxy is given (deploy/docker-compose.yml)."""
        return {"DOCKER_HOST": self.tcp_url, "DOCKERVERSE_ALLOW_PLAIN_TCP": "1"}

    def calls(self) -> list[dict[str, str | None]]:
        with self._lock:
            if not self.log.exists():
                return []
            return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def close(self) -> None:
        for server in self._servers:
            server.close()
        with contextlib.suppress(FileNotFoundError):
            self.unix_path.unlink()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _record(self, method: str, target: str, probe: bool) -> bool:
        entry = self.allowlist.entry_for(method, target)
        allowed = self.allowlist.allows(method, target)
        row = {
            "method": method,
            "path": normalize(target),
            "raw": target,
            "entry": str(entry) if entry else None,
            "allowed": allowed,
            "probe": probe,
            "test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0],
        }
        with self._lock, self.log.open("a") as out:
            out.write(json.dumps(row) + "\n")
        return allowed

    def _serve(self, client: socket.socket) -> None:
        """Read requests off one client connection; forward the allowed ones over one upstream connection."""
        upstream: socket.socket | None = None
        reader = client.makefile("rb")
        try:
            while head := _read_head(reader):
                method, target = head[0].decode("latin-1").split(" ")[:2]
                headers = {k.lower(): v for k, v in (_header(line) for line in head[1:])}
                if not self._record(method, target, PROBE_HEADER.lower() in headers):
                    status = 403 if method in self.allowlist.regexes else 405
                    _refuse(client, status)
                    return
                if upstream is None:
                    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    upstream.connect(self.upstream)
                    threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
                upstream.sendall(b"".join(line + b"\r\n" for line in head) + b"\r\n")
                _forward_body(reader, upstream, headers)
                if "upgrade" in headers.get("connection", "").lower():
                    while data := reader.read1(65536):  # a hijacked stream: raw bytes both ways from here
                        upstream.sendall(data)
                    return
        except (OSError, ValueError):
            pass  # either side went away
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()


def _read_head(reader: BufferedReader) -> list[bytes]:
    """The request line and header lines (without CRLF); [] at the end of the connection."""
    lines: list[bytes] = []
    while True:
        line = reader.readline(65536)
        if not line:
            return []
        line = line.rstrip(b"\r\n")
        if not line:
            if lines:
                return lines
            continue  # stray CRLF between requests
        lines.append(line)


def _header(line: bytes) -> tuple[str, str]:
    name, _, value = line.decode("latin-1").partition(":")
    return name.strip(), value.strip()


def _forward_body(reader: BufferedReader, upstream: socket.socket, headers: dict[str, str]) -> None:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = reader.readline(65536)
            upstream.sendall(size_line)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            upstream.sendall(reader.read(size + 2))  # the chunk and its CRLF
            if size == 0:
                return
    left = int(headers.get("content-length", "0") or 0)
    while left > 0:
        data = reader.read(min(left, 65536))
        if not data:
            raise OSError("client closed mid-body")
        upstream.sendall(data)
        left -= len(data)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy dockerd's responses to the client until either side closes."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _refuse(client: socket.socket, status: int) -> None:
    """The status the shipped proxy answers (HAProxy's body differs; no client reads it), then the connection closes."""
    body = _REFUSED[status] + b"\n"
    head = f"HTTP/1.1 {status} {_REFUSED[status].decode()}\r\nContent-Type: text/plain; charset=utf-8\r\n"
    head += f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    client.sendall(head.encode() + body)
