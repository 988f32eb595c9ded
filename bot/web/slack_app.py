"""The Slack adapter: slack-bolt's AsyncApp turns slash commands, mentions and DMs into submissions.

Bolt verifies Slack's v0 signature on the raw body before any listener runs. The
slash command is acknowledged (ephemeral, naming the job) once the job is queued or
refused, well within Slack's 3 s; mentions and DMs are answered in their thread. Clicks are
handled in bot/web/slack_actions.py, the App Home tab in bot/web/slack_home.py.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.core.errors import DockerverseError
from bot.core.grammar import shown
from bot.core.policy import Actor
from bot.core.settings import Settings
from bot.core.slack_text import code
from bot.dispatch.dispatcher import Dispatcher, Submitted
from bot.dispatch.gate import NeedsConfirmation
from bot.web.home_feed import HomeFeed
from bot.web.slack_actions import register_actions
from bot.web.slack_home import register_home
from bot.wire import confirm
from bot.wire.payload import ReplyTo

log = logging.getLogger(__name__)
_MENTION = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>\s*)+")


def strip_mention(text: str) -> str:
    """`<@U0BOT> list --all` -> `list --all`."""
    return _MENTION.sub("", text or "").strip()


def queued_text(sub: Submitted, where: str) -> str:
    again = " (a retry of a command already queued)" if sub.duplicate else ""
    return (
        f"⏳ {code('/docker ' + sub.shown.strip())} is queued as job `{sub.job_id[:12]}` on host "
        f"{code(sub.host)}{again}; the result will be posted {where}."
    )


def auth_test(settings: Settings) -> str:
    """Slack's auth.test with the bot token: who the bot is, for `dockerverse doctor`."""
    from slack_sdk import WebClient

    try:
        answer = WebClient(token=settings.slack_bot_token, base_url=settings.slack_base_url, timeout=10).auth_test()
    except SlackApiError as exc:
        raise RuntimeError(f"auth.test refused SLACK_BOT_TOKEN: {exc.response.get('error')}") from None
    said = f"the bot is @{answer.get('user')} in {answer.get('team')} ({answer.get('url')})"
    app_token = settings.slack_app_token or ""
    if not app_token.startswith("xapp-"):
        return said
    # Socket Mode: the app-level token must be able to open a connection (the URL is simply not used).
    app = WebClient(token=app_token, base_url=settings.slack_base_url, timeout=10)
    try:
        app.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        raise RuntimeError(f"apps.connections.open refused SLACK_APP_TOKEN: {exc.response.get('error')}") from None
    return f"{said}; SLACK_APP_TOKEN opens Socket Mode connections"


def build_slack_app(settings: Settings, dispatcher: Dispatcher, home: HomeFeed | None = None) -> AsyncApp:
    """The one bolt app: POST /slack/events and the Socket Mode connection both hand requests to it."""
    app = AsyncApp(
        signing_secret=settings.slack_signing_secret or "",
        # Socket Mode alone needs no signing secret (nothing arrives over HTTP then).
        request_verification_enabled=bool(settings.slack_signing_secret),
        client=AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_base_url),
        # Run listeners before answering: our listeners only queue a job (about 2 ms), and bolt's
        # other mode polls for ack() every 10 ms, which would be most of a slash command's latency.
        process_before_response=True,
    )
    # Replies posted from the web (refusals in a thread) run in the background so the event's
    # 200 never waits on Slack's Web API; the set keeps the tasks referenced until they finish.
    background: set[asyncio.Task[Any]] = set()

    async def submit(
        text: str, actor: Actor, reply: ReplyTo, dedupe: str | None = None, confirmed: bool = False
    ) -> Submitted:
        # rq and redis-py are synchronous: keep them off the event loop.
        return await run_in_threadpool(dispatcher.submit, text, actor, reply, dedupe, confirmed)

    async def confirmation(text: str, actor: Actor, reply: ReplyTo, question: str) -> dict[str, Any]:
        """The message that asks for a Confirm click: text and Block Kit blocks."""
        token = await run_in_threadpool(dispatcher.ask_confirmation, text, actor, reply)
        return {"text": f"⚠️ {question}", "blocks": confirm.blocks(question, shown(text), token)}

    def in_background(coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        background.add(task)
        task.add_done_callback(background.discard)

    @app.command(re.compile(r"^/.+"))
    async def on_slash(ack: AsyncAck, command: dict[str, Any]) -> None:
        text = command.get("text") or ""
        actor = Actor(command["user_id"], "slash", command.get("channel_id"))
        reply = ReplyTo(channel=command["channel_id"])
        try:
            sub = await submit(text, actor, reply)
        except NeedsConfirmation as exc:
            try:
                await ack(response_type="ephemeral", **await confirmation(text, actor, reply, exc.message))
            except DockerverseError as down:
                await ack(response_type="ephemeral", text=f"❌ {down.message}")
            return
        except DockerverseError as exc:
            await ack(response_type="ephemeral", text=f"❌ {exc.message}")
            return
        await ack(response_type="ephemeral", text=queued_text(sub, "in this channel"))

    register_actions(app, dispatcher, home, in_background)

    async def in_thread(event: dict[str, Any], body: dict[str, Any], say: AsyncSay, source: str) -> None:
        thread_ts = event.get("thread_ts") or event["ts"]
        actor = Actor(event["user"], source, event["channel"])  # type: ignore[arg-type]
        dedupe = f"event:{body['event_id']}" if body.get("event_id") else None
        text = strip_mention(event.get("text", ""))
        reply = ReplyTo(channel=event["channel"], thread_ts=thread_ts)
        try:
            await submit(text, actor, reply, dedupe)
        except NeedsConfirmation as exc:
            try:
                in_background(say(thread_ts=thread_ts, **await confirmation(text, actor, reply, exc.message)))
            except DockerverseError as down:
                in_background(say(text=f"❌ {down.message}", thread_ts=thread_ts))
        except DockerverseError as exc:
            in_background(say(text=f"❌ {exc.message}", thread_ts=thread_ts))

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], body: dict[str, Any], say: AsyncSay) -> None:
        await in_thread(event, body, say, "mention")

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any], say: AsyncSay) -> None:
        # Only people's own DMs to the bot: not edits, joins, bots, or channel chatter (mentions come separately).
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return
        await in_thread(event, body, say, "dm")

    if home is not None:
        register_home(app, home, in_background)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.exception("slack listener failed: %s", error)

    return app


class SlackEndpoint:
    """POST /slack/events: bolt's Starlette adapter, which checks the v0 signature on the raw body."""

    def __init__(self, app: AsyncApp) -> None:
        self.handler = AsyncSlackRequestHandler(app)

    async def __call__(self, request: Request) -> Response:
        return await self.handler.handle(request)
