"""Third-party libraries stay at their edge: the architecture, checked on the imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# library -> the only modules that may import it
EDGES = {
    "docker": {"workers/gateway.py"},
    "slack_bolt": {"bot/slack_app.py", "bot/slack_socket.py"},
    "slack_sdk": {"bot/slack_app.py", "bot/slack_socket.py", "workers/reply.py", "workers/slack_client.py"},
    "rq": {
        "bot/dispatch.py",
        "bot/jobstate.py",
        "bot/audit.py",
        "bot/waiter.py",
        "workers/main.py",
        "workers/tasks.py",
        "workers/signed_job.py",
        "workers/fanout.py",
        "bot/hosts.py",
        "workers/reaper.py",
        "bot/metrics.py",
        "bot/claims.py",
        "workers/admission.py",
        "bot/fleet.py",
    },
    "redis": {
        "bot/dispatch.py",
        "bot/waiter.py",
        "bot/audit.py",
        "bot/confirm.py",
        "bot/gate.py",
        "workers/main.py",
        "workers/follow.py",
        "workers/handlers.py",
        "workers/fanout.py",
        "bot/hosts.py",
        "bot/redis_url.py",
        "bot/queues.py",
        "bot/doctor.py",
        "workers/reaper.py",
        "bot/metrics.py",
        "workers/redeploy.py",
        "bot/home_feed.py",
        "workers/quiet.py",
        "workers/incidents.py",
        "workers/alerts.py",
        "workers/watcher.py",
        "bot/claims.py",
        "bot/follow_control.py",
        "workers/admission.py",
        "bot/fair_share.py",
        "bot/fleet.py",
        "bot/liveness.py",
        "workers/host_watch.py",
        "bot/replicas.py",
    },
    "standardwebhooks": {"bot/hook_signatures.py", "bot/send.py"},
    "cryptography": {"bot/signing.py"},
}
PURE = {
    "bot/hook_signatures.py",
    "bot/keys.py",
    "bot/grammar.py",
    "bot/specs.py",
    "bot/commands.py",
    "bot/units.py",
    "bot/policy.py",
    "bot/policy_schema.py",
    "bot/schema.py",
    "bot/notify.py",
    "bot/jobs.py",
    "workers/alert_messages.py",
    "workers/render.py",
    "bot/home.py",
    "bot/blocks.py",
    "bot/sealed.py",
    "bot/masking.py",
    "bot/slack_text.py",
    "bot/image_refs.py",
    "workers/privileges.py",
    "bot/signing.py",
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


SOURCES = sorted(str(p.relative_to(ROOT)) for d in ("bot", "workers") for p in (ROOT / d).glob("*.py"))


@pytest.mark.parametrize("module", SOURCES)
def test_libraries_stay_at_their_edge(module: str) -> None:
    """docker only in the gateway, bolt only in the Slack adapter, rq/redis only in dispatch and workers."""
    found = imports(ROOT / module)
    for library, allowed in EDGES.items():
        assert library not in found or module in allowed, f"{module} imports {library}"


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_do_no_io(module: str) -> None:
    """The grammar, commands, policy rules, job payloads and rendering import no I/O library."""
    io_libs = {"docker", "slack_bolt", "slack_sdk", "rq", "redis", "starlette", "httpx", "requests", "socket"}
    assert not imports(ROOT / module) & io_libs
