"""Fleet-wide commands (`hosts`, `list --all-hosts`) are split here, by the web, into one signed job per host.

Workers once made these parts themselves and signed them, which needs the key that mints any job.
Now the web, the only holder of the signing key, enqueues a part on each served host's quick lane
and puts their ids in the asking job's signed payload; the worker running that job only gathers
the parts' results (workers/commands/fanout.py) and signs nothing. A part nobody takes within PART_WAIT
expires unrun, and its host is named as silent rather than waited for.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

import redis
from rq import Queue

from bot.core import commands as c
from bot.wire import hosts as registry
from bot.wire.payload import EXECUTE, Payload, ReplyTo, envelope, new_payload
from bot.wire.queues import PART_WAIT
from bot.wire.signing import Signer

PART_RESULT_TTL = 600


def part_of(command: c.Command) -> c.Command | None:
    """What each host runs for a fleet-wide command; None for a command about one host."""
    if isinstance(command, c.Hosts) and not command.local:
        return c.Hosts(local=True)
    if isinstance(command, c.ListContainers) and command.all_hosts:
        return dataclasses.replace(command, all_hosts=False, page=1)
    return None


def parts_for(p: Payload, part: c.Command, hosts: list[str]) -> list[Payload]:
    """One payload per host, with the asker's identity and rights, replying nowhere (the gatherer replies)."""
    return [
        new_payload(
            uuid.uuid4().hex,
            p.text,
            dataclasses.replace(part, host=host),
            p.actor,
            ReplyTo(),
            host,
            admin=p.admin,
            deadline=PART_WAIT,  # a part nobody took in time is not waited for, so it must never run late
        )
        for host in hosts
    ]


def split(conn: redis.Redis, p: Payload, down_after: float) -> tuple[Payload, list[Payload]]:
    """The payload naming its parts, and the parts: one per host served and up now (a down host is not
    asked; the gatherer names it with when it was last seen). None for a one-host command."""
    part = part_of(p.command)
    if part is None:
        return p, []
    parts = parts_for(p, part, registry.live_hosts(conn, down_after))
    return dataclasses.replace(p, parts=tuple((q.host, q.id) for q in parts)), parts


def enqueue_parts(
    pipe: redis.client.Pipeline, key: Signer, parts: list[Payload], queue_for: Callable[[str], Queue]
) -> None:
    """Each part on its host's quick lane (``queue_for(host)``), in the asking job's pipeline."""
    for q in parts:
        queue_for(q.host).enqueue(
            EXECUTE,
            kwargs=envelope(key, q),
            job_id=q.id,
            description=f"{q.text[:180]} (part for {q.host})",
            ttl=int(PART_WAIT),
            result_ttl=PART_RESULT_TTL,
            failure_ttl=PART_RESULT_TTL,
            pipeline=pipe,
        )
