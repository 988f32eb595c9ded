"""A real local HTTP server that plays the Slack Web API for the real slack_sdk clients.

Point a client at it with ``WebClient(token="xoxb-test", base_url=fake.url)`` (or
``AsyncWebClient``). Every request is recorded as a `Call`; answers are shaped like Slack's
so that slack_sdk and slack_bolt parse them as usual. Faults (429 with Retry-After, 5xx,
``ok: false``) and delays can be injected per API method.

Extra endpoints besides ``<url><api.method>``:
- ``<url>upload/<file_id>``: the upload URL handed out by files.getUploadURLExternal,
  recorded as method ``"upload"`` and stored in `FakeSlack.uploads`.
- ``<url>response/<name>``: a stand-in for a slash command's response_url (see
  `FakeSlack.response_url`), recorded as method ``"response_url"``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.slack_methods import BOT_IDENTITY, SlackWebApi
from tests.support.slack_rules import message_refusal

Params = dict[str, Any]
Responder = Callable[["Call"], dict[str, Any]]

__all__ = ["BOT_IDENTITY", "Call", "FakeSlack", "start_fake_slack"]


@dataclass(frozen=True)
class Call:
    """One request as the server saw it. Header names are lower-cased.

    ``params`` merges the query string and the body (JSON, form-encoded or multipart);
    values are kept as sent, so form-encoded ``blocks`` stays a JSON string while a JSON
    body keeps lists. ``status`` is the HTTP status the server answered (faults included).
    """

    method: str
    params: Params
    headers: dict[str, str]
    status: int = 200
    body: bytes = field(default=b"", repr=False)
    peer: int = field(default=0, repr=False)  # the client's port: equal ports, one kept-alive connection
    at: float = field(default_factory=time.monotonic, repr=False)
    # What the server answered (filled in after the call is recorded; e.g. the ts it gave a post).
    response: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # The answer came from fail_next or set_response, not from the fake's own rules.
    injected: bool = field(default=False, repr=False, compare=False)

    @property
    def refused(self) -> str | None:
        """Slack's error for a request its own rules refused (injected faults are not refusals)."""
        if self.injected or self.response.get("ok", True):
            return None
        return str(self.response.get("error"))

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        tok = self.params.get("token")
        return str(tok) if tok else None

    def json_param(self, name: str) -> Any:
        """A param that form-encoded clients send as a JSON string (blocks, view, files)."""
        value = self.params.get(name)
        return json.loads(value) if isinstance(value, (str, bytes)) else value


@dataclass
class _Fault:
    status: int
    retry_after: int
    error: str
    remaining: int


def _parse_body(content_type: str, body: bytes) -> Params:
    ctype = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if ctype == "application/json":
        parsed = json.loads(body)
        return parsed if isinstance(parsed, dict) else {"_json": parsed}
    if ctype == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    if ctype == "multipart/form-data":
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        out: Params = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            raw = part.get_payload(decode=True)
            payload = raw if isinstance(raw, bytes) else b""
            # Files stay bytes; plain fields become text like in the other encodings.
            out[str(name)] = payload if part.get_filename() else payload.decode()
        return out
    return {}


class FakeSlack:
    """Threaded fake of slack.com/api on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, require_token: bool = True) -> None:
        self.require_token = require_token
        # RLock: an override passed to set_response may itself call calls() / uploads.
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[Call] = []
        self._refused: list[Call] = []
        self._uploads: dict[str, bytes] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._hang_up = False
        self._responders: dict[str, Responder] = {}
        self._api = SlackWebApi(lambda: self.url)  # keeps the ts it handed out across reset()
        self._httpd = _Server((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> FakeSlack:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="fakeslack", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- control
    def hang_up_after_next(self) -> None:
        """Close the connection after the next answer, silently, like an idle keep-alive timeout."""
        with self._cond:
            self._hang_up = True

    def fail_next(
        self, method: str, status: int = 429, retry_after: int = 1, times: int = 1, error: str | None = None
    ) -> None:
        """Fail the next `times` calls of `method`: 429 + Retry-After, 5xx, or 200 ok=false."""
        default = "ratelimited" if status == 429 else ("internal_error" if status >= 500 else "fatal_error")
        with self._cond:
            self._faults.setdefault(method, []).append(_Fault(status, retry_after, error or default, times))

    def delay(self, method: str, seconds: float) -> None:
        """Answer every later call of `method` after `seconds` (0 removes the delay)."""
        with self._cond:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    def set_response(self, method: str, response: dict[str, Any] | Responder | None) -> None:
        """Override the answer for `method` (a dict, or a function of the Call); None restores."""
        with self._cond:
            if response is None:
                self._responders.pop(method, None)
            elif callable(response):
                self._responders[method] = response
            else:
                fixed = dict(response)
                self._responders[method] = lambda _call: fixed

    def reset(self) -> None:
        """Forget recorded calls, uploads, faults, delays and overrides."""
        with self._cond:
            self._calls.clear()
            self._uploads.clear()
            self._faults.clear()
            self._delays.clear()
            self._responders.clear()

    def response_url(self, name: str = "r1") -> str:
        """A URL to hand out as a slash command's response_url; POSTs to it are recorded."""
        return f"{self.url}response/{name}"

    # ---------------------------------------------------------------- inspection
    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def refusals(self) -> list[Call]:
        """Calls the fake refused by Slack's rules (invalid_blocks, message_not_found, ...).

        Kept since start: reset() does not forget them, so a module's final check sees them all.
        """
        with self._cond:
            return list(self._refused)

    @property
    def uploads(self) -> dict[str, bytes]:
        """Bytes POSTed to upload URLs, by file id."""
        with self._cond:
            return dict(self._uploads)

    def wait_for(
        self, method: str, predicate: Callable[[Call], bool] | None = None, count: int = 1, timeout: float = 10.0
    ) -> list[Call]:
        """Wait until `count` calls of `method` match `predicate`; return all that match."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self._calls if c.method == method and (predicate is None or predicate(c))]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    dump = "\n".join(f"  {c.status} {c.method} {c.params!r}" for c in self._calls)
                    raise AssertionError(
                        f"fakeslack: wanted {count} matching {method!r} call(s) within {timeout}s, "
                        f"got {len(found)}. Recorded:\n{dump or '  (nothing)'}"
                    )
                self._cond.wait(min(left, 0.2))

    def settled(self, post: Call, timeout: float = 20.0) -> Call:
        """The message `post` made, as it reads once no longer "running": a job that takes over a second
        posts `⏳ running…` and then edits it (chat.update on the same ts) into its result."""
        channel, ts = post.params.get("channel"), post.response.get("ts")

        def final(call: Call) -> bool:
            same = call is post or (call.params.get("channel") == channel and call.params.get("ts") == ts)
            return same and not str(call.params.get("text", "")).startswith("⏳")

        if final(post):
            return post
        return self.wait_for("chat.update", final, timeout=timeout)[-1]

    # ---------------------------------------------------------------- answers
    def _answer(self, call: Call) -> dict[str, Any]:
        if call.method in self._responders:
            return self._responders[call.method](call)
        if self.require_token and not call.token:
            return {"ok": False, "error": "not_authed"}
        return self._api.answer(call)

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        split = urlsplit(req.path)
        path = split.path.strip("/")
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in req.headers.items()}
        params: Params = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            params.update(_parse_body(headers.get("content-type", ""), body))
        except (ValueError, UnicodeDecodeError) as exc:
            params["_parse_error"] = repr(exc)

        if path.startswith("upload/"):
            method, file_id = "upload", path.split("/", 1)[1]
            params = {"file_id": file_id, "length": len(body)}
        elif path.startswith("response/"):
            method = "response_url"
            params["_name"] = path.split("/", 1)[1]
        else:
            method = path.removeprefix("api/")
        # A response_url takes a message as chat.postMessage does, and refuses what it refuses,
        # with HTTP 400 and the error as text (as Slack's webhook-style URLs answer).
        refused = message_refusal(params, not params.get("delete_original")) if method == "response_url" else None

        with self._cond:
            fault: _Fault | None = None
            queue = self._faults.get(method)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.pop(0)
            wait = self._delays.get(method, 0.0)
            status = fault.status if fault else (400 if refused else 200)
            injected = fault is not None or method in self._responders
            call = Call(method, params, headers, status, body, peer=req.client_address[1], injected=injected)
            hang_up, self._hang_up = self._hang_up, False
            self._calls.append(call)
            if method == "upload" and not fault:
                self._uploads[params["file_id"]] = body
            self._cond.notify_all()

        if wait:
            time.sleep(wait)
        extra: dict[str, str] = {}
        if fault is not None:
            payload: dict[str, Any] | str = {"ok": False, "error": fault.error}
            if fault.status == 429:
                extra["Retry-After"] = str(fault.retry_after)
        elif method == "upload":
            payload = f"OK - {len(body)}"
        elif method == "response_url":
            payload = refused["error"] if refused else "ok"
            call.response.update(refused or {"ok": True})
        else:
            try:
                with self._cond:  # responders read shared state; keep them consistent
                    payload = self._answer(call)
            except Exception as exc:  # a broken override must show up in the test
                status, payload = 500, {"ok": False, "error": f"fakeslack_error: {exc!r}"}
        if isinstance(payload, dict):
            call.response.update(payload)
        if call.refused:
            with self._cond:
                self._refused.append(call)
        self._send(req, status, payload, extra)
        if hang_up:  # as a server's keep-alive timeout does: close without saying so in a header
            req.close_connection = True

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, payload: dict[str, Any] | str, extra: dict[str, str]) -> None:
        is_json = isinstance(payload, dict)
        data = (json.dumps(payload) if is_json else str(payload)).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json; charset=utf-8" if is_json else "text/plain; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for key, value in extra.items():
            req.send_header(key, value)
        req.end_headers()
        req.wfile.write(data)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Slack's API does
            # Headers and body go out in two writes: without TCP_NODELAY, Nagle and the client's
            # delayed ACK hold the body back 40 ms on a kept-alive connection.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # http.server's naming
                fake._handle(self)

            do_GET = do_POST  # Slack accepts GET with a query string too

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean; every call is recorded instead

        return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed with a kept-alive connection open (tests SIGKILL workers) resets it: not news.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def start_fake_slack(**kwargs: Any) -> FakeSlack:
    """Create and start a FakeSlack on a free loopback port."""
    return FakeSlack(**kwargs).start()
