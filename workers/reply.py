"""The one way out to Slack: a job's outcome becomes a root message and thread replies.

Slack's 429s, 5xx and dropped connections are retried (slack_sdk's retry handlers,
Retry-After honoured). A reply that still cannot be delivered is logged and kept
with the job's result; it never changes the job's outcome.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot import confirm
from bot.jobs import Payload
from bot.units import format_duration
from workers.render import SECTION_LIMIT, Outcome, cut

log = logging.getLogger(__name__)


def _blocks(header: str, body: str, context: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": cut(header)}}]
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(body, SECTION_LIMIT)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(context, 2000)}]})
    return blocks


class SlackReplier:
    def __init__(self, token: str, base_url: str) -> None:
        self.client = WebClient(
            token=token,
            base_url=base_url,
            timeout=10,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=3),
                RateLimitErrorRetryHandler(max_retry_count=5),
                ServerErrorRetryHandler(max_retry_count=3),
            ],
        )

    def deliver(self, payload: Payload, outcome: Outcome, seconds: float) -> dict[str, Any]:
        """Post the outcome where the payload says; returns what was delivered (kept with the result)."""
        channel = payload.reply.channel
        if channel is None:
            return {"ok": True, "posted": 0}
        mark = "⚠️" if outcome.confirm else "✅" if outcome.ok else "❌"
        via = "/docker " if payload.actor.source == "slash" else ""
        context = (
            f"{payload.actor.display} · `{via}{cut(payload.text, 200)}` · host `{payload.host}` · "
            f"{format_duration(seconds)} · job `{payload.id[:12]}`"
        )
        header = f"{mark} {outcome.summary}"
        blocks = _blocks(header, outcome.text, context)
        if isinstance(outcome.confirm, str):
            blocks = confirm.blocks(outcome.summary, payload.text, outcome.confirm)
        posted = 0
        try:
            root = self.client.chat_postMessage(
                channel=channel,
                thread_ts=payload.reply.thread_ts,
                text=cut(header, 3900),
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
            posted += 1
            thread_ts = payload.reply.thread_ts or root["ts"]
            for chunk in outcome.thread:
                self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=cut(chunk, 3900),
                    unfurl_links=False,
                    unfurl_media=False,
                )
                posted += 1
            return {
                "ok": True,
                "posted": posted,
                "channel": channel,
                "ts": root["ts"],
                "thread_ts": thread_ts,
            }
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.error("reply for job %s not delivered to %s after %d posts: %s", payload.id, channel, posted, exc)
            return {"ok": False, "posted": posted, "channel": channel, "error": str(exc)[:500]}
