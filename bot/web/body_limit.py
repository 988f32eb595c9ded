"""A cap on request bodies for every route, before anything reads one.

Signature checks need the whole raw body, so without a cap anyone on the network could make the web
read and hash a body of any size before being refused. This ASGI middleware answers 413 as soon as the
declared length, or the bytes actually received, pass the cap; the app never sees such a request.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT = 1024 * 1024  # 1 MiB: Slack's payloads and hook bodies are a few KiB


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = DEFAULT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self.refuse(send)
            return
        # Read the body here (at most `limit` bytes), then hand it to the app as one message.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay(message), send)
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self.refuse(send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _then(receive, {"type": "http.request", "body": bytes(body)}), send)

    async def refuse(self, send: Send) -> None:
        size = f"{self.limit // 1024} KiB" if self.limit % 1024 == 0 else f"{self.limit} bytes"
        words = f"The request body is over {size}; nothing was read or run. Send less (DOCKERVERSE_MAX_BODY)."
        data = json.dumps({"error": words}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": data})


def _replay(message: Message) -> Receive:
    async def receive() -> Message:
        return message

    return receive


def _then(receive: Receive, first: Message) -> Receive:
    """The buffered body first, then whatever the client sends next (a disconnect, for SSE)."""
    given = False

    async def next_message() -> Message:
        nonlocal given
        if not given:
            given = True
            return first
        return await receive()

    return next_message
