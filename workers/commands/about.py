"""What the service says about itself: `help`, `hosts` (this one, or the whole fleet), the audit log."""

from __future__ import annotations

import time

from bot.core import commands as c
from bot.core.grammar import help_text
from bot.core.slack_text import code, escape
from bot.wire import audit
from bot.wire.payload import Payload
from workers.commands import fanout
from workers.commands.context import Context
from workers.slack.render import Outcome, code_block, table


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
