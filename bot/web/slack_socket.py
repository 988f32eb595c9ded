"""Slack over Socket Mode: an outbound WebSocket, for Docker boxes with no public URL (behind NAT).

The bolt app that serves POST /slack/events handles every envelope too, so slash commands, events
and clicks behave the same either way (acknowledged once the job is queued, retries deduplicated
by event id). slack_sdk's client would reconnect at a fixed interval and retry a refused token
forever; here one task owns the connection instead: it reconnects with exponential backoff when
the socket drops, and stops with one clear log line when Slack refuses the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from slack_bolt.adapter.socket_mode.websockets import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.settings import Settings

log = logging.getLogger(__name__)

# apps.connections.open errors that no retry can fix: the token is wrong, revoked or lacks the scope.
REFUSED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
        "no_permission",
    }
)
FIRST_DELAY, MAX_DELAY = 1.0, 60.0  # seconds between attempts: doubling, with jitter
STABLE = 30.0  # a connection that lived this long resets the backoff
PING = 10.0  # seconds between WebSocket pings; a silent connection is dropped after about three


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` attempts in a row failed (1, 2, 4 ... 60, each 50-100 %)."""
    step: float = FIRST_DELAY * 2.0 ** max(0, failures - 1)
    return min(MAX_DELAY, step) * random.uniform(0.5, 1.0)


def token_problem(token: str) -> str | None:
    """Why the token cannot be an app-level token, before asking Slack."""
    if token.startswith("xapp-"):
        return None
    start = f"it starts with {token.split('-', 1)[0]}-, not xapp-" if "-" in token else "it does not start with xapp-"
    return f"SLACK_APP_TOKEN is not an app-level token ({start})"


FIX = (
    "Create an app-level token with the connections:write scope (api.slack.com/apps -> your app -> Basic "
    "Information -> App-Level Tokens), set it as SLACK_APP_TOKEN and restart `dockerverse web`. Until then "
    "Socket Mode is off; POST /slack/events still works if SLACK_SIGNING_SECRET is set."
)


class SocketMode:
    """The Socket Mode connection of a web process, started and stopped by the app's lifespan."""

    def __init__(self, app: AsyncApp, settings: Settings) -> None:
        self.app = app
        self.token = settings.slack_app_token or ""
        # apps.connections.open goes to SLACK_API_URL like every other call (a local stand-in in tests).
        self.web_client = AsyncWebClient(base_url=settings.slack_base_url)
        self.state = "starting"
        self._handler: AsyncSocketModeHandler | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Connect in the background: the HTTP side serves meanwhile, whatever Slack answers."""
        self._task = asyncio.create_task(self._run(), name="slack-socket-mode")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._handler is not None:
            with contextlib.suppress(Exception):  # shutting down: a half-closed socket is no news
                await self._handler.close_async()  # type: ignore[no-untyped-call]

    async def _run(self) -> None:
        problem = token_problem(self.token)
        if problem:
            self.state = "refused"
            log.error("Socket Mode is off: %s. %s", problem, FIX)
            return
        self._handler = AsyncSocketModeHandler(
            self.app,
            app_token=self.token,
            logger=logging.getLogger("slack_sdk.socket_mode"),
            web_client=self.web_client,
            ping_interval=PING,
        )
        client = self._handler.client
        # This task reconnects, with backoff; the client's own loop would retry every PING seconds forever.
        client.default_auto_reconnect_enabled = client.auto_reconnect_enabled = False
        failures, ever = 0, False
        while True:
            self.state = "connecting"
            try:
                await client.connect_to_new_endpoint(force=True)
            except SlackApiError as exc:
                error = str(exc.response.get("error"))
                if error in REFUSED:
                    self.state = "refused"
                    log.error("Socket Mode is off: Slack refused SLACK_APP_TOKEN (%s). %s", error, FIX)
                    return
                failures += 1
                why = f"apps.connections.open answered {error}"
            except Exception as exc:  # network, TLS, a refused WebSocket: all worth another try
                failures += 1
                why = f"{type(exc).__name__}: {exc}"
            else:
                self.state = "connected"
                log.info("Socket Mode: %s to Slack", "reconnected" if ever else "connected")
                ever, since = True, time.monotonic()
                while await client.is_connected():
                    await asyncio.sleep(0.5)
                self.state = "dropped"
                lived = time.monotonic() - since
                if lived >= STABLE:
                    failures = 0
                    log.warning("Socket Mode: the connection to Slack dropped; reconnecting")
                    continue
                # A connection that keeps dying young backs off as if it had failed.
                failures += 1
                why = f"the connection dropped {lived:.0f} s after it opened"
            delay = backoff(failures)
            log.warning("Socket Mode: no connection to Slack (%s); retrying in %.1f s", why, delay)
            await asyncio.sleep(delay)
