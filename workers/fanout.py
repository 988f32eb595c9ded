"""Commands about every host (`hosts`, `list --all-hosts`): ask each host's workers, merge the answers.

The asking job runs on a stream lane, so it never waits on the quick lane it is itself holding.
Each part is a signed job of its own on that host's quick lane; a host that does not answer in
time is named in the result rather than waited for; a host that is down (its workers stopped
beating, bot/liveness.py) is not asked at all, and named with when it was last seen.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from bot import commands as c
from bot import hosts as registry
from bot import liveness
from bot.blocks import STATE_EMOJI
from bot.dispatch import queue_name
from bot.jobs import EXECUTE, Payload, ReplyTo, envelope, new_payload
from bot.jobstate import result_stream
from workers.render import Outcome, code_block, table

PART_WAIT = 20.0  # seconds for every host to answer


def ask_every_host(
    conn: redis.Redis, key: bytes, p: Payload, part: c.Command, down_after: float = liveness.DOWN_AFTER
) -> dict[str, dict[str, Any] | None]:
    """Run `part` on each served host that is up; {host: its result, or None when it did not answer in time}."""
    ids: dict[str, str] = {}
    for host in registry.live_hosts(conn, down_after):
        job_id = uuid.uuid4().hex
        child = new_payload(
            job_id,
            p.text,
            dataclasses.replace(part, host=host),
            p.actor,
            ReplyTo(),
            host,
            admin=p.admin,
            deadline=PART_WAIT,  # a part nobody took in time is not waited for, so it must never run late
        )
        Queue(queue_name(host), connection=conn, serializer=JSONSerializer).enqueue(
            EXECUTE,
            kwargs=envelope(key, child),
            job_id=job_id,
            description=f"{p.text[:180]} (part for {host})",
            ttl=int(PART_WAIT),
            result_ttl=600,
            failure_ttl=600,
        )
        ids[host] = job_id
    answers: dict[str, dict[str, Any] | None] = dict.fromkeys(ids)
    deadline = time.monotonic() + PART_WAIT
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


def hosts_everywhere(conn: redis.Redis, key: bytes, p: Payload, down_after: float = liveness.DOWN_AFTER) -> Outcome:
    workers = registry.workers(conn)
    answers, down, now = split_down(conn, ask_every_host(conn, key, p, c.Hosts(local=True), down_after), down_after)
    rows, data = [], []
    for host, answer in sorted(answers.items()):
        mine = [w for w in workers if w.host == host]
        facts: dict[str, Any] = answer["data"]["hosts"][0] if answer and answer.get("ok") else {}
        counts = facts.get("containers") or {}
        states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or ("no answer" if not answer else "-")
        beat = max((w.last_heartbeat for w in mine), default="")
        lanes = ", ".join(f"{sum(1 for w in mine if lane in w.lanes)} {lane}" for lane in ("quick", "stream"))
        rows.append(
            (
                host,
                lanes,
                str(facts.get("docker") or (answer or {}).get("summary", "no answer")),
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
    conn: redis.Redis, key: bytes, p: Payload, cmd: c.ListContainers, down_after: float = liveness.DOWN_AFTER
) -> Outcome:
    part = dataclasses.replace(cmd, all_hosts=False, page=1)
    answers, down, now = split_down(conn, ask_every_host(conn, key, p, part, down_after), down_after)
    rows, merged, silent = [], [], []
    for host, answer in sorted(answers.items()):
        if not answer or not answer.get("ok"):
            silent.append(f"`{host}` ({(answer or {}).get('summary') or 'no answer in time'})")
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
        "silent": silent,
        "down": [f"`{h}` ({liveness.last_seen(t, now)})" for h, t in down.items()],
    }
    return Outcome(not silent or bool(rows), summary + "." + note, text, data=data)
