"""The one way out to Slack: each job's messages, from "running" to its result.

A job that takes more than a second gets a root message saying it runs (with progress, for a
pull), edited in place (chat.update) to the result when it ends; a quick one gets just the
result. Further output goes in the root's thread; more than a few messages hold goes up as a
file (files_upload_v2). Slack's 429s, 5xx and dropped connections are retried with Retry-After
honoured, so nothing is lost or sent twice; a reply that still cannot be delivered is logged and
kept with the job result, and never changes the job's outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.core.slack_text import code, escape
from bot.core.units import format_duration
from bot.wire import confirm
from bot.wire.payload import Payload
from workers.slack.alarms import Alarm, Alarms
from workers.slack.client import KeepAliveWebClient
from workers.slack.render import SECTION_LIMIT, Outcome, cut

log = logging.getLogger(__name__)
RUNNING_AFTER = 1.0  # seconds before a job shows a "running" message
TEXT_LIMIT = 3900  # characters of a message's `text`: Slack truncates beyond 4,000
PROGRESS_EVERY = 1.0  # at most one edit a second: Slack allows about one message a second per channel
SlackErrors = (SlackApiError, SlackClientError, OSError)


def result_blocks(header: str, outcome: Outcome, context: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": cut(header)}}]
    body = outcome.slack_blocks()
    if body:
        blocks += body[:46]  # 50 blocks a message, with header and context around them
    elif outcome.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(outcome.text, SECTION_LIMIT)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(context, 2000)}]})
    return blocks


class SlackReplier:
    def __init__(self, token: str, base_url: str) -> None:
        self.client: WebClient = KeepAliveWebClient(
            token=token,
            base_url=base_url,
            timeout=10,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=3),
                RateLimitErrorRetryHandler(max_retry_count=5),
                ServerErrorRetryHandler(max_retry_count=3),
            ],
        )
        self.alarms = Alarms()  # each job's "running…" after RUNNING_AFTER

    def session(self, payload: Payload) -> Session:
        return Session(self.client, payload, self.alarms)

    def post(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, thread_ts: str | None = None
    ) -> str | None:
        """One message outside any job (an event alert); its ts, or None when Slack refused it (logged)."""
        try:
            resp = self.client.chat_postMessage(
                channel=channel,
                text=cut(text, TEXT_LIMIT),
                blocks=blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackErrors as exc:
            log.error("Slack post to %s failed: %s", channel, exc)
            return None
        return str(resp.get("ts")) if resp.get("ts") else None

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
        try:
            self.client.chat_update(channel=channel, ts=ts, text=cut(text, TEXT_LIMIT), blocks=blocks)
        except SlackErrors as exc:
            log.error("Slack update of %s in %s failed: %s", ts, channel, exc)
            return False
        return True


class Session:
    """One job's conversation in Slack."""

    def __init__(self, client: WebClient, payload: Payload, alarms: Alarms) -> None:
        self.client, self.p = client, payload
        self.channel = payload.reply.channel or ""
        self.root_ts: str | None = None
        self.posted = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.last_progress = 0.0
        self.latest = "running…"
        self.began = time.monotonic()
        self.alarms = alarms
        self.running_note: Alarm | None = None
        self.finished = False  # once the result is up, no "running…" edit may replace it

    # --- while it runs -----------------------------------------------------------------------

    def start(self) -> None:
        self.running_note = self.alarms.after(RUNNING_AFTER, lambda: self.progress(self.latest, force=True))

    def context(self, seconds: float | None = None) -> str:
        via = "/docker " if self.p.actor.source == "slash" else ""
        took = f" · {format_duration(seconds)}" if seconds is not None else ""
        return (
            f"{self.p.actor.display} · {code(via + cut(self.p.text, 200))} · host {code(self.p.host)}{took} · "
            f"job {code(self.p.id[:12])}"
        )

    def progress(self, text: str, force: bool = False, blocks: list[dict[str, Any]] | None = None) -> None:
        """Show the job as running, with `text`; edits are throttled to one a second."""
        with self.lock:
            now = time.monotonic()
            self.latest = text
            if self.finished:
                return
            if not force and (
                now - self.began < RUNNING_AFTER or (self.root_ts and now - self.last_progress < PROGRESS_EVERY)
            ):
                return  # a quick job posts only its result; a slow one at most one edit a second
            self.last_progress = now
            header = f"⏳ {text}"
            body = blocks or [
                {"type": "section", "text": {"type": "mrkdwn", "text": cut(header)}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": self.context()}]},
            ]
            self._root(header, body)

    def thread_post(self, text: str) -> str | None:
        """A message in the job's thread; its ts, to edit it as lines arrive."""
        with self.lock:
            if not self.root_ts and not self.p.reply.thread_ts:
                self._root("⏳ running…", None)
            return self._call("post", channel=self.channel, thread_ts=self.thread_ts, text=cut(text, TEXT_LIMIT))

    def thread_update(self, ts: str, text: str) -> None:
        with self.lock:
            self._call("update", channel=self.channel, ts=ts, text=cut(text, TEXT_LIMIT))

    @property
    def thread_ts(self) -> str | None:
        return self.p.reply.thread_ts or self.root_ts

    # --- the result ----------------------------------------------------------------------------

    def finish(self, outcome: Outcome, seconds: float) -> dict[str, Any]:
        if self.running_note is not None:
            self.running_note.cancel()
        mark = "⚠️" if outcome.confirm else "✅" if outcome.ok else "❌"
        header = f"{mark} {outcome.summary}"
        if isinstance(outcome.confirm, str):
            blocks = confirm.blocks(outcome.summary, self.p.text, outcome.confirm)
        else:
            blocks = result_blocks(header, outcome, self.context(seconds))
        with self.lock:
            self.finished = True
            self._root(header, blocks)
            for chunk in outcome.thread:
                self._call("post", channel=self.channel, thread_ts=self.thread_ts, text=cut(chunk, TEXT_LIMIT))
            if outcome.attachment:
                name, content = outcome.attachment
                self._call(
                    "upload",
                    channel=self.channel,
                    thread_ts=self.thread_ts,
                    content=content,
                    filename=name,
                    title=escape(name),  # a title Slack shows: a container's name in it is outside text
                )
        delivery: dict[str, Any] = {
            "ok": not self.errors,
            "posted": self.posted,
            "channel": self.channel,
            "ts": self.root_ts,
            "thread_ts": self.thread_ts,
        }
        if self.errors:
            delivery["error"] = self.errors[-1]
        return delivery

    # --- Slack calls ---------------------------------------------------------------------------

    def _root(self, header: str, blocks: list[dict[str, Any]] | None) -> None:
        """Post the root message, or edit it once it exists."""
        text = cut(header, TEXT_LIMIT)
        if self.root_ts:
            self._call("update", channel=self.channel, ts=self.root_ts, text=text, blocks=blocks)
        else:
            self.root_ts = self._call(
                "post", channel=self.channel, thread_ts=self.p.reply.thread_ts, text=text, blocks=blocks
            )

    def _call(self, kind: str, **kwargs: Any) -> str | None:
        """One Web API call, already retried by slack_sdk; a final failure is logged and kept, not raised."""
        try:
            if kind == "post":
                resp = self.client.chat_postMessage(unfurl_links=False, unfurl_media=False, **kwargs)
            elif kind == "update":
                resp = self.client.chat_update(**kwargs)
            else:
                resp = self.client.files_upload_v2(**kwargs)
                self.posted += 1
                return None
        except SlackErrors as exc:
            log.error("job %s: Slack %s to %s failed: %s", self.p.id, kind, self.channel, exc)
            self.errors.append(f"{kind}: {str(exc)[:300]}")
            return None
        self.posted += kind == "post"
        return str(resp.get("ts")) if resp.get("ts") else None
