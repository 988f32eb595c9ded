"""Docker API reads on a kept-alive http.client connection, without requests' per-call machinery.

docker-py sends every call through a requests Session: settings merged, cookies and hooks prepared,
the URL parsed twice, urllib3's pool consulted. For the worker's hot reads (`GET /containers/json`
for `list`, the inspect behind `inspect` and `logs`) that is about 0.7 ms of CPU a call, against
0.2 ms for the same request on a plain http.client connection (docs/benchmarks.md). So whole-body
GETs to a daemon on a unix socket or on plain TCP (the shipped socket proxy) take this path; streams,
writes and TLS daemons stay with docker-py. The answer is handed back as a ``requests.Response``, so
docker-py's own status handling (NotFound, ImageNotFound, APIError) applies unchanged, and transport
faults are raised as the requests exceptions that workers/docker/connection.py already turns into
user-ready messages.
"""

from __future__ import annotations

import http.client
import socket
import threading
import weakref
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests
import requests.structures
import requests.utils

# A kept-alive connection the daemon (or a proxy) closed while idle fails on its next use in one of
# these ways; a GET sent on it did not run, so it is sent once more on a new connection.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class LeanReads:
    """GETs read whole, one kept-alive connection per thread (the job's, the keep-alive's, ...)."""

    def __init__(self, base_url: str, *, socket_path: str | None = None, user_agent: str = "") -> None:
        """``base_url`` as docker-py spells it: ``http+docker://localhost`` with the unix ``socket_path``,
        or ``http://host:port`` for plain TCP."""
        self.base_url = base_url
        self.socket_path = socket_path
        self.user_agent = user_agent
        self._address = None if socket_path else base_url.removeprefix("http://").rstrip("/")
        self._local = threading.local()
        # Every thread's connection, to close with the client; weak, so a thread that ended takes its own.
        self._all: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> requests.Response:
        path = url.removeprefix(self.base_url)
        # As requests encodes params: None values dropped, lists repeated.
        query = urlencode([(k, v) for k, v in (params or {}).items() if v is not None], doseq=True)
        target = f"{path}?{query}" if query else path
        sent = {"User-Agent": self.user_agent, **(headers or {})}
        for attempt in (1, 2):
            conn, reused = self._connection(timeout)
            try:
                conn.request("GET", target, headers=sent)
                answer = conn.getresponse()
                body = answer.read()
            except _STALE as exc:
                self._drop(conn)
                if reused and attempt == 1:
                    continue
                raise requests.exceptions.ConnectionError(exc) from None
            except TimeoutError as exc:
                self._drop(conn)
                raise requests.exceptions.ReadTimeout(exc) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop(conn)
                raise requests.exceptions.ConnectionError(exc) from None
            if answer.will_close:
                self._drop(conn)
            return _response(url, answer, body)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        with self._lock:
            opened = list(self._all)
            self._all.clear()
        for conn in opened:
            conn.close()

    def _connection(self, timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
                return conn, True
            return conn, False
        if self.socket_path is not None:
            conn = _UnixConnection(self.socket_path, timeout)
        else:
            conn = http.client.HTTPConnection(self._address or "localhost", timeout=timeout)
        self._local.conn = conn
        with self._lock:
            self._all.add(conn)
        return conn, False

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()  # the next request on it connects afresh


def _response(url: str, answer: http.client.HTTPResponse, body: bytes) -> requests.Response:
    """What docker-py's _result and error handling read: status, reason, headers, body, URL."""
    response = requests.Response()
    response.status_code = answer.status
    response.reason = answer.reason
    response.headers = requests.structures.CaseInsensitiveDict(answer.getheaders())
    response._content = body
    response.encoding = requests.utils.get_encoding_from_headers(response.headers)
    response.url = url
    return response
