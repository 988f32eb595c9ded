"""The App Home tab in Slack: published after the event is acknowledged, at most every few seconds a
person, and again once a job started from its buttons is done."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.errors import DockerverseError
from bot.web.home import REFRESH_ACTION
from bot.web.home_feed import HomeFeed

log = logging.getLogger(__name__)

# Runs a reply or a publish after the listener returns, so Slack's 200 never waits on its Web API.
Background = Callable[[Coroutine[Any, Any, Any]], None]


async def publish_home(home: HomeFeed, client: AsyncWebClient, user: str) -> None:
    try:
        await client.views_publish(user_id=user, view=await home.view(user))
    except SlackApiError as exc:
        log.warning("app home for %s not published: Slack answered %s", user, exc.response.get("error"))
    except Exception:  # a background task: nobody else would see it
        log.exception("app home for %s not published", user)


async def refresh_home_after(home: HomeFeed, client: AsyncWebClient, user: str, job_id: str) -> None:
    """A Start, Restart, Stop or Remove pressed on the Home: show its effect there once the job is done."""
    try:
        await home.settle(job_id, user)
    except DockerverseError as exc:
        log.warning("app home for %s: waiting for job %s failed: %s", user, job_id[:12], exc.message)
    if home.due(user):
        await publish_home(home, client, user)


def register_home(app: AsyncApp, home: HomeFeed, in_background: Background) -> None:
    """The App Home tab: built after the event is acknowledged, at most every few seconds a person."""

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") == "home" and home.due(event["user"]):
            in_background(publish_home(home, client, event["user"]))

    @app.action(REFRESH_ACTION)
    async def on_home_refresh(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if home.due(body["user"]["id"]):
            in_background(publish_home(home, client, body["user"]["id"]))
