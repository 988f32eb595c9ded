"""`?host=H` on any /api route: the command runs on that Docker host, as `--host H` does in chat.

The dashboard shows every host's containers; acting on one means naming its host. Rather than a
second set of routes, this ASGI middleware reads the query parameter once and ``host_words`` adds it
to the command every /api route submits (bot/web/api.py), so policy, rate limits and audit are the
same whichever host is named.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

# A host name as `--host` takes it (bot/core/specs.py checks it again); never one that reads as an option.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_chosen: ContextVar[str | None] = ContextVar("dockerverse_api_host", default=None)


def host_words() -> list[str]:
    """`--host H` when this request named a host, else nothing (the command's usual host)."""
    host = _chosen.get()
    return ["--host", host] if host else []


class OnHost:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith("/api/"):
            await self.app(scope, receive, send)
            return
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("host")
        host = given[-1] if given else None
        if host is not None and not _NAME.fullmatch(host):
            await _refuse(send, f"`host` must be a Docker host name (letters, digits, `._-`), not `{host[:64]}`.")
            return
        token = _chosen.set(host)
        try:
            await self.app(scope, receive, send)
        finally:
            _chosen.reset(token)


async def _refuse(send: Send, words: str) -> None:
    data = json.dumps({"error": words}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": data})
