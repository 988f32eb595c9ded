"""The policy's `notify:` section: which Docker events go to which Slack channel. Pure.

Each entry names a channel, the events it wants, glob patterns on container names, optional
labels the container must carry, and when restarts count as a loop:

    notify:
      - channel: C0ALERTS
        events: [die, oom, unhealthy, restart_loop]
        containers: ["*"]
        labels: {team: payments}            # or ["team=payments", "tier"]: all must match
        restart_loop: {count: 3, minutes: 5}
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import DockerverseError

EVENTS = ("die", "oom", "unhealthy", "restart_loop")
EXAMPLE = "- {channel: C0ALERTS, events: [die, oom, unhealthy, restart_loop], containers: ['*']}"


@dataclass(frozen=True)
class RestartLoop:
    """`count` restarts within `minutes` make a loop; the loop has recovered after `minutes` without one."""

    count: int = 3
    minutes: float = 5.0

    @property
    def seconds(self) -> float:
        return self.minutes * 60


@dataclass(frozen=True)
class NotifyRule:
    channel: str
    events: frozenset[str]
    containers: tuple[str, ...] = ("*",)
    # (key, value): the container must carry the label with that value; value None: any value.
    labels: tuple[tuple[str, str | None], ...] = ()
    restart_loop: RestartLoop = RestartLoop()

    def matches(self, event: str, name: str, labels: Mapping[str, str]) -> bool:
        return (
            event in self.events
            and any(fnmatch.fnmatchcase(name, p) for p in self.containers)
            and all(k in labels and (v is None or labels[k] == v) for k, v in self.labels)
        )


def watcher_key(host: str) -> str:
    """The Redis lock of the host's event watcher; its value names the worker holding it."""
    return f"dockerverse:notify:{host}:watcher"


def describe(rule: NotifyRule) -> str:
    """One line for `dockerverse doctor`: where, what, about which containers."""
    labels = ", ".join(k if v is None else f"{k}={v}" for k, v in rule.labels)
    events = ", ".join(e for e in EVENTS if e in rule.events)
    return f"{rule.channel} ({events} of {', '.join(rule.containers)}{f' with {labels}' if labels else ''})"


def rules_for(rules: Sequence[NotifyRule], event: str, name: str, labels: Mapping[str, str]) -> dict[str, NotifyRule]:
    """The channels that want this event about this container, each with its first matching rule
    (a channel hears about an incident once, however many of its rules match)."""
    found: dict[str, NotifyRule] = {}
    for rule in rules:
        if rule.channel not in found and rule.matches(event, name, labels):
            found[rule.channel] = rule
    return found


def _strings(raw: Any, what: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x for x in raw):
        raise ValueError(f"`{what}` must be a non-empty list of strings")
    return tuple(raw)


def _labels(raw: Any) -> tuple[tuple[str, str | None], ...]:
    if isinstance(raw, dict):
        return tuple((str(k), None if v is None else str(v)) for k, v in raw.items())
    if isinstance(raw, list) and all(isinstance(x, str) and x and not x.startswith("=") for x in raw):
        return tuple((k, v) if sep else (k, None) for k, sep, v in (x.partition("=") for x in raw))
    raise ValueError('`labels` must map keys to values ({team: payments}) or list "key=value" or "key" strings')


def _restart_loop(raw: Any) -> RestartLoop:
    if not isinstance(raw, dict) or set(raw) - {"count", "minutes"}:
        raise ValueError("`restart_loop` takes {count: N, minutes: M}")
    base = RestartLoop()
    count, minutes = raw.get("count", base.count), raw.get("minutes", base.minutes)
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise ValueError(f"`restart_loop.count` is {count!r}: it must be a whole number of restarts, 2 or more")
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not 0.1 <= minutes <= 1440:
        raise ValueError(f"`restart_loop.minutes` is {minutes!r}: it must be a number from 0.1 to 1440")
    return RestartLoop(count, float(minutes))


def _rule(raw: Any) -> NotifyRule:
    if not isinstance(raw, dict):
        raise ValueError("each entry must be a mapping")
    unknown = set(raw) - {"channel", "events", "containers", "labels", "restart_loop"}
    if unknown:
        raise ValueError(
            f"unknown keys {sorted(unknown)}; an entry takes channel, events, containers, labels and restart_loop"
        )
    channel = raw.get("channel")
    if not isinstance(channel, str) or not channel.strip():
        raise ValueError("`channel` is missing: give the Slack channel id to post to (e.g. C0ALERTS)")
    events = _strings(raw.get("events"), "events")
    bad = [e for e in events if e not in EVENTS]
    if bad:
        valid = ", ".join(EVENTS)
        raise ValueError(f"unknown event {', '.join(f'`{e}`' for e in bad)}: the events are {valid}")
    return NotifyRule(
        channel=channel.strip(),
        events=frozenset(events),
        containers=_strings(raw.get("containers", ["*"]), "containers"),
        labels=_labels(raw["labels"]) if raw.get("labels") is not None else (),
        restart_loop=_restart_loop(raw["restart_loop"]) if raw.get("restart_loop") is not None else RestartLoop(),
    )


def parse_notify(raw: Any, path: str) -> tuple[NotifyRule, ...]:
    """The `notify:` list, validated; a mistake names the entry, what is wrong and an example."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise DockerverseError(f"{path}: `notify:` must be a list of entries, like\nnotify:\n  {EXAMPLE}")
    rules = []
    for i, entry in enumerate(raw, start=1):
        try:
            rules.append(_rule(entry))
        except ValueError as exc:
            raise DockerverseError(f"{path}: notify entry {i}: {exc}. Example: {EXAMPLE}") from None
    return tuple(rules)
