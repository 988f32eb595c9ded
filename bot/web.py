"""`dockerverse web`: the Starlette app. Slack, health and job routes; never a Docker connection."""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.dispatch import Dispatcher, Waiter, connect
from bot.errors import DockerverseError
from bot.hooks import HookEndpoint
from bot.policy import Policy, load_policy
from bot.settings import Settings
from bot.slack_app import SlackEndpoint

log = logging.getLogger(__name__)
Endpoint = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def bearer(settings: Settings, endpoint: Endpoint) -> Endpoint:
    """Bearer-token auth for /api/*: 503 when no token is configured, 401 on a wrong one."""

    async def guarded(request: Request) -> Response:
        if not settings.api_token:
            return error(503, "The API is not configured: set DOCKERVERSE_API_TOKEN on the web process.")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), settings.api_token.encode()):
            return error(401, "Missing or wrong bearer token: send `Authorization: Bearer <DOCKERVERSE_API_TOKEN>`.")
        return await endpoint(request)

    return guarded


def create_app(settings: Settings, policy: Policy | None = None) -> Starlette:
    policy = policy or load_policy(settings.config_path)
    dispatcher = Dispatcher(settings, policy, connect(settings.redis_url))
    slack = SlackEndpoint(settings, dispatcher) if settings.slack_enabled else None
    waiter = Waiter(dispatcher)

    async def slack_events(request: Request) -> Response:
        if slack is None:
            return error(503, "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET.")
        return await slack(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> Response:
        try:
            state = await run_in_threadpool(dispatcher.readiness)
        except DockerverseError as exc:
            return error(exc.status, exc.message)
        if not state["ok"]:
            missing = f"No live worker serves host `{settings.host_name}`: start `dockerverse worker`."
            return JSONResponse({**state, "error": missing}, status_code=503)
        return JSONResponse(state)

    async def job(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        try:
            state = await run_in_threadpool(dispatcher.job_state, job_id)
        except DockerverseError as exc:
            return error(exc.status, exc.message)
        return JSONResponse(state) if state else error(404, f"No job `{job_id}` (results are kept for 7 days).")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await waiter.close()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/hooks/{name}", HookEndpoint(settings, policy.hooks, dispatcher, waiter).handle, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/api/jobs/{job_id}", bearer(settings, job)),
        ],
    )
    app.state.dispatcher = dispatcher
    return app
