"""Signed-in browsers on /api/*: a request with the dashboard's cookie (and no bearer token) acts as the
API token it was signed in with, through the very same routes, policy, rate limits and audit.

This ASGI middleware checks the cookie (signature, expiry, not signed out), the CSRF header on every
mutation, and that the web still holds the token; then it hands the credential to the API's own
``Api.actor`` (bot/web/api.py) in the request scope, where no client can put one. A request with an
Authorization header is left to the bearer check as before.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from http.cookies import SimpleCookie

import redis
import redis.asyncio
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.web.api import SIGNED_IN, Credential
from bot.web.dashboard.session import COOKIE, CSRF_HEADER, Session, SessionKeys

log = logging.getLogger(__name__)
SIGNED_OUT = "dockerverse:dashboard:signed-out:"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
EXPIRED = "Your dashboard session has ended (expired or signed out): sign in again."
NO_CSRF = (
    "This change came without the dashboard's CSRF token (header X-CSRF-Token), so nothing was run: "
    "reload the page and try again."
)
GONE = "The API token this session was signed in with is no longer accepted: sign in again."
DOWN = "Redis cannot be reached, so the session cannot be checked: try again in a minute."


class Revocations:
    """Signed-out sessions, remembered in Redis until their cookie would have expired anyway."""

    def __init__(self, conn: redis.asyncio.Redis) -> None:
        self.conn = conn

    async def revoke(self, session: Session, now: float) -> None:
        await self.conn.set(SIGNED_OUT + session.sid, "1", ex=max(1, int(session.expires - now) + 1))

    async def revoked(self, session: Session) -> bool:
        return bool(await self.conn.exists(SIGNED_OUT + session.sid))


def cookie_value(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            if COOKIE in jar:
                return jar[COOKIE].value
    return None


def header(scope: Scope, wanted: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == wanted), None)


class SessionAuth:
    def __init__(
        self, app: ASGIApp, keys: SessionKeys, revocations: Revocations, credentials: Sequence[Credential]
    ) -> None:
        self.app, self.keys, self.revocations, self.credentials = app, keys, revocations, credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith("/api/") or header(scope, b"authorization"):
            await self.app(scope, receive, send)
            return
        value = cookie_value(scope)
        if value is None:
            await self.app(scope, receive, send)  # no session: the API answers 401 as it always has
            return
        now = time.time()
        session = self.keys.read(value, now)
        try:
            if session is None or await self.revocations.revoked(session):
                await refuse(send, 401, EXPIRED, clear=True)
                return
        except redis.RedisError:
            await refuse(send, 503, DOWN)
            return
        if scope["method"] not in SAFE and not self.keys.csrf_ok(session, header(scope, CSRF_HEADER.encode())):
            await refuse(send, 403, NO_CSRF)
            return
        cred = self.keys.owner(session, self.credentials)
        if cred is None:
            await refuse(send, 401, GONE, clear=True)
            return
        await self.app({**scope, SIGNED_IN: cred}, receive, send)


def clearing_cookie() -> bytes:
    return f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict".encode()


async def refuse(send: Send, status: int, words: str, clear: bool = False) -> None:
    data = json.dumps({"error": words}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if clear:
        headers.append((b"set-cookie", clearing_cookie()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
