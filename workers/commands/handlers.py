"""One handler per command: a typed command in, an ``Outcome`` out, through the gateway.

Handlers raise ``DockerverseError`` for anything the user should hear about; the
task turns that into a failed outcome with the message as it is.
"""

from __future__ import annotations

import time

from bot.core import commands as c
from bot.core.blocks import LIVE, STATE_EMOJI
from bot.core.errors import PolicyError
from bot.core.grammar import help_text
from bot.core.masking import mask_argv, mask_env, mask_text
from bot.core.policy import SLACK_SOURCES
from bot.core.slack_text import code, escape
from bot.core.units import format_duration, format_size
from bot.wire import audit
from bot.wire.payload import Payload
from bot.wire.shapes import Container, ContainerList, Image, ImageList, RemovedContainer
from workers.commands import fanout
from workers.commands.context import Context
from workers.commands.follow import follow
from workers.docker.access import readable
from workers.docker.rows import LABEL_CREATOR, LABEL_JOB, LABEL_MANAGED, ContainerRow, ImageRow
from workers.slack.listing import PAGE, list_blocks
from workers.slack.render import BLOCK_BODY_LIMIT, MAX_THREAD_CHUNKS, Outcome, chunks, code_block, table

RUN_LOG_LINES = 20


def _container(row: ContainerRow) -> Container:
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
    data = ContainerList(containers=[_container(r) for r in rows]).dump()
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
        blocks=tuple(list_blocks(rows, gw.host_name, page, cmd.all, cmd.filter)),
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
            data=_container(row).with_logs([]).dump(),
        )
    row = gw.run(cmd, labels)
    ports = f", ports {escape(', '.join(row.ports))}" if row.ports else ""
    limits = f"memory {format_size(cmd.memory or 0)}, cpus {cmd.cpus:g}, pids {cmd.pids}"
    _, first_lines = gw.logs(row.id, tail=RUN_LOG_LINES, since=None)  # what it printed so far, for the API
    return Outcome(
        True,
        f"Started {code(row.name)} ({row.id[:12]}) from {code(cmd.image)} on {code(gw.host_name)}",
        f"State: {escape(row.status or row.state)}{ports}. Limits: {limits}.",
        data=_container(row).with_logs(first_lines).dump(),
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


def logs(ctx: Context, cmd: c.Logs, p: Payload) -> Outcome:
    if cmd.follow:
        return follow(ctx, cmd, p)
    gw = ctx.gateway
    row, lines = gw.logs(cmd.target, cmd.tail, cmd.since)
    readable(row.managed, row.name, p)
    if cmd.grep:
        lines = [line for line in lines if cmd.grep in line]
    since = f" from the last {format_duration(cmd.since)}" if cmd.since is not None else ""
    grep = f" containing {code(cmd.grep)}" if cmd.grep else ""
    data = {"id": row.id, "name": row.name, "lines": lines}
    if not lines:
        return Outcome(True, f"No log lines{grep}{since} from {code(row.name)} on {code(gw.host_name)}.", data=data)
    noun = "line" if len(lines) == 1 else "lines"
    summary = f"{len(lines)} log {noun}{grep}{since} from {code(row.name)} on {code(gw.host_name)}"
    every = chunks(lines, more_hint="", most=len(lines))
    if len(every) <= MAX_THREAD_CHUNKS:
        return Outcome(True, summary, thread=every, data=data)
    # More than a few messages hold: the lines go up as a file in the thread, the last ones shown.
    name = f"{row.name}-logs.txt"
    note = f"All {len(lines)} lines are in {code(name)} below; the last ones:\n"
    tail = code_block(lines[-40:], limit=BLOCK_BODY_LIMIT - len(note))
    return Outcome(True, summary, thread=(note + tail,), data=data, attachment=(name, "\n".join(lines) + "\n"))


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
        True, f"{done} {code(row.name)} on {code(gw.host_name)}: {escape(row.status)}", data=_container(row).dump()
    )


def images(ctx: Context, cmd: c.Images, p: Payload) -> Outcome:
    gw = ctx.gateway
    rows = gw.images(cmd.filter)
    data = ImageList(images=group_by_repository(rows)).dump()
    if not rows:
        return Outcome(
            True,
            f"No images{f' matching {code(cmd.filter)}' if cmd.filter else ''} on {code(gw.host_name)}.",
            data=data,
        )
    lines = table(
        ("IMAGE", "ID", "SIZE"),
        [(", ".join(r.tags) or "<untagged>", r.id.removeprefix("sha256:")[:12], format_size(r.size)) for r in rows],
    )
    return Outcome(
        True,
        f"{len(rows)} image{'s' if len(rows) != 1 else ''} on {code(gw.host_name)}",
        code_block(lines, more_hint=": narrow the list with a FILTER"),
        data=data,
    )


def group_by_repository(rows: list[ImageRow]) -> list[Image]:
    """The API's images: one entry per image and repository, with that repository's tags."""
    out: list[Image] = []
    for r in rows:
        repos: dict[str, list[str]] = {}
        for ref in r.tags:
            repo, _, tag = ref.rpartition(":")
            repos.setdefault(repo, []).append(tag)
        named = list(repos.items()) or [("<none>", [])]
        out += [Image(id=r.id, name=repo, tags=tags, size=r.size, created_at=r.created * 1000) for repo, tags in named]
    return out


def remove_image(ctx: Context, cmd: c.RemoveImage, p: Payload) -> Outcome:
    gw = ctx.gateway
    events = gw.remove_image(cmd.image)
    deleted = [e["Deleted"] for e in events if "Deleted" in e]
    what = "Deleted" if deleted else "Untagged"
    detail = (
        f" (image {deleted[0].removeprefix('sha256:')[:12]} is gone)"
        if deleted
        else " (the image keeps its other tags)"
    )
    return Outcome(
        True, f"{what} {code(cmd.image)} on {code(gw.host_name)}{detail}", data={"success": True, "events": events}
    )


def pull(ctx: Context, cmd: c.Pull, p: Payload) -> Outcome:
    gw = ctx.gateway
    started = time.monotonic()
    digest = gw.pull(cmd.image, ctx.progress.report)
    took = format_duration(time.monotonic() - started)
    return Outcome(
        True,
        f"Pulled {code(cmd.image)} on {code(gw.host_name)} in {took}",
        f"Digest: {code(digest)}",
        data={"image": cmd.image, "digest": digest},
    )


def inspect(ctx: Context, cmd: c.Inspect, p: Payload) -> Outcome:
    gw = ctx.gateway
    raw = gw.inspect(cmd.target)
    config, state, host = raw.get("Config") or {}, raw.get("State") or {}, raw.get("HostConfig") or {}
    # Masked by name and value (`DATABASE_URL=postgres://app:pw@db`, `--requirepass pw`); labels by value
    # only, or `org.opencontainers.image.authors` would pass for `auth`. Entrypoint and Cmd make one line.
    env, entrypoint = [mask_env(e) for e in config.get("Env") or []], list(config.get("Entrypoint") or [])
    argv = mask_argv(entrypoint + list(config.get("Cmd") or []))
    labels = [f"{k}={mask_text(v)}" for k, v in sorted((config.get("Labels") or {}).items())]
    name = raw.get("Name", "").lstrip("/")
    readable((config.get("Labels") or {}).get(LABEL_MANAGED) == "dockerverse", name, p)
    lines = [
        f"Name:     {name}",
        f"Id:       {raw.get('Id', '')[:12]}",
        f"Image:    {config.get('Image', '')}",
        *([f"Entry:    {' '.join(argv[: len(entrypoint)])}"] if entrypoint else []),
        f"Command:  {' '.join(argv[len(entrypoint) :])}",
        f"State:    {state.get('Status')} (exit code {state.get('ExitCode')}, started {state.get('StartedAt')})",
        f"Limits:   memory {format_size(host.get('Memory') or 0) if host.get('Memory') else 'none'}, "
        f"cpus {(host.get('NanoCpus') or 0) / 1e9:g}, pids {host.get('PidsLimit') or 'none'}",
        f"Restart:  {(host.get('RestartPolicy') or {}).get('Name') or 'no'}",
        "Env:      " + (", ".join(env) or "none"),
        "Labels:   " + (", ".join(labels) or "none"),
    ]
    data = {"name": name, "id": raw.get("Id"), "state": state.get("Status"), "env": env, "command": argv}
    return Outcome(True, f"{code(name)} on {code(gw.host_name)}", code_block(lines), data=data)


def hosts(ctx: Context, cmd: c.Hosts, p: Payload) -> Outcome:
    if not cmd.local:  # this job gathers every host's part (bot/dispatch/fleet.py split the command)
        return fanout.hosts_everywhere(ctx.conn, p, ctx.down_after)
    gw = ctx.gateway
    version = gw.version()
    rows = gw.containers(all=True)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    states = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no containers"
    return Outcome(
        True,
        f"Host {code(gw.host_name)}: Docker {escape(version.get('Version'))}, {escape(states)}",
        data={"hosts": [{"name": gw.host_name, "docker": version.get("Version"), "containers": counts}]},
    )


def audit_log(ctx: Context, cmd: c.Audit, p: Payload) -> Outcome:
    entries = audit.read(ctx.conn, cmd.limit)
    if not entries:
        return Outcome(True, "The audit log is empty.", data={"entries": []})
    rows = [
        (
            time.strftime("%m-%d %H:%M:%S", time.gmtime(e["at"])),
            e["actor"],
            e["origin"],
            e["command"][:60],
            e["decision"],
            e["outcome"][:60],
        )
        for e in entries
    ]
    lines = table(("WHEN (UTC)", "WHO", "FROM", "COMMAND", "DECISION", "OUTCOME"), rows)
    return Outcome(
        True, f"The last {len(entries)} audit entries, newest first", code_block(lines), data={"entries": entries}
    )


NO_ROLE = (
    "You hold no role yet, so `help` is all you may run here. An admin grants roles in the policy file "
    "(DOCKERVERSE_CONFIG): e.g. `roles: {viewer: [U0123ABCD]}` with your Slack member ID to read, `operator` to "
    "change containers; `channel:C0123ABCD` gives a role to everyone in that channel."
)


def help_(ctx: Context, cmd: c.Help, p: Payload) -> Outcome:
    # Hooks and tokens always carry the role of their own entry; a person may hold none.
    text = help_text(cmd.topic) + (f"\n\n{NO_ROLE}" if p.actor.role is None else "")
    return Outcome(True, f"Help{f' for {code(cmd.topic)}' if cmd.topic else ''}", text)
