"""An RQ Job that imports nothing it was not meant to.

RQ resolves a job's function (and callbacks) by importing the dotted name stored in
Redis. A worker with the Docker socket must not import whatever someone wrote there,
so this job class allows exactly one function, with a valid signature, and no callbacks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from rq.job import Job

from bot.wire.payload import EXECUTE
from workers.commands.context import Context
from workers.runtime import tasks


class SignedJob(Job):
    context: Context | None = None  # the worker's, handed to the job it is about to run (main.py: execute_job)

    @property
    def func(self) -> Callable[..., Any]:
        if self.func_name != EXECUTE or self.instance is not None:
            raise tasks.UntrustedJob(f"refusing to run {self.func_name!r}: only {EXECUTE} runs here")
        if self._success_callback_name or self._failure_callback_name or self._stopped_callback_name:
            raise tasks.UntrustedJob("refusing a job with callbacks")
        if self.args or set(self.kwargs) != {"payload", "sig"}:
            raise tasks.UntrustedJob("refusing a job whose arguments are not a signed payload")
        if self.context is None:
            raise tasks.UntrustedJob("refusing a job that no Dockerverse worker took: it has no worker context")
        tasks.trusted_payload(self.context.key, self.kwargs["payload"], self.kwargs["sig"], self)
        return functools.partial(tasks.execute, self.context, self)

    # Callbacks are never ours: never import them.
    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None
