"""workers/slack/alarms.py: one thread runs each job's "running…" note when it falls due."""

from __future__ import annotations

import threading
import time

from workers.slack.alarms import Alarms


def test_an_alarm_runs_when_due_and_a_cancelled_one_never() -> None:
    alarms = Alarms()
    ran: list[str] = []
    done = threading.Event()
    started = time.monotonic()
    alarms.after(0.1, lambda: ran.append("cancelled")).cancel()

    def due() -> None:
        ran.append("due")
        done.set()

    alarms.after(0.2, due)
    assert done.wait(5)
    assert time.monotonic() - started >= 0.2
    assert ran == ["due"]  # the cancelled one fell due first and was skipped


def test_an_alarm_due_sooner_than_all_others_wakes_the_sleeper() -> None:
    alarms = Alarms()
    soon = threading.Event()
    alarms.after(60, soon.set)  # the thread now sleeps for a minute
    started = time.monotonic()
    alarms.after(0.05, soon.set)
    assert soon.wait(5) and time.monotonic() - started < 5


def test_a_slow_action_does_not_hold_up_the_next() -> None:
    """A "running…" note posts to Slack, which may take seconds: the next job's note still runs on time."""
    alarms = Alarms()
    release, second = threading.Event(), threading.Event()
    alarms.after(0.05, lambda: release.wait(10))
    alarms.after(0.1, second.set)
    try:
        assert second.wait(5)
    finally:
        release.set()
