"""What the running job shows while it runs (a pull's layer totals): one job at a time per worker."""

from __future__ import annotations

from workers.slack.reply import Session

current: Session | None = None


def report(text: str) -> None:
    """Show progress on the job's Slack message (throttled); nothing when it has no Slack reply."""
    if current is not None:
        current.progress(text)
