"""The policy file's schema: every section and key it may have, the types they take, and their defaults.

Pure. ``read(raw, where)`` returns a ``PolicyFile``, or raises ``DockerverseError`` with one line per
mistake (`<where>: hooks.ci.secret_envv: unknown key; did you mean secret_env?`); ``bot/core/policy.py``
turns the file into the ``Policy`` the rest of the product uses.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError

from bot.core import image_refs
from bot.core.notify import EXAMPLE as NOTIFY_EXAMPLE
from bot.core.notify import NotifyEntry
from bot.core.units import parse_duration, parse_size
from bot.core.yaml_schema import Strict, Text, one_of, problems, refusal, refuse, shown, suggestion

RATE = re.compile(r"[1-9][0-9]*\s*/\s*(?:[1-9][0-9]*\s+)?(?:second|minute|hour|day)s?")
# Least privilege by default: with no `roles:` nobody in Slack holds a role (they may run `help`, which
# says how roles are granted); the console and `dockerverse up`'s own token act as the top role.
DEFAULT_ROLES: dict[str, list[str]] = {}
DEFAULT_PERMISSIONS: dict[str, list[str]] = {
    "viewer": ["help", "list", "logs", "images", "inspect", "hosts"],
    "operator": ["run", "stop", "start", "restart", "rm", "pull", "redeploy"],
    "admin": ["rmi"],
}
# Reading (logs, inspect, follows) a container the bot did not create: databases and other teams'
# services are not every viewer's business. The top role has it unless a file grants it lower.
READ_UNMANAGED = "read-unmanaged"
# Every permission a command needs (`audit` is the top role's unless a file grants it lower), and what
# a role under `permissions:` may list (`read-unmanaged` too, also the top role's by default).
COMMANDS = (*chain.from_iterable(DEFAULT_PERMISSIONS.values()), "audit")
PERMISSIONS = (*COMMANDS, READ_UNMANAGED)
# Seconds after it was issued that a job may still start: a command nobody saw start within half a
# minute is better dropped than run late; pulls and redeploys may queue behind other long pulls.
DEFAULT_DEADLINES: dict[str, float] = {"default": 30.0, "pull": 600.0, "redeploy": 600.0}
MAX_DEADLINE = 86400.0  # a day: later than that, whoever asked has long moved on
SCHEMES = ("standard", "github")
EXAMPLES = {
    "limits": "limits: {default: {memory: 512m, cpus: 1.0, pids: 256}, max: {memory: 2g, cpus: 2.0, pids: 1024}}",
    "hooks": "hooks: {ci: {secret_env: CI_HOOK_SECRET, role: operator, channel: C0DEPLOY, schemes: [standard]}}",
    "tokens": "tokens: {dashboard: {token_env: DASHBOARD_TOKEN, role: viewer}}",
    "deadlines": "deadlines: {default: 30s, pull: 10m}",
    "rate_limits": "rate_limits: {mutating: 30/minute, reads: 120/minute, follows: 2}",
    "notify": NOTIFY_EXAMPLE,
    "images": 'images: {allow: ["busybox", "nginx:*", "ghcr.io/acme/**:*"]}',
    "redeploy": 'redeploy: {inherit_privileges: ["monitoring-*"]}',
}


def _size(value: Any) -> int:
    """`512m`, `2g`, or a whole number of bytes (as Docker takes it)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError:
            raise refuse(f"{shown(value)} is not a size (examples: 256m, 1g)") from None
    else:
        raise refuse(f"must be a size like 512m or 2g, not {shown(value)}")
    if size <= 0:
        raise refuse(f"must be more than 0, not {shown(value)}")
    return size


def _duration(value: Any) -> float:
    if not isinstance(value, str):
        raise refuse(f"must be a duration like 30s or 10m, not {shown(value)}")
    try:
        seconds = -1.0 if value.strip().startswith("-") else parse_duration(value)
    except ValueError:
        raise refuse(f"{shown(value)} is not a duration (examples: 30s, 10m, 1h)") from None
    if not 0 < seconds <= MAX_DEADLINE:
        raise refuse(f"must be more than 0s and at most 1d, not {shown(value)}")
    return seconds


def _image_pattern(value: str) -> str:
    try:
        image_refs.parse_pattern(value)
    except image_refs.BadReference as exc:
        raise refuse(str(exc)) from None
    return value


def _rate(value: str) -> str:
    if not RATE.fullmatch(value):
        raise refuse(f"{shown(value)} is not a rate; write it like 30/minute or 5/second")
    return value


Command = Annotated[str, AfterValidator(one_of("command", PERMISSIONS))]
DeadlineKey = Annotated[str, AfterValidator(one_of("key", ("default", *COMMANDS)))]
Scheme = Annotated[str, AfterValidator(one_of("scheme", SCHEMES))]
Size = Annotated[int, BeforeValidator(_size)]
Duration = Annotated[float, BeforeValidator(_duration)]
ImagePattern = Annotated[Text, AfterValidator(_image_pattern)]


class ImagesSection(Strict):
    allow: list[ImagePattern] = Field(["*"], min_length=1)  # empty would refuse every image: say "*" to allow all


class RedeploySection(Strict):
    # Container-name globs whose privileges (privileged mode, host namespaces, devices, added
    # capabilities, the Docker socket) a redeploy may carry over; by default none may.
    inherit_privileges: list[Text] = Field(default_factory=list)


class LimitsSpec(Strict):
    memory: Size | None = None
    cpus: float | None = Field(None, gt=0)
    pids: int | None = Field(None, gt=0)


class LimitsSection(Strict):
    default: LimitsSpec | None = None
    max: LimitsSpec | None = None


class HookSpec(Strict):
    secret_env: Text
    role: Text
    channel: Text | None = None
    schemes: list[Scheme] = Field(["standard"], min_length=1)


class TokenSpec(Strict):
    token_env: Text
    role: Text


class RateLimitsSection(Strict):
    mutating: Annotated[str, AfterValidator(_rate)] = "30/minute"  # changing commands per actor
    reads: Annotated[str, AfterValidator(_rate)] = "120/minute"  # every other command per actor
    follows: int = Field(2, ge=1, le=50)  # log follows and SSE streams one actor may hold at once


class PolicyFile(Strict):
    """The whole file. A section left out (or empty) keeps its built-in default."""

    roles: dict[Text, list[Text] | None] | None = None
    permissions: dict[Text, list[Command] | None] | None = None
    images: ImagesSection | None = None
    redeploy: RedeploySection | None = None
    limits: LimitsSection | None = None
    hooks: dict[Text, HookSpec] | None = None
    tokens: dict[Text, TokenSpec] | None = None
    rate_limits: RateLimitsSection | None = None
    default_host: str | None = None
    notify: list[NotifyEntry] | None = None
    deadlines: dict[DeadlineKey, Duration] | None = None

    def role_mistakes(self) -> list[str]:
        """Roles given to people, hooks or tokens must have commands under `permissions:`."""
        perms = list(self.permissions or DEFAULT_PERMISSIONS)
        known = f"the roles under permissions are {', '.join(perms)}"
        lines = [
            f"roles.{role}: not a role under permissions; add its commands there ({known}){suggestion(role, perms)}"
            for role in self.roles or {}
            if role not in perms
        ]
        for section, entries in (("hooks", self.hooks or {}), ("tokens", self.tokens or {})):
            lines += [
                f"{section}.{name}.role: `{spec.role}` is not a role under permissions ({known})"
                + suggestion(spec.role, perms)
                for name, spec in entries.items()
                if spec.role not in perms
            ]
        return lines


def read(raw: Any, where: str) -> PolicyFile:
    """The file's YAML, validated; ``DockerverseError`` lists every mistake, one line each."""
    try:
        spec = PolicyFile.model_validate({} if raw is None else raw)
    except ValidationError as exc:
        raise refusal(where, problems(exc, PolicyFile, examples=EXAMPLES)) from None
    mistakes = spec.role_mistakes()
    if mistakes:
        raise refusal(where, mistakes)
    return spec
