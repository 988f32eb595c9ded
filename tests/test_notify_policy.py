"""The policy's `notify:` section: parsed, validated with messages that say what to fix, and matched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.errors import DockerverseError
from bot.core.notify import (
    EVENTS,
    HOST_EVENTS,
    NotifyRule,
    RestartLoop,
    describe,
    host_channels,
    parse_notify,
    rules_for,
)
from bot.core.policy import load_policy


def parse(entries: Any) -> tuple[NotifyRule, ...]:
    return parse_notify(entries, "policy.yaml")


def error(entries: Any) -> str:
    with pytest.raises(DockerverseError) as caught:
        parse(entries)
    return caught.value.message


def test_the_contract_example_loads_from_a_policy_file(tmp_path: Path) -> None:
    """The CONTRACT.md entry: one channel, all four events, every container, default loop of 3 in 5 minutes."""
    path = tmp_path / "policy.yaml"
    path.write_text(
        "notify:\n  - channel: C0ALERTS\n    events: [die, oom, unhealthy, restart_loop]\n    containers: ['*']\n"
    )
    [rule] = load_policy(str(path)).notify
    assert rule == NotifyRule("C0ALERTS", frozenset(EVENTS) - HOST_EVENTS, ("*",), (), RestartLoop(3, 5.0))


def test_host_down_names_the_channels_told_of_outages() -> None:
    """`events: [host_down]` is accepted; each channel with it is told once, whatever its containers say."""
    rules = parse(
        [
            {"channel": "C1", "events": ["host_down"]},
            {"channel": "C2", "events": ["die", "host_down"], "containers": ["web-*"]},
            {"channel": "C1", "events": ["host_down", "oom"]},
            {"channel": "C3", "events": ["die"]},
        ]
    )
    assert host_channels(rules) == ("C1", "C2")
    assert describe(rules[0]) == "C1 (host_down of every Docker host)"
    assert not rules[0].matches("die", "web-1", {})
    assert "host_down" in error([{"channel": "C1", "events": ["host_dwn"]}])


def test_no_notify_section_means_no_alerts(tmp_path: Path) -> None:
    """A policy without `notify:` (or no file at all) posts nothing."""
    path = tmp_path / "policy.yaml"
    path.write_text("roles: {viewer: ['*']}\npermissions: {viewer: [list]}\n")
    assert load_policy(str(path)).notify == () and load_policy(None).notify == ()


def test_labels_as_a_mapping_or_as_key_value_strings() -> None:
    """`labels: {team: payments}` and `labels: ["team=payments", "tier"]` (a bare key: any value)."""
    [a, b] = parse(
        [
            {"channel": "C1", "events": ["die"], "labels": {"team": "payments"}},
            {"channel": "C2", "events": ["die"], "labels": ["team=payments", "tier"]},
        ]
    )
    assert a.labels == (("team", "payments"),)
    assert b.labels == (("team", "payments"), ("tier", None))
    assert b.matches("die", "api", {"team": "payments", "tier": "web"})
    assert not b.matches("die", "api", {"team": "payments"})
    assert not b.matches("die", "api", {"team": "search", "tier": "web"})


def test_restart_loop_count_and_minutes_are_configurable() -> None:
    """`restart_loop: {count, minutes}` on the entry; either may be left to its default."""
    [rule] = parse([{"channel": "C1", "events": ["restart_loop"], "restart_loop": {"minutes": 0.5}}])
    assert rule.restart_loop == RestartLoop(3, 0.5) and rule.restart_loop.seconds == 30


def test_matching_by_event_name_glob_and_label() -> None:
    """An entry hears only its events, about containers whose names match one of its globs."""
    [rule] = parse([{"channel": "C1", "events": ["die", "oom"], "containers": ["web-*", "db"]}])
    assert rule.matches("die", "web-1", {}) and rule.matches("oom", "db", {})
    assert not rule.matches("unhealthy", "web-1", {}) and not rule.matches("die", "worker", {})


def test_a_channel_hears_of_an_incident_once_however_many_entries_match() -> None:
    """Two entries for one channel give it one rule (the first); another channel gets its own."""
    rules = parse(
        [
            {"channel": "C1", "events": ["die"]},
            {"channel": "C1", "events": ["die"], "containers": ["web-*"]},
            {"channel": "C2", "events": ["die"], "containers": ["web-*"]},
        ]
    )
    found = rules_for(rules, "die", "web-1", {})
    assert list(found) == ["C1", "C2"] and found["C1"] is rules[0]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([{"channel": "C1", "events": ["die", "crash"]}], "unknown event `crash`: the events are die, oom, unhealthy"),
        ([{"events": ["die"]}], "notify entry 1: channel: required but missing"),
        ([{"channel": "C1"}], "notify entry 1: events: required but missing"),
        ([{"channel": "C1", "events": ["die"], "containers": []}], "notify entry 1: containers: must not be empty"),
        ([{"channel": "C1", "events": ["die"], "labels": "team"}], "notify entry 1: labels: must map keys to values"),
        ([{"channel": "C1", "events": ["die"], "restart_loop": {"count": 1}}], "2 or more"),
        ([{"channel": "C1", "events": ["die"], "restart_loop": {"minutes": 0}}], "a number from 0.1 to 1440"),
        (
            [{"channel": "C1", "events": ["die"], "restart_loop": {"times": 3}}],
            "notify entry 1: restart_loop.times: unknown key; the keys here are count, minutes",
        ),
        (
            [{"channel": "C1", "events": ["die"], "channels": ["C2"]}],
            "notify entry 1: channels: unknown key; did you mean channel?",
        ),
        ({"channel": "C1"}, "notify: must be a list, not a mapping"),
        ([{"channel": "C1", "events": ["die"]}, "C2"], 'notify entry 2: must be a mapping (key: value), not "C2"'),
    ],
)
def test_mistakes_are_refused_saying_what_to_fix(entries: Any, expected: str) -> None:
    """A bad entry fails the whole policy load with the file, the entry's number, the problem and an example."""
    message = error(entries)
    assert message.startswith("policy.yaml: ") and expected in message
    assert "Example: - {channel: C0ALERTS" in message or "notify:\n  - {channel" in message


def test_a_bad_notify_section_fails_the_policy_file(tmp_path: Path) -> None:
    """The web, the workers and `dockerverse doctor` all refuse a policy file with a bad `notify:`."""
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump({"notify": [{"channel": "C1", "events": ["exit"]}]}))
    with pytest.raises(DockerverseError, match="unknown event `exit`"):
        load_policy(str(path))
