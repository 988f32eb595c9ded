"""`dockerverse worker-health`: healthy only with every lane of this machine's workers live and the host beating."""

from __future__ import annotations

from bot.cli.worker_health import problem
from bot.wire.hosts import WorkerInfo
from bot.wire.liveness import Beats

NOW = 1_000_000.0
BEATING = Beats(NOW, {"local": NOW - 1.0})
LANES = ("quick", "stream")


def _worker(host: str, lane: str) -> WorkerInfo:
    return WorkerInfo(f"{host}-{lane}", host, (lane,), "idle", "", "box", "1")


def test_every_lane_live_and_the_host_beating_is_healthy() -> None:
    """One quick and one stream worker of the host, and a fresh beat: no problem."""
    assert problem([_worker("local", "quick"), _worker("local", "stream")], BEATING, "local", LANES, 10.0) == ""


def test_a_missing_lane_is_named() -> None:
    """With only the quick lane up, the stream lane is named as missing."""
    why = problem([_worker("local", "quick")], BEATING, "local", LANES, 10.0)
    assert "no live stream-lane worker for Docker host `local`" in why


def test_workers_of_another_host_do_not_count() -> None:
    """Another host's workers on this machine leave this host's lanes missing."""
    why = problem([_worker("other", "quick"), _worker("other", "stream")], BEATING, "local", LANES, 10.0)
    assert "quick or stream-lane" in why


def test_a_host_that_stopped_beating_is_unhealthy() -> None:
    """Registered workers whose host's beat is older than the down rule allows: not beating."""
    stale = Beats(NOW, {"local": NOW - 60.0})
    why = problem([_worker("local", "quick"), _worker("local", "stream")], stale, "local", LANES, 10.0)
    assert "is not beating" in why
