"""Roles, inherited permissions, the image allow-list and forced limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core import commands as c
from bot.core.errors import DockerverseError, PolicyError
from bot.core.grammar import parse
from bot.core.policy import Actor, Policy, load_policy, normalize_image

POLICY = """
roles:
  admin: [U0ADMIN]
  operator: [U0OPS, "channel:C0DEPLOY"]
  viewer: ["*"]
permissions:
  viewer: [help, list, logs, images, inspect, hosts]
  operator: [run, stop, start, restart, rm, pull]
  admin: [rmi]
images:
  allow: ["busybox", "nginx:*", "ghcr.io/acme/*:*"]
limits:
  default: {memory: 128m, cpus: 0.5, pids: 64}
  max: {memory: 1g, cpus: 1.0, pids: 512}
"""


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return load_policy(str(path))


def slack(user: str, channel: str = "C0RANDOM") -> Actor:
    return Actor(user, "slash", channel)


def test_defaults_give_slack_users_only_help_and_the_console_the_top_role() -> None:
    """With no policy file a Slack user may run `help` alone and is told how roles are granted."""
    policy = Policy()
    assert policy.authorize(slack("U1"), parse("help")) == c.Help()
    for text in ("list", "logs web", "rm web"):
        with pytest.raises(PolicyError) as info:
            policy.authorize(slack("U1"), parse(text))
        assert "have no role" in info.value.message and "DOCKERVERSE_CONFIG" in info.value.message
    assert policy.role_of(Actor("shell:me", "shell")) == "admin"
    assert policy.authorize(Actor("shell:me", "shell"), parse("rmi busybox")).permission == "rmi"


def test_reading_unmanaged_containers_is_the_top_roles_unless_granted(tmp_path: Path) -> None:
    """`read-unmanaged` is the top role's by default, and a file may grant it lower."""
    assert "read-unmanaged" in Policy().granted("admin")
    assert "read-unmanaged" not in Policy().granted("operator")
    path = tmp_path / "policy.yaml"
    path.write_text("permissions:\n  viewer: [help, list, logs, read-unmanaged]\n  admin: [rm]\n")
    assert "read-unmanaged" in load_policy(str(path)).granted("viewer")


def test_viewer_cannot_remove_containers(policy: Policy) -> None:
    """A viewer is refused rm, and told which role grants it and where."""
    with pytest.raises(PolicyError) as info:
        policy.authorize(slack("U0SOMEONE"), parse("rm web"))
    assert "you (<@U0SOMEONE>) have role `viewer`" in info.value.message
    assert "roles.operator" in info.value.message and "policy file" in info.value.message


def test_roles_inherit_upward_and_channels_grant(policy: Policy) -> None:
    """Operators also read; admins also run; a deploy channel makes everyone in it an operator."""
    assert policy.authorize(slack("U0OPS"), parse("logs web")) == c.Logs(target="web")
    assert policy.authorize(slack("U0ADMIN"), parse("rm web")) == c.Remove(target="web")
    assert policy.authorize(slack("U0ANY", "C0DEPLOY"), parse("stop web")).permission == "stop"
    with pytest.raises(PolicyError):
        policy.authorize(slack("U0OPS"), parse("rmi busybox"))


def test_limits_are_always_set_and_capped(policy: Policy) -> None:
    """run gets default limits; asking above the cap is refused naming the cap."""
    run = policy.authorize(slack("U0OPS"), parse("run busybox"))
    assert isinstance(run, c.Run)
    assert (run.memory, run.cpus, run.pids) == (128 * 1024**2, 0.5, 64)
    with pytest.raises(PolicyError, match="above the cap of 1g"):
        policy.authorize(slack("U0OPS"), parse("run busybox --memory 2g"))
    with pytest.raises(PolicyError, match="above the cap of 1"):
        policy.authorize(slack("U0OPS"), parse("run busybox --cpus 1.5"))


def test_image_allow_list_matches_normalized_references(policy: Policy) -> None:
    """busybox and docker.io/library/busybox:latest are one image; others are refused before any pull."""
    assert normalize_image("busybox") == "docker.io/library/busybox:latest"
    assert normalize_image("ghcr.io/acme/app:1") == "ghcr.io/acme/app:1"
    ops = slack("U0OPS")
    policy.authorize(ops, parse("run docker.io/library/busybox:latest"))
    policy.authorize(ops, parse("run nginx:1.27"))
    policy.authorize(ops, parse("pull ghcr.io/acme/app:main"))
    with pytest.raises(PolicyError, match="not on the allow-list"):
        policy.authorize(ops, parse("run redis"))
    with pytest.raises(PolicyError, match="not on the allow-list"):
        policy.authorize(ops, parse("pull ghcr.io/other/app"))
    with pytest.raises(PolicyError, match=r"`busybox` means its `:latest` only: `busybox:\*` allows every tag"):
        policy.authorize(ops, parse("run busybox:1.36"))


def test_bad_policy_file_fails_loudly(tmp_path: Path) -> None:
    """A policy file that cannot be read or is malformed stops the process with the reason."""
    with pytest.raises(DockerverseError, match="Cannot read the policy file"):
        load_policy(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("roles:\n  wizard: [U1]\n")
    with pytest.raises(DockerverseError, match="wizard"):
        load_policy(str(bad))


def test_redeploy_is_for_operators_with_the_allow_list_signed_into_the_command(policy: Policy) -> None:
    """A file written before `redeploy` existed gives it to the roles that may `run`; the image given is
    checked here, and the allow-list travels with the command for the worker to check the image it resolves."""
    with pytest.raises(PolicyError, match="needs role `operator`"):
        policy.authorize(slack("U0SOMEONE"), parse("redeploy web"))
    allowed = policy.authorize(slack("U0OPS"), parse("redeploy web"))
    assert isinstance(allowed, c.Redeploy) and allowed.allow == policy.image_allow
    with pytest.raises(PolicyError, match="not on the allow-list"):
        policy.authorize(slack("U0OPS"), parse("redeploy web --image evil/miner"))


def test_a_file_that_names_redeploy_decides_who_has_it(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.replace("admin: [rmi]", "admin: [rmi, redeploy]"))
    policy = load_policy(str(path))
    assert policy.lowest_role_for("redeploy") == "admin"


def test_hooks_accept_standard_webhooks_unless_they_list_github(tmp_path: Path) -> None:
    """A hook accepts `[standard]` by default, `github` only when listed; an unknown scheme stops the load."""
    path = tmp_path / "policy.yaml"
    path.write_text(
        POLICY + "hooks:\n"
        "  ci: {secret_env: CI_SECRET, role: operator}\n"
        "  gh: {secret_env: GH_SECRET, role: viewer, schemes: [standard, github]}\n"
    )
    hooks = load_policy(str(path)).hooks
    assert hooks["ci"].schemes == ("standard",) and hooks["gh"].schemes == ("standard", "github")
    for bad in ("[slack]", "github", "[]"):
        path.write_text(POLICY + f"hooks:\n  ci: {{secret_env: CI_SECRET, role: operator, schemes: {bad}}}\n")
        with pytest.raises(DockerverseError, match=r"hooks\.ci\.schemes: .*(standard|list)"):
            load_policy(str(path))


def test_redeploy_carries_the_privilege_allow_list_of_the_policy(tmp_path: Path) -> None:
    """`redeploy.inherit_privileges` travels in the signed command; without the section no container may keep any."""
    assert load_policy(None).inherit_privileges == ()
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY + 'redeploy:\n  inherit_privileges: ["monitoring-*"]\n')
    allowed = load_policy(str(path)).authorize(slack("U0OPS"), parse("redeploy web"))
    assert isinstance(allowed, c.Redeploy) and allowed.inherit_privileges == ("monitoring-*",)
