"""`redeploy`: a fresh image into a running container's place, proven healthy, or rolled back.

The order keeps a working container at every step:
1. pull the image (the container's own reference again when no --image: a moving tag like
   `:main` picks up the new build); the old container keeps serving meanwhile;
2. create the new container under a temporary name, configured like the old one;
3. stop the old one and rename it aside (it is not deleted), give the new one the name, start it;
4. prove it: running, and `healthy` when it has a health check, within --health-timeout; with
   none, still running (not restarting) after a short settle time;
5. proven: the old container is removed. Not proven: the new one is removed, the old one gets
   its name back and is started again, and the job fails saying why.

One redeploy per container at a time: a Redis key (SET NX, with the job's timeout) is both the
lock and the journal of what was done. A worker killed half-way leaves that journal behind; any
worker of the host finds it once the dead worker's liveness key lapses and reverts (recovery.py).
The journal is sealed (bot/wire/sealed.py): a forged one is ignored, and recovery removes only a new
container carrying the job's own label, and an old one only once that new one holds the name.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from bot.core import commands as c
from bot.core.errors import DockerFailure, DockerverseError, PolicyError
from bot.core.policy import check_image_allowed
from bot.core.slack_text import code, escape, unescape
from bot.core.units import format_duration
from bot.wire.payload import Payload
from workers.commands.containers import ownership
from workers.commands.context import Context
from workers.commands.redeploy.health import SETTLE, prove
from workers.commands.redeploy.journal import Journal, TakenOver, acquire
from workers.commands.redeploy.rollback import last_lines, restore, roll_back
from workers.docker import privileges
from workers.docker.rows import LABEL_JOB
from workers.slack.render import Outcome, code_block

MARGIN = 60.0  # seconds of the job's timeout kept for a rollback after the health gate


def redeploy(ctx: Context, cmd: c.Redeploy, p: Payload) -> Outcome:
    began, gw = time.monotonic(), ctx.gateway
    old = gw.inspect(cmd.target)
    name = str(old.get("Name", "")).lstrip("/")
    row = gw.container(old["Id"])
    ask = ownership(row, "redeploy", p)  # refuses outright, or asks an admin to confirm below
    image = cmd.image or str((old.get("Config") or {}).get("Image") or "")
    if not image or image.startswith("sha256:"):
        raise DockerFailure(
            f"{code(name)} was created from an image id, not a name, so there is no tag to pull again: "
            f"say which image with {code(f'redeploy {name} --image REPO:TAG')}."
        )
    try:
        check_image_allowed(image, cmd.allow, "the policy")
    except PolicyError as exc:
        raise PolicyError(f"{exc.message} Nothing was changed.") from None
    if (old.get("HostConfig") or {}).get("AutoRemove"):
        raise DockerFailure(
            f"{code(name)} was started with auto-remove (`--rm`): stopping it would delete it, so it could not be "
            "kept for a rollback. Nothing was changed. Recreate it without `--rm`, then redeploy."
        )
    question = privileges.gate(name, privileges.found(old), cmd.inherit_privileges, p)
    if ask or question:  # one confirmation covers both
        return Outcome(True, " ".join(q for q in (question, ask.summary if ask else None) if q), confirm=True)

    journal = acquire(
        ctx.conn,
        ctx.seal,
        gw.host_name,
        name,
        {
            "job": p.id,
            "worker": ctx.worker,
            "actor": p.actor.display,
            "since": time.time(),
            "name": name,
            "old_id": old["Id"],
            "phase": "pulling",
        },
        ctx.timeout,
    )
    try:
        outcome = _swap(ctx, cmd, p, old, name, image, journal, began)
    except DockerverseError as exc:
        if journal.data.get("phase") in ("pulling", "restored"):
            journal.release()
            raise
        _hand_over(journal)
        raise type(exc)(
            f"{exc.message} The redeploy of {code(name)} stopped half-way: a worker of {code(gw.host_name)} puts the "
            "previous container back as soon as Docker answers (within about 20 s of that)."
        ) from None
    except BaseException:
        # Whatever escaped (Docker gone mid-way, the job's timeout, a shutdown) leaves the journal to
        # recovery unless nothing had been touched yet or the old container is back already.
        if journal.data.get("phase") in ("pulling", "restored"):
            journal.release()
        else:
            _hand_over(journal)
        raise
    journal.release()
    return outcome


def _hand_over(journal: Journal) -> None:
    """Leave a half-done swap to recovery.py, which takes journals whose worker is not alive."""
    with contextlib.suppress(Exception):
        journal.note(worker="")


def _swap(
    ctx: Context,
    cmd: c.Redeploy,
    p: Payload,
    old: dict[str, Any],
    name: str,
    image: str,
    journal: Journal,
    began: float,
) -> Outcome:
    gw = ctx.gateway
    steps: list[str] = []

    def step(text: str) -> None:
        steps.append(f"{format_duration(time.monotonic() - began):>6}  {text}")
        ctx.progress.report(f"Redeploying {code(name)} on {code(gw.host_name)}: {escape(text)}")

    step(f"pulling {image}")
    try:
        digest = gw.pull(image, lambda text: ctx.progress.report(f"Redeploying {code(name)}: {text}"))
    except DockerverseError as exc:
        raise type(exc)(f"{exc.message} Nothing was changed: {code(name)} still runs as before.") from None
    step(f"pulled {digest}")

    suffix = p.id[:8]
    aside, fresh = f"{name}-previous-{suffix}", f"{name}-next-{suffix}"
    try:
        new_id = gw.create_like(old, image, fresh, {LABEL_JOB: p.id})
    except DockerverseError as exc:
        raise type(exc)(f"{exc.message} Nothing was changed: {code(name)} still runs as before.") from None
    old_id = str(old["Id"])
    was_running = bool((old.get("State") or {}).get("Running"))
    if not journal.note(phase="swapping", new_id=new_id, aside=aside, was_running=was_running):
        gw.discard(new_id)
        raise TakenOver(f"The redeploy of {code(name)} lost its lock before the swap. Nothing was changed; try again.")
    try:
        step("stopping the old container")
        with ctx.marks.ours(old_id):  # the stop is ours: no alert
            gw.stop(old_id, int((old.get("Config") or {}).get("StopTimeout") or 10))
        gw.rename(old_id, aside)
        gw.rename(new_id, name)
        step("starting the new container")
        gw.start(new_id)
        journal.note(phase="proving")
        # The job's own timeout must leave room to roll back.
        budget = max(SETTLE, min(cmd.health_timeout, began + ctx.timeout - MARGIN - time.monotonic()))
        proven, reason = prove(gw, new_id, budget, step)
    except DockerverseError as exc:
        # `reason` is plain text (it also goes in a ``` block and the JSON): the message back to characters.
        proven, reason = False, f"Docker failed during the swap: {unescape(exc.message)}"
    except BaseException:
        with contextlib.suppress(Exception):
            if restore(ctx, name, old_id, new_id, p.id, was_running):
                journal.data["phase"] = "restored"
        raise
    if not proven:
        return roll_back(ctx, p, name, image, old_id, new_id, was_running, reason, steps, journal, began)

    if not journal.note(phase="committed"):
        raise TakenOver(
            f"{code(name)} proved healthy, but meanwhile another worker judged this one dead and put the previous "
            "container back. Check `list --all`, then redeploy again."
        )
    lines = last_lines(gw, new_id)
    leftover = ""
    try:
        gw.discard(old_id)
        step("removed the old container")
    except DockerverseError as exc:
        leftover = f" The old container could not be removed ({exc.message}): remove {code(aside)} by hand."
    took = format_duration(time.monotonic() - began)
    thread = (code_block(steps),) + ((f"Last lines of {code(name)}:\n" + code_block(lines),) if lines else ())
    return Outcome(
        True,
        f"Redeployed {code(name)} on {code(gw.host_name)} to {code(image)} in {took}: {escape(reason)}",
        f"Digest {code(digest)}." + (leftover or " The old container is removed."),
        thread=thread,
        data={"name": name, "id": new_id, "image": image, "digest": digest, "rolled_back": False},
    )
