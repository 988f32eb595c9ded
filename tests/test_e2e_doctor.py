"""`dockerverse doctor` against a running stack, a broken Redis URL and a wrong Slack token."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.fakeslack import FakeSlack
from tests.support.stack import ROOT, Stack
from tests.support.stack_factory import StackOptions

pytestmark = pytest.mark.e2e


STACK = StackOptions(db=10)


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "doctor"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=90
    )


def test_doctor_passes_on_a_healthy_stack(stack: Stack, slack: FakeSlack) -> None:
    """Every check green: policy, job key, Redis, the host's Docker and workers, Slack's auth.test."""
    done = doctor({**stack.env, "UNSET_HOOK_SECRET": "set-for-this-check"})  # the policy names it
    assert done.returncode == 0, done.stdout + done.stderr
    for said in (
        "✅ Policy:",
        "✅ Job keys: Ed25519",
        "✅ Redis at redis://127.0.0.1",
        "✅ Host `local`: Docker 20.10",
        "1 quick + 1 slow + 3 stream workers",
        "✅ Slack: the bot is @dockerverse",
        "All good.",
    ):
        assert said in done.stdout, done.stdout
    assert slack.calls("auth.test")


def test_doctor_names_what_is_broken_and_how_to_fix_it(stack: Stack, slack: FakeSlack) -> None:
    """A Redis that does not answer, a missing hook secret and a rejected Slack token each get a ❌ that says
    what to do; the exit status is 1."""
    slack.fail_next("auth.test", status=200, error="invalid_auth")
    broken = doctor({**stack.env, "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0", "CI_HOOK_SECRET": ""})
    assert broken.returncode == 1
    out = broken.stdout
    assert "❌ Redis at redis://:••••@127.0.0.1:1/0" in out and "hunter2" not in out
    assert "❌ Hook `ci`: CI_HOOK_SECRET is not set" in out
    assert "❌ Slack: auth.test refused SLACK_BOT_TOKEN: invalid_auth" in out


def test_doctor_fails_each_secret_that_is_not_a_real_key(stack: Stack) -> None:
    """A placeholder hook secret, a short API token and a malformed signing key each get a ❌ naming the variable."""
    broken = doctor(
        {
            **stack.env,
            "CI_HOOK_SECRET": "whsec_...",
            "DOCKERVERSE_API_TOKEN": "letmein",
            "DOCKERVERSE_SIGNING_KEY": "ed25519sk_short",
            "UNSET_HOOK_SECRET": "set-for-this-check",
        }
    )
    assert broken.returncode == 1
    out = broken.stdout
    for said in (
        "❌ Hook `ci`: CI_HOOK_SECRET is still `whsec_...`, a placeholder from deploy/.env.example.",
        "❌ Hook `ci-github`: CI_HOOK_SECRET is still `whsec_...`",
        "❌ REST API: DOCKERVERSE_API_TOKEN is too short to be a key: 7 bytes",
        "❌ Job keys: DOCKERVERSE_SIGNING_KEY is not an Ed25519 private key",
        "✅ Hook `gh`: GH_HOOK_SECRET is set (accepts standard, github)",
    ):
        assert said in out, out


def test_doctor_checks_the_socket_mode_token_too(stack: Stack, slack: FakeSlack) -> None:
    """With SLACK_APP_TOKEN set, doctor asks Slack to open a Socket Mode connection with it."""
    good = doctor({**stack.env, "SLACK_APP_TOKEN": "xapp-1-A1-1-abc"})
    assert "SLACK_APP_TOKEN opens Socket Mode connections" in good.stdout, good.stdout
    [asked] = slack.calls("apps.connections.open")
    assert asked.token == "xapp-1-A1-1-abc"
    slack.fail_next("apps.connections.open", status=200, error="invalid_auth")
    bad = doctor({**stack.env, "SLACK_APP_TOKEN": "xapp-1-A1-1-revoked"})
    assert bad.returncode == 1
    assert "❌ Slack: apps.connections.open refused SLACK_APP_TOKEN: invalid_auth" in bad.stdout, bad.stdout
