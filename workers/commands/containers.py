"""The container commands: `list`, `run`, `rm`, `stop`/`start`/`restart`, and who may change which container."""

from __future__ import annotations

import functools

from bot.core import commands as c
from bot.core.blocks import LIVE, STATE_EMOJI
from bot.core.errors import PolicyError
from bot.core.masking import mask_lines
from bot.core.policy import SLACK_SOURCES
from bot.core.slack_text import code, escape
from bot.core.units import format_size
from bot.wire.payload import Payload
from bot.wire.shapes import Container, ContainerList, RemovedContainer
from workers.commands import fanout
from workers.commands.context import Context
from workers.docker.rows import LABEL_CREATOR, LABEL_JOB, LABEL_MANAGED, ContainerRow
from workers.slack.listing import PAGE, list_blocks
from workers.slack.render import Outcome, code_block, table

RUN_LOG_LINES = 20


def container_shape(row: ContainerRow) -> Container:
    """The REST API's container: no leading slash, createdAt in ms, published ports only."""
    return Container(
        id=row.id,
        name=row.name,
        image=row.image,
        status=row.state,
        created_at=row.created * 1000,
        ports=list(row.ports),
        status_text=row.status,  # Docker's words: the exit code, "(unhealthy)", for the App Home
    )


def list_containers(ctx: Context, cmd: c.ListContainers, p: Payload) -> Outcome:
    if cmd.all_hosts:  # this job gathers every host's part (bot/dispatch/fleet.py split the command)
        return fanout.list_everywhere(ctx.conn, p, cmd, ctx.down_after)
    gw = ctx.gateway
    rows = gw.containers(all=cmd.all, filter=cmd.filter)
    scope = "" if cmd.all else "running "
    matching = f" matching {code(cmd.filter)}" if cmd.filter else ""
    data = ContainerList(containers=[container_shape(r) for r in rows]).dump()
    if not rows:
        tip = "" if cmd.all else " (`list --all` includes stopped ones)"
        return Outcome(True, f"No {scope}containers{matching} on {code(gw.host_name)}{tip}.", data=data)
    lines = table(
        ("NAME", "IMAGE", "STATUS", "PORTS"),
        [(f"{STATE_EMOJI.get(r.state, '❔')} {r.name}", r.image, r.status, ", ".join(r.ports)) for r in rows],
    )
    noun = "container" if len(rows) == 1 else "containers"
    page = min(cmd.page, (len(rows) + PAGE - 1) // PAGE)
    return Outcome(
        True,
        f"{len(rows)} {scope}{noun}{matching} on {code(gw.host_name)}",
        code_block(lines, more_hint=": narrow the list with a FILTER"),
        data=data,
        blocks=functools.partial(list_blocks, rows, gw.host_name, page, cmd.all, cmd.filter),
    )


def run(ctx: Context, cmd: c.Run, p: Payload) -> Outcome:
    gw = ctx.gateway
    labels = {LABEL_MANAGED: "dockerverse", LABEL_CREATOR: p.actor.id, LABEL_JOB: p.id}
    # Idempotent by the job id: a run that is executed again finds its container instead of making another.
    earlier = gw.containers(all=True, label=f"{LABEL_JOB}={p.id}")
    if earlier:
        row = earlier[0]
        return Outcome(
            True,
            f"{code(row.name)} ({row.id[:12]}) was already started by this job on {code(gw.host_name)}",
            f"State: {escape(row.status or row.state)}.",
            data=container_shape(row).with_logs([]).dump(),
        )
    row = gw.run(cmd, labels)
    ports = f", ports {escape(', '.join(row.ports))}" if row.ports else ""
    limits = f"memory {format_size(cmd.memory or 0)}, cpus {cmd.cpus:g}, pids {cmd.pids}"
    _, printed = gw.logs(row.id, tail=RUN_LOG_LINES, since=None)  # what it printed so far, for the API
    first_lines = mask_lines(printed)
    return Outcome(
        True,
        f"Started {code(row.name)} ({row.id[:12]}) from {code(cmd.image)} on {code(gw.host_name)}",
        f"State: {escape(row.status or row.state)}{ports}. Limits: {limits}.",
        data=container_shape(row).with_logs(first_lines).dump(),
    )


def ownership(row: ContainerRow, verb: str, p: Payload) -> Outcome | None:
    """Operators act only on containers the bot created; admins on any, confirming first in Slack.
    Returns the confirmation to ask for, or None to go ahead."""
    if row.managed:
        return None
    if not p.admin:
        raise PolicyError(
            f"{code(row.name)} was not created by Dockerverse: your role may {verb} only containers the bot created "
            "(label dockerverse.managed-by). An admin can, after confirming."
        )
    if p.actor.source in SLACK_SOURCES and not p.confirmed:
        return Outcome(
            True,
            f"{code(row.name)} on {code(p.host)} was not created by Dockerverse. {verb.capitalize()} it anyway?",
            confirm=True,
        )
    return None


def remove(ctx: Context, cmd: c.Remove, p: Payload) -> Outcome:
    gw = ctx.gateway
    target = gw.container(cmd.target)
    ask = ownership(target, "remove", p)
    if ask:
        return ask
    with ctx.marks.ours(target.id, live=target.state in LIVE and cmd.force):  # its `die`: no alert
        row = gw.remove(cmd.target, cmd.force)
    return Outcome(
        True,
        f"Removed {code(row.name)} ({row.id[:12]}) on {code(gw.host_name)}",
        data=RemovedContainer(id=row.id, name=row.name).dump(),
    )


def lifecycle(ctx: Context, cmd: c.Lifecycle, p: Payload) -> Outcome:
    gw = ctx.gateway
    # Starting counts too: a container someone else stopped on purpose is theirs to start.
    target = gw.container(cmd.target)
    ask = ownership(target, cmd.action, p)
    if ask:
        return ask
    live = cmd.action != "start" and target.state in LIVE
    with ctx.marks.ours(target.id if live else "", live=live):  # its `die` is ours: no alert
        row = gw.lifecycle(cmd.action, cmd.target)
    done = {"stop": "Stopped", "start": "Started", "restart": "Restarted"}[cmd.action]
    return Outcome(
        True, f"{done} {code(row.name)} on {code(gw.host_name)}: {escape(row.status)}", data=container_shape(row).dump()
    )
