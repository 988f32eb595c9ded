"""Confirmations in Slack: a destructive command waits for a click on Confirm.

The record lives in Redis for a few minutes, sealed (bot/sealed.py: a forged one is ignored), and
is good for one use (GETDEL). The click is carried out with the clicking person's own permissions,
so a confirmation grants nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

import redis

from bot.jobs import ReplyTo
from bot.sealed import seal, unseal
from bot.slack_text import code

PREFIX = "dockerverse:confirm:"
TTL = 300  # seconds a confirmation stays good
CONFIRM_ACTION = "dockerverse_confirm"
CANCEL_ACTION = "dockerverse_cancel"


@dataclass(frozen=True)
class Pending:
    text: str  # the command, as typed
    shown: str  # the command as it may be displayed (secrets masked)
    requested_by: str
    reply: ReplyTo


def ask(conn: redis.Redis, key: bytes, pending: Pending) -> str:
    token = secrets.token_urlsafe(18)
    record = {**asdict(pending), "reply": asdict(pending.reply)}
    conn.set(PREFIX + token, seal(key, PREFIX + token, record, ttl=TTL), ex=TTL)
    return token


def _ours(token: str) -> bool:
    return token.replace("-", "").replace("_", "").isalnum()


def _pending(key: bytes, token: str, raw: Any) -> Pending | None:
    data = unseal(key, PREFIX + token, raw)
    if not isinstance(data, dict):
        return None
    return Pending(data["text"], data["shown"], data["requested_by"], ReplyTo(**data["reply"]))


def peek(conn: redis.Redis, key: bytes, token: str) -> Pending | None:
    """The pending command without using it up: to check who may click before anyone does."""
    return _pending(key, token, conn.get(PREFIX + token)) if _ours(token) else None


def take(conn: redis.Redis, key: bytes, token: str) -> Pending | None:
    """The pending command, once: a second click (or one after TTL, or a forged record) gets None."""
    return _pending(key, token, conn.getdel(PREFIX + token)) if _ours(token) else None


def blocks(question: str, shown: str, token: str) -> list[dict[str, Any]]:
    """Block Kit: the question, then Confirm (with Slack's own are-you-sure dialog) and Cancel."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"⚠️ {question}"}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{code(shown[:300])} · good for {TTL // 60} "
                    "minutes, once · carried out with the permissions of whoever clicks",
                }
            ],
        },
        {
            "type": "actions",
            "block_id": "dockerverse_confirmation",
            "elements": [
                {
                    "type": "button",
                    "action_id": CONFIRM_ACTION,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Confirm"},
                    "value": token,
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Are you sure?"},
                        "text": {"type": "mrkdwn", "text": question[:300]},
                        "confirm": {"type": "plain_text", "text": "Yes, do it"},
                        "deny": {"type": "plain_text", "text": "No"},
                        "style": "danger",
                    },
                },
                {
                    "type": "button",
                    "action_id": CANCEL_ACTION,
                    "text": {"type": "plain_text", "text": "Cancel"},
                    "value": token,
                },
            ],
        },
    ]
