"""Secrets are real keys: long enough, not a shipped placeholder, and `whsec_` strictly base64."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli.up_launch import key_env
from bot.core.errors import DockerverseError
from bot.core.keys import MIN_KEY_BYTES, PLACEHOLDERS, key_problem
from bot.core.policy import Hook, Policy
from bot.core.settings import Settings
from bot.wire.job_keys import secret_problems, web_keys, worker_keys

ROOT = Path(__file__).resolve().parent.parent
GOOD = "0123456789abcdef0123456789abcdef"


def test_every_placeholder_in_env_example_is_known() -> None:
    """Each value deploy/.env.example ships (commented out or not) is on the placeholder list."""
    text = (ROOT / "deploy" / ".env.example").read_text()
    values = [v for name, v in re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", text, re.M) if name != "DOCKER_GID"]
    assert values and set(values) <= PLACEHOLDERS, set(values) - PLACEHOLDERS


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDERS))
def test_a_placeholder_is_refused_naming_the_variable(placeholder: str) -> None:
    """A placeholder from deploy/ is never a key, whatever its length, and the message says how to make one."""
    problem = key_problem("CI_HOOK_SECRET", placeholder, ("standard", "github"))
    assert problem and problem.startswith("CI_HOOK_SECRET ") and "openssl rand -hex 32" in problem


def test_keys_under_16_bytes_are_refused_after_decoding() -> None:
    """Length is the key's, after `whsec_` decoding: 15 bytes is refused, 16 accepted; GitHub counts the text."""
    assert key_problem("DOCKERVERSE_API_TOKEN", "x" * 15) == (
        "DOCKERVERSE_API_TOKEN is too short to be a key: 15 bytes, at least 16 are needed. "
        "Set it to a random value: `openssl rand -hex 32`."
    )
    assert key_problem("DOCKERVERSE_API_TOKEN", "x" * MIN_KEY_BYTES) is None
    short = "whsec_" + "QUFB" * 5  # 15 bytes of key, 26 characters of text
    assert "base64 of 15 bytes" in str(key_problem("H", short, ("standard",)))
    assert key_problem("H", short, ("github",)) is None
    assert key_problem("H", "whsec_" + "QUFB" * 6, ("standard", "github")) is None


def test_a_whsec_secret_that_is_not_base64_is_refused() -> None:
    """`whsec_` followed by anything but base64 is an error naming the variable, never the raw text as a key."""
    problem = key_problem("CI_HOOK_SECRET", "whsec_not-base64-at-all!", ("standard",))
    assert problem and "CI_HOOK_SECRET starts with `whsec_`" in problem and "not base64" in problem
    assert 'echo "whsec_$(openssl rand -base64 32)"' in problem


def test_settings_refuse_a_bad_job_key_or_api_token_but_not_an_unset_token() -> None:
    """The job key is required and must be real; an unset API token is fine (503), a short one is not."""
    with pytest.raises(DockerverseError, match="DOCKERVERSE_JOB_KEY is still `generate-with"):
        Settings(DOCKERVERSE_JOB_KEY="generate-with-openssl-rand-hex-32").require_job_key()
    with pytest.raises(DockerverseError, match="DOCKERVERSE_API_TOKEN is too short"):
        Settings(DOCKERVERSE_JOB_KEY=GOOD, DOCKERVERSE_API_TOKEN="letmein").api_token_key()
    assert Settings(DOCKERVERSE_JOB_KEY=GOOD, DOCKERVERSE_API_TOKEN="").api_token_key() is None
    assert Settings(DOCKERVERSE_JOB_KEY=GOOD).require_job_key() == GOOD.encode()


def test_the_web_lists_every_bad_secret_and_skips_unset_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """All bad secrets are reported at once, each by its variable; a hook whose variable is unset is not one."""
    monkeypatch.setenv("BAD_HOOK_SECRET", "whsec_...")
    monkeypatch.delenv("UNSET_HOOK_SECRET", raising=False)
    hooks = {
        "ci": Hook("ci", "BAD_HOOK_SECRET", "operator"),
        "later": Hook("later", "UNSET_HOOK_SECRET", "viewer"),
    }
    settings = Settings(DOCKERVERSE_JOB_KEY="short", DOCKERVERSE_API_TOKEN="change-me")
    problems = secret_problems(settings, Policy(hooks=hooks))
    assert [p.split(" ", 1)[0] for p in problems] == ["DOCKERVERSE_JOB_KEY", "DOCKERVERSE_API_TOKEN", "BAD_HOOK_SECRET"]
    assert "hook `ci`" in problems[2]


def test_up_gives_the_web_a_fresh_pair_and_its_worker_only_the_public_key() -> None:
    """`dockerverse up` makes a pair each web and worker accept; the worker's signing key is blanked (over .env)."""
    web, worker = key_env(Settings(DOCKERVERSE_JOB_KEY=GOOD))
    assert web_keys(Settings(**web)).warnings == ()
    keys = worker_keys(Settings(**worker))
    assert worker["DOCKERVERSE_SIGNING_KEY"] == "" and worker["DOCKERVERSE_JOB_KEY"] == "" and not keys.legacy
    assert keys.verifier.verify(b"m", web_keys(Settings(**web)).signer.sign(b"m"))
