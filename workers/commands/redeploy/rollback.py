"""Putting the old container back: after a failed health gate, a failed swap, or a dead worker's half-done one."""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.core.errors import DockerverseError
from bot.core.slack_text import code, escape
from bot.core.units import format_duration
from bot.wire.payload import Payload
from workers.commands.context import Context
from workers.commands.redeploy.journal import Journal
from workers.docker.gateway import DockerGateway
from workers.docker.rows import LABEL_JOB
from workers.slack.render import Outcome, code_block

log = logging.getLogger(__name__)
LOG_LINES = 15


def last_lines(gw: DockerGateway, cid: str) -> list[str]:
    """The container's last log lines for the thread; none when Docker cannot give them."""
    try:
        return gw.logs(cid, tail=LOG_LINES, since=None)[1]
    except DockerverseError:
        return []


def roll_back(
    ctx: Context,
    p: Payload,
    name: str,
    image: str,
    old_id: str,
    new_id: str,
    was_running: bool,
    reason: str,
    steps: list[str],
    journal: Journal,
    began: float,
) -> Outcome:
    """The new container did not prove itself: the old one back, and the failed outcome saying why."""
    gw = ctx.gateway
    journal.note(phase="rolling back")
    lines = last_lines(gw, new_id)
    steps.append(f"{format_duration(time.monotonic() - began):>6}  not proven: {reason}; rolling back")
    ctx.progress.report(f"Rolling back {code(name)} on {code(gw.host_name)}: {escape(reason)}")
    back = restore(ctx, name, old_id, new_id, p.id, was_running)
    journal.data["phase"] = "restored"
    after = (
        "The previous container is running again."
        if back
        else f"The previous container is gone, so the new one was kept as {code(name)}: "
        f"check it with {code('logs ' + name)}."
    )
    steps.append(f"{format_duration(time.monotonic() - began):>6}  {after}")
    thread = (code_block(steps),) + (("Last lines of the new container:\n" + code_block(lines),) if lines else ())
    return Outcome(
        False,
        f"Rolled back {code(name)} on {code(gw.host_name)}: the new container from {code(image)} "
        f"did not prove healthy: {escape(reason)}. {after}",
        thread=thread,
        data={"name": name, "id": old_id if back else new_id, "image": image, "rolled_back": back, "reason": reason},
    )


def made_by(gw: DockerGateway, cid: str | None, job: str) -> dict[str, Any] | None:
    """The container's inspect when it carries ``job``'s label (the redeploy made it), else None."""
    found = gw.find(cid) if cid else None
    labels = ((found or {}).get("Config") or {}).get("Labels") or {}
    return found if labels.get(LABEL_JOB) == job else None


def restore(ctx: Context, name: str, old_id: str, new_id: str | None, job: str, was_running: bool = True) -> bool:
    """Back to the old container from any point of a swap: the new one goes, the old one gets its name back
    (and runs, if it ran). Idempotent. False when the old container is gone: the new one is then kept.
    Only a new container carrying the job's own label is ever removed."""
    gw = ctx.gateway
    if new_id and made_by(gw, new_id, job) is None:
        new_id = None  # not the one this job made (or gone already): never touched
    old = gw.find(old_id)
    if old is None:
        log.error("redeploy of %s: the old container %s is gone; keeping the new one", name, old_id[:12])
        if new_id and (new := gw.find(new_id)) is not None:
            if str(new.get("Name", "")).lstrip("/") != name:
                gw.rename(new_id, name)
            if not (new.get("State") or {}).get("Running"):
                gw.start(new_id)
        return False
    if new_id:
        ctx.marks.mark(new_id)
        gw.discard(new_id)
    if str(old.get("Name", "")).lstrip("/") != name:
        gw.rename(old_id, name)
    if was_running and not (old.get("State") or {}).get("Running"):
        gw.start(old_id)
    return True
