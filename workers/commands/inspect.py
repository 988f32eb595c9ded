"""`inspect`: one container's settings, with secrets in its env, command and labels masked."""

from __future__ import annotations

from bot.core import commands as c
from bot.core.masking import mask_argv, mask_env, mask_text
from bot.core.slack_text import code
from bot.core.units import format_size
from bot.wire.payload import Payload
from workers.commands.context import Context
from workers.docker.access import readable
from workers.docker.rows import LABEL_MANAGED
from workers.slack.render import Outcome, code_block


def inspect(ctx: Context, cmd: c.Inspect, p: Payload) -> Outcome:
    gw = ctx.gateway
    raw = gw.inspect(cmd.target)
    config, state, host = raw.get("Config") or {}, raw.get("State") or {}, raw.get("HostConfig") or {}
    # Masked by name and value (`DATABASE_URL=postgres://app:pw@db`, `--requirepass pw`); labels by value
    # only, or `org.opencontainers.image.authors` would pass for `auth`. Entrypoint and Cmd make one line.
    env, entrypoint = [mask_env(e) for e in config.get("Env") or []], list(config.get("Entrypoint") or [])
    argv = mask_argv(entrypoint + list(config.get("Cmd") or []))
    labels = [f"{k}={mask_text(v)}" for k, v in sorted((config.get("Labels") or {}).items())]
    name = raw.get("Name", "").lstrip("/")
    readable((config.get("Labels") or {}).get(LABEL_MANAGED) == "dockerverse", name, p)
    lines = [
        f"Name:     {name}",
        f"Id:       {raw.get('Id', '')[:12]}",
        f"Image:    {config.get('Image', '')}",
        *([f"Entry:    {' '.join(argv[: len(entrypoint)])}"] if entrypoint else []),
        f"Command:  {' '.join(argv[len(entrypoint) :])}",
        f"State:    {state.get('Status')} (exit code {state.get('ExitCode')}, started {state.get('StartedAt')})",
        f"Limits:   memory {format_size(host.get('Memory') or 0) if host.get('Memory') else 'none'}, "
        f"cpus {(host.get('NanoCpus') or 0) / 1e9:g}, pids {host.get('PidsLimit') or 'none'}",
        f"Restart:  {(host.get('RestartPolicy') or {}).get('Name') or 'no'}",
        "Env:      " + (", ".join(env) or "none"),
        "Labels:   " + (", ".join(labels) or "none"),
    ]
    data = {"name": name, "id": raw.get("Id"), "state": state.get("Status"), "env": env, "command": argv}
    return Outcome(True, f"{code(name)} on {code(gw.host_name)}", code_block(lines), data=data)
