"""`dockerverse shell`: a local chat console on the same queues, acting as admin. No Slack needed."""

from __future__ import annotations

import getpass
import sys
from typing import Any, TextIO

from bot.core.commands import Logs
from bot.core.errors import DockerverseError
from bot.core.plain_text import plain
from bot.core.policy import Actor, load_policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.wire.job_state import End, Line
from bot.wire.payload import ReplyTo
from bot.wire.queues import connect

PROMPT = "docker> "


def render(state: dict[str, Any] | None, job_id: str, waited: float) -> tuple[bool, str]:
    """The job's result for a terminal: (it succeeded, the text)."""
    if state is None:
        return False, f"❌ Job {job_id} is gone (expired before a worker took it?)."
    result = state.get("result")
    if state["status"] == "finished" and isinstance(result, dict):
        mark = "✅" if result.get("ok") else "❌"
        parts = [f"{mark} {plain(result.get('summary', ''))}"]
        parts += [plain(t) for t in (result.get("text"), *result.get("thread", [])) if t]
        return bool(result.get("ok")), "\n".join(parts)
    if state["status"] == "failed":
        return False, f"❌ {plain(str(state.get('error')))}"
    return (
        False,
        f"⏳ Job {job_id} is still {state['status']} after {waited:g} s; see `GET /api/jobs/{job_id}`.",
    )


def run_shell(
    settings: Settings, commands: list[str] | None = None, out: TextIO = sys.stdout, wait: float = 120.0
) -> int:
    """Run the given commands, or read them from stdin (a prompt when it is a terminal)."""
    dispatcher = Dispatcher(settings, load_policy(settings.config_path), connect(settings.redis_url))
    actor = Actor(f"shell:{getpass.getuser()}", "shell")
    interactive = commands is None and sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())

        print("Dockerverse shell: type a command (`help` lists them), Ctrl-D to leave.", file=out)
    failures = 0
    for line in commands if commands is not None else _lines(interactive):
        if not line.strip() or line.strip().startswith("#"):
            continue
        if line.strip() in ("exit", "quit"):
            break
        try:
            sub = dispatcher.submit(line, actor, ReplyTo())
        except DockerverseError as exc:
            print(f"❌ {plain(exc.message)}", file=out, flush=True)
            failures += 1
            continue
        if isinstance(sub.command, Logs) and sub.command.follow:
            try:
                dispatcher.follow(sub.job_id, lambda item: show(item, out))
            except KeyboardInterrupt:  # Ctrl-C ends the follow, not the shell
                print("(stopped following)", file=out, flush=True)
        ok, text = render(dispatcher.wait(sub.job_id, wait, sub.start_by), sub.job_id, wait)
        failures += not ok
        print(text, file=out, flush=True)
    return 1 if failures and not interactive else 0


def show(item: Line | End, out: TextIO) -> None:
    print(item.text if isinstance(item, Line) else f"(stream ended: {item.reason})", file=out, flush=True)


def _lines(interactive: bool) -> Any:
    if not interactive:
        yield from sys.stdin
        return
    while True:
        try:
            yield input(PROMPT)
        except EOFError:
            print()
            return
