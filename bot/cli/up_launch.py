"""What `dockerverse up` gives its processes and tells its user, all made before any of them starts:
job keys, the local admin's API token, each asked-for hook with its secret, an instance nonce."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.core.policy import Policy
from bot.core.settings import Settings
from bot.wire.job_keys import web_keys
from bot.wire.signing import SigningKey, generate

POLICY_FILE = "policy.yaml"


@dataclass(frozen=True)
class HookAccess:
    """A hook as `send` reaches it: its URL, the role it acts with, and the secret that signs for it."""

    name: str
    url: str
    role: str
    secret_env: str
    secret: str
    made_here: bool  # a fresh secret, shown once; else the user's own, never shown


@dataclass
class Launch:
    web_url: str
    instance: str  # the nonce the web echoes at /healthz: proof the answer comes from this `up`'s web
    api_token: str  # the local admin's bearer token for /api/* (and for signing in to the dashboard)
    api_token_made_here: bool
    web_env: dict[str, str]
    worker_env: dict[str, str]
    hooks: list[HookAccess] = field(default_factory=list)
    policy_file: Path | None = None  # made for --hook when the user's policy lacks the hook; removed at stop

    def state(self, pid: int) -> dict[str, object]:
        """What `shell`, `doctor` and `send` need to follow this `up` (written 0600)."""
        return {
            "pid": pid,
            "web_url": self.web_url,
            "instance": self.instance,
            "env": self.web_env,
            "hooks": {h.name: h.secret_env for h in self.hooks},
        }


def key_env(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """(the web's, the worker's) job-key variables: the user's own signing pair, else a fresh one.

    Even on one machine the worker gets only the public key, as it would anywhere else. Empty values
    override what a `.env` file may hold, so a worker never starts holding a key that signs.
    """
    if settings.signing_key:
        signer = web_keys(settings).signer  # refuses a malformed key before anything starts
        public = signer.public if isinstance(signer, SigningKey) else ""
        signing, verify = settings.signing_key, settings.verify_key or public
    else:
        signing, verify = generate()
    web = {"DOCKERVERSE_SIGNING_KEY": signing, "DOCKERVERSE_VERIFY_KEY": verify, "DOCKERVERSE_JOB_KEY": ""}
    return web, {**web, "DOCKERVERSE_SIGNING_KEY": ""}


def plan(settings: Settings, policy: Policy, web_url: str, hooks: list[str], folder: Path) -> Launch:
    """Everything but Redis's address, which exists only once Redis runs."""
    web, worker = key_env(settings)
    token = settings.api_token or secrets.token_urlsafe(32)
    web["DOCKERVERSE_API_TOKEN"] = token
    worker["DOCKERVERSE_API_TOKEN"] = ""  # a worker has no use for it
    launch = Launch(web_url, secrets.token_hex(8), token, not settings.api_token, web, worker)
    web["DOCKERVERSE_INSTANCE"] = launch.instance
    added: dict[str, dict[str, str]] = {}
    for name in dict.fromkeys(hooks):
        declared = policy.hooks.get(name)
        secret_env = declared.secret_env if declared else f"DOCKERVERSE_UP_HOOK_{name.upper().replace('-', '_')}_SECRET"
        role = declared.role if declared else ("operator" if "operator" in policy.permissions else policy.top_role)
        own = settings.lookup(secret_env)
        secret = own or secrets.token_hex(32)
        web[secret_env] = secret
        launch.hooks.append(HookAccess(name, f"{web_url}/hooks/{name}", role, secret_env, secret, not own))
        if not declared:
            added[name] = {"secret_env": secret_env, "role": role}
    if added:
        launch.policy_file = write_policy(settings.config_path, added, folder / POLICY_FILE)
    if launch.policy_file or settings.config_path:
        web["DOCKERVERSE_CONFIG"] = worker["DOCKERVERSE_CONFIG"] = str(launch.policy_file or settings.config_path)
    return launch


def write_policy(base: str | None, hooks: dict[str, dict[str, str]], path: Path) -> Path:
    """The user's policy file (if any) plus the hooks `--hook` asked for that it does not define."""
    raw = yaml.safe_load(Path(base).read_text()) if base else None  # main has validated it already
    data = dict(raw or {})
    data["hooks"] = {**(data.get("hooks") or {}), **hooks}
    change = f"edit {base} instead" if base else "to change more, point DOCKERVERSE_CONFIG at a policy file"
    header = f"# Made by `dockerverse up --hook` and removed when it stops: {change}.\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path
