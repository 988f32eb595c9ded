"""What makes a secret a real key: at least 16 bytes, not a placeholder from deploy/, and a
`whsec_` secret truly base64.

A copied .env.example or a mistyped secret would otherwise run with a key anyone can guess
(`whsec_...` decodes to no key at all, and HMAC accepts an empty key). So each process checks
its secrets where it starts and stops with the variable's name: the web its signing key, API
token and every hook's secret, a worker its verify key (bot/wire/job_keys.py); `dockerverse doctor`
reports the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.core.errors import DockerverseError
from bot.core.hook_signatures import WHSEC, github_key, standard_key

if TYPE_CHECKING:
    from bot.core.policy import Hook

MIN_KEY_BYTES = 16
# Every value deploy/ ships where a secret goes (tests/test_keys.py holds deploy/.env.example to this list).
PLACEHOLDERS = frozenset(
    {
        "change-me",
        "generate-with-openssl-rand-hex-32",
        "whsec_...",
        "xoxb-...",
        "xapp-...",
        "...",
        "ed25519sk_...",
        "ed25519pk_...",
    }
)
MAKE_KEY = "`openssl rand -hex 32`"
MAKE_HOOK_SECRET = 'or, for Standard Webhooks only, `echo "whsec_$(openssl rand -base64 32)"`'
PLAIN = "plain"  # a key used as its UTF-8 bytes: the job key, the API token


def derive(secret: str, scheme: str = PLAIN) -> bytes:
    """The key bytes `scheme` uses; raises ValueError for a `whsec_` secret that is not base64."""
    return standard_key(secret) if scheme == "standard" else github_key(secret)


def key_problem(variable: str, secret: str, schemes: Sequence[str] = (PLAIN,)) -> str | None:
    """Why `secret`, the value of `variable`, is not a real key for any of `schemes`, or None."""
    make = f"Set it to a random value: {MAKE_KEY}"
    if "standard" in schemes:
        make += f" ({MAKE_HOOK_SECRET})"
    if secret in PLACEHOLDERS:
        return f"{variable} is still `{secret}`, a placeholder from deploy/.env.example. {make}."
    for scheme in schemes:
        try:
            key = derive(secret, scheme)
        except ValueError as exc:
            return f"{variable} starts with `{WHSEC}`, so it must be a Standard Webhooks secret, but {exc}. {make}."
        if len(key) < MIN_KEY_BYTES:
            whsec = scheme == "standard" and secret.startswith(WHSEC)
            what = f"`{WHSEC}` and base64 of {len(key)} bytes" if whsec else f"{len(key)} bytes"
            return f"{variable} is too short to be a key: {what}, at least {MIN_KEY_BYTES} are needed. {make}."
    return None


def require_key(variable: str, secret: str, scheme: str = PLAIN) -> bytes:
    """The key `scheme` uses, or a DockerverseError naming the variable and how to make a good one."""
    problem = key_problem(variable, secret, (scheme,))
    if problem:
        raise DockerverseError(problem)
    return derive(secret, scheme)


def hook_variable(hook: Hook) -> str:
    return f"{hook.secret_env} (the secret of hook `{hook.name}`)"
