"""The audit log: a capped Redis stream of every decision, read back with each job's outcome."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis
from rq.job import Job

from bot.core.slack_text import unescape
from bot.wire.job_state import as_str
from bot.wire.shapes import AuditEntry

STREAM = "dockerverse:audit"
MAX = 100_000


def read(conn: redis.Redis, limit: int) -> list[dict[str, Any]]:
    """Newest first, each with its job's outcome (or the refusal's reason) and duration."""
    raw: Any = conn.xrevrange(STREAM, count=limit)
    return _with_outcomes(conn, [_fields(f) for _, f in raw or []])


def read_actor(
    conn: redis.Redis, actor: str, limit: int, skip: tuple[str, ...] = (), scan: int = 2000
) -> list[dict[str, Any]]:
    """One actor's newest entries (not those from the origins in `skip`), looking back at most
    `scan` entries so that a quiet person's App Home never reads the whole stream."""
    found: list[dict[str, str]] = []
    upper, looked = "+", 0
    while len(found) < limit and looked < scan:
        raw: Any = conn.xrevrange(STREAM, max=upper, count=200)
        if not raw:
            break
        looked += len(raw)
        found += [e for e in map(_fields, (f for _, f in raw)) if e["actor"] == actor and e["origin"] not in skip]
        upper = "(" + as_str(raw[-1][0])  # exclusive: continue below the oldest entry read
    return _with_outcomes(conn, found[:limit])


def _fields(raw: dict[Any, Any]) -> dict[str, str]:
    return {as_str(k): as_str(v) for k, v in raw.items()}


def _with_outcomes(conn: redis.Redis, entries: list[dict[str, str]]) -> list[dict[str, Any]]:
    with conn.pipeline(transaction=False) as pipe:
        for e in entries:
            pipe.hmget(Job.key_for(e["job_id"]) if e["job_id"] else "-", ["status", "meta", "started_at", "ended_at"])
        jobs = pipe.execute()
    out = []
    for e, (status, meta, started, ended) in zip(entries, jobs, strict=True):
        # Reasons and failures are our Slack text: back to the characters, for JSON and for whoever shows them.
        outcome = unescape(e["reason"] if e["decision"] in ("refused", "asked") else _outcome(status, meta))
        entry = AuditEntry(
            at=float(e["at"]),
            actor=e["actor"],
            origin=e["origin"],
            channel=e.get("channel") or None,
            command=e["command"],
            decision=e["decision"],
            job_id=e["job_id"] or None,
            outcome=outcome,
            duration=_seconds_between(started, ended),
        )
        out.append(entry.dump())
    return out


def _seconds_between(started: bytes | None, ended: bytes | None) -> float | None:
    if not (started and ended):
        return None
    begin, end = (datetime.fromisoformat(as_str(t).replace("Z", "+00:00")) for t in (started, ended))
    return round((end - begin).total_seconds(), 3)


def _outcome(status: bytes | None, meta: bytes | None) -> str:
    """`finished`, `failed: <why>` (a job that ran but could not do it), `queued`, ... or `expired`."""
    if status is None:
        return "expired"
    failed = json.loads(meta).get("failed") if meta else None
    return f"failed: {failed}" if failed else as_str(status)
