"""The health gate of a redeploy: is the new container up, and healthy when it has a check?"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.core.units import format_duration
from workers.docker.gateway import DockerGateway

SETTLE = 5.0  # seconds a container without a health check must keep running to count as up
POLL = 0.5


def prove(gw: DockerGateway, cid: str, timeout: float, step: Callable[[str], None]) -> tuple[bool, str]:
    """Running, and healthy if it has a health check (else still up after SETTLE), within `timeout`."""
    started = time.monotonic()
    deadline = started + timeout
    has_check = bool(
        ((gw.inspect(cid).get("Config") or {}).get("Healthcheck") or {}).get("Test") not in (None, [], ["NONE"])
    )
    shown = -1
    while True:
        state: dict[str, Any] = gw.inspect(cid).get("State") or {}
        if state.get("Restarting") or int(state.get("RestartCount") or 0) > 0 or state.get("Status") == "restarting":
            return False, "it keeps restarting (crash loop)"
        if not state.get("Running"):
            return False, f"it exited with code {state.get('ExitCode')}{_oom(state)}"
        if has_check:
            health: dict[str, Any] = state.get("Health") or {}
            checks = health.get("Log") or []
            passed = sum(1 for h in checks if h.get("ExitCode") == 0)
            if len(checks) != shown:
                shown = len(checks)
                step(
                    f"health checks: {passed} of {len(checks)} passed"
                    if checks
                    else "waiting for its first health check"
                )
            if health.get("Status") == "healthy":
                return True, f"healthy after {len(checks)} check{'s' if len(checks) != 1 else ''}"
            if health.get("Status") == "unhealthy":
                return False, f"its health check failed: {_health_output(checks)}"
        elif time.monotonic() - started >= min(SETTLE, timeout):
            return True, f"up for {format_duration(time.monotonic() - started)} (it has no health check)"
        if time.monotonic() >= deadline:
            last = _health_output((state.get("Health") or {}).get("Log") or []) if has_check else ""
            return False, f"not healthy within {format_duration(timeout)}" + (f"; last check: {last}" if last else "")
        time.sleep(POLL)


def _oom(state: dict[str, Any]) -> str:
    return " (out of memory)" if state.get("OOMKilled") else ""


def _health_output(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return "no check has run yet"
    last = checks[-1]
    output = str(last.get("Output") or "").strip() or "(no output)"
    return f"exit code {last.get('ExitCode')}: {output[:300]}"
