"""Waiting for jobs to end, as `GET /api/jobs/{id}` shows them. A test that something did NOT happen first
waits here for the job that could have done it: after a fixed sleep it would pass whenever the worker is
merely slow."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.support.stack import API_TOKEN, Stack

FINAL = frozenset({"finished", "failed", "stopped", "canceled"})
_ACK = re.compile(r"queued as job `?([0-9a-f]{12,32})")


def settled(stack: Stack, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The job once it is final (finished, failed, stopped, canceled) and its replies are made: a job that
    posts to Slack answers first (bot/wire/answers.py), and RQ's result, with `delivery`, follows the post.
    Fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        resp = stack.http.get(
            f"{stack.web_url}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
        )
        state: dict[str, Any] = resp.json()
        result = state.get("result")
        if state.get("status") in FINAL and not (isinstance(result, dict) and "delivery" not in result):
            return state
        assert time.monotonic() < deadline, f"job {job_id} not final within {timeout:g} s: {state}"
        time.sleep(0.1)


def audit(stack: Stack, limit: int = 200) -> list[dict[str, Any]]:
    """The newest audit entries (the admin token reads them)."""
    resp = stack.http.get(
        f"{stack.web_url}/api/audit?limit={limit}", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    )
    entries: list[dict[str, Any]] = resp.json()["entries"]
    return entries


def acked_job(stack: Stack, ack: str) -> str:
    """The full id of the job an ack names (Slack's acks show its first 12 characters), from the audit log."""
    found = _ACK.search(ack)
    assert found, f"the ack names no job: {ack}"
    short = found.group(1)
    matches = {e["job_id"] for e in audit(stack) if (e["job_id"] or "").startswith(short)}  # refusals: None
    assert len(matches) == 1, f"job {short} is not in the audit log once: {matches}"
    return matches.pop()


def queued_by(stack: Stack, actor: str) -> list[str]:
    """Ids of the jobs queued for `actor`, newest first (each queued job is audited as it is queued)."""
    return [e["job_id"] for e in audit(stack) if e["actor"] == actor and e["decision"] == "queued"]
