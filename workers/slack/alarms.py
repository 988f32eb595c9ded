"""One thread that runs callbacks when they fall due, for every Slack conversation of a worker process.

A quick job posts only its result; one still running after a second shows "running…" (reply.py). A
``threading.Timer`` per job started and stopped a thread on every Slack reply, about 0.3 ms of CPU
each, for the few jobs that ever run that long. Here one thread sleeps until the earliest due time,
and only a callback that falls due gets a thread of its own: it posts to Slack, which may take
seconds with retries, and must not hold up the others.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Alarm:
    __slots__ = ("action", "cancelled")

    def __init__(self, action: Callable[[], object]) -> None:
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        """It will not run (one already running goes on, as a Timer's would)."""
        self.cancelled = True


class Alarms:
    def __init__(self) -> None:
        self._due: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()  # ties in time never compare alarms
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def after(self, seconds: float, action: Callable[[], object]) -> Alarm:
        alarm = Alarm(action)
        with self._wake:
            heapq.heappush(self._due, (time.monotonic() + seconds, next(self._order), alarm))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="slack-alarms", daemon=True)
                self._thread.start()
            if self._due[0][2] is alarm:  # due before all the others: the sleeper must look again
                self._wake.notify()
        return alarm

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, alarm = heapq.heappop(self._due)
            if not alarm.cancelled:
                threading.Thread(target=alarm.action, name="slack-alarm", daemon=True).start()
