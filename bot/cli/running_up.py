"""How `shell`, `doctor` and `send` find the `dockerverse up` running from this checkout by themselves,
so nobody copies a Redis socket, a job key or a token out of its banner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from bot.core.local_state import instance_dir, read_state
from bot.core.settings import Settings


@dataclass(frozen=True)
class RunningUp:
    pid: int
    web_url: str
    env: dict[str, str]  # what `up` gave its web: Redis, job keys, API token, policy file, hook secrets
    hooks: dict[str, str]  # hook name -> the variable holding its secret

    @classmethod
    def of(cls, state: dict[str, Any]) -> RunningUp:
        return cls(
            int(state["pid"]), str(state["web_url"]), dict(state.get("env") or {}), dict(state.get("hooks") or {})
        )

    @property
    def api_token(self) -> str | None:
        return self.env.get("DOCKERVERSE_API_TOKEN") or None

    def describe(self) -> str:
        return f"the `dockerverse up` running from {instance_dir().parent} (pid {self.pid}, {self.web_url})"

    def hook_secret(self, url: str) -> str | None:
        """The secret of the hook `url` names, when it is one of this `up`'s hooks."""
        prefix = f"{self.web_url}/hooks/"
        name = url[len(prefix) :].strip("/") if url.startswith(prefix) else None
        return self.env.get(self.hooks[name]) if name in self.hooks else None


def find() -> RunningUp | None:
    state = read_state()
    return RunningUp.of(state) if state else None


def settings_following_up() -> tuple[Settings, RunningUp | None]:
    """Settings as `up`'s web has them, when an `up` runs here and REDIS_URL does not point elsewhere.

    Its variables replace this process's own (they are what that web runs with), also for
    `Settings.lookup`, which reads the hooks' secrets from the environment.
    """
    settings = Settings()
    running = None if "redis_url" in settings.model_fields_set else find()
    if running is None:
        return settings, None
    os.environ.update(running.env)
    return Settings(), running
