"""The dashboard's own routes: the page at `/`, its assets, and signing in and out (`/session`).

Everything the page shows or changes goes through /api/* (bot/web/dashboard/auth.py lets a signed-in
browser in there); these routes only hand out and end sessions. Every asset ships in the package: the
page makes no request to any other origin, as its Content-Security-Policy also says.
"""

from __future__ import annotations

import logging
import time
from importlib.resources import files

import redis
import redis.asyncio
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.web.api import Api, Credential
from bot.web.dashboard import signin_codes
from bot.web.dashboard.auth import Revocations, SessionAuth, clearing_cookie, cookie_value
from bot.web.dashboard.session import COOKIE, CSRF_HEADER, LIFETIME, Session, SessionKeys, matching
from bot.wire.signing import Signer

log = logging.getLogger(__name__)
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",  # revalidated (ETag) each load: a new version shows at once
}
NOT_SIGNED_IN = "Not signed in: sign in with an API token."
WRONG_TOKEN = "That is not an API token this Dockerverse accepts: check it (DOCKERVERSE_API_TOKEN or `tokens:`)."
USED_LINK = (
    "This sign-in link was used already or has expired (each works once, for 10 minutes): "
    "sign in with the API token instead."
)


class SignIn(BaseModel):
    """POST /session: the API token, or the code of a one-time link from `dockerverse up`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    token: str | None = Field(None, min_length=1, max_length=512)
    code: str | None = Field(None, min_length=1, max_length=128)


class Secured:
    """The page's security headers on every asset response too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


class Dashboard:
    def __init__(self, api: Api, signer: Signer, conn: redis.asyncio.Redis) -> None:
        self.api = api
        self.signer = signer
        self.conn = conn
        self.keys = SessionKeys.derived(signer)
        self.revocations = Revocations(conn)
        self.page_html = (files("bot.web.dashboard") / "static" / "index.html").read_bytes()

    def routes(self) -> list[BaseRoute]:
        assets = StaticFiles(packages=[("bot.web.dashboard", "static")])
        return [
            Route("/", self.page),
            Route("/session", self.current),
            Route("/session", self.sign_in, methods=["POST"]),
            Route("/session", self.sign_out, methods=["DELETE"]),
            Mount("/static", app=Secured(assets), name="static"),
        ]

    def middleware(self) -> Middleware:
        return Middleware(SessionAuth, keys=self.keys, revocations=self.revocations, credentials=self.api.credentials)

    async def page(self, request: Request) -> Response:
        return Response(self.page_html, media_type="text/html; charset=utf-8", headers=HEADERS)

    def _answer(self, session: Session, cred: Credential) -> dict[str, object]:
        return {
            "actor": f"token:{cred.name}",
            "role": cred.role,
            "csrf": self.keys.csrf(session),
            "expires": int(session.expires * 1000),
        }

    async def _session(self, request: Request) -> tuple[Session, Credential] | None:
        value = cookie_value(request.scope)
        session = self.keys.read(value, time.time()) if value else None
        if session is None or await self.revocations.revoked(session):
            return None
        cred = self.keys.owner(session, self.api.credentials)
        return (session, cred) if cred else None

    async def current(self, request: Request) -> Response:
        """Who this browser is signed in as, and the CSRF token its changes must carry; 401 if nobody."""
        try:
            found = await self._session(request)
        except redis.RedisError:
            return error(503, "Redis cannot be reached, so the session cannot be checked: try again in a minute.")
        if found is None:
            return error(401, NOT_SIGNED_IN)
        return JSONResponse(self._answer(*found), headers={"cache-control": "no-store"})

    async def sign_in(self, request: Request) -> Response:
        if not self.api.credentials:
            return error(503, "Sign-in needs an API token: set DOCKERVERSE_API_TOKEN on the web process.")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            # A cross-site form cannot send JSON: so no other site can sign this browser in as someone else.
            return error(400, 'Sign in with a JSON body: {"token": "<API token>"}.')
        try:
            body = SignIn.model_validate_json(await request.body())
        except ValidationError:
            body = SignIn()
        if (body.token is None) == (body.code is None):
            return error(400, 'Send {"token": "<API token>"} (or the code of a one-time sign-in link).')
        if body.token is not None:
            cred = matching(self.api.credentials, body.token)
            if cred is None:
                return error(401, WRONG_TOKEN)
        else:
            try:
                name = await signin_codes.take(self.conn, self.signer, body.code or "")
            except redis.RedisError:
                return error(503, "Redis cannot be reached, so the link cannot be checked: try again in a minute.")
            cred = next((c for c in self.api.credentials if c.name == name), None)
            if cred is None:
                return error(401, USED_LINK)
        value, session = self.keys.issue(cred, time.time())
        response = JSONResponse(self._answer(session, cred), headers={"cache-control": "no-store"})
        response.set_cookie(
            COOKIE,
            value,
            max_age=LIFETIME,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        log.info("dashboard: signed in as token:%s (%s)", cred.name, "link" if body.code else "token")
        return response

    async def sign_out(self, request: Request) -> Response:
        """Ends the session here and in every web process (remembered in Redis until it would have expired)."""
        value = cookie_value(request.scope)
        session = self.keys.read(value, time.time()) if value else None
        if session is not None:
            if not self.keys.csrf_ok(session, request.headers.get(CSRF_HEADER)):
                return error(403, "Signing out needs the dashboard's CSRF token (X-CSRF-Token): reload the page.")
            try:
                await self.revocations.revoke(session, time.time())
            except redis.RedisError:
                response = error(503, "Signed out in this browser, but Redis cannot be reached to end the session.")
                response.headers.append("set-cookie", clearing_cookie().decode())
                return response
        response = JSONResponse({"signed_out": True})
        response.headers.append("set-cookie", clearing_cookie().decode())
        return response


def error(status: int, words: str) -> JSONResponse:
    return JSONResponse({"error": words}, status_code=status, headers={"cache-control": "no-store"})
