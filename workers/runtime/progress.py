"""What the running job shows while it runs (a pull's layer totals): one job at a time per worker.

Shown on the job's Slack message when it has one, and kept in the job's meta as plain text (at most
every SAVE_EVERY seconds), where GET /api/jobs/{id} shows it as `progress`: the dashboard's live pull.
"""

from __future__ import annotations

import contextlib
import time

import redis
from rq import get_current_job

from bot.core.plain_text import plain
from workers.slack.reply import Session

SAVE_EVERY = 0.5
current: Session | None = None
_saved: tuple[str, float] = ("", 0.0)  # (job id, when its progress was last saved)


def report(text: str) -> None:
    """Show progress on the job's Slack message (throttled), and keep it with the job."""
    global _saved
    if current is not None:
        current.progress(text)
    job = get_current_job()
    now = time.monotonic()
    if job is None or (_saved[0] == job.id and now - _saved[1] < SAVE_EVERY):
        return
    _saved = (job.id, now)
    job.meta["progress"] = plain(text)
    with contextlib.suppress(redis.RedisError):  # progress is for show: the job goes on without it
        job.save_meta()  # type: ignore[no-untyped-call]
