"""The job payload that crosses Redis: JSON, and signed by the web for the workers.

Redis is not a trust boundary. Anyone who can write to it could enqueue a job, so
the web signs each payload (Ed25519, DOCKERVERSE_SIGNING_KEY, which no worker holds; see
bot/wire/signing.py) and a worker runs only payloads
whose signature checks out, bound to the job id they were issued under, and only until
the payload's `start_by` (issued_at + the command's deadline): a job replayed or found
late never runs (see bot/wire/claims.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from bot.core import commands as c
from bot.core.policy import Actor
from bot.wire.signing import Signer, Verifier

VERSION = 2  # 2: `start_by` is signed in; a version-1 payload has no deadline and is refused
DEFAULT_DEADLINE = 30.0  # seconds a job may wait for a worker when nothing else is said
# The one job function a worker will run; the name is checked before anything is imported.
EXECUTE = "workers.runtime.tasks.execute"


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
    start_by: float  # a worker must not begin the job after this (Unix time)
    admin: bool = False  # the actor holds the top role: may act on containers the bot did not create
    confirmed: bool = False  # a person confirmed this destructive command in Slack
    read_unmanaged: bool = False  # may read logs/inspect of containers the bot did not create
    # A fleet-wide command: the (host, job id) of each per-host part the web enqueued beside it; the
    # worker gathers their results (bot/dispatch/fleet.py). Signed in, so no worker makes or changes parts.
    parts: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"parts": dict(self.parts)} if self.parts else {}
        return extra | {
            "v": VERSION,
            "id": self.id,
            "text": self.text,
            "command": c.to_json(self.command),
            "actor": asdict(self.actor),
            "reply": asdict(self.reply),
            "host": self.host,
            "issued_at": self.issued_at,
            "start_by": self.start_by,
            "admin": self.admin,
            "confirmed": self.confirmed,
            "read_unmanaged": self.read_unmanaged,
        }

    @property
    def deadline(self) -> float:
        """Seconds the job was given to start."""
        return self.start_by - self.issued_at

    def stale(self, now: float) -> bool:
        return now > self.start_by

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
            start_by=float(data["start_by"]),
            admin=bool(data.get("admin", False)),
            confirmed=bool(data.get("confirmed", False)),
            read_unmanaged=bool(data.get("read_unmanaged", False)),
            parts=tuple((str(h), str(j)) for h, j in dict(data.get("parts") or {}).items()),
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
    read_unmanaged: bool = False,
    deadline: float = DEFAULT_DEADLINE,
    parts: tuple[tuple[str, str], ...] = (),
) -> Payload:
    issued = time.time()
    return Payload(
        job_id, text, command, actor, reply, host, issued, issued + deadline, admin, confirmed, read_unmanaged, parts
    )


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(key: Signer, data: dict[str, Any]) -> str:
    return key.sign(_canonical(data))


def verify(key: Verifier, data: dict[str, Any], signature: str) -> bool:
    return key.verify(_canonical(data), signature)


def envelope(key: Signer, payload: Payload) -> dict[str, Any]:
    """The job's keyword arguments: the payload and its signature."""
    data = payload.to_json()
    return {"payload": data, "sig": sign(key, data)}


class Unsigned(ValueError):
    """A job's arguments are not a payload signed for it."""


def open_envelope(key: Verifier, kwargs: Any, job_id: str | None) -> Payload:
    """The payload in a job's keyword arguments, if its signature is ours and it was issued for this job."""
    payload, sig = (kwargs.get("payload"), kwargs.get("sig")) if isinstance(kwargs, dict) else (None, None)
    if not isinstance(payload, dict) or not isinstance(sig, str) or not verify(key, payload, sig):
        raise Unsigned("job payload signature is missing or invalid")
    if job_id is not None and payload.get("id") != job_id:
        raise Unsigned(f"payload was signed for job {payload.get('id')!r}, not {job_id!r}")
    try:
        return Payload.from_json(payload)
    except (ValueError, TypeError, KeyError) as exc:
        raise Unsigned(f"signed payload does not parse: {exc}") from None
