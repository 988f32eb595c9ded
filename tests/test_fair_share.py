"""Follow slots against a real Redis: per-actor and per-host caps, give-back and lapse."""

from __future__ import annotations

import redis

from bot.wire import fair_share


def test_an_actor_holds_at_most_its_cap_and_a_host_leaves_one_stream_worker(redis_url: str) -> None:
    """Two slots per actor; a host with 3 stream workers takes 2 follows in all."""
    conn, now = redis.Redis.from_url(redis_url), 1000.0
    cap = fair_share.host_cap(3)
    assert cap == 2 and fair_share.host_cap(1) == 0
    assert fair_share.take(conn, "u1", "h", "j1", now, now + 60, 2, 5) is None
    assert fair_share.take(conn, "u1", "h", "j2", now, now + 60, 2, 5) is None
    assert fair_share.take(conn, "u1", "h", "j3", now, now + 60, 2, 5) == "actor"
    assert fair_share.take(conn, "u2", "h", "j4", now, now + 60, 2, cap) == "host"
    assert fair_share.held(conn, "u1", now) == 2


def test_a_slot_comes_back_when_given_back_or_when_it_lapses(redis_url: str) -> None:
    """An ended follow frees its slot at once; one whose worker died frees it at its own bound."""
    conn, now = redis.Redis.from_url(redis_url), 1000.0
    for job in ("j1", "j2"):
        assert fair_share.take(conn, "u1", "h", job, now, now + 60, 2, 2) is None
    fair_share.give_back(conn, "u1", "h", "j1")
    assert fair_share.take(conn, "u2", "h", "j3", now, now + 60, 2, 2) is None
    assert fair_share.take(conn, "u3", "h", "j4", now + 61, now + 120, 2, 2) is None  # j2 and j3 lapsed
