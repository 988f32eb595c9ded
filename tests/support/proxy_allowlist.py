"""The socket proxy's allow-list (deploy/socket-proxy/allowlist.env), read the way the proxy reads it.

The shipped proxy (HAProxy, deploy/socket-proxy/haproxy.cfg) anchors each SP_ALLOW_<METHOD> as `^...$`
and matches it on the percent-decoded request path (no query string); tests/test_e2e_compose.py runs
that proxy itself. Each value has the shape `(/v1[.][0-9]+)?/(ENTRY|ENTRY|...)`, so the entries
can be told apart: a call is checked against the whole expression, as the proxy does, and the entry
it matched is named, so entries no call used can be reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = ROOT / "deploy" / "socket-proxy" / "allowlist.env"
PREFIX = "(/v1[.][0-9]+)?/"
_VERSION = re.compile(r"^/v1\.[0-9]+(?=/)")


class AllowListError(ValueError):
    """The allow-list file is not in the shape the proxy and these tests agree on."""


@dataclass(frozen=True)
class Entry:
    method: str
    pattern: str  # one alternative, as written: `containers/[^/]+/json`

    def __str__(self) -> str:
        return f"{self.method} /{self.pattern}"


def _alternatives(group: str) -> list[str]:
    """Split `a|b(c|d)|e` at the top level only: [a, b(c|d), e]."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(group):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "|" and depth == 0:
            parts.append(group[start:i])
            start = i + 1
    parts.append(group[start:])
    return parts


@dataclass(frozen=True)
class AllowList:
    regexes: dict[str, re.Pattern[str]]  # method -> the proxy's whole anchored expression
    entries: tuple[Entry, ...]

    @classmethod
    def load(cls, path: Path = ALLOWLIST) -> AllowList:
        regexes: dict[str, re.Pattern[str]] = {}
        entries: list[Entry] = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            where = f"{path.name} line {number}"
            if not sep or not key.startswith("SP_ALLOW_"):
                raise AllowListError(f"{where}: expected SP_ALLOW_<METHOD>=<regex>, got {line!r}")
            if any(ch in value for ch in "\\\"'$ #"):
                raise AllowListError(f"{where}: no backslashes, quotes, $, spaces or # (compose would alter them)")
            if not (value.startswith(PREFIX + "(") and value.endswith(")")):
                raise AllowListError(f"{where}: the value must read {PREFIX}(ENTRY|ENTRY|...)")
            method = key.removeprefix("SP_ALLOW_")
            if method in regexes:
                raise AllowListError(f"{where}: {key} is set twice (the proxy keeps one)")
            regexes[method] = re.compile(f"^{value}$")
            entries += [Entry(method, alt) for alt in _alternatives(value[len(PREFIX) + 1 : -1])]
        return cls(regexes, tuple(entries))

    def allows(self, method: str, path: str) -> bool:
        """What the proxy decides for a request path as sent (percent-encoded, maybe with a query)."""
        regex = self.regexes.get(method)
        return bool(regex and regex.match(decoded_path(path)))

    def entry_for(self, method: str, path: str) -> Entry | None:
        """The first entry that allows this call, or None when the proxy would refuse it."""
        bare = _VERSION.sub("", decoded_path(path))
        for entry in self.entries:
            if entry.method == method and re.fullmatch(f"/({entry.pattern})", bare):
                return entry
        return None


def decoded_path(target: str) -> str:
    """The request target as Go's r.URL.Path has it: no query, percent-decoded."""
    return unquote(urlsplit(target).path)


_PLACEHOLDERS = [
    (re.compile(r"^/containers/(?!json$|create$)[^/]+"), "/containers/{container}"),
    (re.compile(r"^/images/(?!json$|create$)(.+?)(?=/json$|$)"), "/images/{image}"),
    (re.compile(r"^/(networks|volumes|exec|plugins|services|nodes|secrets|configs)/(?!create$)[^/]+"), r"/\1/{id}"),
]


def normalize(target: str) -> str:
    """`/v1.43/containers/3f2a.../json?all=1` -> `/containers/{container}/json`: one line per kind of call."""
    path = _VERSION.sub("", decoded_path(target))
    for regex, placeholder in _PLACEHOLDERS:
        path = regex.sub(placeholder, path, count=1)
    return path


@dataclass(frozen=True)
class Report:
    calls: int
    outside: dict[str, set[str]]  # "METHOD /normalized/path" -> the tests that made it
    used: dict[str, int]  # "METHOD /normalized/path" -> how many times, for calls the list allows
    unused: tuple[Entry, ...]  # entries no call matched

    def text(self) -> str:
        lines = [f"{self.calls} Docker API calls went through the socket proxy ({ALLOWLIST.relative_to(ROOT)})."]
        for call, tests in sorted(self.outside.items()):
            lines.append(f"  OUTSIDE the allow-list: {call}   (made by {', '.join(sorted(tests)) or 'setup'})")
        lines += [f"  {count:6d}  {call}" for call, count in sorted(self.used.items())]
        lines += [f"  never used: {entry}" for entry in self.unused]
        return "\n".join(lines)


def report(calls: list[dict[str, Any]], allowlist: AllowList) -> Report:
    """What the recorded calls say about the allow-list: calls outside it, and entries nobody used."""
    outside: dict[str, set[str]] = {}
    used: dict[str, int] = {}
    entries: set[str] = set()
    for call in calls:
        if call.get("probe"):
            continue  # a test asking for a refusal on purpose
        kind = f"{call['method']} {call['path']}"
        if allowlist.allows(call["method"], call["raw"]):
            used[kind] = used.get(kind, 0) + 1
            entries.add(str(allowlist.entry_for(call["method"], call["raw"])))
        else:
            outside.setdefault(kind, set()).add(str(call.get("test") or ""))
    unused = tuple(e for e in allowlist.entries if str(e) not in entries)
    return Report(len(calls), outside, used, unused)
