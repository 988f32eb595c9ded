"""Who may do what: roles, permissions inherited upward, the image allow-list, limits.

Loaded from the YAML policy file (DOCKERVERSE_CONFIG) or built-in defaults. Pure
after loading: ``authorize`` takes an actor and a command and returns the command
to run (limits filled in) or raises ``PolicyError`` naming the rule that refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from bot.core import commands as c
from bot.core import image_refs
from bot.core.errors import CommandError, DockerverseError, PolicyError
from bot.core.notify import NotifyRule
from bot.core.policy_schema import (
    DEFAULT_DEADLINES,
    DEFAULT_PERMISSIONS,
    DEFAULT_ROLES,
    READ_UNMANAGED,
    LimitsSection,
    LimitsSpec,
    RateLimitsSection,
    read,
)
from bot.core.slack_text import code
from bot.core.units import format_size

BUILT_IN = "built-in defaults"
Source = Literal["slash", "mention", "dm", "hook", "api", "shell", "button", "home"]


SLACK_SOURCES = ("slash", "mention", "dm", "button")  # where a person is asked to confirm in Slack


@dataclass(frozen=True)
class Actor:
    """Who asked: a Slack user (with the channel they asked in), a hook, a token or the console."""

    id: str
    source: Source
    channel: str | None = None
    role: str | None = None  # fixed by configuration for hooks and API tokens, never by a request

    @property
    def display(self) -> str:
        return f"<@{self.id}>" if self.source in ("slash", "mention", "dm", "button", "home") else self.id


@dataclass(frozen=True)
class Hook:
    """POST /hooks/<name>: its secret comes from the variable `secret_env`."""

    name: str
    secret_env: str
    role: str
    channel: str | None = None
    schemes: tuple[str, ...] = ("standard",)  # the signature schemes it accepts: standard, github


@dataclass(frozen=True)
class Token:
    """A bearer token for /api/*, read from the variable `token_env`, acting with `role`."""

    name: str
    token_env: str
    role: str


@dataclass(frozen=True)
class Limits:
    memory: int
    cpus: float
    pids: int


@dataclass(frozen=True)
class Policy:
    roles: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_ROLES))
    # Ordered lowest first: each role also has every command of the roles before it.
    permissions: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    image_allow: tuple[str, ...] = ("*",)
    # Container-name globs a redeploy may carry privileges over for (workers/docker/privileges.py); none by default.
    inherit_privileges: tuple[str, ...] = ()
    default_limits: Limits = Limits(512 * 1024**2, 1.0, 256)
    max_limits: Limits = Limits(2 * 1024**3, 2.0, 1024)
    hooks: dict[str, Hook] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    rate_limit: str = "30/minute"  # changing commands per actor (person, hook, token)
    read_rate_limit: str = "120/minute"  # every other command per actor
    follow_cap: int = 2  # log follows and SSE streams one actor may hold at once
    default_host: str | None = None  # where commands without --host go; unset: the only host served
    notify: tuple[NotifyRule, ...] = ()  # Docker events the workers post to Slack (bot/core/notify.py)
    # Seconds after it was issued that a command's job may still start, by permission or `default`.
    deadlines: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DEADLINES))
    source: str = BUILT_IN

    @property
    def file(self) -> str:
        """Where an admin changes this policy, for messages that say how."""
        if self.source == BUILT_IN:
            return "a policy file (none is set yet: point DOCKERVERSE_CONFIG at one; README shows an example)"
        return self.source

    @property
    def top_role(self) -> str:
        return list(self.permissions)[-1]

    def granted(self, role: str) -> set[str]:
        """The role's commands and those of every role below it; the top role also reads the audit log
        and containers the bot did not create."""
        names = list(self.permissions)
        if role not in names:
            return set()
        extra = {"audit", READ_UNMANAGED} if role == self.top_role else set()
        return extra | {cmd for r in names[: names.index(role) + 1] for cmd in self.permissions[r]}

    def role_of(self, actor: Actor) -> str | None:
        """The highest role the actor holds; the console on one's own machine is always the top role."""
        if actor.source == "shell":
            return self.top_role
        if actor.role is not None:
            return actor.role if actor.role in self.permissions else None
        keys = {actor.id, "*"} | ({f"channel:{actor.channel}"} if actor.channel else set())
        held = [role for role in self.permissions if keys & set(self.roles.get(role, []))]
        return held[-1] if held else None

    def deadline_for(self, permission: str) -> float:
        """How long after it was issued a job of this command may still start: its own entry, else `default`."""
        return self.deadlines.get(permission, self.deadlines.get("default", DEFAULT_DEADLINES["default"]))

    def lowest_role_for(self, permission: str) -> str | None:
        return next((r for r in self.permissions if permission in self.granted(r)), None)

    def authorize(self, actor: Actor, command: c.Command) -> c.Command:
        if isinstance(command, c.Help):
            return command  # everyone may ask what they could do, and how to be given a role
        role = self.role_of(actor)
        if role is None or command.permission not in self.granted(role):
            needed = self.lowest_role_for(command.permission)
            you = f"you ({actor.display}) have role `{role}`" if role else f"you ({actor.display}) have no role"
            # Hooks and tokens get their role from their own entry, people from `roles:`.
            section = {"hook": "hooks", "api": "tokens"}.get(actor.source)
            where = (
                f"an admin can set its `role` under `{section}:`"
                if section and actor.role is not None
                else f"an admin can add you (or this channel as `channel:ID`) to `roles.{needed}`"
            )
            grant = (
                f"it needs role `{needed}` or above: {where} in {self.file}"
                if needed
                else f"no role is given `{command.permission}` in {self.file}"
            )
            raise PolicyError(f"Not allowed: `{command.permission}` — {you}; {grant}.")
        if isinstance(command, c.Run | c.Pull):
            self.check_image(command.image)
        if isinstance(command, c.Run):
            return self.apply_limits(command)
        if isinstance(command, c.Redeploy):
            if command.image:
                self.check_image(command.image)
            return dataclasses.replace(command, allow=self.image_allow, inherit_privileges=self.inherit_privileges)
        return command

    def check_image(self, image: str) -> None:
        check_image_allowed(image, self.image_allow, self.source)

    def apply_limits(self, run: c.Run) -> c.Run:
        """Fill in default limits; refuse any above the cap. Never unlimited."""
        memory = run.memory or self.default_limits.memory
        cpus = run.cpus or self.default_limits.cpus
        if memory > self.max_limits.memory:
            raise PolicyError(
                f"`--memory {format_size(memory)}` is above the cap of {format_size(self.max_limits.memory)} "
                f"(limits.max in {self.source}): ask for less."
            )
        if cpus > self.max_limits.cpus:
            raise PolicyError(
                f"`--cpus {cpus:g}` is above the cap of {self.max_limits.cpus:g} (limits.max in {self.source}): "
                "ask for less."
            )
        return dataclasses.replace(run, memory=memory, cpus=cpus, pids=self.default_limits.pids)


def check_image_allowed(image: str, allow: tuple[str, ...], source: str = "the policy") -> None:
    """Raise ``PolicyError`` unless the normalized reference matches a pattern of ``images.allow``, part by
    part (bot/core/image_refs.py); ``CommandError`` when it is no image reference at all."""
    try:
        ref = image_refs.parse_reference(image)
    except image_refs.BadReference as exc:
        raise CommandError(f"{exc}.") from None
    patterns = [pattern for text in allow if (pattern := _pattern(text)) is not None]
    if any(pattern.matches(ref) for pattern in patterns):
        return
    allowed = ", ".join(code(p) for p in allow)
    # The usual surprise: a pattern with no tag means `:latest` only, as it does to Docker.
    near = next((p.text for p in patterns if not p.tag_written and p.same_repository(ref) and ref.tag != "latest"), "")
    hint = f" (`{near}` means its `:latest` only: `{near}:*` allows every tag)" if near else ""
    raise PolicyError(
        f"Image {code(image)} is not on the allow-list ({allowed}) of {source}: it reads as {code(str(ref))}{hint}. "
        "Ask an admin to add it under `images.allow`."
    )


def _pattern(text: str) -> image_refs.ImagePattern | None:
    """A pattern of the allow-list; one that cannot be read (the schema refuses those) matches nothing."""
    try:
        return image_refs.parse_pattern(text)
    except image_refs.BadReference:
        return None


def normalize_image(ref: str) -> str:
    """`busybox` -> `docker.io/library/busybox:latest`, as Docker resolves it."""
    return image_refs.normalize(ref)


def _limits(spec: LimitsSpec | None, base: Limits) -> Limits:
    """A key left out keeps the built-in value."""
    if spec is None:
        return base
    return Limits(spec.memory or base.memory, spec.cpus or base.cpus, spec.pids or base.pids)


def load_policy(path: str | None) -> Policy:
    """Read the policy file, or the built-in defaults when no path is set. Fails loudly on a bad file:
    every unknown key, wrong type or missing role, one line each, naming the file and the key's path."""
    if not path:
        return Policy()
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DockerverseError(f"Cannot read the policy file {path} (DOCKERVERSE_CONFIG): {exc}") from None
    spec = read(raw, f"the policy file {path}")
    base = Policy()
    perms = {role: list(cmds or []) for role, cmds in (spec.permissions or base.permissions).items()}
    if not any("redeploy" in cmds for cmds in perms.values()):
        # `redeploy` came after many policy files were written: where no role names it, the roles
        # that may `run` containers may redeploy them (a file that lists it decides for itself).
        for cmds in perms.values():
            if "run" in cmds:
                cmds.append("redeploy")
    limits = spec.limits or LimitsSection()
    rates = spec.rate_limits or RateLimitsSection()
    return Policy(
        roles={role: list(members or []) for role, members in (spec.roles or base.roles).items()},
        permissions=perms,
        image_allow=tuple(spec.images.allow) if spec.images else base.image_allow,
        inherit_privileges=tuple(spec.redeploy.inherit_privileges) if spec.redeploy else (),
        default_limits=_limits(limits.default, base.default_limits),
        max_limits=_limits(limits.max, base.max_limits),
        hooks={
            name: Hook(name, h.secret_env, h.role, h.channel, tuple(dict.fromkeys(h.schemes)))
            for name, h in (spec.hooks or {}).items()
        },
        tokens={name: Token(name, t.token_env, t.role) for name, t in (spec.tokens or {}).items()},
        rate_limit=rates.mutating,
        read_rate_limit=rates.reads,
        follow_cap=rates.follows,
        default_host=spec.default_host or None,
        notify=tuple(entry.rule() for entry in spec.notify or ()),
        deadlines={**base.deadlines, **(spec.deadlines or {})},
        source=f"the policy file {path}",
    )
