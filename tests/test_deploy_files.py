"""The deploy files work as shipped: compose wires the worker through the socket proxy, systemd units are
valid, hardened, and give the worker none of the web's secrets."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.policy import load_policy
from bot.core.settings import Settings
from tests.support.proxy_allowlist import ALLOWLIST

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = DEPLOY / "systemd"
WEB_ONLY = {"SLACK_SIGNING_SECRET", "DOCKERVERSE_API_TOKEN", "CI_HOOK_SECRET", "SLACK_APP_TOKEN"}
# systemd-analyze's exposure, 0 (locked down) to 10. What both units keep is network access (Redis,
# Slack; the web also serves HTTP: 0.9 of it) and the host's root directory (0.1); a unit with any of
# the settings the units list dropped scores above 1.5.
EXPOSURE_LIMIT = 1.5


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`docker-compose config` of the shipped file, with a filled-in .env beside a copy of deploy/."""
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: run scripts/install-system-deps.sh", pytrace=False)
    root = tmp_path_factory.mktemp("compose")
    shutil.copytree(DEPLOY, root / "deploy")
    keys = {"DOCKERVERSE_SIGNING_KEY": "ed25519sk_x", "DOCKERVERSE_VERIFY_KEY": "ed25519pk_x"}
    env = {"REDIS_PASSWORD": "pw", "DOCKER_GID": "107", **keys, **{name: f"{name}-value" for name in WEB_ONLY}}
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    out = subprocess.run(
        ["docker-compose", "--env-file", ".env", "-f", "deploy/docker-compose.yml", "config"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    config: dict[str, Any] = yaml.safe_load(out.stdout)
    return config


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {k: v for k, v in pairs}


def test_only_the_socket_proxy_mounts_the_docker_socket(compose: dict[str, Any]) -> None:
    """No Dockerverse service mounts the socket; the proxy does, read-only, on an internal network."""
    mounts = {name: str(svc.get("volumes", [])) for name, svc in compose["services"].items()}
    assert [name for name, text in mounts.items() if "docker.sock" in text] == ["socket-proxy"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in mounts["socket-proxy"]
    assert compose["networks"]["docker-api"]["internal"] is True
    assert "docker-api" not in compose["services"]["web"].get("networks", {"default": None})


def test_compose_gives_the_proxy_the_allowlist_literally(compose: dict[str, Any]) -> None:
    """The proxy's SP_ALLOW_* are the allowlist.env values byte for byte (compose altered nothing)."""
    proxy_env = compose["services"]["socket-proxy"]["environment"]
    shipped = _env_file(ALLOWLIST)
    assert {k: v for k, v in proxy_env.items() if k.startswith("SP_ALLOW_")} == shipped


def test_the_worker_starts_on_the_proxys_address_and_gets_no_web_secrets(compose: dict[str, Any]) -> None:
    """The worker's settings accept tcp://socket-proxy:2375; it has no signing secret, API token or hook secret."""
    for name in ("worker", "worker-b"):
        env = {k: str(v) for k, v in compose["services"][name]["environment"].items()}
        assert not WEB_ONLY & set(env), f"{name} gets {WEB_ONLY & set(env)}"
        assert Settings(**env).docker_environment() == {"DOCKER_HOST": "tcp://socket-proxy:2375"}
    assert set(compose["services"]["web"]["environment"]) >= WEB_ONLY


def test_services_reach_the_compose_redis_with_its_password(compose: dict[str, Any]) -> None:
    """REDIS_URL is expanded (Debian's docker-compose 1.29 passes a variable nested in another's default
    on as text), and the socket proxy joins DOCKER_GID."""
    for name in ("web", "worker"):
        assert compose["services"][name]["environment"]["REDIS_URL"] == "redis://:pw@redis:6379/0"
    assert compose["services"]["socket-proxy"]["user"] == "65534:107"


def test_workers_have_their_own_health_check_and_every_image_is_built_here(compose: dict[str, Any]) -> None:
    """Workers serve no HTTP: their check is `dockerverse worker-health`, not the image's GET /healthz; the
    app and the proxy are built from deploy/ on one base, so only Redis may come from a registry."""
    services = compose["services"]
    for name in ("worker", "worker-b"):
        assert services[name]["healthcheck"]["test"] == ["CMD", "dockerverse", "worker-health"]
    assert "test" not in services["web"]["healthcheck"]  # the image's own, more often
    built = {name: svc["build"]["args"]["BASE_IMAGE"] for name, svc in services.items() if "build" in svc}
    assert set(built) == {"web", "worker", "worker-b", "socket-proxy"} and set(built.values()) == {"python:3.11-slim"}


def test_the_policy_is_a_bind_mount_that_must_exist(compose: dict[str, Any]) -> None:
    """Web and workers mount policy.yaml beside .env with the long syntax, which refuses a missing file (the
    short one would mount an empty directory); the shipped example is a valid policy."""
    for name in ("web", "worker", "worker-b"):
        volumes = compose["services"][name]["volumes"]
        mounts = [v for v in volumes if isinstance(v, dict) and v["target"] == "/etc/dockerverse/policy.yaml"]
        assert len(mounts) == 1 and mounts[0]["type"] == "bind" and mounts[0]["read_only"] is True, mounts
        assert Path(mounts[0]["source"]).name == "policy.yaml"
    policy = load_policy(str(DEPLOY / "policy.example.yaml"))
    assert set(policy.hooks) == {"ci"} and list(policy.permissions) == ["viewer", "operator", "admin"]


def test_env_example_names_every_variable_compose_reads() -> None:
    """Each ${VAR} of docker-compose.yml starts a line of .env.example: set, or described with its default."""
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (DEPLOY / "docker-compose.yml").read_text()))
    example = (DEPLOY / ".env.example").read_text()
    assert {name for name in used if not re.search(rf"^#? ?{name}\b", example, re.M)} == set()
    assert "stat -c %g /var/run/docker.sock" in example


def test_systemd_env_files_split_the_secrets() -> None:
    """The units read different env files, and the worker's example holds none of the web's secrets."""
    files = {u: re.findall(r"^EnvironmentFile=(.+)$", (UNITS / u).read_text(), re.M) for u in _units()}
    assert files == {
        "dockerverse-web.service": ["/etc/dockerverse/web.env"],
        "dockerverse-worker.service": ["/etc/dockerverse/worker.env"],
    }
    worker, web = _env_file(UNITS / "worker.env.example"), _env_file(UNITS / "web.env.example")
    assert not WEB_ONLY & set(worker) and {"SLACK_SIGNING_SECRET", "DOCKERVERSE_API_TOKEN"} <= set(web)
    # The web alone signs jobs; the worker has only the public half.
    assert "DOCKERVERSE_SIGNING_KEY" in web and "DOCKERVERSE_SIGNING_KEY" not in worker
    assert "DOCKERVERSE_VERIFY_KEY" in worker and "DOCKERVERSE_JOB_KEY" not in worker


def _units() -> list[str]:
    return sorted(p.name for p in UNITS.glob("*.service"))


@pytest.mark.parametrize("unit", _units())
def test_systemd_unit_exposure_is_low(unit: str) -> None:
    """`systemd-analyze security --offline=true` rates each unit at most EXPOSURE_LIMIT."""
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNITS / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", out.stdout)
    assert found, out.stdout + out.stderr
    assert float(found.group(1)) <= EXPOSURE_LIMIT, out.stdout


@pytest.mark.parametrize("unit", _units())
def test_systemd_unit_verifies_cleanly(unit: str, tmp_path: Path) -> None:
    """`systemd-analyze verify` finds no error or unknown setting, in a root where the program exists."""
    (tmp_path / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", tmp_path / "usr/lib/systemd/system", symlinks=True)
    program = tmp_path / "opt/dockerverse/.venv/bin/dockerverse"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    installed = tmp_path / "etc/systemd/system" / unit
    installed.parent.mkdir(parents=True)
    shutil.copy(UNITS / unit, installed)
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={tmp_path}", str(installed)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and not out.stderr.strip(), out.stdout + out.stderr
