"""The Web API methods the fake Slack implements, answered as Slack answers them.

It remembers what Slack would: the `ts` of every message it handed out per channel (so
chat.update, chat.delete and reactions on any other `ts` get `message_not_found`), the
reactions on each message, and the ids of the views it published or opened. A method it does
not implement gets Slack's own `unknown_method` (HTTP 200, ok: false), so a product calling a
method no test has vouched for fails loudly instead of being told `ok`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.support.slack_rules import decoded, message_refusal, refuse, view_refusal

if TYPE_CHECKING:
    from tests.support.fakeslack import Call

Answer = dict[str, Any]

BOT_IDENTITY: dict[str, Any] = {
    "url": "https://example.slack.com/",
    "team": "Example",
    "user": "dockerverse",
    "team_id": "T061EG9R6",
    "user_id": "U0LAN0Z89",
    "bot_id": "B0LAN0Z89",
}


class SlackWebApi:
    """Slack's side of the conversation: what each method answers, and the state it keeps."""

    def __init__(self, base_url: Callable[[], str]) -> None:
        self._base_url = base_url
        self._seq = itertools.count(1)  # ts / ids stay unique for the server's whole life
        self._messages: dict[str, dict[str, set[str]]] = {}  # channel -> ts -> reaction names
        self._views: set[str] = set()
        self._methods: dict[str, Callable[[Call], Answer]] = {
            "api.test": lambda call: {"ok": True, "args": call.params},
            "auth.test": lambda _call: {"ok": True, **BOT_IDENTITY},
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.postEphemeral": self._post_ephemeral,
            "reactions.add": self._react,
            "reactions.remove": self._react,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "views.publish": lambda call: self._view(call, ("home",)),
            "views.open": lambda call: self._view(call, ("modal",), needs="trigger_id"),
            "views.push": lambda call: self._view(call, ("modal",), needs="trigger_id"),
            "views.update": self._view_update,
            "conversations.info": self._conversation,
            "users.info": self._user,
            "apps.connections.open": self._connections_open,
        }

    def knows(self, channel: str, ts: str) -> bool:
        """Whether `ts` is a message this fake posted in `channel` (and nobody deleted)."""
        return ts in self._messages.get(channel, {})

    def answer(self, call: Call) -> Answer:
        method = self._methods.get(call.method)
        if method is None:
            return {"ok": False, "error": "unknown_method", "req_method": call.method}
        return method(call)

    # ---------------------------------------------------------------- helpers
    def _next(self) -> int:
        return next(self._seq)

    def _ts(self) -> str:
        n = self._next()
        return f"{1700000000 + n // 1_000_000}.{n % 1_000_000:06d}"

    def _message(self, call: Call) -> tuple[str, str] | Answer:
        """The (channel, ts) of a message this fake posted, or Slack's refusal."""
        channel, ts = str(call.params.get("channel") or ""), str(call.params.get("ts") or "")
        if not channel:
            return refuse("channel_not_found")
        if not self.knows(channel, ts):
            return refuse("message_not_found")
        return channel, ts

    # ---------------------------------------------------------------- chat
    def _post(self, call: Call) -> Answer:
        p = call.params
        if not p.get("channel"):
            return refuse("channel_not_found")
        refusal = message_refusal(p)
        if refusal:
            return refusal
        channel, ts = str(p["channel"]), self._ts()
        self._messages.setdefault(channel, {})[ts] = set()
        message: Answer = {
            "type": "message",
            "text": p.get("text", ""),
            "ts": ts,
            "user": BOT_IDENTITY["user_id"],
            "bot_id": BOT_IDENTITY["bot_id"],
        }
        for key in ("blocks", "attachments"):
            if key in p:
                message[key] = decoded(p[key])
        if "thread_ts" in p:
            message["thread_ts"] = p["thread_ts"]
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _update(self, call: Call) -> Answer:
        found = self._message(call)
        if isinstance(found, dict):
            return found
        refusal = message_refusal(call.params)
        if refusal:
            return refusal
        channel, ts = found
        text = call.params.get("text", "")
        return {"ok": True, "channel": channel, "ts": ts, "text": text, "message": {"text": text, "ts": ts}}

    def _delete(self, call: Call) -> Answer:
        found = self._message(call)
        if isinstance(found, dict):
            return found
        channel, ts = found
        del self._messages[channel][ts]
        return {"ok": True, "channel": channel, "ts": ts}

    def _post_ephemeral(self, call: Call) -> Answer:
        p = call.params
        if not p.get("channel"):
            return refuse("channel_not_found")
        if not p.get("user"):
            return refuse("user_not_in_channel")
        return message_refusal(p) or {"ok": True, "message_ts": self._ts()}

    def _react(self, call: Call) -> Answer:
        p = call.params
        channel, ts, name = str(p.get("channel") or ""), str(p.get("timestamp") or ""), str(p.get("name") or "")
        if not channel:
            return refuse("channel_not_found")
        if not self.knows(channel, ts):
            return refuse("message_not_found")
        if not name:
            return refuse("invalid_name")
        reactions = self._messages[channel][ts]
        if call.method == "reactions.add":
            if name in reactions:
                return refuse("already_reacted")
            reactions.add(name)
        else:
            if name not in reactions:
                return refuse("no_reaction")
            reactions.discard(name)
        return {"ok": True}

    # ---------------------------------------------------------------- files
    def _upload_url(self, _call: Call) -> Answer:
        file_id = f"F{self._next():010d}"
        return {"ok": True, "upload_url": f"{self._base_url()}upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, call: Call) -> Answer:
        files = decoded(call.params.get("files")) or []
        return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title") or ""} for f in files]}

    # ---------------------------------------------------------------- views
    def _view(self, call: Call, kinds: tuple[str, ...], needs: str = "user_id") -> Answer:
        if not call.params.get(needs):
            return refuse("invalid_arguments", [f"missing required field: {needs}"])
        refusal = view_refusal(call.params.get("view"), kinds)
        if refusal:
            return refusal
        view_id = f"V{self._next():010d}"
        self._views.add(view_id)
        return {"ok": True, "view": {"id": view_id, "team_id": BOT_IDENTITY["team_id"], **decoded(call.params["view"])}}

    def _view_update(self, call: Call) -> Answer:
        view_id = str(call.params.get("view_id") or "")
        if view_id not in self._views:
            return refuse("not_found")
        refusal = view_refusal(call.params.get("view"), ("modal", "home"))
        if refusal:
            return refusal
        return {"ok": True, "view": {"id": view_id, "team_id": BOT_IDENTITY["team_id"], **decoded(call.params["view"])}}

    # ---------------------------------------------------------------- lookups
    def _conversation(self, call: Call) -> Answer:
        cid = call.params.get("channel", "C0000000000")
        channel = {"id": cid, "name": f"chan-{cid}".lower(), "is_channel": True, "is_member": True}
        return {"ok": True, "channel": channel}

    def _user(self, call: Call) -> Answer:
        uid = call.params.get("user", "U0000000000")
        return {
            "ok": True,
            "user": {
                "id": uid,
                "name": f"user-{uid}".lower(),
                "real_name": f"User {uid}",
                "is_bot": False,
                "tz": "UTC",
                "profile": {"display_name": uid},
            },
        }

    def _connections_open(self, call: Call) -> Answer:
        if not (call.token or "").startswith("xapp-"):
            return refuse("not_allowed_token_type")
        # Slack hands out a WebSocket URL; this server speaks no WebSocket, so connecting fails at the
        # handshake. tests.support.fake_socket_mode's install() answers with one that works.
        return {"ok": True, "url": self._base_url().replace("http://", "ws://", 1) + "socket-mode/not-served"}
