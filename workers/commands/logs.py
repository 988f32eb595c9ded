"""`logs`: a container's last lines (in the thread, or as a file when they are many), or with --follow a live stream."""

from __future__ import annotations

from bot.core import commands as c
from bot.core.masking import mask_lines
from bot.core.slack_text import code
from bot.core.units import format_duration
from bot.wire.payload import Payload
from workers.commands.context import Context
from workers.commands.follow import follow
from workers.docker.access import readable
from workers.slack.render import BLOCK_BODY_LIMIT, MAX_THREAD_CHUNKS, Outcome, chunks, code_block


def logs(ctx: Context, cmd: c.Logs, p: Payload) -> Outcome:
    if cmd.follow:
        return follow(ctx, cmd, p)
    gw = ctx.gateway
    row, lines = gw.logs(cmd.target, cmd.tail, cmd.since)
    readable(row.managed, row.name, p)
    lines = mask_lines(lines)  # as a follow's are; before --grep, so a grep cannot probe for a secret
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
