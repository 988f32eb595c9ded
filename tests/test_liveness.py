"""Host beats on a real Redis: who is down, in Redis's clock, and outages told once and returns told once."""

from __future__ import annotations

import pytest
import redis

from bot.core.errors import QueueUnavailable
from bot.core.policy import Actor, Policy
from bot.core.settings import Settings
from bot.dispatch.dispatcher import Dispatcher
from bot.web.home import Fleet, Viewer, home_view
from bot.wire import liveness
from bot.wire.payload import ReplyTo
from tests.support.fakeslack import FakeSlack
from workers.runtime.host_watch import HostWatch
from workers.slack.reply import SlackReplier


def conn_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def test_a_beat_is_one_command_in_redis_clock_whatever_the_hosts_clock_says(redis_url: str) -> None:
    """A worker whose clock is 5 minutes slow still beats at Redis's time, so it is not taken for down."""
    conn = conn_for(redis_url)
    slow = liveness.Beater(conn, "alpha", clock=lambda: liveness.server_time(conn) - 300)
    slow.beat()
    before = int(conn.info("commandstats").get("cmdstat_zadd", {}).get("calls", 0))
    slow.beat()
    assert int(conn.info("commandstats")["cmdstat_zadd"]["calls"]) == before + 1
    beats = liveness.read(conn)
    assert abs(beats.now - beats.seen["alpha"]) < 2
    assert beats.up(10) == ["alpha"] and beats.down(10) == {}


def test_a_host_silent_longer_than_down_after_is_down_with_when_it_was_last_seen(redis_url: str) -> None:
    """Down means silent long enough to be refused within down_after of the last beat; the refusal says
    when it was last seen."""
    conn = conn_for(redis_url)
    now = liveness.server_time(conn)
    conn.zadd(liveness.BEATS, {"alpha": now - 1, "beta": now - 12, "gamma": now - 9})
    beats = liveness.read(conn)
    assert beats.up(10) == ["alpha"] and list(beats.down(10)) == ["beta", "gamma"]
    assert beats.up(15) == ["alpha", "beta", "gamma"]
    text = liveness.refusal("beta", beats.down(10)["beta"], beats.now)
    assert "`beta` is down" in text and "last seen 12s ago" in text and "Nothing was queued" in text


def test_an_outage_and_a_return_are_each_told_once_however_many_workers_look(
    redis_url: str, fake_slack: FakeSlack
) -> None:
    """Two hosts' watchers see beta down: one alert; beta beats again: one "back up"."""
    conn = conn_for(redis_url)
    replier = SlackReplier("xoxb-test-token", fake_slack.url)
    watchers = [HostWatch(conn, h, 10.0, ("C0OPS",), replier) for h in ("alpha", "gamma")]
    now = liveness.server_time(conn)
    conn.zadd(liveness.BEATS, {"alpha": now, "gamma": now, "beta": now - 30})
    for w in watchers * 2:
        w.check()
    [down] = fake_slack.calls("chat.postMessage")
    assert down.params["channel"] == "C0OPS" and "`beta` is down" in down.params["text"]
    liveness.Beater(conn, "beta").beat()
    for w in watchers * 2:
        w.check()
    posts = fake_slack.calls("chat.postMessage")
    assert len(posts) == 2 and "`beta` is back up" in posts[1].params["text"]


def test_a_host_silent_a_week_is_forgotten(redis_url: str) -> None:
    """Retired hosts are dropped from the beats (and their outage mark) instead of shown down forever."""
    conn = conn_for(redis_url)
    now = liveness.server_time(conn)
    conn.zadd(liveness.BEATS, {"old": now - liveness.FORGET_AFTER - 60, "beta": now - 30})
    conn.hset(liveness.DOWN, "old", "1")
    HostWatch(conn, "alpha", 10.0).prune()
    assert list(liveness.read(conn).seen) == ["beta"] and not conn.hexists(liveness.DOWN, "old")


def test_the_app_home_names_down_hosts_with_when_they_were_last_seen() -> None:
    """A fleet answer's `down` hosts are shown, and kept through the cached snapshot."""
    data = {"containers": [], "hosts": ["alpha"], "silent": [], "down": ["`beta` (last seen 14s ago)"]}
    fleet = Fleet.from_json(Fleet.from_list_data(data, 1.0).to_json())
    view = home_view(Viewer("U1", "viewer", frozenset({"list"})), fleet, None, [], 2.0, 5.0)
    texts = [e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert any("Down" in t and "`beta` (last seen 14s ago)" in t for t in texts)


def test_the_web_refuses_a_down_host_before_asking_for_confirmation_and_queues_nothing(redis_url: str) -> None:
    """`rm x --host beta` from Slack for a down host is refused at once (no Confirm button first), unqueued."""
    conn = conn_for(redis_url)
    conn.zadd(liveness.BEATS, {"beta": liveness.server_time(conn) - 30})
    settings = Settings(REDIS_URL=redis_url, DOCKERVERSE_JOB_KEY="k" * 32)
    dispatcher = Dispatcher(settings, Policy(roles={"admin": ["U1"]}), conn)
    with pytest.raises(QueueUnavailable) as refused:
        dispatcher.submit("rm web --host beta", Actor("U1", "slack", "C1"), ReplyTo())
    assert "`beta` is down" in refused.value.message and "last seen 30s ago" in refused.value.message
    assert not [k for k in conn.keys("rq:queue:*")]
