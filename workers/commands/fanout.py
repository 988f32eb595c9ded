"""Commands about every host (`hosts`, `list --all-hosts`): gather each host's answer, merge them.

The web split the command (bot/dispatch/fleet.py): each part is a job it signed on that host's quick lane,
and the asking job's signed payload names them. This worker only reads their results; it signs
nothing, as it holds no key that could. The asking job runs on a stream lane, so it never waits on
the quick lane it is itself holding; a host that does not answer in time is named in the result
rather than waited for; a host that is down (its workers stopped beating, bot/wire/liveness.py) was not
asked at all, and is named with when it was last seen.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.core import commands as c
from bot.core.blocks import STATE_EMOJI
from bot.core.slack_text import code, unescape
from bot.wire import hosts as registry
from bot.wire import liveness
from bot.wire.job_state import result_stream
from bot.wire.payload import Payload
from bot.wire.queues import LANES, PART_WAIT
from workers.slack.render import Outcome, code_block, table


def gather(conn: redis.Redis, p: Payload, down_after: float = liveness.DOWN_AFTER) -> dict[str, dict[str, Any] | None]:
    """Each part's result: {host: its result, or None when it did not answer in time}."""
    ids = dict(p.parts)
    answers: dict[str, dict[str, Any] | None] = dict.fromkeys(ids)
    # The parts were queued with this job and run no later than PART_WAIT after it was issued.
    deadline = time.monotonic() + max(1.0, p.issued_at + PART_WAIT - time.time())
    while any(v is None for v in answers.values()) and time.monotonic() < deadline:
        waiting = {result_stream(ids[h]): "0-0" for h, v in answers.items() if v is None}
        # Short blocks: the worker's connection has a read timeout of its own.
        conn.xread(waiting, count=1, block=max(1, min(1000, int((deadline - time.monotonic()) * 1000))))  # type: ignore[arg-type]
        for host, job_id in ids.items():
            if answers[host] is None:
                answers[host] = _result(conn, job_id)
        # A host that goes down meanwhile is not waited for: the caller names it down.
        if any(v is None for v in answers.values()):
            gone = liveness.read(conn).down(down_after)
            if all(v is not None or h in gone for h, v in answers.items()):
                break
    return answers


def split_down(
    conn: redis.Redis, answers: dict[str, dict[str, Any] | None], down_after: float
) -> tuple[dict[str, dict[str, Any] | None], dict[str, float], float]:
    """(the answers of hosts that are up, the down hosts that did not answer with when each was last
    seen, Redis's time now)."""
    beats = liveness.read(conn)
    down = {h: t for h, t in beats.down(down_after).items() if answers.get(h) is None}
    return {h: a for h, a in answers.items() if h not in down}, down, beats.now


def _result(conn: redis.Redis, job_id: str) -> dict[str, Any] | None:
    try:
        job = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except NoSuchJobError:  # expired unrun: its host's workers are gone
        return None
    latest = job.latest_result()
    if latest is None:
        return None
    if latest.type != latest.Type.SUCCESSFUL:
        return {"ok": False, "summary": (job.meta or {}).get("error") or "the job failed on that host"}
    value = latest.return_value
    return value if isinstance(value, dict) else None


def hosts_everywhere(conn: redis.Redis, p: Payload, down_after: float = liveness.DOWN_AFTER) -> Outcome:
    workers = registry.workers(conn)
    answers, down, now = split_down(conn, gather(conn, p, down_after), down_after)
    rows, data = [], []
    for host, answer in sorted(answers.items()):
        mine = [w for w in workers if w.host == host]
        facts: dict[str, Any] = answer["data"]["hosts"][0] if answer and answer.get("ok") else {}
        counts = facts.get("containers") or {}
        states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or ("no answer" if not answer else "-")
        beat = max((w.last_heartbeat for w in mine), default="")
        lanes = ", ".join(f"{sum(1 for w in mine if lane in w.lanes)} {lane}" for lane in LANES)
        rows.append(
            (
                host,
                lanes,
                str(facts.get("docker") or unescape((answer or {}).get("summary", "no answer"))),  # a table: raw
                states,
                beat.replace("T", " ")[:19],
            )
        )
        data.append(
            {
                "name": host,
                "workers": [dataclasses.asdict(w) for w in mine],
                "docker": facts.get("docker"),
                "containers": counts,
                "last_heartbeat": beat,
                "answered": answer is not None,
            }
        )
    if not rows:
        return Outcome(False, "No Docker host is served: start `dockerverse worker` on one.", status=503)
    served = f"{len(rows)} Docker host{'s' if len(rows) != 1 else ''} served"
    for host, seen in down.items():
        rows.append((host, "none beating", "DOWN", "-", liveness.stamp(seen)[:19]))
        data.append({"name": host, "workers": [], "down": True, "last_seen": seen, "answered": False})
    lines = table(("HOST", "WORKERS", "DOCKER", "CONTAINERS", "LAST HEARTBEAT (UTC)"), rows)
    note = f"; {len(down)} down. {liveness.down_note(down, now)}" if down else ""
    return Outcome(True, served + note, code_block(lines), data={"hosts": data})


def list_everywhere(
    conn: redis.Redis, p: Payload, cmd: c.ListContainers, down_after: float = liveness.DOWN_AFTER
) -> Outcome:
    answers, down, now = split_down(conn, gather(conn, p, down_after), down_after)
    rows, merged, silent = [], [], []
    for host, answer in sorted(answers.items()):
        if not answer or not answer.get("ok"):
            silent.append(f"{code(host)} ({(answer or {}).get('summary') or 'no answer in time'})")
            continue
        for ct in answer.get("data", {}).get("containers", []):
            merged.append({**ct, "host": host})
            rows.append(
                (
                    host,
                    f"{STATE_EMOJI.get(ct['status'], '❔')} {ct['name']}",
                    ct["image"],
                    ct["status"],
                    ", ".join(ct["ports"]),
                )
            )
    scope = "" if cmd.all else "running "
    note = f" No answer from {', '.join(silent)}." if silent else ""
    note += f" {liveness.down_note(down, now)}" if down else ""
    summary = f"{len(rows)} {scope}container{'s' if len(rows) != 1 else ''} on {len(answers) - len(silent)} hosts"
    text = code_block(table(("HOST", "NAME", "IMAGE", "STATE", "PORTS"), rows)) if rows else ""
    # Which hosts answered (an idle host has no rows) and which did not: the App Home shows both.
    data = {
        "containers": merged,
        "hosts": sorted(h for h, a in answers.items() if a and a.get("ok")),
        "silent": [unescape(s) for s in silent],
        "down": [f"`{h}` ({liveness.last_seen(t, now)})" for h, t in down.items()],
    }
    return Outcome(not silent or bool(rows), summary + "." + note, text, data=data)
