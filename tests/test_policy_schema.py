"""The policy file's schema: unknown keys and wrong types are refused naming the key's path; defaults."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from bot.core import commands as c
from bot.core.errors import DockerverseError
from bot.core.policy import Hook, Limits, Policy, load_policy
from bot.core.policy_schema import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


def refusal(tmp_path: Path, text: str) -> list[str]:
    """The lines of the error loading ``text`` raises, each checked to name the file."""
    path = write(tmp_path, text)
    with pytest.raises(DockerverseError) as caught:
        load_policy(path)
    lines = caught.value.message.splitlines()
    assert all(line.startswith(f"the policy file {path}: ") for line in lines), lines
    return [line.removeprefix(f"the policy file {path}: ") for line in lines]


HOOK = "hooks:\n  ci: {secret_env: CI_HOOK_SECRET, role: operator%s}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("image:\n  allow: [busybox]\n", "image: unknown key; did you mean images?", id="top-level-key"),
        pytest.param(
            "hooks:\n  ci: {secret_envv: X, role: operator}\n",
            "hooks.ci.secret_envv: unknown key; did you mean secret_env?",
            id="nested-key",
        ),
        pytest.param(
            "limits:\n  maximum: {memory: 1g}\n", "limits.maximum: unknown key; did you mean max?", id="limits"
        ),
        pytest.param(
            "notify:\n  - {channel: C1, events: [die], restart_loop: {times: 3}}\n",
            "notify entry 1: restart_loop.times: unknown key; the keys here are count, minutes",
            id="key-in-list-entry",
        ),
        pytest.param(
            "images:\n  allow: '*'\n", 'images.allow: must be a list, not "*" (write ["*"])', id="str-for-list"
        ),
        pytest.param("images:\n  allow: []\n", "images.allow: must not be empty", id="empty-allow"),
        pytest.param(
            'images:\n  allow: ["busybox", "nginx:**"]\n',
            "images.allow: 'nginx:**' is not an image pattern: `**` stands for whole path segments",
            id="bad-image-pattern",
        ),
        pytest.param(
            "redeploy:\n  inherit_privilege: [mon-*]\n",
            "redeploy.inherit_privilege: unknown key; did you mean inherit_privileges?",
            id="redeploy-key",
        ),
        pytest.param(
            "limits:\n  max: {cpus: lots}\n", 'limits.max.cpus: must be a number, not "lots"', id="cpus-not-a-number"
        ),
        pytest.param(
            "limits:\n  max: {memory: lots}\n",
            'limits.max.memory: "lots" is not a size (examples: 256m, 1g)',
            id="size",
        ),
        pytest.param(
            "limits:\n  default: {pids: yes}\n", "limits.default.pids: must be a whole number, not true", id="bool-int"
        ),
        pytest.param("limits:\n  default: {pids: 0}\n", "limits.default.pids: must be more than 0, not 0", id="pids-0"),
        pytest.param(HOOK % ", channel: [C1]", "hooks.ci.channel: must be text, not a list", id="list-for-str"),
        pytest.param(
            "hooks:\n  ci: {secret_env: CI_HOOK_SECRET}\n", "hooks.ci.role: required but missing", id="missing-key"
        ),
        pytest.param(
            HOOK % ", schemes: [gitlab]",
            "hooks.ci.schemes: unknown scheme `gitlab`: the schemes are standard, github",
            id="unknown-scheme",
        ),
        pytest.param(HOOK % ", schemes: []", "hooks.ci.schemes: must not be empty", id="no-scheme"),
        pytest.param(
            "deadlines:\n  pul: 10m\n",
            "deadlines.pul: unknown key `pul`: the keys are default, help, list, logs, images, inspect, hosts, run, "
            "stop, start, restart, rm, pull, redeploy, rmi, audit; did you mean pull?",
            id="unknown-deadline-command",
        ),
        pytest.param(
            "deadlines:\n  default: -5s\n",
            'deadlines.default: must be more than 0s and at most 1d, not "-5s"',
            id="negative-deadline",
        ),
        pytest.param(
            "deadlines:\n  pull: 2d\n", 'deadlines.pull: must be more than 0s and at most 1d, not "2d"', id="over-a-day"
        ),
        pytest.param(
            "deadlines:\n  run: 30\n", "deadlines.run: must be a duration like 30s or 10m, not 30", id="bare-number"
        ),
        pytest.param(
            "deadlines:\n  rm: soon\n",
            'deadlines.rm: "soon" is not a duration (examples: 30s, 10m, 1h)',
            id="bad-duration",
        ),
        pytest.param(
            "roles:\n  wizard: [U1]\n",
            "roles.wizard: not a role under permissions; add its commands there "
            "(the roles under permissions are viewer, operator, admin)",
            id="role-not-under-permissions",
        ),
        pytest.param(
            HOOK.replace("operator", "operater") % "",
            "hooks.ci.role: `operater` is not a role under permissions (the roles under permissions are viewer, "
            "operator, admin); did you mean operator?",
            id="hook-role-not-under-permissions",
        ),
        pytest.param(
            "tokens:\n  dash: {token_env: DASH, role: wizard}\n",
            "tokens.dash.role: `wizard` is not a role under permissions",
            id="token-role-not-under-permissions",
        ),
        pytest.param(
            "roles:\n  viewer: ['*']\npermissions:\n  reader: [list]\n",
            "roles.viewer: not a role under permissions; add its commands there",
            id="default-role-not-under-permissions",
        ),
        pytest.param(
            "permissions:\n  viewer: [lsit, help]\n",
            "permissions.viewer: unknown command `lsit`: the commands are help, list, logs, images, inspect, hosts, "
            "run, stop, start, restart, rm, pull, redeploy, rmi, audit, read-unmanaged; did you mean list?",
            id="unknown-command",
        ),
        pytest.param(
            "rate_limits: {mutating: lots}\n",
            'rate_limits.mutating: "lots" is not a rate; write it like 30/minute or 5/second',
            id="rate",
        ),
        pytest.param("default_host: 5\n", "default_host: must be text, not 5 (quote it)", id="number-for-str"),
        pytest.param("roles:\n  1: [U1]\n", "roles.1: must be text, not 1 (quote it)", id="number-key"),
        pytest.param("- roles\n", "must be a mapping (key: value), not a list", id="not-a-mapping"),
        pytest.param(
            "notify:\n  - {channel: C1, events: [die], labels: {version: 2}}\n",
            "notify entry 1: labels: the value of `version` must be text, not 2 (quote it)",
            id="label-value",
        ),
    ],
)
def test_mistyped_policy_files_are_refused_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    """Each unknown key, wrong type or bad value is refused, naming the file and the key's full path."""
    lines = refusal(tmp_path, text)
    assert any(line.startswith(expected) for line in lines), lines


def test_every_mistake_is_listed_at_once(tmp_path: Path) -> None:
    """A file with several mistakes names them all, one line each, so one edit fixes them all."""
    lines = refusal(
        tmp_path,
        "image: {allow: [busybox]}\nlimits:\n  max: {memory: 2x}\nhooks:\n  ci: {secret_env: [X], role: operator}\n",
    )
    assert len(lines) == 3, lines
    assert "image: unknown key; did you mean images?" in lines
    assert any(line.startswith('limits.max.memory: "2x" is not a size') for line in lines), lines
    assert any(line.startswith("hooks.ci.secret_env: must be text, not a list") for line in lines), lines


def test_a_section_mistake_ends_with_an_example_of_that_section(tmp_path: Path) -> None:
    """The last line about a section shows how it is written."""
    [line] = refusal(tmp_path, "deadlines:\n  run: 30\n")
    assert line.endswith("Example: deadlines: {default: 30s, pull: 10m}")


def test_no_file_means_built_in_defaults_with_deadlines() -> None:
    """Without a file: viewers read, jobs may start up to 30 s after they were issued, pulls and redeploys 10 min."""
    policy = load_policy(None)
    assert policy == Policy()
    assert policy.deadlines == {"default": 30.0, "pull": 600.0, "redeploy": 600.0}
    assert (policy.deadline_for("rm"), policy.deadline_for("pull"), policy.deadline_for("redeploy")) == (30, 600, 600)
    assert policy.image_allow == ("*",) and policy.hooks == {} and policy.rate_limit == "30/minute"


def test_an_empty_file_and_empty_sections_keep_the_defaults(tmp_path: Path) -> None:
    """An empty file, or sections left empty, load as the built-in defaults (only the source differs)."""
    for text in ("", "roles:\nimages:\nlimits:\nhooks:\ndeadlines:\nnotify:\n", "images: {}\nlimits: {max: {}}\n"):
        policy = load_policy(write(tmp_path, text))
        assert policy == Policy(source=f"the policy file {tmp_path / 'policy.yaml'}")


def test_deadlines_override_one_command_and_keep_the_other_defaults(tmp_path: Path) -> None:
    """A command's own deadline wins, else `default`; the file's `default` leaves pull's and redeploy's alone."""
    policy = load_policy(write(tmp_path, "deadlines:\n  default: 10s\n  logs: 1h\n  rm: 1m30s\n"))
    assert policy.deadlines == {"default": 10.0, "pull": 600.0, "redeploy": 600.0, "logs": 3600.0, "rm": 90.0}
    assert (policy.deadline_for("logs"), policy.deadline_for("rm"), policy.deadline_for("run")) == (3600, 90, 10)
    assert policy.deadline_for("pull") == 600


def test_hooks_accept_the_standard_scheme_unless_they_list_others(tmp_path: Path) -> None:
    """`schemes:` defaults to [standard]; a hook may list github too (each once, in order)."""
    policy = load_policy(
        write(
            tmp_path,
            "hooks:\n  ci: {secret_env: CI, role: operator, channel: C0DEPLOY}\n"
            "  gh: {secret_env: GH, role: viewer, schemes: [github, standard, github]}\n",
        )
    )
    assert policy.hooks["ci"] == Hook("ci", "CI", "operator", "C0DEPLOY", ("standard",))
    assert policy.hooks["gh"] == Hook("gh", "GH", "viewer", None, ("github", "standard"))
    assert Hook("x", "X", "viewer").schemes == ("standard",)


def test_limits_left_out_keep_their_defaults_and_sizes_may_be_bytes(tmp_path: Path) -> None:
    """`limits.default: {memory: 1073741824}` is 1 GiB in bytes; cpus and pids keep their built-in values."""
    policy = load_policy(write(tmp_path, "limits:\n  default: {memory: 1073741824}\n  max: {cpus: 4}\n"))
    assert policy.default_limits == Limits(1024**3, 1.0, 256)
    assert policy.max_limits == Limits(2 * 1024**3, 4.0, 1024)


@pytest.mark.parametrize("doc", ["README.md", "docs/configuration.md"])
def test_the_documented_policy_examples_load(tmp_path: Path, doc: str) -> None:
    """Every policy file shown in README.md and the configuration reference is valid as it stands."""
    text = (ROOT / doc).read_text()
    blocks = [
        b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.lstrip().startswith(("roles:", "default_host:"))
    ]
    assert blocks, f"{doc} has no policy file example"
    for block in blocks:
        policy = load_policy(write(tmp_path, block))
        assert policy.hooks and policy.tokens


def test_every_command_permission_is_known_to_the_schema() -> None:
    """`permissions:` and `deadlines:` accept exactly the permissions the grammar's commands need."""
    actions = typing.get_args(typing.get_type_hints(c.Lifecycle)["action"])
    needed = {cls().permission for cls in c.KINDS.values() if cls is not c.Lifecycle} | set(actions)
    assert needed == set(COMMANDS)
