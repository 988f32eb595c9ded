"""The policy's `notify:` section: which Docker events go to which Slack channel. Pure.

Each entry names a channel, the events it wants, glob patterns on container names, optional
labels the container must carry, and when restarts count as a loop:

    notify:
      - channel: C0ALERTS
        events: [die, oom, unhealthy, restart_loop]
        containers: ["*"]
        labels: {team: payments}            # or ["team=payments", "tier"]: all must match
        restart_loop: {count: 3, minutes: 5}
      - channel: C0OPS
        events: [host_down]                 # a host's workers stopped beating, and when it is back
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainValidator, StringConstraints, TypeAdapter, ValidationError

from bot.core.yaml_schema import Strict, Text, one_of, problems, refusal, refuse, shown

EVENTS = ("die", "oom", "unhealthy", "restart_loop", "host_down")
HOST_EVENTS = frozenset({"host_down"})  # about a whole Docker host: `containers:` and `labels:` do not apply
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


def host_channels(rules: Sequence[NotifyRule]) -> tuple[str, ...]:
    """The channels told when a Docker host goes down and when it is back, each once."""
    return tuple(dict.fromkeys(r.channel for r in rules if "host_down" in r.events))


def describe(rule: NotifyRule) -> str:
    """One line for `dockerverse doctor`: where, what, about which containers."""
    if rule.events <= HOST_EVENTS:
        return f"{rule.channel} (host_down of every Docker host)"
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


Event = Annotated[str, AfterValidator(one_of("event", EVENTS))]
Label = tuple[str, str | None]


def _labels(raw: Any) -> tuple[Label, ...]:
    """`{team: payments}` or `["team=payments", "tier"]` (a bare key: any value)."""
    if isinstance(raw, dict) and all(isinstance(k, str) and k for k in raw):
        bad = [k for k, v in raw.items() if v is not None and not isinstance(v, str)]
        if bad:
            raise refuse(f"the value of `{bad[0]}` must be text, not {shown(raw[bad[0]])} (quote it)")
        return tuple(raw.items())
    if isinstance(raw, list) and all(isinstance(x, str) and x and not x.startswith("=") for x in raw):
        return tuple((k, v) if sep else (k, None) for k, sep, v in (x.partition("=") for x in raw))
    raise refuse('must map keys to values ({team: payments}) or list "key=value" or "key" strings')


def _minutes(value: float) -> float:
    if not 0.1 <= value <= 1440:
        raise refuse(f"must be a number from 0.1 to 1440, not {shown(value)}")
    return value


class RestartLoopSpec(Strict):
    count: int = Field(RestartLoop.count, ge=2)
    minutes: Annotated[float, AfterValidator(_minutes)] = RestartLoop.minutes


class NotifyEntry(Strict):
    """One entry of `notify:`, as the file says it; ``rule()`` is what the workers match."""

    channel: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    events: list[Event] = Field(min_length=1)
    containers: list[Text] = Field(["*"], min_length=1)
    labels: Annotated[tuple[Label, ...], PlainValidator(_labels)] | None = None
    restart_loop: RestartLoopSpec | None = None

    def rule(self) -> NotifyRule:
        loop = self.restart_loop or RestartLoopSpec()
        return NotifyRule(
            channel=self.channel,
            events=frozenset(self.events),
            containers=tuple(self.containers),
            labels=self.labels or (),
            restart_loop=RestartLoop(loop.count, float(loop.minutes)),
        )


ENTRIES: TypeAdapter[list[NotifyEntry] | None] = TypeAdapter(list[NotifyEntry] | None)


def parse_notify(raw: Any, where: str) -> tuple[NotifyRule, ...]:
    """The `notify:` list alone, validated; each mistake names the entry, the key and what is wrong.
    (The policy file validates it with every other section: bot/core/policy_schema.py.)"""
    try:
        entries = ENTRIES.validate_python(raw)
    except ValidationError as exc:
        lines = problems(exc, list[NotifyEntry], ("notify",), {"notify": EXAMPLE})
        raise refusal(where, lines) from None
    return tuple(e.rule() for e in entries or ())
