"""A local stand-in for Slack's Socket Mode endpoint, beside the fake Web API.

`install()` makes the fake Web API answer ``apps.connections.open`` (with the right app token) with a
``ws://127.0.0.1`` URL carrying a one-time ticket, as Slack answers with a ``wss://`` one. The
WebSocket server (the real ``websockets`` package, on its own thread and event loop) says hello on
each connection, sends the envelopes a test gives it, and records every acknowledgement by envelope
id. ``drop()`` cuts the current connection without a close frame, as a lost network would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.support.fakeslack import Call, FakeSlack

APP_TOKEN = "xapp-1-A0MDYCDME-1-test"
# A copy of ../shared/slack-payloads: CI has only the repository.
PAYLOADS = Path(__file__).resolve().parent / "slack-payloads"


def shared_envelopes() -> list[dict[str, Any]]:
    """../shared/slack-payloads/socket_mode.jsonl: hello, a slash command, a mention, a click, a disconnect."""
    lines = (PAYLOADS / "socket_mode.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class FakeSocketMode:
    def __init__(self, slack: FakeSlack, app_token: str = APP_TOKEN) -> None:
        self.slack = slack
        self.app_token = app_token
        self.hello = shared_envelopes()[0]
        self._cond = threading.Condition()
        self._tickets: set[str] = set()
        self.connections: list[ServerConnection] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.opened = 0  # apps.connections.open calls answered with a URL
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-socket-mode", daemon=True)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> FakeSocketMode:
        self._thread.start()
        self._server = self._call(self._listen())
        self.install()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._call(self._server.wait_closed())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def install(self) -> None:
        """Answer apps.connections.open on the fake Web API (again after `FakeSlack.reset`)."""
        self.slack.set_response("apps.connections.open", self._open)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(next(iter(self._server.sockets)).getsockname()[1])

    # ---------------------------------------------------------------- acting as Slack
    def send(self, envelope: dict[str, Any]) -> None:
        """Send an envelope on the newest open connection."""
        with self._cond:
            live = [c for c in self.connections if c.close_code is None]
        assert live, "no open Socket Mode connection to send on"
        self._call(live[-1].send(json.dumps(envelope)))

    def drop(self) -> None:
        """Cut the newest connection without a close frame (a network that went away)."""
        with self._cond:
            conn = self.connections[-1]
        self._loop.call_soon_threadsafe(conn.transport.abort)

    def wait_connections(self, count: int, timeout: float = 30.0) -> None:
        """Wait until `count` connections have been accepted in all."""
        self._wait(lambda: len(self.connections) >= count, timeout, f"{count} connection(s)")

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        self._wait(lambda: envelope_id in self.acks, timeout, f"an ack of {envelope_id}")
        return self.acks[envelope_id]

    # ---------------------------------------------------------------- internals
    def _open(self, call: Call) -> dict[str, Any]:
        if call.token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        ticket = uuid.uuid4().hex
        with self._cond:
            self._tickets.add(ticket)
            self.opened += 1
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}"}

    async def _listen(self) -> Server:
        return await serve(self._serve, "127.0.0.1", 0)  # built on the server's own loop

    async def _serve(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        ticket = parse_qs(urlsplit(conn.request.path).query).get("ticket", [""])[0]
        with self._cond:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)  # one connection per URL, as Slack's
        if not valid:
            await conn.close(4001, "invalid ticket")
            return
        with self._cond:
            self.connections.append(conn)
            self._cond.notify_all()
        await conn.send(json.dumps(self.hello))
        with contextlib.suppress(ConnectionClosed):  # dropped by a test, or the app went away
            async for raw in conn:
                message = json.loads(raw)
                with self._cond:
                    if "envelope_id" in message:
                        self.acks[message["envelope_id"]] = message
                    self._cond.notify_all()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def _wait(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake Socket Mode: no {what} within {timeout} s (acks: {list(self.acks)})")
                self._cond.wait(min(left, 0.2))
