"""The typed commands of the chat grammar, and their JSON form for jobs.

Pure: no I/O. ``bot.core.grammar.parse`` builds these from text; jobs carry
``to_json(command)`` across Redis and workers rebuild them with ``from_json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from bot.core.units import PortMapping


@dataclass(frozen=True)
class Command:
    """Base: ``verb`` names the command (and its permission); ``host`` routes it."""

    verb: ClassVar[str] = ""
    mutates: ClassVar[bool] = False
    host: str | None = None

    @property
    def permission(self) -> str:
        return self.verb


@dataclass(frozen=True)
class Help(Command):
    verb: ClassVar[str] = "help"
    topic: str | None = None


@dataclass(frozen=True)
class ListContainers(Command):
    verb: ClassVar[str] = "list"
    all: bool = False
    filter: str | None = None
    page: int = 1  # Slack shows 20 containers a message, with a button for the next page
    all_hosts: bool = False  # every host served, merged and labelled by host


@dataclass(frozen=True)
class Run(Command):
    verb: ClassVar[str] = "run"
    mutates: ClassVar[bool] = True
    image: str = ""
    name: str | None = None
    ports: tuple[PortMapping, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    memory: int | None = None
    cpus: float | None = None
    pids: int | None = None  # set by policy, never by the user
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class Remove(Command):
    verb: ClassVar[str] = "rm"
    mutates: ClassVar[bool] = True
    target: str = ""
    force: bool = False


@dataclass(frozen=True)
class Logs(Command):
    verb: ClassVar[str] = "logs"
    target: str = ""
    tail: int = 50
    since: float | None = None
    grep: str | None = None
    follow: float | None = None  # seconds to keep streaming; None: just the tail
    after: str | None = None  # a Docker timestamp: only later lines (a stream resuming)


@dataclass(frozen=True)
class Lifecycle(Command):
    """stop, start and restart: one shape, the action is the permission."""

    verb: ClassVar[str] = "lifecycle"
    mutates: ClassVar[bool] = True
    action: Literal["stop", "start", "restart"] = "restart"
    target: str = ""

    @property
    def permission(self) -> str:
        return self.action


@dataclass(frozen=True)
class Images(Command):
    verb: ClassVar[str] = "images"
    filter: str | None = None


@dataclass(frozen=True)
class RemoveImage(Command):
    verb: ClassVar[str] = "rmi"
    mutates: ClassVar[bool] = True
    image: str = ""


@dataclass(frozen=True)
class Pull(Command):
    verb: ClassVar[str] = "pull"
    mutates: ClassVar[bool] = True
    image: str = ""


@dataclass(frozen=True)
class Redeploy(Command):
    """Swap a container for a fresh pull of its image (or another), health-gated, rolled back on failure."""

    verb: ClassVar[str] = "redeploy"
    mutates: ClassVar[bool] = True
    target: str = ""
    image: str | None = None  # None: the container's own image reference, pulled again
    health_timeout: float = 60.0
    # The image allow-list, copied in by the policy check: the worker checks the image it resolves
    # (the container's own one when --image is absent) against it; the job's signature covers it.
    allow: tuple[str, ...] = ()
    # Container-name globs (policy `redeploy.inherit_privileges`) whose privileges the new container may keep.
    inherit_privileges: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inspect(Command):
    verb: ClassVar[str] = "inspect"
    target: str = ""


@dataclass(frozen=True)
class Hosts(Command):
    verb: ClassVar[str] = "hosts"
    local: bool = False  # one host's own facts (a part of `hosts`, asked of each host)


@dataclass(frozen=True)
class Audit(Command):
    """The audit log's latest entries (the top role only)."""

    verb: ClassVar[str] = "audit"
    limit: int = 20


def fleet_wide(command: Command) -> bool:
    """A question about every host (`hosts`, `list --all-hosts`): any host's workers may ask it."""
    return (isinstance(command, Hosts) and not command.local) or (
        isinstance(command, ListContainers) and command.all_hosts
    )


KINDS: dict[str, type[Command]] = {
    cls.verb: cls
    for cls in (
        Help,
        ListContainers,
        Run,
        Remove,
        Logs,
        Lifecycle,
        Images,
        RemoveImage,
        Pull,
        Redeploy,
        Inspect,
        Hosts,
        Audit,
    )
}


def to_json(command: Command) -> dict[str, Any]:
    """A JSON-safe dict: ``{"kind": verb, field: value, ...}``."""
    data: dict[str, Any] = {"kind": command.verb}
    for field in dataclasses.fields(command):
        value = getattr(command, field.name)
        if field.name == "ports":
            value = [str(p) for p in value]
        elif isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        data[field.name] = value
    return data


def from_json(data: dict[str, Any]) -> Command:
    """Rebuild a command from ``to_json``; raises ``ValueError`` on anything else."""
    from bot.core.units import parse_port

    try:
        cls = KINDS[data["kind"]]
        fields = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "kind":
                continue
            if key not in fields:
                raise ValueError(f"unknown field {key!r} for {cls.verb}")
            if key == "ports":
                value = tuple(parse_port(p) for p in value)
            elif key == "env":
                value = tuple((str(k), str(v)) for k, v in value)
            elif isinstance(value, list):
                value = tuple(value)
            values[key] = value
        return cls(**values)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a command: {exc}") from exc
