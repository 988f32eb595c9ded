"""Redeploys whose worker died half-way, finished by any worker of the host.

A killed worker leaves its journal behind; once its liveness key lapses (workers/runtime/reaper.py)
a worker of the same host claims the journal and reverts the swap, or, when the new container had
already proved itself, only removes the old one. Recovery removes only a new container carrying the
job's own label, and an old one only once that new one holds the name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.core.errors import DockerverseError
from bot.wire.job_state import as_str
from workers.commands.context import Context
from workers.commands.redeploy.journal import PREFIX, forget, journal_key, load
from workers.commands.redeploy.rollback import made_by, restore

log = logging.getLogger(__name__)
CLAIM_PREFIX = "dockerverse:redeploy-recovering:"  # apart from PREFIX, so scans never see claims


def recover(ctx: Context, alive: Callable[[str], bool]) -> int:
    """Finish the redeploys on this host whose worker died mid-way (``alive`` says it is not): revert
    them, or, once the new container had proved itself (`committed`), just remove the old one."""
    conn, done = ctx.conn, 0
    for raw in conn.scan_iter(match=journal_key(ctx.host, "*"), count=100):
        key = as_str(raw)
        data = load(ctx.seal, key, conn.get(key))  # a forged or tampered journal is logged and ignored
        if data is None or not data.get("job") or alive(str(data.get("worker"))):
            continue  # gone meanwhile, or its worker is still at it
        claim = CLAIM_PREFIX + key.removeprefix(PREFIX)
        if not conn.set(claim, b"1", nx=True, ex=120):
            continue  # another worker of this host is on it
        try:
            phase = data.get("phase")
            job, old_id = str(data["job"]), str(data["old_id"])
            if phase == "committed":
                _finish_committed(ctx, data, job, old_id)
            elif phase not in ("pulling", "restored"):  # before the swap nothing was touched
                restore(ctx, str(data["name"]), old_id, data.get("new_id"), job, bool(data.get("was_running")))
            forget(conn, key, job)
            done += 1
            log.warning(
                "finished the redeploy of %s (job %s, phase %s) left half-done by dead worker %s",
                data.get("name"),
                data.get("job"),
                phase,
                data.get("worker"),
            )
        except DockerverseError as exc:
            log.error("could not finish the redeploy of %s yet: %s", data.get("name"), exc.message)
        finally:
            conn.delete(claim)
    return done


def _finish_committed(ctx: Context, data: dict[str, Any], job: str, old_id: str) -> None:
    """The new container proved itself: remove the old one, but only while the job's own new container
    holds the name and the old one is still the one it set aside."""
    gw = ctx.gateway
    new = made_by(gw, data.get("new_id"), job)
    old = gw.find(old_id)
    if old is None:
        return
    if new is None or str(new.get("Name", "")).lstrip("/") != data.get("name"):
        log.error(
            "redeploy journal of %s says committed, but the job's new container does not hold the name: "
            "leaving %s alone",
            data.get("name"),
            old_id[:12],
        )
        return
    if str(old.get("Name", "")).lstrip("/") != data.get("aside"):
        log.error("redeploy of %s: %s is not the container set aside: leaving it alone", data.get("name"), old_id[:12])
        return
    ctx.marks.mark(old_id)
    gw.discard(old_id)
