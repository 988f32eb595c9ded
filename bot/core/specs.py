"""The commands: how each is written (its options, positionals, examples) and the builder that types it.

Pure data and small builders, written in the terms of `bot.core.syntax`; `bot.core.grammar` reads
words against these specs, and ``lookup`` finds the spec for a command word.
"""

from __future__ import annotations

import difflib
from typing import Literal

from bot.core import commands as c
from bot.core.errors import CommandError
from bot.core.slack_text import code
from bot.core.syntax import Opt, Parsed, Spec, convert, cpus, docker_time, int_range, memory
from bot.core.units import check_image, check_image_or_id, check_name, parse_duration, parse_env, parse_port

MAX_TEXT = 4000
MAX_TAIL = 10_000
DEFAULT_FOLLOW = 300.0
MAX_FOLLOW = 3600.0
DEFAULT_HEALTH_TIMEOUT = 60.0
MAX_HEALTH_TIMEOUT = 900.0

HOST = Opt(("--host",), "host", "value", "H", "the Docker host to act on")


def _host(p: Parsed) -> str | None:
    host: str | None = p.value("host", check_name)
    return host


def _build_list(p: Parsed) -> c.Command:
    return c.ListContainers(
        all=bool(p.values.get("all")),
        filter=p.args[0] if p.args else None,
        page=p.value("--page", int_range(1, 1000), 1),
        all_hosts=_all_hosts(p),
        host=_host(p),
    )


def _all_hosts(p: Parsed) -> bool:
    if p.values.get("all_hosts") and p.values.get("host"):
        raise CommandError(f"`{p.spec.verb}`: give `--host H` or `--all-hosts`, not both.")
    return bool(p.values.get("all_hosts"))


def _build_run(p: Parsed) -> c.Command:
    return c.Run(
        image=convert(p.spec, "IMAGE", p.args[0], check_image),
        name=p.value("--name", check_name),
        ports=tuple(convert(p.spec, "-p", v, parse_port) for v in p.values.get("ports", [])),
        env=tuple(convert(p.spec, "-e", v, parse_env) for v in p.values.get("env", [])),
        memory=p.value("--memory", memory),
        cpus=p.value("--cpus", cpus),
        command=tuple(p.rest),
        host=_host(p),
    )


def _target(p: Parsed) -> str:
    return str(convert(p.spec, "NAME_OR_ID", p.args[0], check_name))


def _health_timeout(text: str) -> float:
    seconds = parse_duration(text)
    if not 1 <= seconds <= MAX_HEALTH_TIMEOUT:
        raise ValueError(f"must be between 1s and {MAX_HEALTH_TIMEOUT // 60:g}m")
    return seconds


def _follow(raw: str | bool) -> float:
    if raw is True:
        return DEFAULT_FOLLOW
    seconds = parse_duration(str(raw))
    if not 1 <= seconds <= MAX_FOLLOW:
        raise ValueError(f"{raw} is outside 1s to {MAX_FOLLOW // 60:g}m")
    return seconds


def _build_logs(p: Parsed) -> c.Command:
    follow = p.values.get("follow")
    return c.Logs(
        target=_target(p),
        tail=p.value("--tail", int_range(1, MAX_TAIL), 50),
        since=p.value("--since", parse_duration),
        grep=p.values.get("grep"),
        follow=None if follow is None else convert(p.spec, "--follow", follow, _follow),
        after=p.value("--after", docker_time),
        host=_host(p),
    )


def _help(p: Parsed) -> c.Command:
    return c.Help(topic=lookup(p.args[0]).verb if p.args else None)


def _lifecycle(action: Literal["stop", "start", "restart"], summary: str) -> Spec:
    """stop, start and restart are written alike."""
    return Spec(
        action,
        summary,
        f"{action} NAME_OR_ID [--host H]",
        (f"{action} web",),
        lambda p: c.Lifecycle(action=action, target=_target(p), host=_host(p)),
        positionals=("NAME_OR_ID",),
        options=(HOST,),
    )


_SPECS: tuple[Spec, ...] = (
    Spec(
        "help",
        "show commands, or one command in detail",
        "help [COMMAND]",
        ("help", "help run"),
        _help,
        optional_positional="COMMAND",
    ),
    Spec(
        "list",
        "list containers (running ones unless --all)",
        "list [-a|--all] [--host H | --all-hosts] [FILTER]",
        ("list", "list --all", "ps web"),
        _build_list,
        aliases=("ps", "ls"),
        optional_positional="FILTER",
        options=(
            Opt(("-a", "--all"), "all", help="include stopped containers"),
            Opt(("--page",), "--page", "value", "N", "which page of 20 (Slack)"),
            HOST,
            Opt(("--all-hosts",), "all_hosts", help="every host served, labelled by host"),
        ),
    ),
    Spec(
        "run",
        "start a new container (detached, with the configured limits)",
        "run IMAGE [--name NAME] [-p HOST:CONTAINER]... [-e KEY=VALUE]... [--memory 256m] [--cpus 0.5] "
        "[--host H] [-- CMD [ARG...]]",
        ("run nginx:1.27 --name web -p 8080:80", "run busybox --name job -e MODE=once -- echo hello"),
        _build_run,
        positionals=("IMAGE",),
        takes_command=True,
        options=(
            Opt(("--name",), "--name", "value", "NAME", "the container's name"),
            Opt(("-p", "--publish"), "ports", "multi", "HOST:CONTAINER", "publish a port (repeatable)"),
            Opt(("-e", "--env"), "env", "multi", "KEY=VALUE", "set an environment variable (repeatable)"),
            Opt(("--memory", "-m"), "--memory", "value", "SIZE", "memory limit, e.g. 256m"),
            Opt(("--cpus",), "--cpus", "value", "N", "CPU limit, e.g. 0.5"),
            HOST,
        ),
    ),
    Spec(
        "rm",
        "remove a container",
        "rm NAME_OR_ID [-f|--force] [--host H]",
        ("rm web", "rm web --force"),
        lambda p: c.Remove(target=_target(p), force=bool(p.values.get("force")), host=_host(p)),
        aliases=("remove",),
        positionals=("NAME_OR_ID",),
        options=(Opt(("-f", "--force"), "force", help="stop it first if it is running"), HOST),
    ),
    Spec(
        "logs",
        "show a container's last log lines",
        "logs NAME_OR_ID [--tail N] [--since DURATION] [--grep PATTERN] [--follow [DURATION]] [--host H]",
        ("logs web --tail 20", "logs web --since 10m --grep error", "logs web --follow 2m"),
        _build_logs,
        positionals=("NAME_OR_ID",),
        options=(
            Opt(("--tail", "-n"), "--tail", "value", "N", f"how many lines (1-{MAX_TAIL}, default 50)"),
            Opt(("--since",), "--since", "value", "DURATION", "only lines newer than this, e.g. 10m"),
            Opt(("--grep",), "grep", "value", "PATTERN", "only lines containing this text"),
            Opt(
                ("--follow", "-f"),
                "follow",
                "optional",
                "[DURATION]",
                f"keep streaming new lines (default {DEFAULT_FOLLOW // 60:g}m, at most {MAX_FOLLOW // 60:g}m)",
            ),
            Opt(("--after",), "--after", "value", "TIMESTAMP", "only lines after this Docker timestamp (resuming)"),
            HOST,
        ),
    ),
    _lifecycle("stop", "stop a running container"),
    _lifecycle("start", "start a stopped container"),
    _lifecycle("restart", "restart a container"),
    Spec(
        "images",
        "list images",
        "images [FILTER] [--host H]",
        ("images", "images nginx"),
        lambda p: c.Images(filter=p.args[0] if p.args else None, host=_host(p)),
        optional_positional="FILTER",
        options=(HOST,),
    ),
    Spec(
        "rmi",
        "remove an image tag (the image goes when its last tag does)",
        "rmi IMAGE[:TAG] [--host H]",
        ("rmi nginx:1.25",),
        lambda p: c.RemoveImage(image=convert(p.spec, "IMAGE", p.args[0], check_image_or_id), host=_host(p)),
        positionals=("IMAGE",),
        options=(HOST,),
    ),
    Spec(
        "pull",
        "pull an image from its registry",
        "pull IMAGE[:TAG] [--host H]",
        ("pull nginx:1.27",),
        lambda p: c.Pull(image=convert(p.spec, "IMAGE", p.args[0], check_image), host=_host(p)),
        positionals=("IMAGE",),
        options=(HOST,),
    ),
    Spec(
        "redeploy",
        "replace a container with a fresh pull of its image, health-gated; rolled back if not healthy",
        "redeploy NAME_OR_ID [--image IMAGE[:TAG]] [--health-timeout DURATION] [--host H]",
        ("redeploy web", "redeploy web --image registry.example.com/web:1.4 --health-timeout 2m"),
        lambda p: c.Redeploy(
            target=_target(p),
            image=p.value("--image", check_image),
            health_timeout=p.value("--health-timeout", _health_timeout, DEFAULT_HEALTH_TIMEOUT),
            host=_host(p),
        ),
        positionals=("NAME_OR_ID",),
        options=(
            Opt(("--image",), "--image", "value", "IMAGE[:TAG]", "the new image (default: the container's own, again)"),
            Opt(
                ("--health-timeout",),
                "--health-timeout",
                "value",
                "DURATION",
                f"time to prove healthy (default {DEFAULT_HEALTH_TIMEOUT:g}s, at most {MAX_HEALTH_TIMEOUT // 60:g}m)",
            ),
            HOST,
        ),
    ),
    Spec(
        "inspect",
        "show a container's configuration and state (secrets masked)",
        "inspect NAME_OR_ID [--host H]",
        ("inspect web",),
        lambda p: c.Inspect(target=_target(p), host=_host(p)),
        positionals=("NAME_OR_ID",),
        options=(HOST,),
    ),
    Spec(
        "hosts",
        "every Docker host served: its workers, Docker version, containers, last heartbeat",
        "hosts",
        ("hosts",),
        lambda p: c.Hosts(),
    ),
    Spec(
        "audit",
        "the audit log's latest entries: who asked what, from where, and what came of it (admins)",
        "audit [--limit N]",
        ("audit", "audit --limit 50"),
        lambda p: c.Audit(limit=p.value("--limit", int_range(1, 200), 20)),
        options=(Opt(("--limit", "-n"), "--limit", "value", "N", "how many entries (1-200, default 20)"),),
    ),
)

SPECS: dict[str, Spec] = {spec.verb: spec for spec in _SPECS}  # in the order help lists them
_BY_WORD: dict[str, Spec] = {w: s for s in _SPECS for w in (s.verb, *s.aliases)}
NOT_YET: dict[str, str] = {}  # commands of the contract that a version does not offer yet: said, not "unknown"


def find(word: str) -> Spec | None:
    """The spec a command word (a verb or an alias, any case) stands for."""
    return _BY_WORD.get(word.lower())


def lookup(word: str) -> Spec:
    """The spec for a command word, or an error naming the closest command."""
    spec = find(word)
    if spec:
        return spec
    if word.lower() in NOT_YET:
        raise CommandError(f"{code(word)}: {NOT_YET[word.lower()]}. Try `help` for what works today.")
    close = difflib.get_close_matches(word.lower(), list(_BY_WORD), n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    raise CommandError(f"Unknown command {code(word)}.{hint} Try `help` for the list of commands.")
