"""What event alerts say: the facts of a container from its event and `inspect`, and the Slack
messages built from them, with the list's Logs and Restart buttons. Pure."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from bot.core.blocks import button
from bot.core.slack_text import code, escape, fenced
from bot.core.units import format_duration, format_size, parse_docker_time
from workers.slack.render import BLOCK_BODY_LIMIT, code_block, cut

# Docker's exit codes above 128 are 128 + the signal that ended the process.
SIGNALS = {130: "SIGINT", 134: "SIGABRT", 137: "SIGKILL", 139: "SIGSEGV, a crash", 143: "SIGTERM"}
HEALTH_OUTPUT = 1500  # characters of the last health check's output shown
LOG_LINE = 500  # characters of one log line shown, so that one long line cannot crowd out the rest


@dataclass(frozen=True)
class Facts:
    """One container at the time of an event; `inspect` is None when it is already gone."""

    host: str
    id: str
    name: str
    image: str
    at: float  # the event's time, epoch seconds
    exit_code: int | None = None
    ran_for: float | None = None
    memory: int = 0  # bytes; 0: no limit
    restart_policy: str = ""  # Docker's name, "on-failure:3" with its count; "" for none
    will_restart: bool = False  # Docker brings it back by itself after a die
    oom_killed: bool = False
    state: str = "removed"
    health_output: str = ""
    health_exit: int | None = None
    failing_streak: int = 0


def _epoch(text: str) -> float | None:
    if not text or text.startswith("0001-"):
        return None
    try:
        seconds, nanos = parse_docker_time(text)
    except ValueError:
        return None
    return seconds + nanos / 1e9


def facts(host: str, event: dict[str, Any], inspect: dict[str, Any] | None) -> Facts:
    actor = event.get("Actor") or {}
    attrs: dict[str, str] = actor.get("Attributes") or {}
    at = int(event.get("timeNano") or 0) / 1e9 or float(event.get("time") or 0)
    cid = str(actor.get("ID") or event.get("id") or "")
    said = attrs.get("exitCode")
    base = Facts(
        host=host,
        id=cid,
        name=attrs.get("name") or cid[:12],
        image=attrs.get("image") or str(event.get("from") or ""),
        at=at,
        exit_code=int(said) if said and said.lstrip("-").isdigit() else None,
    )
    if not inspect:
        return base
    state, host_config = inspect.get("State") or {}, inspect.get("HostConfig") or {}
    policy = host_config.get("RestartPolicy") or {}
    name, most = str(policy.get("Name") or ""), int(policy.get("MaximumRetryCount") or 0)
    started, finished = _epoch(state.get("StartedAt", "")), _epoch(state.get("FinishedAt", ""))
    exit_code = base.exit_code if base.exit_code is not None else state.get("ExitCode")
    will_restart = name in ("always", "unless-stopped") or (
        name == "on-failure" and exit_code != 0 and (most == 0 or int(inspect.get("RestartCount") or 0) < most)
    )
    health = state.get("Health") or {}
    last = (health.get("Log") or [{}])[-1]
    return Facts(
        host=host,
        id=str(inspect.get("Id") or cid),
        name=str(inspect.get("Name") or "").lstrip("/") or base.name,
        image=str((inspect.get("Config") or {}).get("Image") or base.image),
        at=at,
        exit_code=exit_code,
        ran_for=finished - started if started and finished and finished >= started else None,
        memory=int(host_config.get("Memory") or 0),
        restart_policy=f"{name}:{most}" if name == "on-failure" and most else name if name != "no" else "",
        will_restart=will_restart,
        oom_killed=bool(state.get("OOMKilled")),
        state=str(state.get("Status") or ""),
        health_output=str(last.get("Output") or "").strip(),
        health_exit=last.get("ExitCode"),
        failing_streak=int(health.get("FailingStreak") or 0),
    )


def labels_of(event: dict[str, Any], inspect: dict[str, Any] | None) -> dict[str, str]:
    """The container's labels: from `inspect`, else from the event (which mixes in name and image)."""
    if inspect:
        return dict((inspect.get("Config") or {}).get("Labels") or {})
    attrs = dict((event.get("Actor") or {}).get("Attributes") or {})
    return {k: v for k, v in attrs.items() if k not in ("name", "image", "exitCode", "signal")}


def _exit(f: Facts) -> str:
    meaning = SIGNALS.get(f.exit_code or 0)
    return f"exit code {f.exit_code}" + (f" ({meaning})" if meaning else "")


def _when(at: float) -> str:
    """Slack shows the time in each reader's own time zone; the fallback is UTC."""
    utc = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    return f"<!date^{int(at)}^{{date_short_pretty}} {{time_secs}}|{utc}>"


def _limit(f: Facts) -> str:
    return f"memory limit {format_size(f.memory)}" if f.memory else "no memory limit (the host ran out)"


def _blocks(headline: str, details: list[str], f: Facts) -> list[dict[str, Any]]:
    value = json.dumps({"name": f.name, "host": f.host})
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(headline + "\n" + "\n".join(details))}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"host {code(f.host)} · {_when(f.at)} · container {code(f.id[:12])}"}
            ],
        },
        {
            "type": "actions",
            "block_id": "alert-buttons",
            "elements": [
                button("logs", "Logs", value),
                button("restart", "Restart", value, f"Restart {code(f.name)} on {code(f.host)}?"),
            ],
        },
    ]


def _common(f: Facts) -> list[str]:
    lines = [f"Image {code(f.image)}"]
    if f.ran_for is not None and f.state != "running":
        lines.append(f"ran for {format_duration(f.ran_for)}")
    if f.will_restart:
        lines.append(f"Docker restarts it (restart policy {code(f.restart_policy)})")
    return [" · ".join(lines)]


Message = tuple[str, list[dict[str, Any]]]


def died(f: Facts) -> Message:
    headline = f"🔴 *{code(f.name)} died* on {code(f.host)} with {_exit(f)}"
    details = _common(f) + ([f"It was killed for running out of memory ({_limit(f)})."] if f.oom_killed else [])
    return f"🔴 {escape(f.name)} died on {escape(f.host)} with {_exit(f)}", _blocks(headline, details, f)


def out_of_memory(f: Facts) -> Message:
    headline = f"💥 *{code(f.name)} ran out of memory* on {code(f.host)}"
    details = [f"Out of memory: it reached its {_limit(f)}, and the kernel killed a process in it."]
    if f.state not in ("running", "restarting"):
        details.append(f"It is {escape(f.state or 'gone')}" + (f" ({_exit(f)})." if f.exit_code is not None else "."))
    details += _common(f)
    return f"💥 {escape(f.name)} ran out of memory on {escape(f.host)} ({_limit(f)})", _blocks(headline, details, f)


def unhealthy(f: Facts) -> Message:
    headline = f"🩺 *{code(f.name)} is unhealthy* on {code(f.host)}"
    streak = f" {f.failing_streak} times in a row" if f.failing_streak else ""
    exited = f" (exit code {f.health_exit})" if f.health_exit is not None else ""
    output = cut(f.health_output, HEALTH_OUTPUT) if f.health_output else "(it printed nothing)"
    details = [f"Its health check failed{streak}{exited}. Last output:", fenced(output), *_common(f)]
    text = f"🩺 {escape(f.name)} is unhealthy on {escape(f.host)}: {escape(f.health_output[:200])}"
    return text, _blocks(headline, details, f)


def restart_loop(f: Facts, restarts: int, minutes: float) -> Message:
    window = format_duration(minutes * 60)
    headline = f"🔁 *{code(f.name)} is crash-looping* on {code(f.host)}: restarted {restarts} times in {window}"
    details = [
        f"Last {_exit(f)}." if f.exit_code is not None else "",
        *_common(f),
        f"Further restarts are not posted; a note follows in the thread once it has gone {window} without one.",
    ]
    text = f"🔁 {escape(f.name)} is crash-looping on {escape(f.host)}: restarted {restarts} times in {window}"
    return text, _blocks(headline, [d for d in details if d], f)


def loop_ended(f: Facts, minutes: float) -> str:
    window = format_duration(minutes * 60)
    if f.state == "running":
        return f"✅ {code(f.name)} recovered: running, no restart for {window}."
    if f.state == "removed":
        return f"⏹️ {code(f.name)} stopped restarting: it was removed."
    exited = f", {_exit(f)}" if f.exit_code is not None else ""
    return f"⏹️ {code(f.name)} stopped restarting: it is {escape(f.state)}{exited}; Docker no longer restarts it."


def exited_after(f: Facts) -> str:
    ran = f" after running {format_duration(f.ran_for)}" if f.ran_for is not None else ""
    return f"{code(f.name)} exited with {_exit(f)}{ran}."


def healthy_again(f: Facts) -> str:
    return f"💚 {code(f.name)} is healthy again."


def log_lines(name: str, lines: list[str] | None, most: int) -> str:
    """The last `most` lines, or as many of the last ones as a message holds: at a death the end matters."""
    if lines is None:
        return f"The logs of {code(name)} could not be read (it may have been removed)."
    if not lines:
        return f"{code(name)} printed nothing."
    kept: list[str] = []
    room = BLOCK_BODY_LIMIT
    for line in reversed(lines[-most:]):
        line = line if len(line) <= LOG_LINE else line[: LOG_LINE - 1] + "…"
        if len(line) + 1 > room:
            break
        kept.insert(0, line)
        room -= len(line) + 1
    return f"Last {len(kept)} log line{'s' if len(kept) != 1 else ''} of {code(name)}:\n" + code_block(kept)
