"""Confirmations in Slack: a destructive command waits for a click on Confirm.

The record lives in Redis for a few minutes and is good for one use (GETDEL). One the web asks for
is sealed with the web's key (bot/wire/sealed.py: a forged one is ignored). One a worker asks for (an
admin's `rm` of a container the bot did not create) names only the job that asked: a worker holds
no key the web trusts, so the web takes the command from that job's own signed payload, and a
forged record can at most point at a command this web once signed. Either way the click is carried
out with the clicking person's own permissions, so a confirmation grants nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis

from bot.core.slack_text import code
from bot.wire.payload import ReplyTo
from bot.wire.sealed import seal, unseal
from bot.wire.signing import Signer, Verifier

PREFIX = "dockerverse:confirm:"
JOB_PREFIX = "dockerverse:confirm-job:"  # a worker's: the value is the id of the web-signed job that asked
TTL = 300  # seconds a confirmation stays good
CONFIRM_ACTION = "dockerverse_confirm"
CANCEL_ACTION = "dockerverse_cancel"


@dataclass(frozen=True)
class Pending:
    text: str  # the command, as typed
    shown: str  # the command as it may be displayed (secrets masked)
    requested_by: str
    reply: ReplyTo


def ask(conn: redis.Redis, key: Signer, pending: Pending) -> str:
    """The web keeps a command for a click; returns the button's token."""
    token = secrets.token_urlsafe(18)
    record = {**asdict(pending), "reply": asdict(pending.reply)}
    conn.set(PREFIX + token, seal(key, PREFIX + token, record, ttl=TTL), ex=TTL)
    return token


def ask_for_job(conn: redis.Redis, job_id: str) -> str:
    """A worker asks for a click on the job it runs; the click re-runs that job's signed command."""
    token = secrets.token_urlsafe(18)
    conn.set(JOB_PREFIX + token, job_id, ex=TTL)
    return token


AskedByJob = Callable[[str], Pending | None]


def _ours(token: str) -> bool:
    return token.replace("-", "").replace("_", "").isalnum()


def _read(conn: redis.Redis, key: Verifier, token: str, asked_by_job: AskedByJob, once: bool) -> Pending | None:
    get = conn.getdel if once else conn.get
    raw = get(PREFIX + token)
    if raw is None:
        job_id = get(JOB_PREFIX + token)
        return asked_by_job(job_id.decode() if isinstance(job_id, bytes) else job_id) if job_id else None
    data = unseal(key, PREFIX + token, raw)
    if not isinstance(data, dict):
        return None
    return Pending(data["text"], data["shown"], data["requested_by"], ReplyTo(**data["reply"]))


def peek(conn: redis.Redis, key: Verifier, token: str, asked_by_job: AskedByJob) -> Pending | None:
    """The pending command without using it up: to check who may click before anyone does."""
    return _read(conn, key, token, asked_by_job, once=False) if _ours(token) else None


def take(conn: redis.Redis, key: Verifier, token: str, asked_by_job: AskedByJob) -> Pending | None:
    """The pending command, once: a second click (or one after TTL, or a forged record) gets None.
    ``asked_by_job`` reads a worker's request from the job it names (see the module's docstring)."""
    return _read(conn, key, token, asked_by_job, once=True) if _ours(token) else None


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
