"""The job payload that crosses Redis: JSON, and signed by the web for the workers.

Redis is not a trust boundary. Anyone who can write to it could enqueue a job, so
the web signs each payload with DOCKERVERSE_JOB_KEY and a worker runs only payloads
whose signature checks out, bound to the job id they were issued under.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from bot import commands as c
from bot.policy import Actor

VERSION = 1
# The one job function a worker will run; the name is checked before anything is imported.
EXECUTE = "workers.tasks.execute"


@dataclass(frozen=True)
class ReplyTo:
    """Where the worker replies. ``channel`` None: the result is only kept (console, API).

    ``thread_ts`` set: every reply goes in that thread (mentions, hooks with a thread).
    Otherwise the result is a root message and further output goes in its thread.
    """

    channel: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class Payload:
    id: str
    text: str
    command: c.Command
    actor: Actor
    reply: ReplyTo
    host: str
    issued_at: float
    admin: bool = False  # the actor holds the top role: may act on containers the bot did not create
    confirmed: bool = False  # a person confirmed this destructive command in Slack

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "id": self.id,
            "text": self.text,
            "command": c.to_json(self.command),
            "actor": asdict(self.actor),
            "reply": asdict(self.reply),
            "host": self.host,
            "issued_at": self.issued_at,
            "admin": self.admin,
            "confirmed": self.confirmed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Payload:
        if data.get("v") != VERSION:
            raise ValueError(f"payload version {data.get('v')!r} is not {VERSION}")
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            command=c.from_json(data["command"]),
            actor=Actor(**data["actor"]),
            reply=ReplyTo(**data["reply"]),
            host=str(data["host"]),
            issued_at=float(data["issued_at"]),
            admin=bool(data.get("admin", False)),
            confirmed=bool(data.get("confirmed", False)),
        )


def new_payload(
    job_id: str,
    text: str,
    command: c.Command,
    actor: Actor,
    reply: ReplyTo,
    host: str,
    *,
    admin: bool = False,
    confirmed: bool = False,
) -> Payload:
    return Payload(job_id, text, command, actor, reply, host, time.time(), admin, confirmed)


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(key: bytes, data: dict[str, Any]) -> str:
    return hmac.new(key, _canonical(data), hashlib.sha256).hexdigest()


def verify(key: bytes, data: dict[str, Any], signature: str) -> bool:
    return hmac.compare_digest(sign(key, data), signature)


def envelope(key: bytes, payload: Payload) -> dict[str, Any]:
    """The job's keyword arguments: the payload and its signature."""
    data = payload.to_json()
    return {"payload": data, "sig": sign(key, data)}
