"""`dockerverse web`: the Starlette app. Slack, health and job routes; never a Docker connection."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.core.errors import DockerverseError
from bot.core.policy import Policy, load_policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.dispatch.metrics import CONTENT_TYPE as METRICS_TYPE
from bot.dispatch.results import Waiter
from bot.web.api import Api
from bot.web.api_actions import Actions
from bot.web.body_limit import BodyLimit
from bot.web.dashboard.routes import Dashboard
from bot.web.home_feed import HomeFeed
from bot.web.hooks import HookEndpoint
from bot.web.on_host import OnHost
from bot.web.openapi import DOCUMENT
from bot.web.slack_app import SlackEndpoint, build_slack_app
from bot.web.slack_socket import SocketMode
from bot.wire.job_keys import secret_problems, web_keys
from bot.wire.queues import connect

log = logging.getLogger(__name__)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as JSON, like every other error here."""
    assert isinstance(exc, HTTPException)
    words = {
        404: f"No route {request.method} {request.url.path}: see /openapi.json.",
        405: f"{request.method} is not allowed on {request.url.path}: see /openapi.json.",
    }
    return error(exc.status_code, words.get(exc.status_code, str(exc.detail)))


def cors(settings: Settings) -> list[Middleware]:
    """CORS for a browser front end on other origins: off unless DOCKERVERSE_CORS_ORIGINS names them."""
    origins = [o.strip() for o in (settings.cors_origins or "").split(",") if o.strip()]
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            max_age=600,
        )
    ]


def create_app(settings: Settings, policy: Policy | None = None) -> Starlette:
    policy = policy or load_policy(settings.config_path)
    # Every bad secret at once, before anything listens: a placeholder or short key is a guessable one.
    problems = secret_problems(settings, policy)
    if problems:
        raise DockerverseError("\n".join(problems))
    keys = web_keys(settings)
    for warning in keys.warnings:
        log.warning("%s", warning)
    dispatcher = Dispatcher(settings, policy, connect(settings.redis_url))
    waiter = Waiter(settings.redis_url, dispatcher.redis, keys.signer)
    api = Api(settings, policy, dispatcher, waiter)
    dashboard = Dashboard(api, keys.signer, waiter.client)
    # One bolt app for both ways Slack reaches us: POST /slack/events and the Socket Mode connection.
    bolt = None
    if settings.slack_enabled or settings.socket_mode:
        home = HomeFeed(policy, dispatcher, waiter, settings.home_refresh)
        bolt = build_slack_app(settings, dispatcher, home)
    slack = SlackEndpoint(bolt) if bolt is not None and settings.slack_enabled else None
    if settings.slack_app_token and not settings.slack_bot_token:
        log.error(
            "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: Socket Mode needs both (replies are posted "
            "with the bot token). Set SLACK_BOT_TOKEN=xoxb-...; Socket Mode is off until then."
        )

    async def slack_events(request: Request) -> Response:
        if slack is None:
            if settings.socket_mode:
                return error(
                    503,
                    "Slack over HTTP is not configured (this app uses Socket Mode): set "
                    "SLACK_SIGNING_SECRET to also take requests here.",
                )
            return error(503, "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET.")
        return await slack(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, **({"instance": settings.instance} if settings.instance else {})})

    async def readyz(request: Request) -> Response:
        try:
            state = await run_in_threadpool(dispatcher.readiness)
        except DockerverseError as exc:
            return error(exc.status, exc.message)
        if not state["ok"]:
            missing = "No Docker host has a live worker: start `dockerverse worker` on one."
            return JSONResponse({**state, "error": missing}, status_code=503)
        return JSONResponse(state)

    async def metrics(request: Request) -> Response:
        return Response(await run_in_threadpool(dispatcher.metrics.render), media_type=METRICS_TYPE)

    async def openapi(request: Request) -> Response:
        return JSONResponse(DOCUMENT)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Started here so the WebSocket shares uvicorn's event loop with the HTTP side.
        socket = SocketMode(bolt, settings) if bolt is not None and settings.socket_mode else None
        if socket is not None:
            socket.start()
        app.state.socket_mode = socket
        try:
            yield
        finally:
            if socket is not None:
                await socket.stop()
            await waiter.close()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/hooks/{name}", HookEndpoint(settings, policy.hooks, dispatcher, waiter).handle, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/openapi.json", openapi),
            Route("/api/containers", api.route(api.list_containers)),
            Route("/api/containers", api.route(api.create_container), methods=["POST"]),
            Route("/api/containers/{id}", api.route(api.delete_container), methods=["DELETE"]),
            Route("/api/containers/{id}/logs", api.route(api.logs)),
            Route("/api/containers/{id}/{action}", api.route(api.lifecycle), methods=["POST"]),
            Route("/api/images", api.route(api.list_images)),
            Route("/api/images/{id}/tags/{tag:path}", api.route(api.delete_tag), methods=["DELETE"]),
            Route("/api/images/{id:path}", api.route(api.delete_image), methods=["DELETE"]),
            Route("/api/jobs/{job_id}", api.route(api.job_state)),
            Route("/api/audit", api.route(api.audit)),
            *Actions(api, settings.home_refresh).routes(),
            *dashboard.routes(),
        ],
        exception_handlers={HTTPException: http_error},
        middleware=[
            Middleware(BodyLimit, limit=settings.max_body),
            *cors(settings),
            Middleware(OnHost),
            dashboard.middleware(),
        ],
    )
    app.state.dispatcher = dispatcher
    return app
