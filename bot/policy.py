"""Who may do what: roles, permissions inherited upward, the image allow-list, limits.

Loaded from the YAML policy file (DOCKERVERSE_CONFIG) or built-in defaults. Pure
after loading: ``authorize`` takes an actor and a command and returns the command
to run (limits filled in) or raises ``PolicyError`` naming the rule that refused.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bot import commands as c
from bot.errors import DockerverseError, PolicyError
from bot.notify import NotifyRule, parse_notify
from bot.units import format_size, parse_size

RATE = re.compile(r"[1-9][0-9]*\s*/\s*(?:[1-9][0-9]*\s+)?(?:second|minute|hour|day)s?")
Source = Literal["slash", "mention", "dm", "hook", "api", "shell", "button", "home"]


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
    schemes: tuple[str, ...] = ("standard",)  # signature schemes it accepts: standard, github


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


DEFAULT_PERMISSIONS: dict[str, list[str]] = {
    "viewer": ["help", "list", "logs", "images", "inspect", "hosts"],
    "operator": ["run", "stop", "start", "restart", "rm", "pull", "redeploy"],
    "admin": ["rmi"],
}


@dataclass(frozen=True)
class Policy:
    roles: dict[str, list[str]] = field(default_factory=lambda: {"viewer": ["*"]})
    # Ordered lowest first: each role also has every command of the roles before it.
    permissions: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    image_allow: tuple[str, ...] = ("*",)
    default_limits: Limits = Limits(512 * 1024**2, 1.0, 256)
    max_limits: Limits = Limits(2 * 1024**3, 2.0, 1024)
    hooks: dict[str, Hook] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    rate_limit: str = "30/minute"  # changing commands per actor (person, hook, token)
    default_host: str | None = None  # where commands without --host go; unset: the only host served
    notify: tuple[NotifyRule, ...] = ()  # Docker events the workers post to Slack (bot/notify.py)
    source: str = "built-in defaults"

    @property
    def top_role(self) -> str:
        return list(self.permissions)[-1]

    def granted(self, role: str) -> set[str]:
        """The role's commands and those of every role below it; the top role also reads the audit log."""
        names = list(self.permissions)
        if role not in names:
            return set()
        extra = {"audit"} if role == self.top_role else set()
        return extra | {cmd for r in names[: names.index(role) + 1] for cmd in self.permissions[r]}

    def role_of(self, actor: Actor) -> str | None:
        """The highest role the actor holds; the console is always admin."""
        if actor.source == "shell":
            return "admin"
        if actor.role is not None:
            return actor.role if actor.role in self.permissions else None
        keys = {actor.id, "*"} | ({f"channel:{actor.channel}"} if actor.channel else set())
        held = [role for role in self.permissions if keys & set(self.roles.get(role, []))]
        return held[-1] if held else None

    def lowest_role_for(self, permission: str) -> str | None:
        return next((r for r in self.permissions if permission in self.granted(r)), None)

    def authorize(self, actor: Actor, command: c.Command) -> c.Command:
        role = self.role_of(actor)
        if role is None or command.permission not in self.granted(role):
            needed = self.lowest_role_for(command.permission)
            you = f"you ({actor.display}) have role `{role}`" if role else f"you ({actor.display}) have no role"
            # Hooks and tokens get their role from their own entry, people from `roles:`.
            section = {"hook": "hooks", "api": "tokens"}.get(actor.source)
            where = (
                f"an admin can set its `role` under `{section}:`"
                if section and actor.role is not None
                else f"an admin can add you to `roles.{needed}`"
            )
            grant = (
                f"it needs role `{needed}` or above: {where} in {self.source}"
                if needed
                else f"no role is given `{command.permission}` in {self.source}"
            )
            raise PolicyError(f"Not allowed: `{command.permission}` — {you}; {grant}.")
        if isinstance(command, c.Run | c.Pull):
            self.check_image(command.image)
        if isinstance(command, c.Run):
            return self.apply_limits(command)
        if isinstance(command, c.Redeploy):
            if command.image:
                self.check_image(command.image)
            return dataclasses.replace(command, allow=self.image_allow)
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
    """Raise ``PolicyError`` unless the normalized reference matches a pattern of ``images.allow``."""
    ref = normalize_image(image)
    patterns = {q for p in allow for q in (p, normalize_image(p, pattern=True))}
    if not any(fnmatch.fnmatchcase(ref, p) for p in patterns):
        allowed = ", ".join(f"`{p}`" for p in allow)
        raise PolicyError(
            f"Image `{image}` is not on the allow-list ({allowed}) of {source}: "
            "ask an admin to add it under `images.allow`."
        )


def normalize_image(ref: str, pattern: bool = False) -> str:
    """`busybox` -> `docker.io/library/busybox:latest`, as Docker resolves it.

    For a glob pattern whose last part has a `*`, no tag is added: `ghcr.io/acme/*` matches any tag.
    """
    name, digest = ref.split("@", 1) if "@" in ref else (ref, "")
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not digest and not (pattern and "*" in last):
        name += ":latest"
    return f"{name}@{digest}" if digest else name


def _limits(raw: dict[str, Any], fallback: Limits, where: str) -> Limits:
    try:
        return Limits(
            memory=parse_size(str(raw.get("memory", f"{fallback.memory}b"))),
            cpus=float(raw.get("cpus", fallback.cpus)),
            pids=int(raw.get("pids", fallback.pids)),
        )
    except (ValueError, TypeError) as exc:
        raise DockerverseError(
            f"{where}: {exc}: fix the limits (example: {{memory: 512m, cpus: 1.0, pids: 256}})"
        ) from None


def _hooks(raw: Any, permissions: dict[str, list[str]], path: str) -> dict[str, Hook]:
    if not isinstance(raw, dict):
        raise DockerverseError(f"{path}: `hooks:` must map names to {{secret_env: VAR, role: ROLE, channel: C}}.")
    hooks = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or not spec.get("secret_env") or not spec.get("role"):
            raise DockerverseError(
                f"{path}: hook `{name}` needs `secret_env` and `role` (example: "
                "{secret_env: CI_HOOK_SECRET, role: operator, channel: C0DEPLOY})."
            )
        if spec["role"] not in permissions:
            raise DockerverseError(
                f"{path}: hook `{name}` has role `{spec['role']}`, which is not under `permissions:`."
            )
        channel = spec.get("channel")
        schemes = spec.get("schemes", ["standard"])
        if not isinstance(schemes, list) or not schemes or not all(s in ("standard", "github") for s in schemes):
            raise DockerverseError(
                f"{path}: hook `{name}` has `schemes: {schemes}`; list the signature schemes it accepts from "
                "[standard, github] (example: `schemes: [standard, github]`)."
            )
        hooks[str(name)] = Hook(
            str(name), str(spec["secret_env"]), str(spec["role"]), str(channel) if channel else None, tuple(schemes)
        )
    return hooks


def _tokens(raw: Any, permissions: dict[str, list[str]], path: str) -> dict[str, Token]:
    if not isinstance(raw, dict):
        raise DockerverseError(f"{path}: `tokens:` must map names to {{token_env: VAR, role: ROLE}}.")
    tokens = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or not spec.get("token_env") or spec.get("role") not in permissions:
            raise DockerverseError(
                f"{path}: token `{name}` needs `token_env` and a `role` listed under `permissions:` "
                "(example: {token_env: DASHBOARD_TOKEN, role: viewer})."
            )
        tokens[str(name)] = Token(str(name), str(spec["token_env"]), str(spec["role"]))
    return tokens


def load_policy(path: str | None) -> Policy:
    """Read the policy file, or the built-in defaults when no path is set. Fails loudly on a bad file."""
    if not path:
        return Policy()
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DockerverseError(f"Cannot read the policy file {path} (DOCKERVERSE_CONFIG): {exc}") from None
    if not isinstance(raw, dict):
        raise DockerverseError(f"The policy file {path} must be a YAML mapping (roles:, permissions:, ...).")
    base = Policy()
    limits = raw.get("limits") or {}
    roles = {str(k): [str(m) for m in (v or [])] for k, v in (raw.get("roles") or base.roles).items()}
    perms = {str(k): [str(m) for m in (v or [])] for k, v in (raw.get("permissions") or base.permissions).items()}
    if not any("redeploy" in cmds for cmds in perms.values()):
        # `redeploy` came after many policy files were written: where no role names it, the roles
        # that may `run` containers may redeploy them (a file that lists it decides for itself).
        for cmds in perms.values():
            if "run" in cmds:
                cmds.append("redeploy")
    unknown = set(roles) - set(perms)
    if unknown:
        raise DockerverseError(f"{path}: roles {sorted(unknown)} have no entry under `permissions:`; add them.")
    hooks = _hooks(raw.get("hooks") or {}, perms, path)
    tokens = _tokens(raw.get("tokens") or {}, perms, path)
    rate = str((raw.get("rate_limits") or {}).get("mutating", base.rate_limit))
    if not RATE.fullmatch(rate):
        raise DockerverseError(f"{path}: rate_limits.mutating is `{rate}`; write it like `30/minute` or `5/second`.")
    return Policy(
        default_host=str(raw["default_host"]) if raw.get("default_host") else None,
        rate_limit=rate,
        roles=roles,
        hooks=hooks,
        tokens=tokens,
        permissions=perms,
        image_allow=tuple(str(p) for p in ((raw.get("images") or {}).get("allow") or ["*"])),
        default_limits=_limits(limits.get("default") or {}, base.default_limits, f"{path}: limits.default"),
        max_limits=_limits(limits.get("max") or {}, base.max_limits, f"{path}: limits.max"),
        notify=parse_notify(raw.get("notify"), path),
        source=f"the policy file {path}",
    )
