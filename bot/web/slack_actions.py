"""Clicks in Slack: Confirm and Cancel on a kept command, the buttons on a `list` row or the App Home,
and Stop on a log follow. Each goes through the dispatcher as the person who clicked."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from starlette.concurrency import run_in_threadpool

from bot.core.blocks import BUTTON, PERMISSION
from bot.core.errors import DockerverseError
from bot.core.policy import Actor
from bot.core.slack_text import code
from bot.dispatch.dispatcher import Dispatcher
from bot.web.home_feed import HomeFeed
from bot.web.slack_home import Background, refresh_home_after
from bot.wire import confirm
from bot.wire.payload import ReplyTo
from bot.wire.queues import STOP_ACTION

BUTTONS = re.compile(rf"^{re.escape(BUTTON)}({'|'.join(PERMISSION)})$")  # a row's buttons (bot/core/blocks.py)


def button_command(kind: str, value: dict[str, Any]) -> str:
    """The command a list button stands for; its value was written by workers/slack/listing.py."""
    host = ["--host", str(value["host"])] if value.get("host") else []
    if kind == "more":
        words = [
            "list",
            *(["--all"] if value.get("all") else []),
            *([value["filter"]] if value.get("filter") else []),
            "--page",
            str(int(value["page"])),
        ]
    else:
        name = str(value["name"])
        words = {"logs": ["logs", name, "--tail", "50"], "remove": ["rm", name, "--force"]}.get(kind, [kind, name])
    return shlex.join(words + host)


def register_actions(app: AsyncApp, dispatcher: Dispatcher, home: HomeFeed | None, in_background: Background) -> None:
    """The listeners for every button the bot's messages and Home carry."""

    @app.action(confirm.CONFIRM_ACTION)
    async def on_confirm(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Run the kept command with the clicking person's own permissions, once."""
        await ack()
        clicker = body["user"]["id"]
        actor = Actor(clicker, "button", (body.get("channel") or {}).get("id"))
        try:
            pending = await run_in_threadpool(
                dispatcher.take_confirmation, body["actions"][0].get("value", ""), actor, "confirmed"
            )
        except DockerverseError as exc:  # not theirs to confirm: told privately, the question stays
            await respond(response_type="ephemeral", replace_original=False, text=f"❌ {exc.message}")
            return
        if pending is None:
            await respond(
                replace_original=True, text="⌛ This confirmation expired or was already used: run the command again."
            )
            return
        actor = Actor(clicker, "button", (body.get("channel") or {}).get("id") or pending.reply.channel)
        try:
            sub = await run_in_threadpool(dispatcher.submit, pending.text, actor, pending.reply, None, True)
        except DockerverseError as exc:
            await respond(
                replace_original=True, text=f"❌ <@{clicker}> confirmed {code(pending.shown)}, but: {exc.message}"
            )
            return
        await respond(
            replace_original=True,
            text=f"✅ <@{clicker}> confirmed {code(pending.shown)}: queued as job "
            f"`{sub.job_id[:12]}` on host {code(sub.host)}.",
        )

    @app.action(BUTTONS)
    async def on_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        """A button on a `list` row or the App Home: the same command, as the person who clicked; results
        in the list's thread (from the Home: in the person's DM with the app, as a Home has no thread).
        Stop, Restart and Remove were behind Slack's are-you-sure dialog: that is the confirmation."""
        await ack()
        action = body["actions"][0]
        kind = action["action_id"].removeprefix(BUTTON)
        user = body["user"]["id"]
        from_home = (body.get("container") or {}).get("type") == "view"

        async def tell(words: str) -> None:
            if from_home:  # a view has no response_url
                await client.chat_postMessage(channel=user, text=words)
            else:
                await respond(response_type="ephemeral", replace_original=False, text=words)

        try:
            text = button_command(kind, json.loads(action.get("value") or "{}"))
        except (ValueError, KeyError, TypeError):
            await tell("❌ That button is broken; run the command by hand.")
            return
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        thread = (body.get("container") or {}).get("message_ts")
        actor = Actor(user, "button", channel)
        reply = ReplyTo(channel=user) if from_home else ReplyTo(channel=channel, thread_ts=thread)
        try:
            confirmed = kind in ("stop", "restart", "remove")
            sub = await run_in_threadpool(dispatcher.submit, text, actor, reply, None, confirmed)
        except DockerverseError as exc:
            await tell(f"❌ {code(text)}: {exc.message}")
            return
        if from_home and home is not None and kind in ("start", "restart", "stop", "remove"):
            in_background(refresh_home_after(home, client, user, sub.job_id))

    @app.action(STOP_ACTION)
    async def on_stop_follow(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id")
        try:
            await run_in_threadpool(
                dispatcher.stop_follow,
                body["actions"][0].get("value", ""),
                Actor(body["user"]["id"], "button", channel),
            )
        except DockerverseError as exc:
            await respond(response_type="ephemeral", replace_original=False, text=f"❌ {exc.message}")

    @app.action(confirm.CANCEL_ACTION)
    async def on_cancel(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        actor = Actor(body["user"]["id"], "button", (body.get("channel") or {}).get("id"))
        try:
            pending = await run_in_threadpool(
                dispatcher.take_confirmation, body["actions"][0].get("value", ""), actor, "cancelled"
            )
        except DockerverseError as exc:
            await respond(response_type="ephemeral", replace_original=False, text=f"❌ {exc.message}")
            return
        what = code(pending.shown) if pending else "The command"
        await respond(replace_original=True, text=f"✋ <@{body['user']['id']}> cancelled {what}: nothing was run.")
