"""slack_sdk's WebClient with one kept-alive HTTP connection per thread.

The stock client opens a new connection for every call: to slack.com that is a TCP and TLS
handshake per message, tens of milliseconds each, on every reply, edit and upload. Everything
else (retry handlers, Retry-After, error types) stays slack_sdk's own: only the transport under
`_perform_urllib_http_request_internal` changes, and it answers in the same shape, raising
urllib's HTTPError for non-2xx as urllib does.
"""

from __future__ import annotations

import http.client
import io
import select
import threading
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import SplitResult, urlsplit
from urllib.request import Request

from slack_sdk import WebClient

Connection = http.client.HTTPConnection | http.client.HTTPSConnection


class KeepAliveWebClient(WebClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https"):
            return dict(super()._perform_urllib_http_request_internal(url, req))
        conn = self._connection(parts)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(req.get_method(), path, body=req.data, headers=dict(req.header_items()))
            resp = conn.getresponse()
            data = resp.read()
        except TimeoutError:
            self._drop()
            raise
        except OSError as exc:
            # As urllib does: connection-level failures arrive as URLError, which slack_sdk's
            # ConnectionErrorRetryHandler retries (on a fresh connection).
            self._drop()
            raise URLError(exc) from exc
        except Exception:
            self._drop()
            raise
        if resp.will_close:
            self._drop()
        if not 200 <= resp.status < 300:
            raise HTTPError(url, resp.status, resp.reason, resp.headers, io.BytesIO(data))
        if resp.headers.get_content_type() == "application/gzip":
            return {"status": resp.status, "headers": resp.headers, "body": data}
        text = data.decode(resp.headers.get_content_charset() or "utf-8")
        return {"status": resp.status, "headers": resp.headers, "body": text}

    def _connection(self, parts: SplitResult) -> Connection:
        origin = (parts.scheme, parts.hostname, parts.port)
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None and (getattr(self._local, "origin", None) != origin or _closed_by_peer(conn)):
            self._drop()
            conn = None
        if conn is None:
            host = parts.hostname or ""
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(host, parts.port, timeout=self.timeout, context=self.ssl)
            else:
                conn = http.client.HTTPConnection(host, parts.port, timeout=self.timeout)
            self._local.conn, self._local.origin = conn, origin
        return conn

    def _drop(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None


def _closed_by_peer(conn: Connection) -> bool:
    """An idle kept-alive socket that reads as ready was closed (or broken) by the server:
    sending on it would fail half-way, so a new connection is opened first."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
