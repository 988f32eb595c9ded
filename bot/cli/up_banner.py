"""What `dockerverse up` prints once its own web answers: where everything is, and the secrets it made
(shown this once; `shell`, `doctor` and `send` read them from the state file, not from here)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from bot.cli.up_launch import Launch
from bot.core.settings import Settings


def how_to_call() -> str:
    """`dockerverse` as this user can type it: plain when it is on the PATH, else the venv's script
    (relative when it lies under the working directory, as `.venv/bin/dockerverse` does for `make up`)."""
    script = Path(sys.executable).parent / "dockerverse"
    found = shutil.which("dockerverse")
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return "dockerverse"
    if not script.exists():
        return f"{sys.executable} -m bot.cli.main"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def slack_line(settings: Settings) -> str:
    ways = [
        w for w, on in (("POST /slack/events", settings.slack_enabled), ("Socket Mode", settings.socket_mode)) if on
    ]
    if ways:
        return "Slack: " + " and ".join(ways)
    return "Slack: not configured (set SLACK_BOT_TOKEN, and SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)"


def banner(launch: Launch, settings: Settings, redis: str, call: str) -> str:
    lines = [
        "Dockerverse is up.",
        f"  web     {launch.web_url}  ({slack_line(settings)})",
        f"  worker  Docker host `{settings.host_name}`",
        f"  redis   {redis}",
        (
            f"  api     token {launch.api_token}  (admin on /api/*: `Authorization: Bearer <token>`; shown only now)"
            if launch.api_token_made_here
            else "  api     the token in DOCKERVERSE_API_TOKEN (admin on /api/*)"
        ),
    ]
    for hook in launch.hooks:
        secret = f"secret {hook.secret}" if hook.made_here else f"secret from {hook.secret_env}"
        lines.append(f"  hook    {hook.url}  (role {hook.role}, {secret})")
    if launch.hooks:
        lines += [
            f'Try the hook: {call} send {launch.hooks[0].url} "list" --wait 30',
            "  (here `send` finds the secret itself; from CI pass --secret or set DOCKERVERSE_HOOK_SECRET)",
        ]
    lines.append(f"Talk to it from another terminal: {call} shell    (Ctrl-C here stops everything)")
    return "\n".join(lines)
