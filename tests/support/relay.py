"""A unix-socket relay in front of the Docker socket, to cut a client's connections on purpose.

Workers pointed at the relay (DOCKER_HOST=unix://<relay.path>) reach the real daemon through it.
`cut()` drops every open connection and refuses new ones, as a daemon restart or a network fault
would; `restore()` lets them through again. Nothing in the product is mocked: the daemon is real
and the client sees real socket errors.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path


class DockerRelay:
    def __init__(self, path: Path, upstream: str) -> None:
        self.path, self.upstream = path, upstream
        self._lock = threading.Condition()
        self._open: list[socket.socket] = []
        self._cut = False
        self.refused = 0  # connections turned away while cut
        self._events: set[socket.socket] = set()  # client connections reading Docker's event stream
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(64)
        self._thread = threading.Thread(target=self._accept, name="docker-relay", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def cut(self) -> None:
        """Drop every connection now and refuse new ones until restore()."""
        with self._lock:
            self._cut = True
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()
            self._events.clear()

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def wait_refused(self, at_least: int, timeout: float) -> None:
        """Until `at_least` connections were turned away while cut (a client trying to come back)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.refused < at_least:
                left = deadline - time.monotonic()
                assert left > 0, f"only {self.refused} connection attempts reached the cut relay in {timeout}s"
                self._lock.wait(left)

    def event_streams(self) -> int:
        """How many clients are reading `GET /events` through the relay right now."""
        with self._lock:
            return len(self._events)

    def close(self) -> None:
        self.cut()
        self._server.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._cut:
                    self.refused += 1
                    self._lock.notify_all()
                    client.close()
                    continue
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(self.upstream)
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b, a is client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and data.startswith(b"GET ") and b"/events" in data.split(b"\r\n", 1)[0]:
                    with self._lock:
                        self._events.add(source)
                sink.sendall(data)
        except OSError:
            pass  # cut, or the other side closed
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._events.discard(source)
                self._events.discard(sink)
                for sock in (source, sink):
                    if sock in self._open:
                        self._open.remove(sock)
                        sock.close()
