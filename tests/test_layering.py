"""Third-party libraries stay at their edge: the architecture, checked on the imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# library -> the only modules that may import it
EDGES = {
    "docker": {"workers/docker/gateway.py"},
    "slack_bolt": {"bot/web/slack_app.py", "bot/web/slack_socket.py"},
    "slack_sdk": {
        "bot/web/slack_app.py",
        "bot/web/slack_socket.py",
        "workers/slack/reply.py",
        "workers/slack/client.py",
    },
    "rq": {
        "bot/dispatch/dispatcher.py",
        "bot/wire/job_state.py",
        "bot/wire/audit.py",
        "bot/dispatch/waiter.py",
        "workers/runtime/main.py",
        "workers/runtime/tasks.py",
        "workers/runtime/signed_job.py",
        "workers/commands/fanout.py",
        "bot/wire/hosts.py",
        "workers/runtime/reaper.py",
        "bot/web/metrics.py",
        "bot/wire/claims.py",
        "workers/runtime/admission.py",
        "bot/dispatch/fleet.py",
    },
    "redis": {
        "bot/dispatch/dispatcher.py",
        "bot/dispatch/waiter.py",
        "bot/wire/audit.py",
        "bot/wire/confirm.py",
        "bot/dispatch/gate.py",
        "workers/runtime/main.py",
        "workers/commands/follow.py",
        "workers/commands/handlers.py",
        "workers/commands/fanout.py",
        "bot/wire/hosts.py",
        "bot/wire/redis_url.py",
        "bot/wire/queues.py",
        "bot/cli/doctor.py",
        "bot/cli/worker_health.py",
        "workers/runtime/reaper.py",
        "bot/web/metrics.py",
        "workers/commands/redeploy.py",
        "bot/web/home_feed.py",
        "workers/alerts/quiet.py",
        "workers/alerts/incidents.py",
        "workers/alerts/events.py",
        "workers/alerts/watcher.py",
        "bot/wire/claims.py",
        "bot/wire/follow_control.py",
        "workers/runtime/admission.py",
        "bot/wire/fair_share.py",
        "bot/dispatch/fleet.py",
        "bot/wire/liveness.py",
        "workers/runtime/host_watch.py",
        "bot/wire/replicas.py",
    },
    "standardwebhooks": {"bot/core/hook_signatures.py", "bot/cli/send.py"},
    "cryptography": {"bot/wire/signing.py"},
}
PURE = {
    "bot/core/hook_signatures.py",
    "bot/core/keys.py",
    "bot/core/grammar.py",
    "bot/core/specs.py",
    "bot/core/commands.py",
    "bot/core/units.py",
    "bot/core/policy.py",
    "bot/core/policy_schema.py",
    "bot/core/yaml_schema.py",
    "bot/core/notify.py",
    "bot/wire/payload.py",
    "workers/alerts/messages.py",
    "workers/slack/render.py",
    "bot/web/home.py",
    "bot/core/blocks.py",
    "bot/wire/sealed.py",
    "bot/core/masking.py",
    "bot/core/slack_text.py",
    "bot/core/image_refs.py",
    "workers/docker/privileges.py",
    "bot/wire/signing.py",
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


SOURCES = sorted(str(p.relative_to(ROOT)) for d in ("bot", "workers") for p in (ROOT / d).rglob("*.py"))


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
